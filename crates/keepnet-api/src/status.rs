//! Which users a search selects: active, inactive, deleted, in any combination.
//!
//! The live target-user list includes deleted users (flagged `isDeleted`; their `status` may
//! still say `Active`). Keepnet's own UI and agent select on the server with filter items
//! `{"FieldName":"Status","Operator":"Include","Value":"1,0"}` (`1` active, `0` inactive) and
//! `{"FieldName":"IsDeleted","Operator":"Contains","Value":false}`; [`StatusSet::filter`]
//! builds the same filter in the UI's `FilterGroups` shape.

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

/// What a user is, as far as a selection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserState {
    /// Current and active.
    Active,
    /// Current but inactive (delivery paused, data kept).
    Inactive,
    /// Deleted (kept in the list for reporting and audit).
    Deleted,
    /// Not deleted, with a status that is neither active nor inactive (or none).
    Unknown,
}

impl UserState {
    /// A row's state the way Keepnet's own UI decides (People.vue): deleted when `isDeleted`
    /// is true or the status says `Deleted`; else by the status (`Active`, `Inactive`, any
    /// case). The one rule for search rows and the rows of a server-built file.
    pub fn of(status: Option<&str>, is_deleted: Option<bool>) -> UserState {
        let status = status.map(str::trim).unwrap_or("");
        if is_deleted == Some(true) || status.eq_ignore_ascii_case("deleted") {
            UserState::Deleted
        } else if status.eq_ignore_ascii_case("active") {
            UserState::Active
        } else if status.eq_ignore_ascii_case("inactive") {
            UserState::Inactive
        } else {
            UserState::Unknown
        }
    }
}

/// A set of user states to export; never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusSet {
    active: bool,
    inactive: bool,
    deleted: bool,
}

impl Default for StatusSet {
    /// The customer's current users: active and inactive, never deleted ones.
    fn default() -> Self {
        Self::CURRENT
    }
}

/// Why a status list was refused. The message says what is wrong in it, not the list
/// itself: every front end shows the list as its user wrote it (`--status LIST`,
/// `KEEPNET_STATUS=LIST`, a job file's line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}; use a comma list of active, inactive, deleted (or all)")]
pub struct InvalidStatusSet {
    list: String,
    reason: String,
}

impl InvalidStatusSet {
    /// The refused list (its first 80 characters).
    pub fn list(&self) -> &str {
        &self.list
    }
}

impl StatusSet {
    /// Active and inactive users: the default.
    pub const CURRENT: StatusSet = StatusSet {
        active: true,
        inactive: true,
        deleted: false,
    };
    /// Every user, deleted ones included.
    pub const ALL: StatusSet = StatusSet {
        active: true,
        inactive: true,
        deleted: true,
    };
    /// Deleted users only.
    pub const DELETED: StatusSet = StatusSet {
        active: false,
        inactive: false,
        deleted: true,
    };

    /// A set from its members; `None` when all three are false.
    pub fn new(active: bool, inactive: bool, deleted: bool) -> Option<Self> {
        (active || inactive || deleted).then_some(Self {
            active,
            inactive,
            deleted,
        })
    }

    /// Parses a comma list of `active`, `inactive`, `deleted` (any case, any order), or `all`.
    pub fn parse(list: &str) -> Result<Self, InvalidStatusSet> {
        let fail = |reason: String| InvalidStatusSet {
            list: list.chars().take(80).collect(),
            reason,
        };
        let (mut active, mut inactive, mut deleted) = (false, false, false);
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "active" => active = true,
                "inactive" => inactive = true,
                "deleted" => deleted = true,
                "all" => (active, inactive, deleted) = (true, true, true),
                _ => return Err(fail(format!("{name:?} is not a status"))),
            }
        }
        Self::new(active, inactive, deleted).ok_or_else(|| fail("it names no status".into()))
    }

    /// Whether users in `state` belong to the set. A user with an unknown status belongs to a
    /// set that has both active and inactive users (it is current, of some kind).
    pub fn contains(&self, state: UserState) -> bool {
        match state {
            UserState::Active => self.active,
            UserState::Inactive => self.inactive,
            UserState::Deleted => self.deleted,
            UserState::Unknown => self.active && self.inactive,
        }
    }

    /// The users outside this set; `None` for the set of every user.
    pub fn complement(&self) -> Option<StatusSet> {
        Self::new(!self.active, !self.inactive, !self.deleted)
    }

    /// Whether every user is selected (no status filter is sent).
    pub fn is_all(&self) -> bool {
        self.active && self.inactive && self.deleted
    }

    /// Whether active users are selected.
    pub fn active(&self) -> bool {
        self.active
    }

    /// Whether inactive users are selected.
    pub fn inactive(&self) -> bool {
        self.inactive
    }

    /// Whether deleted users are selected.
    pub fn deleted(&self) -> bool {
        self.deleted
    }

    /// For people: `active and inactive users (deleted users excluded)`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.names().collect();
        let listed = match names.as_slice() {
            [one] => (*one).to_owned(),
            [a, b] => format!("{a} and {b}"),
            _ => "active, inactive and deleted".to_owned(),
        };
        if self.deleted {
            format!("{listed} users")
        } else {
            format!("{listed} users (deleted users excluded)")
        }
    }

    fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            (self.active, "active"),
            (self.inactive, "inactive"),
            (self.deleted, "deleted"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name)
    }

    /// The search filter selecting this set on the server, in the `FilterGroups` shape of
    /// Keepnet's UI (`getDefaultFilter`): group 0 holds the AND items, group 1 the OR items.
    /// `search` is the free-text `SearchInputTextValue` (never null).
    pub fn filter(&self, search: Option<&str>) -> Value {
        let status =
            |values: &str| json!({"FieldName": "Status", "Operator": "Include", "Value": values});
        let is_deleted =
            |value: bool| json!({"FieldName": "IsDeleted", "Operator": "Contains", "Value": value});
        let statuses = match (self.active, self.inactive) {
            (true, true) => Some("1,0"),
            (true, false) => Some("1"),
            (false, true) => Some("0"),
            (false, false) => None,
        };
        let (and_items, or_items): (Vec<Value>, Vec<Value>) = match (statuses, self.deleted) {
            // Everything: the UI's default filter, no items.
            (Some("1,0"), true) => (vec![], vec![]),
            (Some(values), false) => (vec![status(values), is_deleted(false)], vec![]),
            (None, true) => (vec![is_deleted(true)], vec![]),
            // Deleted users, or current ones of one status (People.vue applySummaryFilter).
            (Some(values), true) => (vec![], vec![is_deleted(true), status(values)]),
            (None, false) => unreachable!("a StatusSet is never empty"),
        };
        json!({
            "Condition": "AND",
            "SearchInputTextValue": search.unwrap_or(""),
            "FilterGroups": [
                {"Condition": "AND", "FilterItems": and_items, "FilterGroups": []},
                {"Condition": "OR", "FilterItems": or_items, "FilterGroups": []},
            ],
        })
    }
}

/// Users counted by state: the rows a server sent outside the selection, dropped locally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Active users.
    pub active: u64,
    /// Inactive users.
    pub inactive: u64,
    /// Deleted users.
    pub deleted: u64,
    /// Users whose row says no known status (and is not deleted).
    pub unknown: u64,
}

impl StateCounts {
    /// Counts one user in `state`.
    pub fn add(&mut self, state: UserState) {
        let slot = match state {
            UserState::Active => &mut self.active,
            UserState::Inactive => &mut self.inactive,
            UserState::Deleted => &mut self.deleted,
            UserState::Unknown => &mut self.unknown,
        };
        *slot += 1;
    }

    /// Every user counted.
    pub fn total(&self) -> u64 {
        self.active + self.inactive + self.deleted + self.unknown
    }

    /// For people, when any user was dropped for being outside the selection: `the server
    /// ignored the status filter: 466 deleted users were dropped {how} (2500 served, 2034
    /// kept)`.
    pub fn filter_note(&self, how: &str, served: u64, kept: u64) -> Option<String> {
        (self.total() > 0).then(|| {
            let verb = if self.total() == 1 { "was" } else { "were" };
            format!(
                "the server ignored the status filter: {} {verb} dropped {how} ({served} \
                 served, {kept} kept)",
                self.describe()
            )
        })
    }

    /// For people: `466 deleted and 3 inactive users` (the non-zero counts, deleted first).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.deleted, "deleted"),
            (self.inactive, "inactive"),
            (self.active, "active"),
            (self.unknown, "status-less"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, name)| format!("{n} {name}"))
        .collect();
        let listed = match parts.as_slice() {
            [] => "0".to_owned(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
        let noun = if self.total() == 1 { "user" } else { "users" };
        format!("{listed} {noun}")
    }
}

impl FromStr for StatusSet {
    type Err = InvalidStatusSet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for StatusSet {
    /// `active,inactive`: the form [`StatusSet::parse`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().collect::<Vec<_>>().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_lists() {
        assert_eq!(
            StatusSet::parse("active,inactive").unwrap(),
            StatusSet::CURRENT
        );
        assert_eq!(StatusSet::parse(" Deleted ").unwrap(), StatusSet::DELETED);
        assert_eq!(StatusSet::parse("all").unwrap(), StatusSet::ALL);
        assert_eq!(
            StatusSet::parse("deleted,active").unwrap().to_string(),
            "active,deleted"
        );
        for bad in ["", " , ", "current", "active,gone"] {
            let e = StatusSet::parse(bad).unwrap_err().to_string();
            assert!(e.contains("active, inactive, deleted"), "{e}");
        }
        assert_eq!(
            StatusSet::CURRENT.describe(),
            "active and inactive users (deleted users excluded)"
        );
        assert_eq!(StatusSet::DELETED.describe(), "deleted users");
    }

    #[test]
    fn filters_are_the_uis() {
        let f = StatusSet::CURRENT.filter(Some("ayşe"));
        assert_eq!(f["SearchInputTextValue"], "ayşe");
        assert_eq!(
            f["FilterGroups"][0]["FilterItems"],
            json!([
                {"FieldName": "Status", "Operator": "Include", "Value": "1,0"},
                {"FieldName": "IsDeleted", "Operator": "Contains", "Value": false}
            ])
        );
        assert_eq!(f["FilterGroups"][1]["Condition"], "OR");
        let d = StatusSet::DELETED.filter(None);
        assert_eq!(
            d["FilterGroups"][0]["FilterItems"],
            json!([{"FieldName": "IsDeleted", "Operator": "Contains", "Value": true}])
        );
        assert_eq!(d["SearchInputTextValue"], "");
        let mixed = StatusSet::parse("active,deleted").unwrap().filter(None);
        assert_eq!(mixed["FilterGroups"][0]["FilterItems"], json!([]));
        assert_eq!(mixed["FilterGroups"][1]["FilterItems"][1]["Value"], "1");
        let all = StatusSet::ALL.filter(None);
        assert_eq!(all["FilterGroups"][0]["FilterItems"], json!([]));
        assert_eq!(all["FilterGroups"][1]["FilterItems"], json!([]));
    }

    #[test]
    fn complements_and_counts() {
        assert_eq!(
            StatusSet::CURRENT.complement(),
            Some(StatusSet::DELETED),
            "current users' complement is the deleted ones"
        );
        assert_eq!(StatusSet::ALL.complement(), None);
        assert!(StatusSet::ALL.is_all() && !StatusSet::CURRENT.is_all());
        let mut counts = StateCounts::default();
        assert_eq!(counts.describe(), "0 users");
        counts.add(UserState::Deleted);
        assert_eq!(counts.describe(), "1 deleted user");
        for _ in 0..465 {
            counts.add(UserState::Deleted);
        }
        counts.add(UserState::Inactive);
        counts.add(UserState::Unknown);
        assert_eq!(counts.total(), 468);
        assert_eq!(
            counts.describe(),
            "466 deleted, 1 inactive and 1 status-less users"
        );
    }

    #[test]
    fn membership() {
        assert!(StatusSet::CURRENT.contains(UserState::Unknown));
        assert!(!StatusSet::CURRENT.contains(UserState::Deleted));
        let active = StatusSet::parse("active").unwrap();
        assert!(!active.contains(UserState::Inactive));
        assert!(!active.contains(UserState::Unknown));
        assert!(StatusSet::DELETED.contains(UserState::Deleted));
    }
}
