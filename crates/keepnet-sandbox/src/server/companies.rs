//! `POST /api/companies/search` (NOTES before the Addendum, spec) and
//! `GET /api/companies/{resourceId}` (spec `CompanyDto`; the values are guesses), with the
//! user counts and licence check both serve (docs `target-users.md` FAQ; test2-ui
//! `CompanyList.vue`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::envelope::{failure, input_error, success};
use super::scope::resolve_company;
use super::{bump, enter, page_bounds, AppState, Principal, Shared};
use crate::data::{Company, MONTHS, RESELLER_NAME};
use crate::live::LiveCounts;
use crate::query::{self, InputError};
use crate::rng::{key, Rng};
use crate::{CompanyKeys, TargetUserCount};

/// A company's user counts as served now: generated, or changed by churn.
pub(super) fn counts(st: &AppState, c: &Company) -> LiveCounts {
    st.live.counts(c.ordinal).unwrap_or_else(|| {
        let mut monthly = [0; MONTHS];
        for (m, n) in monthly.iter_mut().zip(&c.monthly_user_counts) {
            *m = *n;
        }
        LiveCounts {
            total: c.user_count,
            active: c.active_user_count,
            inactive: c.inactive_user_count,
            deleted: c.deleted_user_count,
            monthly,
        }
    })
}

/// The `targetUserCount` served for these counts ([`crate::Config::target_user_count`]).
fn served_target_user_count(st: &AppState, n: &LiveCounts) -> usize {
    match st.config.target_user_count {
        TargetUserCount::Active => n.active,
        TargetUserCount::Current => n.active + n.inactive,
        TargetUserCount::Every => n.total,
    }
}

/// The licence counts only Active, non-deleted users, whatever `targetUserCount` counts.
fn over_license_limit(st: &AppState, c: &Company) -> bool {
    c.license_limit
        .is_some_and(|limit| counts(st, c).active > limit as usize)
}

struct CompanyView<'a> {
    c: &'a Company,
    keys: CompanyKeys,
    st: &'a AppState,
    /// A nested company listed again at top level: no children.
    flat: bool,
}

impl Serialize for CompanyView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.c;
        let (id_key, name_key) = match self.keys {
            CompanyKeys::Spec => ("companyResourceId", "companyName"),
            CompanyKeys::Prose => ("resourceId", "name"),
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(name_key, &c.name)?;
        m.serialize_entry(id_key, &c.resource_id)?;
        m.serialize_entry("resellerName", RESELLER_NAME)?;
        m.serialize_entry("industryName", &c.industry_name)?;
        m.serialize_entry("industryResourceId", &c.industry_resource_id)?;
        m.serialize_entry("licenseTypeName", &c.license_type_name)?;
        m.serialize_entry("licenseTypeResourceId", &c.license_type_resource_id)?;
        m.serialize_entry("isNumberOfUsersLimited", &c.license_limit.is_some())?;
        m.serialize_entry("numberOfUsers", &c.license_limit.map(|n| n.to_string()))?;
        m.serialize_entry("privacyDurationId", &1)?;
        m.serialize_entry("licenceExpired", &c.licence_expired)?;
        m.serialize_entry("licenseEndDate", &c.license_end_date)?;
        m.serialize_entry("createTime", &c.create_time)?;
        let n = counts(self.st, c);
        m.serialize_entry("targetUserCount", &served_target_user_count(self.st, &n))?;
        let children: Vec<CompanyView<'_>> = if self.flat {
            Vec::new()
        } else {
            c.children
                .iter()
                .map(|c| CompanyView {
                    c,
                    keys: self.keys,
                    st: self.st,
                    flat: false,
                })
                .collect()
        };
        m.serialize_entry("children", &children)?;
        m.serialize_entry("tags", &c.tags)?;
        m.serialize_entry("deletedTargetUserCount", &n.deleted)?;
        m.serialize_entry("inactiveTargetUserCount", &n.inactive)?;
        m.serialize_entry("monthlyActiveUserCount", &n.monthly[MONTHS - 1])?;
        m.end()
    }
}

#[derive(Clone, Copy)]
enum CompanyOrder {
    CreateTime,
    Name,
    TargetUserCount,
}

pub(super) async fn companies_search(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match enter(&st, &headers, || {}) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if p != Principal::Reseller {
        return failure(
            &st,
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Only Reseller credentials may search companies.",
            &[],
        );
    }
    match companies_page(&st, &body) {
        Ok(data) => success(&st, data),
        Err(e) => input_error(&st, e),
    }
}

fn companies_page(st: &AppState, body: &[u8]) -> Result<String, InputError> {
    let map = query::parse_body(body)?;
    let missing: Vec<String> = ["pageNumber", "pageSize", "orderBy", "ascending", "filter"]
        .iter()
        .filter(|k| query::present(&map, k).is_none())
        .map(|k| format!("The {k} field is required."))
        .collect();
    if !missing.is_empty() {
        return Err(InputError {
            message: "One or more validation errors occurred.".into(),
            validation: missing,
        });
    }
    let (page, size) = query::paging(&map, 10)?;
    let order_name = query::get_str(&map, "orderBy")?.unwrap_or("");
    let order = match order_name.trim().to_ascii_lowercase().as_str() {
        "createtime" => CompanyOrder::CreateTime,
        "companyname" | "name" => CompanyOrder::Name,
        "targetusercount" => CompanyOrder::TargetUserCount,
        _ => {
            return Err(InputError {
                message: "One or more validation errors occurred.".into(),
                validation: vec![format!(
                    "orderBy: Unsupported orderBy value '{order_name}'."
                )],
            })
        }
    };
    let ascending = query::get_bool(&map, "ascending")?.unwrap_or(false);
    let filter = query::required_filter(&map)?;
    let search = query::get_str(filter, "searchInputTextValue")?
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let exceeded_only = query::get_bool(&map, "isTargetUserCountExceededLimit")?.unwrap_or(false);
    let all = st.dataset.all_companies();
    let exceeded_count = all.iter().filter(|c| over_license_limit(st, c)).count();
    let arrange = |list| arrange_companies(st, list, &search, order, ascending);
    let mut list: Vec<(&Company, bool)> = if exceeded_only {
        arrange(
            all.iter()
                .copied()
                .filter(|c| over_license_limit(st, c))
                .collect(),
        )
        .into_iter()
        .map(|c| (c, false))
        .collect()
    } else {
        arrange(st.dataset.companies().iter().collect())
            .into_iter()
            .map(|c| (c, false))
            .collect()
    };
    if st.config.children_also_top_level && !exceeded_only {
        let nested: Vec<&Company> = all.iter().copied().filter(|c| c.parent.is_some()).collect();
        list.extend(arrange(nested).into_iter().map(|c| (c, true)));
    }
    let size = size.min(st.page_cap());
    let (start, end, pages) = page_bounds(list.len(), page, size);
    let results: Vec<CompanyView<'_>> = list[start..end]
        .iter()
        .map(|&(c, flat)| CompanyView {
            c,
            keys: st.config.company_keys,
            st,
            flat,
        })
        .collect();
    Ok(format!(
        r#"{{"limitExceededCompanyCount":{exceeded_count},"pageNumber":{page},"pageSize":{size},"totalNumberOfPages":{pages},"totalNumberOfRecords":{},"results":{}}}"#,
        list.len(),
        serde_json::to_string(&results).expect("companies serialise")
    ))
}

/// Keep the companies whose name contains `search`, in the requested order.
fn arrange_companies<'a>(
    st: &AppState,
    mut list: Vec<&'a Company>,
    search: &str,
    order: CompanyOrder,
    ascending: bool,
) -> Vec<&'a Company> {
    if !search.is_empty() {
        list.retain(|c| c.name.to_lowercase().contains(search));
    }
    list.sort_by(|a, b| {
        let primary = match order {
            CompanyOrder::CreateTime => a.create_ms.cmp(&b.create_ms),
            CompanyOrder::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            CompanyOrder::TargetUserCount => {
                let served = |c: &Company| served_target_user_count(st, &counts(st, c));
                served(a).cmp(&served(b))
            }
        };
        primary.then_with(|| a.resource_id.cmp(&b.resource_id))
    });
    if !ascending {
        list.reverse();
    }
    list
}

/// A lookup value's resource id, stable per seed and name.
fn lookup_id(st: &AppState, kind: u64, name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Rng::new(key(&[st.config.seed, 0xD7_0000 + kind, h])).alnum(12)
}

/// `GET /api/companies/{resourceId}` data (spec `CompanyDto`).
struct CompanyDto<'a> {
    c: &'a Company,
    st: &'a AppState,
    hide_formats: bool,
}

impl Serialize for CompanyDto<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, st) = (self.c, self.st);
        let none: Option<&str> = None;
        let modules: &[&str] = match c.license_type_name.as_str() {
            "Trial" => &["Phishing Simulator", "Awareness Educator"],
            "Professional" => &[
                "Phishing Simulator",
                "Awareness Educator",
                "Incident Responder",
            ],
            _ => &[
                "Phishing Simulator",
                "Awareness Educator",
                "Incident Responder",
                "Threat Intelligence",
                "Vishing Simulator",
                "Smishing Simulator",
                "Quishing Simulator",
                "Callback Simulator",
            ],
        };
        let language = match c.country_code.as_str() {
            "TR" => "Turkish",
            "DE" => "German",
            "JP" => "Japanese",
            "SE" => "Swedish",
            "CN" => "Chinese",
            _ => "English",
        };
        let year = c
            .license_end_date
            .as_deref()
            .and_then(|d| d.get(0..4))
            .unwrap_or("2026");
        let parent_id = c
            .parent
            .as_deref()
            .and_then(|p| st.dataset.ordinal_of(p))
            .map(|o| 1000 + o as u32);
        let (status_id, status_name) = if c.licence_expired {
            (2, "Expired")
        } else {
            (1, "Active")
        };
        let n = counts(st, c);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceId", &c.resource_id)?;
        m.serialize_entry("name", &c.name)?;
        m.serialize_entry("description", &none)?;
        m.serialize_entry("industryResourceId", &c.industry_resource_id)?;
        m.serialize_entry("industryName", &c.industry_name)?;
        m.serialize_entry("countryResourceId", &lookup_id(st, 1, &c.country_code))?;
        m.serialize_entry("countryName", &c.country_name)?;
        m.serialize_entry("countryCode", &c.country_code)?;
        m.serialize_entry("address", &none)?;
        m.serialize_entry("websiteUrl", &none)?;
        m.serialize_entry("logoUrl", &none)?;
        m.serialize_entry("licenseTypeResourceId", &c.license_type_resource_id)?;
        m.serialize_entry("licenseTypeName", &c.license_type_name)?;
        m.serialize_entry("licensePeriodTypeResourceId", &lookup_id(st, 2, "Yearly"))?;
        m.serialize_entry("licensePeriodTypeName", "Yearly")?;
        m.serialize_entry("licenseStartDate", &format!("{year}-01-01T00:00:00Z"))?;
        m.serialize_entry("licenseEndDate", &c.license_end_date)?;
        m.serialize_entry("isNumberOfUsersLimited", &c.license_limit.is_some())?;
        m.serialize_entry("numberOfUsers", &c.license_limit)?;
        m.serialize_entry(
            "notificationTemplateTypeResourceId",
            &lookup_id(st, 3, "Default"),
        )?;
        m.serialize_entry("notificationTemplateTypeName", "Default")?;
        m.serialize_entry(
            "trainingContentTypeResourceId",
            &lookup_id(st, 4, "Standard"),
        )?;
        m.serialize_entry("trainingContentTypeName", "Standard")?;
        m.serialize_entry(
            "smtpConfigurationTypeResourceId",
            &lookup_id(st, 5, "Keepnet SMTP"),
        )?;
        m.serialize_entry("smtpConfigurationTypeName", "Keepnet SMTP")?;
        m.serialize_entry(
            "preferredLanguageTypeResourceId",
            &lookup_id(st, 6, language),
        )?;
        m.serialize_entry("preferredLanguageTypeName", language)?;
        m.serialize_entry("isVersionVisible", &true)?;
        m.serialize_entry("isReleaseNotesVisible", &false)?;
        m.serialize_entry("releaseNotesUrl", &none)?;
        m.serialize_entry("companyGroups", &[0u8; 0])?;
        m.serialize_entry("parentId", &parent_id)?;
        m.serialize_entry("baseManHourCost", &50)?;
        m.serialize_entry("baseManHour", &8)?;
        m.serialize_entry("statusId", &status_id)?;
        m.serialize_entry("statusName", status_name)?;
        m.serialize_entry("licenseModules", modules)?;
        m.serialize_entry("targetUserCount", &served_target_user_count(st, &n))?;
        m.serialize_entry("timeZoneId", &c.time_zone_id)?;
        m.serialize_entry("callBackNumberBookingCount", &none)?;
        let (date_format, time_format) = if self.hide_formats {
            (None, None)
        } else {
            (Some(&c.date_format), Some(&c.time_format))
        };
        m.serialize_entry("dateFormat", &date_format)?;
        m.serialize_entry("timeFormat", &time_format)?;
        m.serialize_entry("tags", &c.tags)?;
        m.serialize_entry(
            "hasAgenticAILicense",
            &(c.license_type_name == "Enterprise"),
        )?;
        m.end()
    }
}

pub(super) async fn company_detail(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let p = match enter(&st, &headers, || bump(&st.stats.company_detail_requests)) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ord = match resolve_company(&st, p, id.trim()) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let c = st
        .dataset
        .company_by_ordinal(ord)
        .expect("resolved company");
    let dto = CompanyDto {
        c,
        st: &st,
        hide_formats: st.with_faults(|f| f.hide_company_formats),
    };
    success(
        &st,
        serde_json::to_string(&dto).expect("company serialises"),
    )
}
