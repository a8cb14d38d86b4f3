//! The report's sections, each as plain text and as HTML: the users' counts and licence use,
//! the changes since the last report, and the chart of users added per month.
//!
//! Every section is absent when its data is. All text from outside (labels, names, file names)
//! is HTML-escaped in the HTML forms.

use std::fmt::Write as _;

use keepnet_sink::{Changes, Figures};

/// The colour of the chart's bars. Used for nothing else in the message, so a rendering can be
/// measured by it (`cargo xtask render-email` does).
pub const BAR_COLOUR: &str = "#1f6feb";

/// The colour of the over-limit warning.
const WARNING_COLOUR: &str = "#b42318";

/// Width of the chart's bar column in the HTML part, in pixels: the length of the 100% bar.
pub const BAR_WIDTH: u32 = 360;

/// Characters of the longest bar in the plain-text chart.
const TEXT_BAR: u64 = 30;

/// The wording of a first report (no previous state to compare with).
pub(crate) const BASELINE: &str =
    "First report: this run is the baseline; changes will be reported from the next run.";

fn users(n: u64) -> String {
    format!("{n} user{}", if n == 1 { "" } else { "s" })
}

fn licences(n: u64) -> String {
    format!("{n} licence{}", if n == 1 { "" } else { "s" })
}

/// The counts of a [`Figures`]: `(label, value)` for each one known.
fn counts(figures: &Figures) -> Vec<(&'static str, u64)> {
    [
        ("Active", figures.active),
        ("Inactive", figures.inactive),
        ("Deleted", figures.deleted),
    ]
    .into_iter()
    .filter_map(|(label, value)| Some((label, value?)))
    .collect()
}

/// `412 of 500 licences in use (82%)`, or `Licence limit: 500 users` without the active count.
fn licence_line(figures: &Figures) -> Option<String> {
    let limit = figures.licence_limit?;
    Some(match figures.active {
        Some(active) if limit > 0 => format!(
            "{active} of {} in use ({}%)",
            licences(limit),
            (u128::from(active) * 100 / u128::from(limit))
        ),
        Some(active) => format!("{active} of {} in use", licences(limit)),
        None => format!("Licence limit: {}", users(limit)),
    })
}

/// `Over the licence limit: 12 more active users than the 500 licences allow.`
fn over_limit_line(figures: &Figures) -> Option<String> {
    let over = figures.over_limit().filter(|&n| n > 0)?;
    let limit = figures.licence_limit?;
    Some(format!(
        "Over the licence limit: {} more active user{} than the {} allow.",
        over,
        if over == 1 { "" } else { "s" },
        licences(limit)
    ))
}

/// A bar's length in percent of the largest month: integer, the largest 100, at least 1 for a
/// non-zero count, 0 for zero.
pub(crate) fn percent(count: u64, max: u64) -> u64 {
    if count == 0 || max == 0 {
        return 0;
    }
    let p = (u128::from(count) * 100 + u128::from(max) / 2) / u128::from(max);
    (p as u64).clamp(1, 100)
}

/// The file name of the change list, when one was published.
fn list_name(changes: &Changes) -> Option<String> {
    let list = changes.list.as_ref()?;
    Some(
        list.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| list.display().to_string()),
    )
}

/// `and 2 more — full list attached: changes.csv` when `total` exceeds the names shown.
fn more_line(total: u64, shown: usize, list: Option<&str>) -> Option<String> {
    let more = total.saturating_sub(shown as u64);
    if more == 0 {
        return None;
    }
    Some(match list {
        Some(name) => format!("and {more} more — full list attached: {name}"),
        None => format!("and {more} more"),
    })
}

/// The two name lists of a [`Changes`], with their totals and their "and N more" lines.
fn name_groups(changes: &Changes) -> Vec<(&'static str, u64, &[String], Option<String>)> {
    let list = list_name(changes);
    [
        ("Joined", changes.joined, &changes.joined_names[..]),
        ("Left", changes.left, &changes.left_names[..]),
    ]
    .into_iter()
    .filter(|(_, total, names)| *total > 0 || !names.is_empty())
    .map(|(label, total, names)| {
        let more = more_line(total, names.len(), list.as_deref());
        (label, total, names, more)
    })
    .collect()
}

/// `Full list attached: changes.csv`, when the list exists and no "and N more" line named it.
fn list_line(changes: &Changes) -> Option<String> {
    let name = list_name(changes)?;
    let named = name_groups(changes).iter().any(|g| g.3.is_some());
    (!named).then(|| format!("Full list attached: {name}"))
}

/// The plain-text sections, each followed by a blank line; empty when nothing is known.
pub(crate) fn plain(figures: Option<&Figures>, changes: Option<&Changes>) -> String {
    let mut t = String::new();
    if let Some(figures) = figures {
        let counts = counts(figures);
        let licence = licence_line(figures);
        if !counts.is_empty() || licence.is_some() {
            let _ = writeln!(t, "Users:");
            for (label, value) in &counts {
                let _ = writeln!(t, "  {:<10}{value}", format!("{label}:"));
            }
            if let Some(line) = licence {
                let _ = writeln!(t, "  Licences: {line}");
            }
            if let Some(line) = over_limit_line(figures) {
                let _ = writeln!(t, "  !! {line}");
            }
            let _ = writeln!(t);
        }
    }
    if let Some(changes) = changes {
        let _ = writeln!(t, "Changes since the last report:");
        if changes.baseline {
            let _ = writeln!(t, "  {BASELINE}");
        } else if !changes.any() {
            let _ = writeln!(t, "  None: no user joined, left or changed.");
        } else {
            for (label, value) in [
                ("Joined", changes.joined),
                ("Left", changes.left),
                ("Changed", changes.changed),
            ] {
                let _ = writeln!(t, "  {:<10}{value}", format!("{label}:"));
            }
            for (label, _, names, more) in name_groups(changes) {
                if names.is_empty() && more.is_none() {
                    continue;
                }
                let _ = writeln!(t, "  {label}:");
                for name in names {
                    let _ = writeln!(t, "    - {name}");
                }
                if let Some(more) = more {
                    let _ = writeln!(t, "    {more}");
                }
            }
        }
        if let Some(line) = list_line(changes) {
            let _ = writeln!(t, "  {line}");
        }
        let _ = writeln!(t);
    }
    if let Some(figures) = figures.filter(|f| !f.monthly.is_empty()) {
        let _ = writeln!(t, "Users added per month:");
        let max = figures.monthly.iter().map(|m| m.1).max().unwrap_or(0);
        let width = figures
            .monthly
            .iter()
            .map(|m| m.0.chars().count())
            .max()
            .unwrap_or(0);
        for (label, count) in &figures.monthly {
            let p = percent(*count, max);
            let chars = if p == 0 {
                0
            } else {
                (p * TEXT_BAR).div_ceil(100).max(1)
            };
            let bar = "#".repeat(chars as usize);
            let _ = writeln!(
                t,
                "  {label:<width$}  {bar:<bar_width$}  {count}",
                bar_width = TEXT_BAR as usize
            );
        }
        let _ = writeln!(t);
    }
    t
}

/// `<h2>` of a section.
fn heading(h: &mut String, text: &str) {
    let _ = writeln!(
        h,
        "<h2 style=\"font-size:17px;margin:24px 0 8px 0\">{}</h2>",
        escape(text)
    );
}

/// Rows of `label  value` in a small table.
fn value_table(h: &mut String, rows: &[(&str, String)]) {
    h.push_str("<table role=\"presentation\" cellpadding=\"2\" cellspacing=\"0\">\n");
    for (label, value) in rows {
        let _ = writeln!(
            h,
            "<tr><th align=\"left\" style=\"padding-right:16px\">{}</th><td align=\"right\">{value}</td></tr>",
            escape(label)
        );
    }
    h.push_str("</table>\n");
}

/// The HTML sections; empty when nothing is known.
pub(crate) fn html(figures: Option<&Figures>, changes: Option<&Changes>) -> String {
    let e = escape;
    let mut h = String::new();
    if let Some(figures) = figures {
        let counts = counts(figures);
        let licence = licence_line(figures);
        if !counts.is_empty() || licence.is_some() {
            heading(&mut h, "Users");
            let mut rows: Vec<(&str, String)> =
                counts.iter().map(|(l, v)| (*l, v.to_string())).collect();
            if let Some(line) = licence {
                rows.push(("Licences", e(&line)));
            }
            value_table(&mut h, &rows);
            if let Some(line) = over_limit_line(figures) {
                let _ = writeln!(
                    h,
                    "<p class=\"over-limit\"><font color=\"{WARNING_COLOUR}\"><strong>{}</strong></font></p>",
                    e(&line)
                );
            }
        }
    }
    if let Some(changes) = changes {
        heading(&mut h, "Changes since the last report");
        if changes.baseline {
            let _ = writeln!(h, "<p>{}</p>", e(BASELINE));
        } else if !changes.any() {
            h.push_str("<p>None: no user joined, left or changed.</p>\n");
        } else {
            value_table(
                &mut h,
                &[
                    ("Joined", changes.joined.to_string()),
                    ("Left", changes.left.to_string()),
                    ("Changed", changes.changed.to_string()),
                ],
            );
            for (label, _, names, more) in name_groups(changes) {
                if names.is_empty() && more.is_none() {
                    continue;
                }
                let _ = writeln!(
                    h,
                    "<p style=\"margin:12px 0 4px 0\"><strong>{label}:</strong></p>"
                );
                if !names.is_empty() {
                    h.push_str("<ul style=\"margin:0;padding-left:20px\">\n");
                    for name in names {
                        let _ = writeln!(h, "<li>{}</li>", e(name));
                    }
                    h.push_str("</ul>\n");
                }
                if let Some(more) = more {
                    let _ = writeln!(h, "<p style=\"margin:4px 0\">{}</p>", e(&more));
                }
            }
        }
        if let Some(line) = list_line(changes) {
            let _ = writeln!(h, "<p>{}</p>", e(&line));
        }
    }
    if let Some(figures) = figures.filter(|f| !f.monthly.is_empty()) {
        heading(&mut h, "Users added per month");
        chart(&mut h, &figures.monthly);
    }
    h
}

/// The bar chart of users added per month.
///
/// Drawn as HTML table cells with a background colour, not as an image: every mail program
/// (Outlook's Word engine, Gmail, Apple Mail, phones) shows a table cell's `width` and
/// `bgcolor` without loading anything, so the chart is there even where remote images are
/// blocked or images are off; screen readers read the month and count as text; and no image
/// encoding (or chart library) is needed to build it. Only attributes and inline styles that
/// Outlook and Gmail keep are used: no `<style>` sheet, no `div` widths, no flexbox.
///
/// Each month is one row `<tr data-month="LABEL" data-count="N">`: the label, a fixed-width
/// cell holding a nested table whose first cell is the bar (`width="P%"`, the largest month
/// 100%, others proportional, at least 1% when not zero), and the count as text.
fn chart(h: &mut String, monthly: &[(String, u64)]) {
    let e = escape;
    let max = monthly.iter().map(|m| m.1).max().unwrap_or(0);
    h.push_str(
        "<table role=\"presentation\" class=\"chart\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\">\n",
    );
    for (label, count) in monthly {
        let p = percent(*count, max);
        let _ = write!(
            h,
            "<tr data-month=\"{label}\" data-count=\"{count}\">\
             <td style=\"padding:3px 12px 3px 0;white-space:nowrap\">{label}</td>\
             <td width=\"{BAR_WIDTH}\" style=\"padding:3px 0\">\
             <table role=\"presentation\" width=\"{BAR_WIDTH}\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>",
            label = e(label),
        );
        if p > 0 {
            let _ = write!(
                h,
                "<td class=\"bar\" width=\"{p}%\" height=\"16\" bgcolor=\"{BAR_COLOUR}\" style=\"font-size:1px;line-height:1px\">&nbsp;</td>"
            );
        }
        if p < 100 {
            let _ = write!(
                h,
                "<td width=\"{}%\" height=\"16\" style=\"font-size:1px;line-height:1px\">&nbsp;</td>",
                100 - p
            );
        }
        let _ = writeln!(
            h,
            "</tr></table></td>\
             <td align=\"right\" style=\"padding:3px 0 3px 12px\">{count}</td></tr>"
        );
    }
    h.push_str("</table>\n");
}

/// HTML-escapes text for element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(percent(10, 10), 100);
        assert_eq!(percent(4, 10), 40);
        assert_eq!(percent(5, 10), 50);
        assert_eq!(percent(0, 10), 0);
        assert_eq!(percent(1, 100_000), 1, "a non-zero month is visible");
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }

    fn figures() -> Figures {
        Figures {
            active: Some(512),
            inactive: Some(30),
            deleted: Some(5),
            licence_limit: Some(500),
            monthly: vec![("<b>".into(), 3), ("2026-11".into(), 0)],
        }
    }

    #[test]
    fn licence_and_over_limit() {
        let f = figures();
        assert_eq!(
            licence_line(&f).unwrap(),
            "512 of 500 licences in use (102%)"
        );
        assert_eq!(
            over_limit_line(&f).unwrap(),
            "Over the licence limit: 12 more active users than the 500 licences allow."
        );
        let within = Figures {
            active: Some(412),
            ..f.clone()
        };
        assert_eq!(
            licence_line(&within).unwrap(),
            "412 of 500 licences in use (82%)"
        );
        assert!(over_limit_line(&within).is_none());
        let unknown = Figures {
            active: None,
            ..f.clone()
        };
        assert_eq!(licence_line(&unknown).unwrap(), "Licence limit: 500 users");
        assert!(licence_line(&Figures::default()).is_none());
    }

    #[test]
    fn sections_are_absent_without_data() {
        assert_eq!(plain(None, None), "");
        assert_eq!(html(None, None), "");
        assert_eq!(plain(Some(&Figures::default()), None), "");
        assert_eq!(html(Some(&Figures::default()), None), "");
    }

    #[test]
    fn html_escapes_labels_and_names() {
        let changes = Changes {
            joined: 1,
            joined_names: vec!["Eve <eve@x.example> & co".into()],
            list: Some("dir/ch<a>nges.csv".into()),
            ..Changes::default()
        };
        let h = html(Some(&figures()), Some(&changes));
        assert!(h.contains("data-month=\"&lt;b&gt;\""), "{h}");
        assert!(h.contains("Eve &lt;eve@x.example&gt; &amp; co"), "{h}");
        assert!(h.contains("Full list attached: ch&lt;a&gt;nges.csv"), "{h}");
        assert!(!h.contains("<b>") && !h.contains("<eve"), "{h}");
        // The zero month has no bar cell.
        assert_eq!(h.matches(BAR_COLOUR).count(), 1, "{h}");
    }

    #[test]
    fn more_names_than_shown() {
        let changes = Changes {
            joined: 12,
            joined_names: (0..10).map(|i| format!("user{i}")).collect(),
            left: 1,
            left_names: vec!["gone".into()],
            list: Some("/out/changes.csv".into()),
            ..Changes::default()
        };
        let t = plain(None, Some(&changes));
        assert!(
            t.contains("and 2 more — full list attached: changes.csv"),
            "{t}"
        );
        assert!(!t.contains("Full list attached"), "named once: {t}");
        let without_list = Changes {
            list: None,
            ..changes
        };
        let t = plain(None, Some(&without_list));
        assert!(t.contains("and 2 more\n"), "{t}");
    }
}
