//! The scope guard: a company-scoped answer must be one that company's own counts allow.
//!
//! Without a company id the live API answers with every managed company's data. If a proxy
//! strips the `X-KEEPNET-Company-Id` header, or an endpoint ignores it, a "scoped" answer holds
//! every customer's people. The client sends the id twice (both headers Keepnet's clients use),
//! and holds each scoped figure against the counts `companies/search` gives for that company:
//!
//! ```text
//! limit = expected + max(20, ceil(expected × tolerance% / 100))      (tolerance 5 % by default)
//! ```
//!
//! computed twice: for the selected states ([`Company::expected_users`]) and for every state.
//! The margin absorbs users added between reading the counts and reading the users.
//!
//! Whether the live API applies the status filter is a guess (API-NOTES, Addendum 2), so the
//! guard holds each figure against the limit that fits what the figure can count, and names
//! the cause the figures point to ([`ScopeCause`]):
//! - a server total (it counts every state when the server ignores the filter) against every
//!   state: above it, the answer holds other customers' people;
//! - users whose rows were checked one by one against the selection against the selection:
//!   above it, the status filter cannot be the reason (rows outside it are counted apart);
//! - a total the server filtered (shown by asking for the other states) against the selection;
//! - a count nobody checked row by row (a server-built file without a state column) between
//!   the two limits: the status filter was ignored, not the company id.
//!
//! The guard cannot see a leak smaller than the margin: a reseller whose other customers
//! together have fewer users than it is protected by the two headers alone.

use std::fmt;

use crate::{Company, Error, StatusSet};

/// The margin's floor, in users.
pub const MIN_SLACK: u64 = 20;
/// The margin, in percent of the expected count, unless set otherwise.
pub const DEFAULT_TOLERANCE_PERCENT: u32 = 5;

/// What a figure above the company's counts points to; [`Error::OutOfScope`] says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeCause {
    /// More users than the company has in every state: other customers' people.
    OtherCustomers,
    /// More users of the selection, each row checked, than the company has: not the status
    /// filter, likely other customers' people.
    SelectedRows,
    /// A total the server filtered by status (it answered only the other states when asked
    /// for them) above the selection's count: likely other customers' people.
    FilteredTotal,
    /// Above the selection but within every state, with no row checked: the server ignored
    /// the status filter, not the company id.
    StatusFilter,
}

/// A limit: the company's count and the most allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The company's count.
    pub expected: u64,
    /// The count plus the margin.
    pub limit: u64,
}

impl Bound {
    fn new(expected: u64, tolerance_percent: u32) -> Self {
        let slack = (expected * u64::from(tolerance_percent))
            .div_ceil(100)
            .max(MIN_SLACK);
        Self {
            expected,
            limit: expected.saturating_add(slack),
        }
    }
}

/// The figures behind an [`Error::OutOfScope`], for its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// What answered, e.g. `target-users/search`.
    pub endpoint: String,
    /// The company, as `Name (id)`.
    pub company: String,
    /// The selection, for people.
    pub selection: String,
    /// Users in the answer.
    pub got: u64,
    /// The selection's bound.
    pub selected: Bound,
    /// Every state's bound, when companies/search sent all three counts.
    pub every: Option<Bound>,
    /// The margin, in percent.
    pub tolerance_percent: u32,
    /// What the figures point to.
    pub cause: ScopeCause,
}

const LEAK_HINT: &str = "a proxy may have removed the X-KEEPNET-Company-Id header, or the \
                         endpoint ignored it";

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Breach {
            endpoint,
            company,
            selection,
            got,
            selected,
            every,
            tolerance_percent: tol,
            cause,
        } = self;
        let every_text = |b: &Bound| {
            format!(
                "{} users of every state, deleted ones included (at most {} allowing {tol}% for \
                 users added meanwhile)",
                b.expected, b.limit
            )
        };
        let selected_text = format!(
            "{} {selection} (at most {} allowing {tol}% for users added meanwhile)",
            selected.expected, selected.limit
        );
        match cause {
            ScopeCause::OtherCustomers => {
                let counted = match every {
                    Some(b) => every_text(b),
                    None => selected_text,
                };
                write!(
                    f,
                    "scope guard: {endpoint} answered {got} users for {company}, but \
                     companies/search counts {counted} for it: more than all of this \
                     customer's users, so the answer holds other customers' users; {LEAK_HINT}"
                )
            }
            ScopeCause::SelectedRows => write!(
                f,
                "scope guard: {endpoint} answered {got} {selection} for {company}, each row \
                 checked for its state, but companies/search counts {selected_text} for it; \
                 rows outside the selection are counted apart, so the status filter does not \
                 explain the surplus: the answer likely holds other customers' users; \
                 {LEAK_HINT}"
            ),
            ScopeCause::FilteredTotal => write!(
                f,
                "scope guard: {endpoint} answered a total of {got} {selection} for {company} \
                 and applied the status filter (asked for the other users, it answered only \
                 those), but companies/search counts {selected_text} for it; the answer likely \
                 holds other customers' users; {LEAK_HINT}"
            ),
            ScopeCause::StatusFilter => {
                let within = every
                    .as_ref()
                    .map(|b| format!(" and {}", every_text(b)))
                    .unwrap_or_default();
                write!(
                    f,
                    "{endpoint} answered {got} users for {company} where companies/search \
                     counts {selected_text}{within}: the figures fit this customer's users of \
                     every state, so the server ignored the status filter (not the company id)"
                )
            }
        }
    }
}

/// The most users a scoped answer may hold for one company and selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeLimit {
    company: String,
    selection: StatusSet,
    selected: Bound,
    every: Option<Bound>,
    tolerance_percent: u32,
}

impl ScopeLimit {
    /// The limits for `company`'s `selection`, or `None` when companies/search sent no counts
    /// for it (the guard cannot run).
    pub fn for_company(
        company: &Company,
        selection: StatusSet,
        tolerance_percent: u32,
    ) -> Option<Self> {
        let expected = company.expected_users(selection)?;
        Some(Self {
            company: format!("{} ({})", company.name, company.resource_id),
            selection,
            selected: Bound::new(expected, tolerance_percent),
            every: company
                .expected_users(StatusSet::ALL)
                .map(|n| Bound::new(n, tolerance_percent)),
            tolerance_percent,
        })
    }

    /// The company's expected count for the selection.
    pub fn expected(&self) -> u64 {
        self.selected.expected
    }

    /// The most users of the selection allowed.
    pub fn limit(&self) -> u64 {
        self.selected.limit
    }

    /// The most users of every state allowed, when the company's counts give it.
    pub fn every_limit(&self) -> Option<u64> {
        self.every.map(|b| b.limit)
    }

    /// The selection the limits are for.
    pub fn selection(&self) -> StatusSet {
        self.selection
    }

    fn breach(&self, endpoint: &str, got: u64, cause: ScopeCause) -> Error {
        Error::OutOfScope(Box::new(Breach {
            endpoint: endpoint.to_owned(),
            company: self.company.clone(),
            selection: self.selection.describe(),
            got,
            selected: self.selected,
            every: self.every,
            tolerance_percent: self.tolerance_percent,
            cause,
        }))
    }

    fn above_every(&self, got: u64) -> bool {
        self.every.is_some_and(|b| got > b.limit)
    }

    /// A figure that may count users of every state (a server's total when the status filter
    /// may be ignored, or every row served): fails above every state's limit, as other
    /// customers' people. Passes when the company's counts lack a state.
    pub fn check_every(&self, endpoint: &str, got: u64) -> Result<(), Error> {
        match self.above_every(got) {
            true => Err(self.breach(endpoint, got, ScopeCause::OtherCustomers)),
            false => Ok(()),
        }
    }

    /// Users each checked to be in the selection: fails above the selection's limit.
    pub fn check_selected(&self, endpoint: &str, got: u64) -> Result<(), Error> {
        self.check_as(endpoint, got, ScopeCause::SelectedRows)
    }

    /// A total the server is known to have filtered by status: fails above the selection's
    /// limit.
    pub fn check_filtered(&self, endpoint: &str, got: u64) -> Result<(), Error> {
        self.check_as(endpoint, got, ScopeCause::FilteredTotal)
    }

    /// A count of the selection nobody checked row by row (a server-built file without a
    /// state column): above the selection but within every state, the status filter was
    /// ignored ([`ScopeCause::StatusFilter`], not a scope failure); above every state, other
    /// customers' people.
    pub fn check_unverified(&self, endpoint: &str, got: u64) -> Result<(), Error> {
        self.check_as(endpoint, got, ScopeCause::StatusFilter)
    }

    fn check_as(&self, endpoint: &str, got: u64, within_every: ScopeCause) -> Result<(), Error> {
        if got <= self.selected.limit {
            return Ok(());
        }
        let cause = match self.above_every(got) || self.selection.is_all() {
            true => ScopeCause::OtherCustomers,
            false => within_every,
        };
        Err(self.breach(endpoint, got, cause))
    }

    /// Whether `got` is above the selection's limit (and so needs a cause).
    pub fn exceeds_selection(&self, got: u64) -> bool {
        got > self.selected.limit
    }
}

/// Holds a company's count summary against its counts from `companies/search`: an
/// unscoped summary (every customer's counts) fails with [`Error::OutOfScope`]. `Ok(false)`
/// when either side lacks the figures, so nothing could be checked.
pub fn check_count_summary(
    company: &Company,
    summary: &crate::CountSummary,
    tolerance_percent: u32,
) -> Result<bool, Error> {
    match (
        ScopeLimit::for_company(company, StatusSet::ALL, tolerance_percent),
        summary.total(),
    ) {
        (Some(limit), Some(total)) => limit
            .check_every("target-users/count-summary", total)
            .map(|()| true),
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(active: u64, inactive: u64, deleted: u64) -> Company {
        let mut c = Company::new(crate::CompanyId::parse("A1").unwrap(), "Acme");
        c.target_user_count = Some(active);
        c.inactive_target_user_count = Some(inactive);
        c.deleted_target_user_count = Some(deleted);
        c
    }

    fn cause(e: &Error) -> ScopeCause {
        match e {
            Error::OutOfScope(b) => b.cause,
            other => panic!("not a scope error: {other}"),
        }
    }

    #[test]
    fn limits_are_the_counts_plus_a_margin() {
        let limit = ScopeLimit::for_company(&company(200, 30, 20), StatusSet::CURRENT, 5).unwrap();
        assert_eq!(limit.expected(), 230);
        assert_eq!(limit.limit(), 230 + 20, "the floor");
        assert_eq!(limit.every_limit(), Some(250 + 20));
        let big = ScopeLimit::for_company(&company(10_000, 0, 0), StatusSet::CURRENT, 5).unwrap();
        assert_eq!(big.limit(), 10_500);
        assert!(big.check_selected("target-users/search", 10_500).is_ok());
        let err = big
            .check_selected("target-users/search", 10_501)
            .unwrap_err();
        let text = err.to_string();
        for needle in [
            "10501",
            "10000",
            "10500",
            "Acme (A1)",
            "X-KEEPNET-Company-Id",
            "other customers",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(ScopeLimit::for_company(
            &Company::new(crate::CompanyId::parse("B").unwrap(), "b"),
            StatusSet::ALL,
            5
        )
        .is_none());
    }

    #[test]
    fn each_message_names_the_cause_the_figures_point_to() {
        // 2034 current users, 466 deleted: 2500 in all (the issue's figures).
        let c = company(1800, 234, 466);
        let limit = ScopeLimit::for_company(&c, StatusSet::CURRENT, 5).unwrap();
        assert_eq!((limit.limit(), limit.every_limit()), (2136, Some(2625)));
        // Every state's total fits: a total may count every state.
        assert!(limit.check_every("target-users/search", 2500).is_ok());
        let above = limit.check_every("target-users/search", 2626).unwrap_err();
        assert_eq!(cause(&above), ScopeCause::OtherCustomers);
        let text = above.to_string();
        for needle in [
            "2626",
            "2500 users of every state",
            "2625",
            "other customers",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        // Unchecked rows within every state: the filter, never another customer.
        let filter = limit
            .check_unverified("target-users/search/export", 2500)
            .unwrap_err();
        assert_eq!(cause(&filter), ScopeCause::StatusFilter);
        let text = filter.to_string();
        assert!(text.contains("ignored the status filter"), "{text}");
        assert!(!text.contains("other customers"), "{text}");
        for needle in ["2500", "2034 active and inactive", "2136", "2625"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert_eq!(
            cause(&limit.check_unverified("x", 3000).unwrap_err()),
            ScopeCause::OtherCustomers
        );
        // Rows checked one by one: the surplus is not the filter.
        let rows = limit
            .check_selected("target-users/search", 2200)
            .unwrap_err();
        assert_eq!(cause(&rows), ScopeCause::SelectedRows);
        assert!(rows.to_string().contains("does not explain"), "{rows}");
        assert_eq!(
            cause(&limit.check_filtered("x", 2200).unwrap_err()),
            ScopeCause::FilteredTotal
        );
        assert_eq!(
            limit.check_filtered("x", 2200).unwrap_err().kind(),
            crate::ErrorKind::Scope
        );
        assert_eq!(filter.kind(), crate::ErrorKind::Api, "not a leak: exit 5");
    }

    #[test]
    fn count_summaries_are_held_against_the_counts() {
        let c = company(200, 30, 20);
        let summary = |a: u64| {
            crate::CountSummary::from_value(serde_json::json!({
                "totalNumberOfActiveUsers": a, "totalNumberOfInActiveUsers": 30,
                "totalNumberOfDeletedUsers": 20, "monthlyActiveUsers": []
            }))
        };
        assert!(check_count_summary(&c, &summary(205), 5).unwrap());
        assert!(check_count_summary(&c, &summary(2_000), 5).is_err());
        let odd = crate::CountSummary::from_value(serde_json::json!({"x": 1}));
        assert!(!check_count_summary(&c, &odd, 5).unwrap());
    }
}
