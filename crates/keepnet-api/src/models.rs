//! Typed shapes of what the API returns.
//!
//! Field names follow the API (camelCase on the wire). Almost everything is nullable in
//! Keepnet's schema, so almost everything here is an `Option`. Date-times are kept as the text
//! the server sent: Keepnet mixes ISO 8601 with `dd/MM/yyyy HH:mm:ss`, and interpreting them is
//! the output's business, not the client's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One page of a paged search result (`data` of a search response).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", bound = "T: Deserialize<'de>")]
pub struct Page<T> {
    /// 1-based page number the server answered.
    #[serde(default)]
    pub page_number: u64,
    /// The page size the server actually used (may be lower than requested).
    #[serde(default)]
    pub page_size: u64,
    /// Number of pages at the server's page size.
    #[serde(default)]
    pub total_number_of_pages: u64,
    /// Number of records matching the search.
    #[serde(default)]
    pub total_number_of_records: u64,
    /// The items of this page.
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    pub results: Vec<T>,
}

impl<T> Page<T> {
    /// The pages this page's own figures allow: its `totalNumberOfPages`, but never more than
    /// its `totalNumberOfRecords` need at its page size (a page count that disagrees with the
    /// record count is not followed past the records).
    pub fn believable_pages(&self) -> u64 {
        self.total_number_of_pages.min(self.pages_needed().max(1))
    }

    /// The pages `totalNumberOfRecords` need at this page's size.
    pub fn pages_needed(&self) -> u64 {
        let size = self.page_size.max(self.results.len() as u64).max(1);
        self.total_number_of_records.div_ceil(size)
    }
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

pub use crate::user::{CustomFieldValue, TargetUser};

/// A company the credential manages, flattened out of the nested tree `companies/search`
/// returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// The company's resource id, validated when the listing was read: the value of
    /// `X-KEEPNET-Company-Id`.
    pub resource_id: crate::CompanyId,
    /// The company's name.
    pub name: String,
    /// The parent company's resource id, for a nested company.
    #[serde(rename = "parent")]
    pub parent_id: Option<String>,
    /// The parent company's name, for a nested company.
    pub parent_name: Option<String>,
    /// 0 for a top-level company, 1 for its children, and so on.
    pub depth: usize,
    /// Number of target users.
    pub target_user_count: Option<u64>,
    /// Number of inactive target users.
    pub inactive_target_user_count: Option<u64>,
    /// Number of deleted target users.
    pub deleted_target_user_count: Option<u64>,
    /// Monthly active users.
    pub monthly_active_user_count: Option<u64>,
    /// Licence type.
    pub license_type_name: Option<String>,
    /// Whether the licence has expired.
    pub licence_expired: Option<bool>,
    /// End of the licence, as sent.
    pub license_end_date: Option<String>,
    /// Whether the number of users is limited by the licence.
    pub is_number_of_users_limited: Option<bool>,
    /// Licensed number of users (the API sends it as a string).
    pub number_of_users: Option<String>,
    /// Industry.
    pub industry_name: Option<String>,
    /// Reseller that manages the company.
    pub reseller_name: Option<String>,
    /// Creation time, as sent.
    pub create_time: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
}

impl Company {
    /// A top-level company with only an id and a name (the other fields empty): for tests and
    /// for tools that know a company without listing it.
    pub fn new(resource_id: crate::CompanyId, name: impl Into<String>) -> Self {
        Self {
            resource_id,
            name: name.into(),
            parent_id: None,
            parent_name: None,
            depth: 0,
            target_user_count: None,
            inactive_target_user_count: None,
            deleted_target_user_count: None,
            monthly_active_user_count: None,
            license_type_name: None,
            licence_expired: None,
            license_end_date: None,
            is_number_of_users_limited: None,
            number_of_users: None,
            industry_name: None,
            reseller_name: None,
            create_time: None,
            tags: Vec::new(),
        }
    }

    /// The most users the counts of `companies/search` allow for `statuses`: the sum of
    /// `targetUserCount` (active), `inactiveTargetUserCount` and `deletedTargetUserCount` over
    /// the selected states. An upper bound whether `targetUserCount` counts active users only
    /// (as the licence does) or inactive ones too. `None` when a needed count was not sent.
    pub fn expected_users(&self, statuses: crate::StatusSet) -> Option<u64> {
        let mut n = 0;
        if statuses.active() {
            n += self.target_user_count?;
        }
        if statuses.inactive() {
            n += self.inactive_target_user_count?;
        }
        if statuses.deleted() {
            n += self.deleted_target_user_count?;
        }
        Some(n)
    }

    /// The company's id, validated for use in the scoping header.
    pub fn id(&self) -> &crate::CompanyId {
        &self.resource_id
    }
}

/// One company's own settings (`CompanyDto` of `GET /api/companies/{resourceId}`): what the
/// export needs of it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CompanyDetails {
    /// The company's resource id.
    pub resource_id: Option<String>,
    /// The company's name.
    pub name: Option<String>,
    /// How the company writes dates: `DD/MM/YYYY`, `MM/DD/YYYY` or `YYYY/MM/DD`.
    pub date_format: Option<String>,
    /// `24h` or `12h`.
    pub time_format: Option<String>,
    /// The company's time zone.
    pub time_zone_id: Option<String>,
    /// Number of target users (as companies/search counts them).
    #[serde(deserialize_with = "lenient_count")]
    pub target_user_count: Option<u64>,
}

fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// `SearchCompanyDto` as it comes off the wire. The docs' prose and the spec disagree on the id
/// and name keys, so both spellings are read and neither is required.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompanyDto {
    company_resource_id: Option<String>,
    resource_id: Option<String>,
    company_name: Option<String>,
    name: Option<String>,
    target_user_count: Option<u64>,
    inactive_target_user_count: Option<u64>,
    deleted_target_user_count: Option<u64>,
    monthly_active_user_count: Option<u64>,
    license_type_name: Option<String>,
    licence_expired: Option<bool>,
    license_end_date: Option<String>,
    is_number_of_users_limited: Option<bool>,
    number_of_users: Option<Value>,
    industry_name: Option<String>,
    reseller_name: Option<String>,
    create_time: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    children: Vec<CompanyDto>,
}

impl CompanyDto {
    /// Appends this company and, depth-first, its children to `out`. Items without an id are
    /// skipped (they cannot be addressed); a missing name becomes empty.
    pub(crate) fn flatten_into(
        self,
        parent: Option<(&str, &str)>,
        depth: usize,
        out: &mut Vec<Company>,
    ) {
        let Some(raw_id) = self.company_resource_id.or(self.resource_id) else {
            return;
        };
        let name = self.company_name.or(self.name).unwrap_or_default();
        // An id that cannot go into the scoping header cannot be exported: left out, with its
        // children, where the listing is read, so every Company holds a usable id.
        let resource_id = match crate::CompanyId::parse(&raw_id) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(
                    company = ?name,
                    children = self.children.len(),
                    "left out of the company list: the API sent an unusable company id ({e})"
                );
                return;
            }
        };
        let id = raw_id;
        let number_of_users = match self.number_of_users {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        out.push(Company {
            resource_id,
            name: name.clone(),
            parent_id: parent.map(|(id, _)| id.to_owned()),
            parent_name: parent.map(|(_, name)| name.to_owned()),
            depth,
            target_user_count: self.target_user_count,
            inactive_target_user_count: self.inactive_target_user_count,
            deleted_target_user_count: self.deleted_target_user_count,
            monthly_active_user_count: self.monthly_active_user_count,
            license_type_name: self.license_type_name,
            licence_expired: self.licence_expired,
            license_end_date: self.license_end_date,
            is_number_of_users_limited: self.is_number_of_users_limited,
            number_of_users,
            industry_name: self.industry_name,
            reseller_name: self.reseller_name,
            create_time: self.create_time,
            tags: self.tags,
        });
        for child in self.children {
            child.flatten_into(Some((&id, &name)), depth + 1, out);
        }
    }
}

/// One entry per company: a company listed both nested and at top level is kept once, where
/// it is nested (so its parent is known), in list order.
pub(crate) fn dedupe(companies: Vec<Company>) -> Vec<Company> {
    use std::collections::HashMap;
    let mut chosen: HashMap<&str, usize> = HashMap::with_capacity(companies.len());
    for (i, c) in companies.iter().enumerate() {
        chosen
            .entry(c.resource_id.as_str())
            .and_modify(|kept| {
                if companies[*kept].depth == 0 && c.depth > 0 {
                    *kept = i;
                }
            })
            .or_insert(i);
    }
    let keep: std::collections::HashSet<usize> = chosen.into_values().collect();
    companies
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `companies/search` result list, flattened as the client does.
    fn flatten(json: &str) -> Vec<Company> {
        let dtos: Vec<CompanyDto> = serde_json::from_str(json).unwrap();
        let mut flat = Vec::new();
        for dto in dtos {
            dto.flatten_into(None, 0, &mut flat);
        }
        flat
    }

    #[test]
    fn flattens_children_with_both_key_spellings() {
        let json = r#"[
          {"companyResourceId":"A1","companyName":"Acme","targetUserCount":3,"numberOfUsers":"100",
           "children":[{"resourceId":"B2","name":"Acme EU","children":[{"resourceId":"C3","name":"Deep","children":null}]}]},
          {"resourceId":"D4","name":"Solo","numberOfUsers":50}
        ]"#;
        let flat = flatten(json);
        let ids: Vec<_> = flat.iter().map(|c| c.resource_id.as_str()).collect();
        assert_eq!(ids, ["A1", "B2", "C3", "D4"]);
        assert_eq!(flat[1].parent_id.as_deref(), Some("A1"));
        assert_eq!(flat[2].parent_name.as_deref(), Some("Acme EU"));
        assert_eq!(flat[2].depth, 2);
        assert_eq!(flat[0].number_of_users.as_deref(), Some("100"));
        assert_eq!(flat[3].number_of_users.as_deref(), Some("50"));
    }

    #[test]
    fn a_company_whose_id_cannot_scope_a_request_is_left_out_with_its_children() {
        let json = r#"[
          {"resourceId":"bad id\r\nX-Other: 1","name":"Broken","children":[{"resourceId":"C3","name":"Under"}]},
          {"resourceId":"D4","name":"Solo"}
        ]"#;
        let flat = flatten(json);
        let ids: Vec<_> = flat.iter().map(|c| c.resource_id.as_str()).collect();
        assert_eq!(ids, ["D4"]);
        assert_eq!(flat[0].id(), "D4");
    }

    #[test]
    fn a_company_listed_twice_is_one_company() {
        let json = r#"[
          {"resourceId":"B2","name":"Acme EU"},
          {"resourceId":"A1","name":"Acme","children":[{"resourceId":"B2","name":"Acme EU"}]},
          {"resourceId":"A1","name":"Acme"}
        ]"#;
        let flat = flatten(json);
        let flat = dedupe(flat);
        let ids: Vec<_> = flat.iter().map(|c| c.resource_id.as_str()).collect();
        assert_eq!(
            ids,
            ["A1", "B2"],
            "the nested copy is kept, after its parent"
        );
        assert_eq!(flat[1].parent_id.as_deref(), Some("A1"));
    }

    #[test]
    fn expected_users_sum_the_selected_counts() {
        let mut c = Company::new(crate::CompanyId::parse("A1").unwrap(), "Acme");
        assert_eq!(c.expected_users(crate::StatusSet::CURRENT), None);
        c.target_user_count = Some(200);
        c.inactive_target_user_count = Some(30);
        c.deleted_target_user_count = Some(20);
        assert_eq!(c.expected_users(crate::StatusSet::CURRENT), Some(230));
        assert_eq!(c.expected_users(crate::StatusSet::DELETED), Some(20));
        assert_eq!(c.expected_users(crate::StatusSet::ALL), Some(250));
    }
}
