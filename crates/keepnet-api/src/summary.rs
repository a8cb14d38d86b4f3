//! The count summary (`GET /api/target-users/count-summary`), read the way Keepnet's own UI
//! reads it (`normalizeCountSummary` in People.vue): `totalNumberOfActiveUsers`,
//! `totalNumberOfInActiveUsers`, `totalNumberOfDeletedUsers`, and `monthlyActiveUsers`, one
//! `{period, periodStart, count}` per month, where `count` is the number of users *added* that
//! month whatever their status (the billing figure).

use serde_json::{Map, Value};

/// Users added in one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthlyCount {
    /// The month's label, e.g. `December 2025`.
    pub period: Option<String>,
    /// The month's first day, as sent (the company's date format or ISO 8601).
    pub period_start: Option<String>,
    /// Users added that month.
    pub count: Option<u64>,
}

/// A company's count summary: the known figures, and `data` exactly as returned.
#[derive(Debug, Clone, PartialEq)]
pub struct CountSummary {
    /// Active users.
    pub active: Option<u64>,
    /// Inactive users.
    pub inactive: Option<u64>,
    /// Deleted users.
    pub deleted: Option<u64>,
    /// Users added per month, in the order sent (Keepnet sends the oldest first).
    pub monthly: Vec<MonthlyCount>,
    /// The `data` the server returned, untouched (`null` when it sent none).
    pub raw: Value,
}

const ACTIVE: &str = "totalNumberOfActiveUsers";
const INACTIVE: &str = "totalNumberOfInActiveUsers";
const DELETED: &str = "totalNumberOfDeletedUsers";
const MONTHLY: &str = "monthlyActiveUsers";

impl CountSummary {
    /// Reads the known figures out of `raw` (keys compared case-insensitively; numbers may be
    /// sent as text). Anything else stays in `raw`.
    pub fn from_value(raw: Value) -> Self {
        let map = raw.as_object();
        let number = |key: &str| map.and_then(|m| get_ci(m, key)).and_then(as_count);
        let monthly = map
            .and_then(|m| get_ci(m, MONTHLY))
            .and_then(Value::as_array)
            .map(|months| {
                months
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|m| MonthlyCount {
                        period: get_ci(m, "period").and_then(text),
                        period_start: get_ci(m, "periodStart").and_then(text),
                        count: get_ci(m, "count").and_then(as_count),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            active: number(ACTIVE),
            inactive: number(INACTIVE),
            deleted: number(DELETED),
            monthly,
            raw,
        }
    }

    /// Whether the summary has the shape Keepnet's UI reads (any of the three totals).
    pub fn is_known_shape(&self) -> bool {
        self.active.is_some() || self.inactive.is_some() || self.deleted.is_some()
    }

    /// Active + inactive + deleted, when all three were sent.
    pub fn total(&self) -> Option<u64> {
        Some(self.active? + self.inactive? + self.deleted?)
    }

    /// The summary as labelled lines for people, figures first, then users added per month
    /// (latest month first), then any field Keepnet's UI does not read, as `key: value`. A
    /// summary of an unknown shape is all `key: value` lines.
    pub fn lines(&self) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        let shown = |n: Option<u64>| n.map_or_else(|| "not sent".to_owned(), |n| n.to_string());
        if self.is_known_shape() {
            lines.push(("Active users".to_owned(), shown(self.active)));
            lines.push(("Inactive users".to_owned(), shown(self.inactive)));
            lines.push(("Deleted users".to_owned(), shown(self.deleted)));
            for month in self.monthly.iter().rev() {
                let period = month
                    .period
                    .clone()
                    .or_else(|| month.period_start.clone())
                    .unwrap_or_else(|| "unnamed month".to_owned());
                lines.push((format!("Users added in {period}"), shown(month.count)));
            }
        }
        let known = [ACTIVE, INACTIVE, DELETED, MONTHLY];
        match &self.raw {
            Value::Object(map) => {
                for (key, value) in map {
                    if self.is_known_shape() && known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                        continue;
                    }
                    lines.push((key.clone(), plain(value)));
                }
            }
            Value::Null => {}
            other => lines.push(("summary".to_owned(), plain(other))),
        }
        lines
    }
}

/// A JSON value as a person reads it: text without quotes, anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn as_count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_live_shape() {
        let raw = json!({
            "totalNumberOfActiveUsers": 210, "totalNumberOfInActiveUsers": "25",
            "totalNumberOfDeletedUsers": 15,
            "monthlyActiveUsers": [
                {"period": "October 2026", "periodStart": "2026-10-01T00:00:00", "count": 4},
                {"period": "November 2026", "periodStart": "2026-11-01T00:00:00", "count": 9}
            ]
        });
        let s = CountSummary::from_value(raw.clone());
        assert_eq!(
            (s.active, s.inactive, s.deleted),
            (Some(210), Some(25), Some(15))
        );
        assert_eq!(s.total(), Some(250));
        assert_eq!(s.monthly[1].count, Some(9));
        assert_eq!(s.raw, raw);
        let lines = s.lines();
        assert_eq!(lines[0], ("Active users".into(), "210".into()));
        assert_eq!(
            lines[3],
            ("Users added in November 2026".into(), "9".into())
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn unknown_shapes_still_display() {
        let s = CountSummary::from_value(json!({"activeCount": 3, "label": "x"}));
        assert!(!s.is_known_shape());
        assert_eq!(
            s.lines(),
            vec![
                ("activeCount".into(), "3".into()),
                ("label".into(), "x".into())
            ]
        );
        assert!(CountSummary::from_value(Value::Null).lines().is_empty());
        assert_eq!(CountSummary::from_value(json!(7)).lines()[0].1, "7");
    }
}
