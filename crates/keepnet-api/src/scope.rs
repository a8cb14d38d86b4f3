//! The scope guard: a company-scoped answer must be one that company's own counts allow.
//!
//! Without a company id the live API answers with every managed company's data. If a proxy
//! strips the `X-KEEPNET-Company-Id` header, or an endpoint ignores it, a "scoped" answer holds
//! every customer's people. The client sends the id twice (both headers Keepnet's clients use),
//! and holds each scoped total against the counts `companies/search` gives for that company:
//!
//! ```text
//! limit = expected + max(20, ceil(expected × tolerance% / 100))      (tolerance 5 % by default)
//! ```
//!
//! where `expected` sums the company's counts over the selected states
//! ([`Company::expected_users`]). The margin absorbs users added between reading the counts and
//! reading the users. A total above the limit cannot be that company's and fails the call with
//! [`Error::OutOfScope`]. The guard cannot see a leak smaller than the margin: a reseller whose
//! other customers together have fewer users than it is protected by the two headers alone.

use crate::{Company, Error, StatusSet};

/// The margin's floor, in users.
pub const MIN_SLACK: u64 = 20;
/// The margin, in percent of the expected count, unless set otherwise.
pub const DEFAULT_TOLERANCE_PERCENT: u32 = 5;

/// The most users a scoped answer may hold for one company and selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeLimit {
    company: String,
    selection: StatusSet,
    expected: u64,
    limit: u64,
    tolerance_percent: u32,
}

impl ScopeLimit {
    /// The limit for `company`'s `selection`, or `None` when companies/search sent no counts
    /// for it (the guard cannot run).
    pub fn for_company(
        company: &Company,
        selection: StatusSet,
        tolerance_percent: u32,
    ) -> Option<Self> {
        let expected = company.expected_users(selection)?;
        let slack = (expected * u64::from(tolerance_percent))
            .div_ceil(100)
            .max(MIN_SLACK);
        Some(Self {
            company: format!("{} ({})", company.name, company.resource_id),
            selection,
            expected,
            limit: expected.saturating_add(slack),
            tolerance_percent,
        })
    }

    /// The company's expected count for the selection.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// The most users allowed.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Fails when `got` users, as answered by `source`, exceed the limit.
    pub fn check(&self, source: &str, got: u64) -> Result<(), Error> {
        if got <= self.limit {
            return Ok(());
        }
        Err(Error::OutOfScope {
            endpoint: source.to_owned(),
            company: self.company.clone(),
            selection: self.selection.describe(),
            got,
            expected: self.expected,
            limit: self.limit,
            tolerance_percent: self.tolerance_percent,
        })
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
            .check("target-users/count-summary", total)
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

    #[test]
    fn limit_is_the_counts_plus_a_margin() {
        let limit = ScopeLimit::for_company(&company(200, 30, 20), StatusSet::CURRENT, 5).unwrap();
        assert_eq!(limit.expected(), 230);
        assert_eq!(limit.limit(), 230 + 20, "the floor");
        let big = ScopeLimit::for_company(&company(10_000, 0, 0), StatusSet::CURRENT, 5).unwrap();
        assert_eq!(big.limit(), 10_500);
        assert!(big.check("target-users/search", 10_500).is_ok());
        let err = big.check("target-users/search", 10_501).unwrap_err();
        let text = err.to_string();
        for needle in [
            "10501",
            "10000",
            "10500",
            "Acme (A1)",
            "X-KEEPNET-Company-Id",
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
