//! Seeded synthetic tenants: companies and their target users.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

use crate::rng::{key, Rng};
use crate::time;

/// One custom field value of a target user (`TargetUserCustomFieldValueDto`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomFieldValue {
    /// Resource id of this value (12 alphanumeric characters).
    pub resource_id: String,
    /// Field name: "Employee Number", "Cost Center" or "Start Date".
    pub name: String,
    /// "String" or "DateTime".
    pub data_type: String,
    /// Text value; `None` for DateTime fields.
    pub value: Option<String>,
    /// ISO 8601 value of DateTime fields; `None` for String fields.
    pub timestamp_value: Option<String>,
}

/// A target user, serialised exactly as the search endpoint returns it
/// (camelCase `TargetUserSearchView`, every key present, nulls as `null`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Resource id (12 alphanumeric characters).
    pub resource_id: String,
    /// Email address, unique within the company.
    pub email: Option<String>,
    /// First name (any script, sometimes hostile text, sometimes null).
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// "Low", "Medium", "High" or "VeryHigh".
    pub priority: Option<String>,
    /// "Active" or "Inactive".
    pub status: Option<String>,
    /// Custom field values (possibly empty).
    pub custom_field_values: Vec<CustomFieldValue>,
    /// ISO 8601 creation time, strictly increasing in creation order.
    pub create_time: String,
    /// Update time: null, ISO 8601, or about 5% "dd/MM/yyyy HH:mm:ss".
    pub update_time: Option<String>,
    /// False for users provisioned by SCIM or LDAP.
    pub is_editable: bool,
    /// SCIM provisioning setting name, if any.
    pub scim_setting_name: Option<String>,
    /// LDAP configuration name, if any.
    pub ldap_config_name: Option<String>,
    /// Phone number as typed (leading zeros, international forms).
    pub phone_number: Option<String>,
    /// IANA time zone.
    pub time_zone: Option<String>,
    /// Preferred language tag such as "tr-TR".
    pub preferred_language: Option<String>,
}

/// A company (customer tenant) with its licence data and nested children.
#[derive(Clone, Debug)]
pub struct Company {
    /// Resource id used as Company ID (12 alphanumeric characters).
    pub resource_id: String,
    /// Display name (not unique: two companies are called "Support").
    pub name: String,
    /// Resource id of the parent company, `None` at top level.
    pub parent: Option<String>,
    /// Child companies in creation order.
    pub children: Vec<Company>,
    /// Number of target users returned by the search endpoint (as
    /// generated; [`crate::Faults::churn`] changes the served count only).
    pub user_count: usize,
    /// Licensed number of users; `None` means unlimited.
    pub license_limit: Option<u32>,
    /// ISO 8601 creation time.
    pub create_time: String,
    /// Users whose status is "Active".
    pub active_user_count: usize,
    /// Users whose status is "Inactive".
    pub inactive_user_count: usize,
    /// Deleted users (not returned by search; reported in counts only).
    pub deleted_user_count: usize,
    /// Monthly active users (reported in counts only).
    pub monthly_active_user_count: usize,
    /// Industry name, e.g. "Manufacturing".
    pub industry_name: String,
    /// Industry resource id.
    pub industry_resource_id: String,
    /// Licence type name, e.g. "Enterprise".
    pub license_type_name: String,
    /// Licence type resource id.
    pub license_type_resource_id: String,
    /// Whether the licence has expired.
    pub licence_expired: bool,
    /// ISO 8601 licence end date.
    pub license_end_date: Option<String>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Email domain of its users.
    pub email_domain: String,
    pub(crate) ordinal: usize,
}

impl Company {
    /// True when the company has more users than its licence allows.
    pub fn over_license_limit(&self) -> bool {
        self.license_limit
            .is_some_and(|limit| self.user_count > limit as usize)
    }
}

#[derive(Clone, Copy)]
enum Size {
    PerCompany,
    Fixed(usize),
}

#[derive(Clone, Copy)]
enum Limit {
    Unlimited,
    Over,
    Room,
}

struct Def {
    name: &'static str,
    parent: Option<usize>,
    size: Size,
    domain: &'static str,
    industry: &'static str,
    license: &'static str,
    limit: Limit,
    expired: bool,
    tags: &'static [&'static str],
}

/// Ordinal of the reseller's own company.
pub(crate) const RESELLER_ORD: usize = 0;
/// Ordinal of "Globex Corporation" (the Company Admin's company).
pub(crate) const GLOBEX_ORD: usize = 6;
/// Ordinal of the company belonging to another reseller.
pub(crate) const UNMANAGED_ORD: usize = 12;
/// Name of the reseller.
pub(crate) const RESELLER_NAME: &str = "Northwind MSSP";

const DEFS: &[Def] = &[
    Def {
        name: RESELLER_NAME,
        parent: None,
        size: Size::Fixed(3),
        domain: "northwind-mssp.example",
        industry: "Technology",
        license: "Reseller",
        limit: Limit::Unlimited,
        expired: false,
        tags: &["reseller"],
    },
    Def {
        name: "Acme Holdings",
        parent: None,
        size: Size::PerCompany,
        domain: "acme.example",
        industry: "Manufacturing",
        license: "Enterprise",
        limit: Limit::Room,
        expired: false,
        tags: &["vip", "group"],
    },
    Def {
        name: "Acme Europe",
        parent: Some(1),
        size: Size::PerCompany,
        domain: "eu.acme.example",
        industry: "Manufacturing",
        license: "Enterprise",
        limit: Limit::Unlimited,
        expired: false,
        tags: &["emea"],
    },
    Def {
        name: "Acme Europe Support",
        parent: Some(2),
        size: Size::PerCompany,
        domain: "support.eu.acme.example",
        industry: "Manufacturing",
        license: "Professional",
        limit: Limit::Room,
        expired: false,
        tags: &["emea", "support"],
    },
    Def {
        name: "Acme Türkiye",
        parent: Some(1),
        size: Size::PerCompany,
        domain: "acme-tr.example",
        industry: "Manufacturing",
        license: "Professional",
        limit: Limit::Over,
        expired: false,
        tags: &["tr", "EMEA, South"],
    },
    Def {
        name: "Müşteri A.Ş.",
        parent: None,
        size: Size::PerCompany,
        domain: "musteri.example",
        industry: "Finance",
        license: "Enterprise",
        limit: Limit::Room,
        expired: false,
        tags: &["tr"],
    },
    Def {
        name: "Globex Corporation",
        parent: None,
        size: Size::PerCompany,
        domain: "globex.example",
        industry: "Technology",
        license: "Enterprise",
        limit: Limit::Room,
        expired: false,
        tags: &["vip"],
    },
    Def {
        name: "Support",
        parent: Some(6),
        size: Size::PerCompany,
        domain: "support.globex.example",
        industry: "Technology",
        license: "Professional",
        limit: Limit::Unlimited,
        expired: false,
        tags: &[],
    },
    Def {
        name: "Initech",
        parent: None,
        size: Size::PerCompany,
        domain: "initech.example",
        industry: "Software",
        license: "Professional",
        limit: Limit::Room,
        expired: false,
        tags: &[],
    },
    Def {
        name: "Support",
        parent: Some(8),
        size: Size::PerCompany,
        domain: "support.initech.example",
        industry: "Software",
        license: "Trial",
        limit: Limit::Room,
        expired: false,
        tags: &[],
    },
    Def {
        name: "Umbrella Empty",
        parent: None,
        size: Size::Fixed(0),
        domain: "umbrella.example",
        industry: "Healthcare",
        license: "Trial",
        limit: Limit::Room,
        expired: true,
        tags: &[],
    },
    Def {
        name: "東京商事株式会社",
        parent: None,
        size: Size::PerCompany,
        domain: "tokyo-shoji.example",
        industry: "Retail",
        license: "Enterprise",
        limit: Limit::Room,
        expired: false,
        tags: &["apac"],
    },
    Def {
        name: "Other Reseller Co",
        parent: None,
        size: Size::Fixed(5),
        domain: "other-reseller.example",
        industry: "Technology",
        license: "Enterprise",
        limit: Limit::Unlimited,
        expired: false,
        tags: &[],
    },
];

struct Slot {
    count: usize,
    domain: String,
    base_ms: i64,
    users: OnceLock<Vec<User>>,
}

/// The whole seeded world: the reseller, its managed companies, one
/// company of another reseller, and every company's target users.
///
/// Users are generated lazily per company on first access (deterministic
/// from the seed), so huge tenants cost nothing until touched.
pub struct Dataset {
    seed: u64,
    companies: Vec<Company>,
    reseller: Company,
    unmanaged: Company,
    slots: Vec<Slot>,
    by_id: HashMap<String, usize>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("seed", &self.seed)
            .field("companies", &self.slots.len())
            .finish_non_exhaustive()
    }
}

fn is_inactive(seed: u64, ord: usize, i: usize) -> bool {
    key(&[seed, 0x57A7, ord as u64, i as u64]) % 100 < 12
}

impl Dataset {
    /// Build the dataset for `seed`, with `users_per_company` users in each
    /// ordinary customer company.
    pub fn generate(seed: u64, users_per_company: usize) -> Dataset {
        Self::generate_with(seed, users_per_company, &[])
    }

    /// Like [`Dataset::generate`], plus top-level customer companies with the given names
    /// (e.g. hostile ones such as `../x` or `CON`), each with `users_per_company` users,
    /// created after the built-in companies.
    pub fn generate_with(seed: u64, users_per_company: usize, extra: &[String]) -> Dataset {
        let template = DEFS
            .iter()
            .find(|d| d.name == "Initech")
            .expect("the Initech definition");
        let extra_domains: Vec<String> = (0..extra.len())
            .map(|i| format!("customer-{}.example", i + 1))
            .collect();
        let entries: Vec<(&str, &Def, &str)> = DEFS
            .iter()
            .map(|d| (d.name, d, d.domain))
            .chain(
                extra
                    .iter()
                    .zip(&extra_domains)
                    .map(|(name, domain)| (name.as_str(), template, domain.as_str())),
            )
            .collect();
        let mut ids: Vec<String> = Vec::with_capacity(entries.len());
        let mut flat: Vec<Company> = Vec::with_capacity(entries.len());
        let mut slots = Vec::with_capacity(entries.len());
        for (ord, &(name, def, domain)) in entries.iter().enumerate() {
            let mut rng = Rng::new(key(&[seed, 0xC0C0, ord as u64]));
            let mut id = rng.alnum(12);
            while ids.contains(&id) {
                id = rng.alnum(12);
            }
            ids.push(id.clone());
            let count = match def.size {
                Size::PerCompany => users_per_company,
                Size::Fixed(n) => n,
            };
            let inactive = (0..count).filter(|&i| is_inactive(seed, ord, i)).count();
            let active = count - inactive;
            let license_limit = match def.limit {
                Limit::Unlimited => None,
                Limit::Over => Some((count as u64 * 4 / 5).min(u64::from(u32::MAX)) as u32),
                Limit::Room => {
                    let want = (count as u64 * 2 + 100).div_ceil(50) * 50;
                    Some(want.min(u64::from(u32::MAX)) as u32)
                }
            };
            let created = time::ms_from(2021, 1, 4, 9, 0, 0)
                + ord as i64 * 11 * 86_400_000
                + rng.below(8 * 3_600_000) as i64;
            let end = if def.expired {
                "2024-01-31T23:59:59Z".to_string()
            } else {
                format!("{}-12-31T23:59:59Z", 2026 + ord % 3)
            };
            let industry_resource_id = Rng::new(key(&[seed, 0x1D, fnv(def.industry)])).alnum(12);
            let license_type_resource_id =
                Rng::new(key(&[seed, 0x11C, fnv(def.license)])).alnum(12);
            flat.push(Company {
                resource_id: id,
                name: name.to_string(),
                parent: def.parent.map(|p| ids[p].clone()),
                children: Vec::new(),
                user_count: count,
                license_limit,
                create_time: time::iso_ms(created),
                active_user_count: active,
                inactive_user_count: inactive,
                deleted_user_count: count / 25 + ord % 3,
                monthly_active_user_count: active * 3 / 5,
                industry_name: def.industry.to_string(),
                industry_resource_id,
                license_type_name: def.license.to_string(),
                license_type_resource_id,
                licence_expired: def.expired,
                license_end_date: Some(end),
                tags: def.tags.iter().map(|t| t.to_string()).collect(),
                email_domain: domain.to_string(),
                ordinal: ord,
            });
            slots.push(Slot {
                count,
                domain: domain.to_string(),
                base_ms: time::ms_from(2022, 1, 3, 8, 0, 0) + ord as i64 * 2 * 86_400_000,
                users: OnceLock::new(),
            });
        }
        let by_id = ids
            .iter()
            .enumerate()
            .map(|(ord, id)| (id.clone(), ord))
            .collect();
        // Assemble the tree bottom-up: later ordinals are never parents of
        // earlier ones, so walking backwards moves every child into place.
        let mut nodes: Vec<Option<Company>> = flat.into_iter().map(Some).collect();
        for ord in (0..entries.len()).rev() {
            if let Some(parent) = entries[ord].1.parent {
                let child = nodes[ord].take().expect("child present");
                let p = nodes[parent].as_mut().expect("parent present");
                p.children.insert(0, child);
            }
        }
        let unmanaged = nodes[UNMANAGED_ORD].take().expect("unmanaged");
        let reseller = nodes[RESELLER_ORD].take().expect("reseller");
        let companies = nodes.into_iter().flatten().collect();
        Dataset {
            seed,
            companies,
            reseller,
            unmanaged,
            slots,
            by_id,
        }
    }

    /// Top-level companies managed by the reseller, in creation order,
    /// with children nested.
    pub fn companies(&self) -> &[Company] {
        &self.companies
    }

    /// Every managed company, depth-first, parents before children.
    pub fn all_companies(&self) -> Vec<&Company> {
        fn walk<'a>(list: &'a [Company], out: &mut Vec<&'a Company>) {
            for c in list {
                out.push(c);
                walk(&c.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.companies, &mut out);
        out
    }

    /// Any known company by resource id: managed ones, the reseller's own
    /// company and the other reseller's company.
    pub fn find_company(&self, resource_id: &str) -> Option<&Company> {
        if self.reseller.resource_id == resource_id {
            return Some(&self.reseller);
        }
        if self.unmanaged.resource_id == resource_id {
            return Some(&self.unmanaged);
        }
        self.all_companies()
            .into_iter()
            .find(|c| c.resource_id == resource_id)
    }

    /// Known companies with exactly this name (case-sensitive), in
    /// creation order; covers the same set as [`Dataset::find_company`].
    pub fn find_by_name(&self, name: &str) -> Vec<&Company> {
        let mut out: Vec<&Company> = Vec::new();
        if self.reseller.name == name {
            out.push(&self.reseller);
        }
        out.extend(self.all_companies().into_iter().filter(|c| c.name == name));
        if self.unmanaged.name == name {
            out.push(&self.unmanaged);
        }
        out
    }

    /// The reseller's own company ("Northwind MSSP", 3 users).
    pub fn reseller_company(&self) -> &Company {
        &self.reseller
    }

    /// The company of another reseller ("Other Reseller Co"): 403 for ours.
    pub fn unmanaged_company(&self) -> &Company {
        &self.unmanaged
    }

    /// Resource id of [`Dataset::unmanaged_company`].
    pub fn unmanaged_company_id(&self) -> &str {
        &self.unmanaged.resource_id
    }

    /// The seed this dataset was generated from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Users of a company in creation order; empty for an unknown id.
    ///
    /// This is always the originally generated data: changes made by
    /// [`crate::Faults::churn`] are not reflected here (use
    /// [`crate::Sandbox::current_users_json`] for what the server serves now).
    pub fn users(&self, company_id: &str) -> &[User] {
        match self.by_id.get(company_id) {
            Some(&ord) => self.users_of(ord),
            None => &[],
        }
    }

    /// Each user of a company as the search endpoint serialises it (the
    /// originally generated data, like [`Dataset::users`]).
    pub fn users_json(&self, company_id: &str) -> Vec<serde_json::Value> {
        self.users(company_id)
            .iter()
            .map(|u| serde_json::to_value(u).expect("user serialises"))
            .collect()
    }

    pub(crate) fn ordinal_of(&self, company_id: &str) -> Option<usize> {
        self.by_id.get(company_id).copied()
    }

    /// Number of companies (ordinals run over `0..company_count()`).
    pub(crate) fn company_count(&self) -> usize {
        self.slots.len()
    }

    /// The user a company would have at creation index `i`, generated like
    /// every other one; also valid past the company's generated count (new
    /// users of [`crate::Faults::churn`]), where indices give unique emails.
    pub(crate) fn generate_user(&self, ord: usize, i: usize) -> User {
        gen_user(
            self.seed,
            ord,
            i,
            self.slots[ord].base_ms,
            &self.slots[ord].domain,
        )
    }

    pub(crate) fn user_count_of(&self, ord: usize) -> usize {
        self.slots[ord].count
    }

    /// One user by creation index, borrowed when the company's users are
    /// already materialised, generated on the spot otherwise (users are
    /// seeded individually, so both give identical values).
    pub(crate) fn user_at(&self, ord: usize, i: usize) -> std::borrow::Cow<'_, User> {
        let slot = &self.slots[ord];
        match slot.users.get() {
            Some(users) => std::borrow::Cow::Borrowed(&users[i]),
            None => {
                std::borrow::Cow::Owned(gen_user(self.seed, ord, i, slot.base_ms, &slot.domain))
            }
        }
    }

    pub(crate) fn users_of(&self, ord: usize) -> &[User] {
        let slot = &self.slots[ord];
        let domain = self.slots[ord].domain.as_str();
        slot.users.get_or_init(|| {
            let gen = |range: std::ops::Range<usize>| -> Vec<User> {
                range
                    .map(|i| gen_user(self.seed, ord, i, slot.base_ms, domain))
                    .collect()
            };
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            if slot.count < 50_000 || threads < 2 {
                return gen(0..slot.count);
            }
            // Users are seeded individually, so chunks can be built in
            // parallel and concatenated without changing the result.
            let chunk = slot.count.div_ceil(threads);
            let parts: Vec<Vec<User>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let start = (t * chunk).min(slot.count);
                        let end = ((t + 1) * chunk).min(slot.count);
                        s.spawn(move || gen(start..end))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("user generation thread"))
                    .collect()
            });
            let mut all = Vec::with_capacity(slot.count);
            for part in parts {
                all.extend(part);
            }
            all
        })
    }

    pub(crate) fn company_by_ordinal(&self, ord: usize) -> Option<&Company> {
        match ord {
            RESELLER_ORD => Some(&self.reseller),
            UNMANAGED_ORD => Some(&self.unmanaged),
            _ => self.all_companies().into_iter().find(|c| c.ordinal == ord),
        }
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const FIRST: &[(&str, &str)] = &[
    ("Ahmet", "ahmet"),
    ("Ayşe", "ayse"),
    ("İbrahim", "ibrahim"),
    ("Işıl", "isil"),
    ("Çağrı", "cagri"),
    ("Gökhan", "gokhan"),
    ("Şebnem", "sebnem"),
    ("Oğuz", "oguz"),
    ("Ümit", "umit"),
    ("Emma", "emma"),
    ("Liam", "liam"),
    ("Olivia", "olivia"),
    ("Noah", "noah"),
    ("Mary-Jane", "maryjane"),
    ("محمد", "mohammed"),
    ("فاطمة", "fatima"),
    ("芳", "fang"),
    ("さくら", "sakura"),
    ("Иван", "ivan"),
    ("Ольга", "olga"),
    ("Γιώργος", "giorgos"),
    ("Ελένη", "eleni"),
    ("José", "jose"),
    ("François", "francois"),
    ("Søren", "soren"),
];

const LAST: &[(&str, &str)] = &[
    ("Yılmaz", "yilmaz"),
    ("Şahin", "sahin"),
    ("Çelik", "celik"),
    ("Öztürk", "ozturk"),
    ("Doğan", "dogan"),
    ("Kılıç", "kilic"),
    ("Smith", "smith"),
    ("O'Neil", "oneil"),
    ("de la Cruz", "delacruz"),
    ("Müller", "muller"),
    ("العلي", "alali"),
    ("王", "wang"),
    ("田中", "tanaka"),
    ("김", "kim"),
    ("Петров", "petrov"),
    ("Παπαδόπουλος", "papadopoulos"),
    ("García", "garcia"),
    ("Nguyễn", "nguyen"),
];

const DEPARTMENTS: &[&str] = &[
    "Sales",
    "IT",
    "Finance",
    "Human Resources",
    "R&D",
    "Customer Support",
    "Legal",
    "Marketing",
    "Finance, Accounting",
    "İnsan Kaynakları",
    "Bilgi İşlem",
    "Muhasebe",
    "المبيعات",
    "営業部",
    "Отдел продаж",
    "Λογιστήριο",
    "Support 🎧",
];

const COST_CENTERS: &[&str] = &["CC-0042", "0100", "Sales, EMEA", "R&D \"Lab\"", "4400-EU"];
const TIME_ZONES: &[&str] = &[
    "Europe/Istanbul",
    "UTC",
    "America/New_York",
    "Asia/Tokyo",
    "Europe/Berlin",
];
const LANGUAGES: &[&str] = &["tr-TR", "en-US", "ar-SA", "ja-JP", "de-DE"];
const QUIRKS: u64 = 18;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn gen_phone(rng: &mut Rng) -> Option<String> {
    let a = rng.below(1000);
    let b = rng.below(100);
    let c = rng.below(100);
    match rng.below(10) {
        0..=2 => None,
        3..=5 => Some(format!("+90 532 {a:03} {b:02} {c:02}")),
        6 | 7 => Some(format!("0532 {a:03} {b:02} {c:02}")),
        8 => Some(format!("+1 (555) 01{}-{:04}", b % 10, rng.below(10_000))),
        _ => Some(format!("+44 20 7946 0{a:03}")),
    }
}

fn field(rng: &mut Rng, name: &str, value: String) -> CustomFieldValue {
    CustomFieldValue {
        resource_id: rng.alnum(12),
        name: name.to_string(),
        data_type: "String".to_string(),
        value: Some(value),
        timestamp_value: None,
    }
}

fn gen_user(seed: u64, ord: usize, i: usize, base_ms: i64, domain: &str) -> User {
    let mut rng = Rng::new(key(&[seed, 0x05E7, ord as u64, i as u64]));
    let resource_id = rng.alnum(12);
    let (first, fslug) = *rng.pick(FIRST);
    let (last, lslug) = *rng.pick(LAST);
    let email = if rng.chance(10) {
        let cap = |t: &str| {
            let mut c = t.chars();
            c.next()
                .map(|h| h.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        };
        format!("{}.{}.{}@{}", cap(fslug), cap(lslug), i + 1, domain)
    } else {
        format!("{fslug}.{lslug}.{}@{domain}", i + 1)
    };
    let department = if rng.chance(12) {
        None
    } else {
        s(rng.pick::<&str>(DEPARTMENTS))
    };
    let priority = match rng.below(10) {
        0..=2 => "Low",
        3..=6 => "Medium",
        7 | 8 => "High",
        _ => "VeryHigh",
    };
    let status = if is_inactive(seed, ord, i) {
        "Inactive"
    } else {
        "Active"
    };
    let phone_number = gen_phone(&mut rng);
    let create_ms = base_ms + i as i64 * 37_000 + rng.below(30_000) as i64;
    let update_delta = rng.below(400 * 86_400_000) as i64 + 1000;
    let update_time = match rng.below(100) {
        0..=14 => None,
        15..=19 => Some(time::dmy(create_ms + update_delta)),
        _ => Some(time::iso_ms(create_ms + update_delta)),
    };
    let shape = rng.below(10);
    let mut custom = Vec::new();
    if shape >= 2 {
        let emp = format!("{:06}", rng.below(20_000));
        custom.push(field(&mut rng, "Employee Number", emp));
    }
    if shape >= 3 {
        let cc = rng.pick(COST_CENTERS).to_string();
        custom.push(field(&mut rng, "Cost Center", cc));
        let start = time::ms_from(
            2010 + rng.below(13) as i64,
            1 + rng.below(12) as u32,
            1,
            0,
            0,
            0,
        );
        custom.push(CustomFieldValue {
            resource_id: rng.alnum(12),
            name: "Start Date".to_string(),
            data_type: "DateTime".to_string(),
            value: None,
            timestamp_value: Some(time::iso_s(start)),
        });
    }
    let scim = rng.chance(8);
    let ldap = !scim && rng.chance(7);
    let time_zone = if rng.chance(25) {
        None
    } else {
        s(rng.pick::<&str>(TIME_ZONES))
    };
    let preferred_language = if rng.chance(30) {
        None
    } else {
        s(rng.pick::<&str>(LANGUAGES))
    };
    let mut u = User {
        resource_id,
        email: Some(email),
        first_name: s(first),
        last_name: s(last),
        department,
        priority: s(priority),
        status: s(status),
        custom_field_values: custom,
        create_time: time::iso_ms(create_ms),
        update_time,
        is_editable: !(scim || ldap),
        scim_setting_name: if scim { s("Azure AD SCIM") } else { None },
        ldap_config_name: if ldap { s("corp.local LDAP") } else { None },
        phone_number,
        time_zone,
        preferred_language,
    };
    if i % 5 == 2 {
        apply_quirk(&mut u, &mut rng, (i as u64 / 5 + ord as u64) % QUIRKS);
    }
    u
}

fn set_custom(u: &mut User, rng: &mut Rng, name: &str, value: &str) {
    if let Some(f) = u.custom_field_values.iter_mut().find(|f| f.name == name) {
        f.value = s(value);
    } else {
        u.custom_field_values
            .push(field(rng, name, value.to_string()));
    }
}

fn apply_quirk(u: &mut User, rng: &mut Rng, quirk: u64) {
    match quirk {
        0 => u.department = s("=HYPERLINK(\"http://x\",\"y\")"),
        1 => u.first_name = s("@SUM(A1)"),
        2 => u.last_name = s("-2+3"),
        3 => u.department = s("+cmd|' /C calc'!A0"),
        4 => set_custom(u, rng, "Cost Center", "-42"),
        5 => u.department = s("Finance, \"Special\" Projects"),
        6 => {
            u.last_name = s("Smith\nJones");
            u.department = s("Ops\nNight Shift");
        }
        7 => {
            u.first_name = s("Tab\tSeparated");
            u.department = s("HR\tPayroll");
        }
        8 => {
            u.first_name = s("Zoë 🚀");
            u.last_name = s("😀 Smiley");
        }
        9 => u.phone_number = s("+1 (555) 010-0199"),
        10 => {
            u.phone_number = s("0532 000 00 00");
            set_custom(u, rng, "Employee Number", "000123");
        }
        11 => {
            u.first_name = None;
            u.last_name = None;
            u.department = None;
            u.phone_number = None;
            u.update_time = None;
            u.time_zone = None;
            u.preferred_language = None;
            u.custom_field_values.clear();
        }
        12 => {
            u.first_name = s("=1+2");
            u.department = s("-42");
        }
        13 => {
            u.last_name = s("\"The Boss\" O'Brien, Jr.");
            u.phone_number = s("+90 532 000 00 00");
        }
        14 => {
            u.first_name = s("İsmail");
            u.last_name = s("IŞIK");
            u.department = s("@Remote");
        }
        15 => {
            u.first_name = s("محمد");
            u.last_name = s("العلي");
            u.department = s("المبيعات");
        }
        16 => {
            u.first_name = s("太郎");
            u.last_name = s("山田");
            u.department = s("営業部");
        }
        _ => {
            u.first_name = s("Дмитрий");
            u.last_name = s("Ξενοφών");
            u.department = s("Отдел \"Продаж\", Москва");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_determinism() {
        let a = Dataset::generate(42, 250);
        let b = Dataset::generate(42, 250);
        let names: Vec<&str> = a.companies().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Acme Holdings",
                "Müşteri A.Ş.",
                "Globex Corporation",
                "Initech",
                "Umbrella Empty",
                "東京商事株式会社"
            ]
        );
        assert_eq!(a.all_companies().len(), 11);
        assert_eq!(a.find_by_name("Support").len(), 2);
        let tr = &a.find_by_name("Acme Türkiye")[0];
        assert!(tr.over_license_limit());
        assert_eq!(
            a.all_companies()
                .iter()
                .filter(|c| c.over_license_limit())
                .count(),
            1
        );
        for c in a.all_companies() {
            let users = a.users(&c.resource_id);
            assert_eq!(users.len(), c.user_count);
            assert_eq!(users, b.users(&c.resource_id));
            let mut emails: Vec<_> = users.iter().map(|u| u.email.clone()).collect();
            emails.sort();
            emails.dedup();
            assert_eq!(emails.len(), users.len());
            for w in users.windows(2) {
                assert!(w[0].create_time < w[1].create_time);
            }
            let inactive = users
                .iter()
                .filter(|u| u.status.as_deref() == Some("Inactive"))
                .count();
            assert_eq!(inactive, c.inactive_user_count);
        }
        assert_eq!(a.users(&a.reseller_company().resource_id).len(), 3);
        assert_eq!(a.users(a.unmanaged_company_id()).len(), 5);
        assert!(a.users("nope").is_empty());
        let json = a.users_json(&tr.resource_id);
        assert_eq!(json[0].as_object().unwrap().len(), 16);
    }
}
