//! Whether the server applies the status filter: asked, not assumed.
//!
//! Keepnet's web UI selects users by state with filter items (`Status Include "1,0"`,
//! `IsDeleted Contains false`); whether the public API honours them is a guess (API-NOTES,
//! Addendum 2). A server that ignores them answers every user to every filter, in the same
//! order. So asking for the users *outside* a selection tells the two apart: a server that
//! applies the filter answers only users outside it; one that ignores it answers the same list
//! as for the selection, users inside it among them. The rows decide, never the totals alone
//! (a company without deleted users gives equal totals either way).

use crate::client::{Client, UserQuery};
use crate::models::{Page, TargetUser};
use crate::{CompanyId, Error, ScopeLimit, StatusSet, UserState};

/// Rows asked for by a probe: enough that a server ignoring the filter shows a row of the
/// selection among them unless the selection's users are rare.
pub const PROBE_ROWS: u32 = 100;

/// What the server does with the status filter, as far as its answers showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Every user was asked for: no status filter was sent.
    NotSent,
    /// Nothing has shown it yet.
    #[default]
    Untested,
    /// The server answered only users of the states asked for, both ways.
    Honoured,
    /// The server answered users outside the states asked for.
    Ignored,
}

impl StatusFilter {
    /// `honoured`, `ignored`, `untested` or `not-sent`: the summary document's words.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::NotSent => "not-sent",
            StatusFilter::Untested => "untested",
            StatusFilter::Honoured => "honoured",
            StatusFilter::Ignored => "ignored",
        }
    }
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterProbe {
    /// The verdict.
    pub verdict: StatusFilter,
    /// `totalNumberOfRecords` of the answer for the users outside the selection.
    pub complement_total: u64,
    /// Whether the rows answered carry an `isDeleted` flag: `Some(false)` when none does (the
    /// server marks deleted users by their status alone), `None` when no row came back.
    pub rows_flag_deletion: Option<bool>,
    /// Retries the probe took.
    pub retries: u32,
}

/// Asks page 1 of the users outside `query.statuses` (at most [`PROBE_ROWS`], same order and
/// search): a row inside the selection shows the filter ignored; only rows outside it (or none
/// at all) show it applied. The answer's total is held against every state's count of
/// `guard`. `NotSent` for a selection of every user.
pub async fn probe_status_filter(
    client: &Client,
    company: &CompanyId,
    query: &UserQuery,
    guard: Option<&ScopeLimit>,
) -> Result<FilterProbe, Error> {
    let Some(complement) = query.statuses.complement() else {
        return Ok(FilterProbe {
            verdict: StatusFilter::NotSent,
            complement_total: 0,
            rows_flag_deletion: None,
            retries: 0,
        });
    };
    let asked = UserQuery {
        statuses: complement,
        page_size: client.page_size_for(query.page_size.min(PROBE_ROWS)),
        ..query.clone()
    };
    let answer = client.users_page(company, &asked, 1).await?;
    if let Some(guard) = guard {
        guard.check_every("target-users/search", answer.total_number_of_records)?;
    }
    Ok(FilterProbe {
        verdict: verdict(query.statuses, &answer),
        complement_total: answer.total_number_of_records,
        rows_flag_deletion: (!answer.results.is_empty())
            .then(|| answer.results.iter().any(|u| u.is_deleted.is_some())),
        retries: answer.retries,
    })
}

/// The verdict on an answer to the complement of `selection`: a row whose state is known and
/// inside the selection shows the filter ignored; rows that all say no state show nothing.
fn verdict(selection: StatusSet, complement_page: &Page<TargetUser>) -> StatusFilter {
    let known: Vec<UserState> = complement_page
        .results
        .iter()
        .map(TargetUser::state)
        .filter(|s| *s != UserState::Unknown)
        .collect();
    if known.iter().any(|s| selection.contains(*s)) {
        StatusFilter::Ignored
    } else if known.is_empty() && !complement_page.results.is_empty() {
        StatusFilter::Untested
    } else {
        StatusFilter::Honoured
    }
}

/// What [`Client::test_status_filter`] found.
#[derive(Debug, Clone)]
pub struct FilterTest {
    /// The verdict.
    pub verdict: StatusFilter,
    /// The rows both answers held (this company's own): for reading their shape (which keys
    /// they carry, how dates are written), not their values.
    pub rows: Vec<TargetUser>,
}

impl Client {
    /// Tests, for `company`, whether the server applies the status filter, without relying
    /// on the company's counts: asks page 1 of its current users and of its deleted users (at
    /// most [`PROBE_ROWS`] each). A deleted user among the current ones, or a current one
    /// among the deleted, shows it ignored; `Untested` when no row says its state (or the
    /// company has no user at all). Reads this company's own rows only.
    pub async fn test_status_filter(&self, company: &CompanyId) -> Result<FilterTest, Error> {
        let query = |statuses| UserQuery {
            statuses,
            page_size: self.page_size_for(PROBE_ROWS),
            ..UserQuery::default()
        };
        let current = self
            .users_page(company, &query(StatusSet::CURRENT), 1)
            .await?
            .into_inner();
        let deleted = self
            .users_page(company, &query(StatusSet::DELETED), 1)
            .await?
            .into_inner();
        let verdict = match (
            verdict(StatusSet::DELETED, &current),
            verdict(StatusSet::CURRENT, &deleted),
        ) {
            (StatusFilter::Ignored, _) | (_, StatusFilter::Ignored) => StatusFilter::Ignored,
            (StatusFilter::Untested, StatusFilter::Untested) => StatusFilter::Untested,
            _ if current.results.is_empty() && deleted.results.is_empty() => StatusFilter::Untested,
            _ => StatusFilter::Honoured,
        };
        let mut rows = current.results;
        rows.extend(deleted.results);
        Ok(FilterTest { verdict, rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(users: serde_json::Value) -> Page<TargetUser> {
        serde_json::from_value(json!({
            "pageNumber": 1, "pageSize": 100, "totalNumberOfPages": 1,
            "totalNumberOfRecords": users.as_array().unwrap().len(), "results": users
        }))
        .unwrap()
    }

    #[test]
    fn rows_inside_the_selection_show_the_filter_ignored() {
        let deleted = json!({"resourceId": "a", "status": "Active", "isDeleted": true});
        let status_only = json!({"resourceId": "b", "status": "Deleted"});
        let current = json!({"resourceId": "c", "status": "Inactive", "isDeleted": false});
        let only_deleted = page(json!([deleted, status_only]));
        assert_eq!(
            verdict(StatusSet::CURRENT, &only_deleted),
            StatusFilter::Honoured
        );
        assert_eq!(
            verdict(StatusSet::CURRENT, &page(json!([]))),
            StatusFilter::Honoured
        );
        let mixed = page(json!([deleted, current]));
        assert_eq!(verdict(StatusSet::CURRENT, &mixed), StatusFilter::Ignored);
        assert_eq!(verdict(StatusSet::DELETED, &mixed), StatusFilter::Ignored);
        let stateless = page(json!([{"resourceId": "d", "email": "x@y"}]));
        assert_eq!(
            verdict(StatusSet::CURRENT, &stateless),
            StatusFilter::Untested,
            "rows that say no state show nothing"
        );
        assert_eq!(StatusFilter::Ignored.as_str(), "ignored");
    }
}
