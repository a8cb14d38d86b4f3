//! Seeded synthetic tenants: companies and their target users.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::rng::{key, Rng};
use crate::time::{self, DateOrder, Style};
use crate::{DeletedRows, LanguageField};

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
    /// ISO 8601 value of DateTime fields (always ISO, whatever the
    /// company's date format); `None` for String fields.
    pub timestamp_value: Option<String>,
}

/// A target user, serialised exactly as the search endpoint returns it:
/// camelCase keys in the order resourceId, email, firstName, lastName,
/// department, priority, status, customFieldValues, createTime, updateTime,
/// isEditable, scimSettingName, ldapConfigName, phoneNumber, timeZone,
/// preferredLanguage (named by [`User::language_key`]), managerFirstName,
/// managerLastName, managerEmail, managerFullName, isDeleted (left out when
/// [`User::is_deleted_key`] is false), then the [`User::extra`] keys; every
/// other key present, nulls as `null`. [`User::language_key`],
/// [`User::is_deleted_key`], [`User::create_ms`] and [`User::update_ms`]
/// are not serialised as values.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// "Active" or "Inactive"; about a quarter of deleted users say
    /// "Deleted", every one of them under [`DeletedRows::StatusOnly`].
    pub status: Option<String>,
    /// Custom field values (possibly empty).
    pub custom_field_values: Vec<CustomFieldValue>,
    /// Creation time as served: ISO 8601 UTC with milliseconds for
    /// [`DateStyle::Iso`] companies, the company's own format to the minute
    /// (UTC) for [`DateStyle::CompanyFormat`] ones. The instant is
    /// [`User::create_ms`].
    pub create_time: String,
    /// Update time as served, null or formatted like `create_time`, except
    /// that about 5% of an ISO company's update times are in the company's
    /// date order with 24 h seconds ("05/03/2024 18:25:30"). The instant is
    /// [`User::update_ms`].
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
    /// The key `preferred_language` is served under
    /// ([`crate::Config::language_field`]).
    pub language_key: LanguageField,
    /// First name of the user's manager (another user of the same company).
    pub manager_first_name: Option<String>,
    /// Last name of the manager.
    pub manager_last_name: Option<String>,
    /// Email of the manager.
    pub manager_email: Option<String>,
    /// "First Last" of the manager (the non-null parts joined by a space).
    pub manager_full_name: Option<String>,
    /// True for deleted users, which the list keeps for audit (whether or
    /// not the row says so with an `isDeleted` key).
    pub is_deleted: bool,
    /// Whether the row carries the `isDeleted` key: false for every user
    /// under [`DeletedRows::StatusOnly`], true otherwise.
    pub is_deleted_key: bool,
    /// Fields the client has never heard of ([`crate::Config::extra_user_fields`]),
    /// serialised as further keys after `managerFullName` and `isDeleted`, in this order.
    pub extra: Vec<(String, Value)>,
    /// The true creation instant, unix milliseconds (not serialised).
    pub create_ms: i64,
    /// The true update instant, unix milliseconds, `None` when
    /// `update_time` is null (not serialised).
    pub update_ms: Option<i64>,
}

impl Serialize for User {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let keys = 20 + usize::from(self.is_deleted_key) + self.extra.len();
        let mut m = s.serialize_map(Some(keys))?;
        m.serialize_entry("resourceId", &self.resource_id)?;
        m.serialize_entry("email", &self.email)?;
        m.serialize_entry("firstName", &self.first_name)?;
        m.serialize_entry("lastName", &self.last_name)?;
        m.serialize_entry("department", &self.department)?;
        m.serialize_entry("priority", &self.priority)?;
        m.serialize_entry("status", &self.status)?;
        m.serialize_entry("customFieldValues", &self.custom_field_values)?;
        m.serialize_entry("createTime", &self.create_time)?;
        m.serialize_entry("updateTime", &self.update_time)?;
        m.serialize_entry("isEditable", &self.is_editable)?;
        m.serialize_entry("scimSettingName", &self.scim_setting_name)?;
        m.serialize_entry("ldapConfigName", &self.ldap_config_name)?;
        m.serialize_entry("phoneNumber", &self.phone_number)?;
        m.serialize_entry("timeZone", &self.time_zone)?;
        m.serialize_entry(self.language_key.key(), &self.preferred_language)?;
        m.serialize_entry("managerFirstName", &self.manager_first_name)?;
        m.serialize_entry("managerLastName", &self.manager_last_name)?;
        m.serialize_entry("managerEmail", &self.manager_email)?;
        m.serialize_entry("managerFullName", &self.manager_full_name)?;
        if self.is_deleted_key {
            m.serialize_entry("isDeleted", &self.is_deleted)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// How a company's target-user responses render `createTime` and `updateTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateStyle {
    /// ISO 8601 UTC with milliseconds ("2024-03-05T18:25:30.123Z"); about
    /// 5% of update times use the company's date order with 24 h seconds.
    Iso,
    /// The company's `dateFormat` and `timeFormat`, in UTC, to the minute
    /// ("05/03/2024 18:25", "03/05/2024 06:25 PM", "2024/03/05 18:25").
    CompanyFormat,
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
    /// Number of target users the search endpoint lists, deleted ones
    /// included (as generated; [`crate::Faults::churn`] changes the served
    /// data only).
    pub user_count: usize,
    /// Licensed number of users; `None` means unlimited.
    pub license_limit: Option<u32>,
    /// ISO 8601 creation time.
    pub create_time: String,
    /// Users not deleted whose status is "Active" (the served
    /// `targetUserCount` unless [`crate::Config::target_user_count`] says otherwise).
    pub active_user_count: usize,
    /// Users not deleted whose status is "Inactive".
    pub inactive_user_count: usize,
    /// Deleted users (`isDeleted` true), whatever their status text.
    pub deleted_user_count: usize,
    /// Users created in November 2026, the last month of
    /// [`Company::monthly_user_counts`].
    pub monthly_active_user_count: usize,
    /// Users created in each month from December 2025 to November 2026
    /// (12 entries, oldest first), deleted ones included.
    pub monthly_user_counts: Vec<usize>,
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
    /// `dateFormat`: "DD/MM/YYYY", "MM/DD/YYYY" or "YYYY/MM/DD".
    pub date_format: String,
    /// `timeFormat`: "24h" or "12h".
    pub time_format: String,
    /// `timeZoneId` (IANA), e.g. "Europe/Istanbul". Dates are still
    /// rendered in UTC.
    pub time_zone_id: String,
    /// Whether user dates are served as ISO 8601 or in the company's format
    /// (the same for every company when [`crate::Config::date_style`] says so).
    pub dates: DateStyle,
    /// Country name, e.g. "Türkiye".
    pub country_name: String,
    /// ISO 3166 country code, e.g. "TR".
    pub country_code: String,
    pub(crate) ordinal: usize,
    pub(crate) create_ms: i64,
}

impl Company {
    /// True when the company has more Active (non-deleted) users than its
    /// licence allows: the licence counts only Active users.
    pub fn over_license_limit(&self) -> bool {
        self.license_limit
            .is_some_and(|limit| self.active_user_count > limit as usize)
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
    order: DateOrder,
    h12: bool,
    dates: DateStyle,
    tz: &'static str,
    country: (&'static str, &'static str),
}

/// Ordinal of the reseller's own company.
pub(crate) const RESELLER_ORD: usize = 0;
/// Ordinal of "Globex Corporation" (the Company Admin's company).
pub(crate) const GLOBEX_ORD: usize = 6;
/// Ordinal of the company belonging to another reseller.
pub(crate) const UNMANAGED_ORD: usize = 12;
/// Name of the reseller.
pub(crate) const RESELLER_NAME: &str = "Northwind MSSP";

const US: (&str, &str) = ("United States", "US");
const TR: (&str, &str) = ("Türkiye", "TR");

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
        order: DateOrder::Dmy,
        h12: false,
        dates: DateStyle::Iso,
        tz: "Europe/London",
        country: ("United Kingdom", "GB"),
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
        order: DateOrder::Dmy,
        h12: false,
        dates: DateStyle::Iso,
        tz: "Europe/London",
        country: ("United Kingdom", "GB"),
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
        order: DateOrder::Dmy,
        h12: false,
        dates: DateStyle::CompanyFormat,
        tz: "Europe/Berlin",
        country: ("Germany", "DE"),
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
        order: DateOrder::Ymd,
        h12: false,
        dates: DateStyle::CompanyFormat,
        tz: "Europe/Stockholm",
        country: ("Sweden", "SE"),
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
        order: DateOrder::Dmy,
        h12: false,
        dates: DateStyle::CompanyFormat,
        tz: "Europe/Istanbul",
        country: TR,
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
        order: DateOrder::Dmy,
        h12: false,
        dates: DateStyle::Iso,
        tz: "Europe/Istanbul",
        country: TR,
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
        order: DateOrder::Mdy,
        h12: true,
        dates: DateStyle::CompanyFormat,
        tz: "America/New_York",
        country: US,
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
        order: DateOrder::Mdy,
        h12: false,
        dates: DateStyle::CompanyFormat,
        tz: "America/Chicago",
        country: US,
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
        order: DateOrder::Mdy,
        h12: true,
        dates: DateStyle::Iso,
        tz: "America/Los_Angeles",
        country: US,
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
        order: DateOrder::Dmy,
        h12: true,
        dates: DateStyle::CompanyFormat,
        tz: "Asia/Kolkata",
        country: ("India", "IN"),
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
        order: DateOrder::Ymd,
        h12: false,
        dates: DateStyle::CompanyFormat,
        tz: "Asia/Shanghai",
        country: ("China", "CN"),
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
        order: DateOrder::Ymd,
        h12: false,
        dates: DateStyle::CompanyFormat,
        tz: "Asia/Tokyo",
        country: ("Japan", "JP"),
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
        order: DateOrder::Mdy,
        h12: false,
        dates: DateStyle::Iso,
        tz: "America/Denver",
        country: US,
    },
];

/// Users are created within `[2025-06-01, 2026-11-20)`: some in every month of the monthly
/// series, the last (current) month included, so `monthlyActiveUserCount` is a real figure.
fn spread() -> (i64, i64) {
    (
        time::ms_from(2025, 6, 1, 0, 0, 0),
        time::ms_from(2026, 11, 20, 0, 0, 0),
    )
}

/// Update times stay at or before this instant.
pub(crate) fn update_bound() -> i64 {
    time::ms_from(2026, 11, 30, 0, 0, 0)
}

/// Number of months in the monthly series (December 2025 to November 2026).
pub(crate) const MONTHS: usize = 12;

/// The months of the monthly series, oldest first: (year, month, start, end).
pub(crate) fn series_months() -> [(i64, u32, i64, i64); MONTHS] {
    let mut out = [(0, 0, 0, 0); MONTHS];
    let (mut y, mut m) = (2025, 12);
    for slot in &mut out {
        let (ny, nm) = time::next_month(y, m);
        *slot = (y, m, time::month_start(y, m), time::month_start(ny, nm));
        (y, m) = (ny, nm);
    }
    out
}

/// Position of an instant in the monthly series, if inside it.
pub(crate) fn month_index(ms: i64) -> Option<usize> {
    series_months()
        .iter()
        .position(|&(_, _, lo, hi)| lo <= ms && ms < hi)
}

/// What a user's status and deletion are, drawn apart from the rest so
/// counts and filters need not generate the user.
#[derive(Clone, Copy, Debug)]
struct Fate {
    inactive: bool,
    deleted: bool,
    deleted_text: bool,
}

fn fate(seed: u64, ord: usize, i: usize) -> Fate {
    let h = key(&[seed, 0x57A7, ord as u64, i as u64]);
    // One user among the first 20 is always deleted, so every company of
    // 20 users or more has at least one.
    let forced = key(&[seed, 0xDE1E, ord as u64]) % 20 == i as u64;
    let deleted = forced || (h >> 20) % 100 < 10;
    Fate {
        inactive: h % 100 < 12,
        deleted,
        deleted_text: deleted && (h >> 40).is_multiple_of(4),
    }
}

impl Fate {
    /// The status text served: "Deleted" for a quarter of deleted users, or
    /// for all of them under [`DeletedRows::StatusOnly`].
    fn status(self, rows: DeletedRows) -> &'static str {
        if self.deleted_text || (self.deleted && rows == DeletedRows::StatusOnly) {
            "Deleted"
        } else {
            self.alive_status()
        }
    }

    /// The status text of the user were it not deleted.
    fn alive_status(self) -> &'static str {
        if self.inactive {
            "Inactive"
        } else {
            "Active"
        }
    }
}

/// The facts a status/deletion/month filter needs, computed without
/// generating the user.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts {
    pub(crate) status: &'static str,
    pub(crate) is_deleted: bool,
    pub(crate) create_ms: i64,
}

/// Creation instant of user `i` of a company of `count` users: strictly
/// increasing over `0..count`, spread over the whole range. Indices past
/// `count` (users added by churn) land anywhere in the range.
fn create_ms_of(seed: u64, ord: usize, i: usize, count: usize) -> i64 {
    let (lo, hi) = spread();
    let span = hi - lo;
    let h = key(&[seed, 0x7135, ord as u64, i as u64]);
    if i < count {
        let step = span / count as i64;
        let jitter = (h % (step as u64 / 2).max(1)) as i64;
        lo + i as i64 * step + jitter
    } else {
        lo + (h % span as u64) as i64
    }
}

/// The manager of user `i`: another user of the same company, for about 60%.
fn manager_of(seed: u64, ord: usize, i: usize, count: usize) -> Option<usize> {
    let h = key(&[seed, 0x3A6E, ord as u64, i as u64]);
    if h % 100 >= 60 {
        return None;
    }
    if i < count {
        if count < 2 {
            return None;
        }
        let j = ((h >> 8) % (count as u64 - 1)) as usize;
        Some(if j >= i { j + 1 } else { j })
    } else if count > 0 {
        Some(((h >> 8) % count as u64) as usize)
    } else {
        None
    }
}

/// Value of extra field `pos` for user `i`: cycles through null, a
/// string, an integer and a nested object.
fn extra_value(seed: u64, ord: usize, i: usize, pos: usize) -> Value {
    let h = key(&[seed, 0xE47A, ord as u64, i as u64, pos as u64]);
    match (i + pos + ord) % 4 {
        0 => Value::Null,
        1 => Value::String(format!("lvl-{} \"quoted\", comma", h % 10)),
        2 => Value::from((h % 2_000_001) as i64 - 1_000_000),
        _ => serde_json::json!({"level": h % 5, "tags": ["a", true, null]}),
    }
}

struct Slot {
    count: usize,
    domain: String,
    style: Style,
    users: OnceLock<Vec<User>>,
}

/// Everything user generation needs for one company.
struct Gen<'a> {
    seed: u64,
    ord: usize,
    count: usize,
    domain: &'a str,
    style: Style,
    rows: Rows<'a>,
}

/// How every generated row is shaped, whatever the company: the
/// [`crate::Config`] knobs that reach the users.
#[derive(Clone, Copy, Debug)]
struct Rows<'a> {
    extra: &'a [String],
    deleted: DeletedRows,
    language: LanguageField,
}

/// The [`Config`](crate::Config) knobs a dataset is built with, past the
/// seed, sizes and extra companies.
#[derive(Clone, Debug, Default)]
struct Knobs {
    extra_fields: Vec<String>,
    deleted_rows: DeletedRows,
    language_field: LanguageField,
    date_style: Option<DateStyle>,
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
    knobs: Knobs,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("seed", &self.seed)
            .field("companies", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// Milliseconds after 4 January 2021, 09:00 UTC, that company `ord` was created: 11 days
/// apart, except that many extra companies are packed closer, so that the last is still
/// created before 1 May 2025: before any user (`spread`) and the sandbox's "now".
fn company_offset_ms(ord: usize, extras: usize) -> i64 {
    const DAY: i64 = 86_400_000;
    const STEP: i64 = 11 * DAY;
    const LAST: i64 = 1578 * DAY; // 2025-05-01
    let built_in = DEFS.len();
    if ord < built_in {
        return ord as i64 * STEP;
    }
    let first = built_in as i64 * STEP;
    let step = STEP.min((LAST - first) / extras.max(1) as i64);
    first + (ord - built_in) as i64 * step
}

/// Number of users of `0..count` created before `ms`.
fn created_before(seed: u64, ord: usize, count: usize, ms: i64) -> usize {
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if create_ms_of(seed, ord, mid, count) < ms {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl Dataset {
    /// Build the dataset for `seed`, with `users_per_company` users in each
    /// ordinary customer company.
    pub fn generate(seed: u64, users_per_company: usize) -> Dataset {
        Self::build(seed, users_per_company, &[], Knobs::default())
    }

    /// Like [`Dataset::generate`], plus top-level customer companies with the given names
    /// (e.g. hostile ones such as `../x` or `CON`), each with `users_per_company` users,
    /// created after the built-in companies.
    pub fn generate_with(seed: u64, users_per_company: usize, extra: &[String]) -> Dataset {
        Self::build(seed, users_per_company, extra, Knobs::default())
    }

    /// The dataset a sandbox with this configuration serves: its seed,
    /// `users_per_company`, `extra_companies`, `extra_user_fields`,
    /// `deleted_rows`, `date_style` and `language_field`.
    pub fn from_config(config: &crate::Config) -> Dataset {
        Self::build(
            config.seed,
            config.users_per_company,
            &config.extra_companies,
            Knobs {
                extra_fields: config.extra_user_fields.clone(),
                deleted_rows: config.deleted_rows,
                language_field: config.language_field,
                date_style: config.date_style,
            },
        )
    }

    fn build(seed: u64, users_per_company: usize, extra: &[String], knobs: Knobs) -> Dataset {
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
        let mut taken: HashSet<String> = HashSet::with_capacity(entries.len());
        let mut flat: Vec<Company> = Vec::with_capacity(entries.len());
        let mut slots = Vec::with_capacity(entries.len());
        for (ord, &(name, def, domain)) in entries.iter().enumerate() {
            let mut rng = Rng::new(key(&[seed, 0xC0C0, ord as u64]));
            let mut id = rng.alnum(12);
            while taken.contains(&id) {
                id = rng.alnum(12);
            }
            taken.insert(id.clone());
            ids.push(id.clone());
            let count = match def.size {
                Size::PerCompany => users_per_company,
                Size::Fixed(n) => n,
            };
            let (mut active, mut inactive, mut deleted) = (0, 0, 0);
            for i in 0..count {
                let f = fate(seed, ord, i);
                if f.deleted {
                    deleted += 1;
                } else if f.inactive {
                    inactive += 1;
                } else {
                    active += 1;
                }
            }
            let monthly: Vec<usize> = series_months()
                .iter()
                .map(|&(_, _, lo, hi)| {
                    created_before(seed, ord, count, hi) - created_before(seed, ord, count, lo)
                })
                .collect();
            let license_limit = match def.limit {
                Limit::Unlimited => None,
                Limit::Over => Some((active as u64 * 4 / 5).min(u64::from(u32::MAX)) as u32),
                Limit::Room => {
                    let want = (count as u64 * 2 + 100).div_ceil(50) * 50;
                    Some(want.min(u64::from(u32::MAX)) as u32)
                }
            };
            let created = time::ms_from(2021, 1, 4, 9, 0, 0)
                + company_offset_ms(ord, extra.len())
                + rng.below(8 * 3_600_000) as i64;
            let end = if def.expired {
                "2024-01-31T23:59:59Z".to_string()
            } else {
                format!("{}-12-31T23:59:59Z", 2026 + ord % 3)
            };
            let industry_resource_id = Rng::new(key(&[seed, 0x1D, fnv(def.industry)])).alnum(12);
            let license_type_resource_id =
                Rng::new(key(&[seed, 0x11C, fnv(def.license)])).alnum(12);
            let dates = knobs.date_style.unwrap_or(def.dates);
            let style = Style {
                order: def.order,
                h12: def.h12,
                company_format: dates == DateStyle::CompanyFormat,
            };
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
                deleted_user_count: deleted,
                monthly_active_user_count: monthly[MONTHS - 1],
                monthly_user_counts: monthly,
                industry_name: def.industry.to_string(),
                industry_resource_id,
                license_type_name: def.license.to_string(),
                license_type_resource_id,
                licence_expired: def.expired,
                license_end_date: Some(end),
                tags: def.tags.iter().map(|t| t.to_string()).collect(),
                email_domain: domain.to_string(),
                date_format: def.order.name().to_string(),
                time_format: if def.h12 { "12h" } else { "24h" }.to_string(),
                time_zone_id: def.tz.to_string(),
                dates,
                country_name: def.country.0.to_string(),
                country_code: def.country.1.to_string(),
                ordinal: ord,
                create_ms: created,
            });
            slots.push(Slot {
                count,
                domain: domain.to_string(),
                style,
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
            knobs,
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
    /// originally generated data, like [`Dataset::users`]), in the row shape
    /// the dataset was built with ([`crate::Config::deleted_rows`],
    /// [`crate::Config::language_field`], [`crate::Config::extra_user_fields`]).
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

    /// Ordinals of every company a reseller manages: its own company, then
    /// every managed company depth-first (not the other reseller's).
    pub(crate) fn managed_ordinals(&self) -> Vec<usize> {
        std::iter::once(RESELLER_ORD)
            .chain(self.all_companies().iter().map(|c| c.ordinal))
            .collect()
    }

    fn gen(&self, ord: usize) -> Gen<'_> {
        let slot = &self.slots[ord];
        Gen {
            seed: self.seed,
            ord,
            count: slot.count,
            domain: &slot.domain,
            style: slot.style,
            rows: Rows {
                extra: &self.knobs.extra_fields,
                deleted: self.knobs.deleted_rows,
                language: self.knobs.language_field,
            },
        }
    }

    /// How deleted users are marked in this dataset's rows.
    pub(crate) fn deleted_rows(&self) -> DeletedRows {
        self.knobs.deleted_rows
    }

    /// Un-deletes generated user `i` of company `ord` (a user added between
    /// runs is not deleted yet). Under [`DeletedRows::StatusOnly`] its
    /// status goes back to what it would be alive; under
    /// [`DeletedRows::Flagged`] the status text stays as generated.
    pub(crate) fn undelete(&self, ord: usize, i: usize, u: &mut User) {
        if u.is_deleted && self.knobs.deleted_rows == DeletedRows::StatusOnly {
            u.status = s(fate(self.seed, ord, i).alive_status());
        }
        u.is_deleted = false;
    }

    /// The date style of a company.
    pub(crate) fn style_of(&self, ord: usize) -> Style {
        self.slots[ord].style
    }

    /// The user a company would have at creation index `i`, generated like
    /// every other one; also valid past the company's generated count (new
    /// users of [`crate::Faults::churn`]), where indices give unique emails.
    pub(crate) fn generate_user(&self, ord: usize, i: usize) -> User {
        gen_user(&self.gen(ord), i)
    }

    pub(crate) fn user_count_of(&self, ord: usize) -> usize {
        self.slots[ord].count
    }

    /// Status, deletion and creation instant of user `i`, without
    /// generating it (equal to the generated user's).
    pub(crate) fn facts(&self, ord: usize, i: usize) -> Facts {
        let count = self.slots[ord].count;
        let f = fate(self.seed, ord, i);
        Facts {
            status: f.status(self.knobs.deleted_rows),
            is_deleted: f.deleted,
            create_ms: create_ms_of(self.seed, ord, i, count),
        }
    }

    /// Creation instant of user `i` (equal to the generated user's).
    pub(crate) fn create_ms_at(&self, ord: usize, i: usize) -> i64 {
        create_ms_of(self.seed, ord, i, self.slots[ord].count)
    }

    /// Resource id of user `i` (equal to the generated user's), cheaply.
    pub(crate) fn resource_id_at(&self, ord: usize, i: usize) -> std::borrow::Cow<'_, str> {
        match self.slots[ord].users.get() {
            Some(users) => std::borrow::Cow::Borrowed(users[i].resource_id.as_str()),
            None => std::borrow::Cow::Owned(user_rng(self.seed, ord, i).alnum(12)),
        }
    }

    /// One user by creation index, borrowed when the company's users are
    /// already materialised, generated on the spot otherwise (users are
    /// seeded individually, so both give identical values).
    pub(crate) fn user_at(&self, ord: usize, i: usize) -> std::borrow::Cow<'_, User> {
        let slot = &self.slots[ord];
        match slot.users.get() {
            Some(users) => std::borrow::Cow::Borrowed(&users[i]),
            None => std::borrow::Cow::Owned(gen_user(&self.gen(ord), i)),
        }
    }

    pub(crate) fn users_of(&self, ord: usize) -> &[User] {
        let slot = &self.slots[ord];
        slot.users.get_or_init(|| {
            let g = self.gen(ord);
            let gen = |range: std::ops::Range<usize>| -> Vec<User> {
                range.map(|i| gen_user(&g, i)).collect()
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
                        let gen = &gen;
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

fn user_rng(seed: u64, ord: usize, i: usize) -> Rng {
    Rng::new(key(&[seed, 0x05E7, ord as u64, i as u64]))
}

/// The quirk of user `i`, for every fifth user.
fn quirk_of(ord: usize, i: usize) -> Option<u64> {
    (i % 5 == 2).then(|| (i as u64 / 5 + ord as u64) % QUIRKS)
}

/// Name changes of a quirk: `(first, last)`, each `None` when unchanged
/// and `Some(None)` for null.
#[allow(clippy::type_complexity)]
fn quirk_names(quirk: u64) -> (Option<Option<&'static str>>, Option<Option<&'static str>>) {
    match quirk {
        1 => (Some(Some("@SUM(A1)")), None),
        2 => (None, Some(Some("-2+3"))),
        6 => (None, Some(Some("Smith\nJones"))),
        7 => (Some(Some("Tab\tSeparated")), None),
        8 => (Some(Some("Zoë 🚀")), Some(Some("😀 Smiley"))),
        11 => (Some(None), Some(None)),
        12 => (Some(Some("=1+2")), None),
        13 => (None, Some(Some("\"The Boss\" O'Brien, Jr."))),
        14 => (Some(Some("İsmail")), Some(Some("IŞIK"))),
        15 => (Some(Some("محمد")), Some(Some("العلي"))),
        16 => (Some(Some("太郎")), Some(Some("山田"))),
        17 => (Some(Some("Дмитрий")), Some(Some("Ξενοφών"))),
        _ => (None, None),
    }
}

/// Who user `i` is: the first draws of its generator, quirks applied.
struct Ident {
    resource_id: String,
    first: Option<String>,
    last: Option<String>,
    email: String,
    rng: Rng,
}

fn ident(g: &Gen<'_>, i: usize) -> Ident {
    let mut rng = user_rng(g.seed, g.ord, i);
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
        format!("{}.{}.{}@{}", cap(fslug), cap(lslug), i + 1, g.domain)
    } else {
        format!("{fslug}.{lslug}.{}@{}", i + 1, g.domain)
    };
    let (mut first, mut last) = (s(first), s(last));
    if let Some(q) = quirk_of(g.ord, i) {
        let (f, l) = quirk_names(q);
        if let Some(f) = f {
            first = f.map(str::to_string);
        }
        if let Some(l) = l {
            last = l.map(str::to_string);
        }
    }
    Ident {
        resource_id,
        first,
        last,
        email,
        rng,
    }
}

fn gen_user(g: &Gen<'_>, i: usize) -> User {
    let Ident {
        resource_id,
        first,
        last,
        email,
        mut rng,
    } = ident(g, i);
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
    let fate = fate(g.seed, g.ord, i);
    let phone_number = gen_phone(&mut rng);
    let create_ms = create_ms_of(g.seed, g.ord, i, g.count);
    let room = (update_bound() - create_ms - 1000).clamp(1, 400 * 86_400_000);
    let updated = create_ms + rng.below(room as u64) as i64 + 1000;
    let (update_ms, update_time) = match rng.below(100) {
        0..=14 => (None, None),
        15..=19 => (Some(updated), Some(g.style.update_text(updated, true))),
        _ => (Some(updated), Some(g.style.update_text(updated, false))),
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
    let (manager_first_name, manager_last_name, manager_email, manager_full_name) =
        match manager_of(g.seed, g.ord, i, g.count).map(|j| ident(g, j)) {
            Some(m) => {
                let full = [m.first.as_deref(), m.last.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                let full = (!full.is_empty()).then_some(full);
                (m.first, m.last, Some(m.email), full)
            }
            None => (None, None, None, None),
        };
    let extra = g
        .rows
        .extra
        .iter()
        .enumerate()
        .map(|(pos, name)| (name.clone(), extra_value(g.seed, g.ord, i, pos)))
        .collect();
    let mut u = User {
        resource_id,
        email: Some(email),
        first_name: first,
        last_name: last,
        department,
        priority: s(priority),
        status: s(fate.status(g.rows.deleted)),
        custom_field_values: custom,
        create_time: g.style.create_text(create_ms),
        update_time,
        is_editable: !(scim || ldap),
        scim_setting_name: if scim { s("Azure AD SCIM") } else { None },
        ldap_config_name: if ldap { s("corp.local LDAP") } else { None },
        phone_number,
        time_zone,
        preferred_language,
        language_key: g.rows.language,
        manager_first_name,
        manager_last_name,
        manager_email,
        manager_full_name,
        is_deleted: fate.deleted,
        is_deleted_key: g.rows.deleted == DeletedRows::Flagged,
        extra,
        create_ms,
        update_ms,
    };
    if let Some(q) = quirk_of(g.ord, i) {
        apply_quirk(&mut u, &mut rng, q);
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

/// The hostile-data quirks other than names (those are in [`quirk_names`],
/// so a manager's name matches its own row).
fn apply_quirk(u: &mut User, rng: &mut Rng, quirk: u64) {
    match quirk {
        0 => u.department = s("=HYPERLINK(\"http://x\",\"y\")"),
        3 => u.department = s("+cmd|' /C calc'!A0"),
        4 => set_custom(u, rng, "Cost Center", "-42"),
        5 => u.department = s("Finance, \"Special\" Projects"),
        6 => u.department = s("Ops\nNight Shift"),
        7 => u.department = s("HR\tPayroll"),
        9 => u.phone_number = s("+1 (555) 010-0199"),
        10 => {
            u.phone_number = s("0532 000 00 00");
            set_custom(u, rng, "Employee Number", "000123");
        }
        11 => {
            u.department = None;
            u.phone_number = None;
            u.update_time = None;
            u.update_ms = None;
            u.time_zone = None;
            u.preferred_language = None;
            u.custom_field_values.clear();
        }
        12 => u.department = s("-42"),
        13 => u.phone_number = s("+90 532 000 00 00"),
        14 => u.department = s("@Remote"),
        15 => u.department = s("المبيعات"),
        16 => u.department = s("営業部"),
        17 => u.department = s("Отдел \"Продаж\", Москва"),
        _ => {}
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
        let (lo, hi) = spread();
        for c in a.all_companies() {
            let users = a.users(&c.resource_id);
            assert_eq!(users.len(), c.user_count);
            assert_eq!(users, b.users(&c.resource_id));
            let mut emails: Vec<_> = users.iter().map(|u| u.email.clone()).collect();
            emails.sort();
            emails.dedup();
            assert_eq!(emails.len(), users.len());
            for w in users.windows(2) {
                assert!(w[0].create_ms < w[1].create_ms);
            }
            for (i, u) in users.iter().enumerate() {
                assert!(lo <= u.create_ms && u.create_ms < hi);
                if let Some(up) = u.update_ms {
                    assert!(up > u.create_ms && up <= update_bound());
                }
                assert_eq!(u.update_ms.is_some(), u.update_time.is_some());
                assert_eq!(
                    u.create_time,
                    a.style_of(c.ordinal).create_text(u.create_ms)
                );
                let f = a.facts(c.ordinal, i);
                assert_eq!(
                    (f.status, f.is_deleted, f.create_ms),
                    (u.status.as_deref().unwrap(), u.is_deleted, u.create_ms)
                );
                assert_eq!(a.resource_id_at(c.ordinal, i), u.resource_id.as_str());
                assert_eq!(*a.user_at(c.ordinal, i), *u);
            }
            let count = |f: &dyn Fn(&User) -> bool| users.iter().filter(|u| f(u)).count();
            assert_eq!(
                count(&|u| !u.is_deleted && u.status.as_deref() == Some("Inactive")),
                c.inactive_user_count
            );
            assert_eq!(
                count(&|u| !u.is_deleted && u.status.as_deref() == Some("Active")),
                c.active_user_count
            );
            assert_eq!(count(&|u| u.is_deleted), c.deleted_user_count);
            assert_eq!(
                count(&|u| u.status.as_deref() == Some("Deleted")),
                count(&|u| u.is_deleted && u.status.as_deref() == Some("Deleted"))
            );
            if users.len() >= 20 {
                assert!(c.deleted_user_count >= 1, "{}", c.name);
            }
            let mut monthly = vec![0; MONTHS];
            for u in users {
                if let Some(m) = month_index(u.create_ms) {
                    monthly[m] += 1;
                }
            }
            assert_eq!(monthly, c.monthly_user_counts);
            assert_eq!(c.monthly_active_user_count, monthly[MONTHS - 1]);
            // Managers are other users of the same company, named as they are.
            for u in users {
                let Some(email) = &u.manager_email else {
                    assert!(u.manager_first_name.is_none() && u.manager_full_name.is_none());
                    continue;
                };
                assert_ne!(u.email.as_ref(), Some(email));
                let m = users
                    .iter()
                    .find(|m| m.email.as_ref() == Some(email))
                    .expect("manager in the company");
                assert_eq!(m.first_name, u.manager_first_name);
                assert_eq!(m.last_name, u.manager_last_name);
                let full = [m.first_name.as_deref(), m.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                assert_eq!(u.manager_full_name.as_deref().unwrap_or(""), full);
            }
        }
        let all: Vec<&User> = a
            .all_companies()
            .iter()
            .flat_map(|c| a.users(&c.resource_id))
            .collect();
        let share = |f: &dyn Fn(&User) -> bool| {
            all.iter().filter(|u| f(u)).count() as f64 / all.len() as f64
        };
        let deleted = share(&|u| u.is_deleted);
        assert!((0.07..0.14).contains(&deleted), "{deleted}");
        let managed = share(&|u| u.manager_email.is_some());
        assert!((0.55..0.65).contains(&managed), "{managed}");
        let text = share(&|u| u.status.as_deref() == Some("Deleted")) / deleted;
        assert!((0.15..0.35).contains(&text), "{text}");
        assert!(all
            .iter()
            .any(|u| u.is_deleted && u.status.as_deref() == Some("Active")));
        assert_eq!(a.users(&a.reseller_company().resource_id).len(), 3);
        assert_eq!(a.users(a.unmanaged_company_id()).len(), 5);
        assert!(a.users("nope").is_empty());
        let json = a.users_json(&tr.resource_id);
        assert_eq!(json[0].as_object().unwrap().len(), 21);
        let text = serde_json::to_string(&a.users(&tr.resource_id)[0]).unwrap();
        assert_eq!(key_order(&text), KEYS);
    }

    const KEYS: [&str; 21] = [
        "resourceId",
        "email",
        "firstName",
        "lastName",
        "department",
        "priority",
        "status",
        "customFieldValues",
        "createTime",
        "updateTime",
        "isEditable",
        "scimSettingName",
        "ldapConfigName",
        "phoneNumber",
        "timeZone",
        "preferredLanguage",
        "managerFirstName",
        "managerLastName",
        "managerEmail",
        "managerFullName",
        "isDeleted",
    ];

    /// Top-level keys of a serialised object, in order.
    fn key_order(text: &str) -> Vec<String> {
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Keys;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut m: A,
                    ) -> Result<Keys, A::Error> {
                        let mut out = Vec::new();
                        while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                            out.push(k);
                        }
                        Ok(Keys(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
        serde_json::from_str::<Keys>(text).unwrap().0
    }

    #[test]
    fn status_only_rows_say_deleted_and_facts_agree() {
        let config = crate::Config {
            users_per_company: 60,
            deleted_rows: DeletedRows::StatusOnly,
            language_field: LanguageField::LanguageTypeName,
            ..crate::Config::default()
        };
        let a = Dataset::from_config(&config);
        let flagged = Dataset::generate(42, 60);
        for c in a.all_companies() {
            let users = a.users(&c.resource_id);
            let was = flagged.users(&c.resource_id);
            let deleted = users.iter().filter(|u| u.is_deleted).count();
            assert_eq!(deleted, c.deleted_user_count);
            assert_eq!(
                c.deleted_user_count,
                flagged
                    .all_companies()
                    .iter()
                    .find(|f| f.resource_id == c.resource_id)
                    .unwrap()
                    .deleted_user_count
            );
            for (i, (u, w)) in users.iter().zip(was).enumerate() {
                assert_eq!(u.is_deleted, w.is_deleted);
                assert_eq!(u.is_deleted, u.status.as_deref() == Some("Deleted"));
                if !u.is_deleted {
                    assert_eq!(u.status, w.status);
                }
                assert_eq!(a.facts(c.ordinal, i).status, u.status.as_deref().unwrap());
                let keys = key_order(&serde_json::to_string(u).unwrap());
                let mut want: Vec<&str> = KEYS[..20].to_vec();
                want[15] = "languageTypeName";
                assert_eq!(keys, want);
            }
        }
    }

    #[test]
    fn extra_fields_cycle_through_types() {
        let config = crate::Config {
            users_per_company: 40,
            extra_user_fields: vec!["riskLevel".into(), "badge".into()],
            ..crate::Config::default()
        };
        let a = Dataset::from_config(&config);
        let users = a.users_json(&a.companies()[0].resource_id);
        let mut kinds = [0usize; 4];
        for (u, user) in users.iter().zip(a.users(&a.companies()[0].resource_id)) {
            let keys = key_order(&serde_json::to_string(user).unwrap());
            assert_eq!(keys[..21], KEYS);
            assert_eq!(keys[21..], ["riskLevel", "badge"]);
            for k in ["riskLevel", "badge"] {
                kinds[match &u[k] {
                    Value::Null => 0,
                    Value::String(_) => 1,
                    Value::Number(_) => 2,
                    Value::Object(_) => 3,
                    other => panic!("{other}"),
                }] += 1;
            }
        }
        assert_eq!(kinds, [20, 20, 20, 20]);
        assert_eq!(
            Dataset::from_config(&config).users_json(&a.companies()[0].resource_id),
            users
        );
    }

    #[test]
    fn a_million_users_spread_and_count_cheaply() {
        let a = Dataset::generate(42, 1_000_000);
        let initech = a.find_by_name("Initech")[0];
        assert_eq!(initech.user_count, 1_000_000);
        assert_eq!(
            initech.active_user_count + initech.inactive_user_count + initech.deleted_user_count,
            1_000_000
        );
        let (lo, hi) = spread();
        let ord = initech.ordinal;
        assert!(a.create_ms_at(ord, 0) >= lo);
        assert!(a.create_ms_at(ord, 999_999) < hi);
        for i in (0..999_999).step_by(997) {
            assert!(a.create_ms_at(ord, i) < a.create_ms_at(ord, i + 1));
        }
        let u = a.user_at(ord, 999_999);
        assert_eq!(u.create_ms, a.create_ms_at(ord, 999_999));
        let total: usize = initech.monthly_user_counts.iter().sum();
        let before = created_before(42, ord, 1_000_000, time::month_start(2025, 12));
        assert_eq!(total + before, 1_000_000);
    }
}
