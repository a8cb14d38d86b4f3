//! `--rollup KIND:TARGET`: the whole run in one file, one row per company (the reseller's
//! billing sheet): what was exported, the company's figures from its count summary, its
//! licence use and its changes since the previous run, and how its export ended. Written once
//! every company is done, through the same row sinks as the users, all or nothing; a
//! spreadsheet (`xlsx`) ends with a total row.

use keepnet_sink::{Artifact, Cell, Column, ColumnKind, ExportInfo, Timestamp};

use crate::batch::{Batch, CompanyResult};
use crate::exit::Failure;
use crate::origin::Origin;
use crate::sinks::{NamedSink, Registry, SinkSettings, SinkSpec};

/// The rollup's columns, in order: key and kind (the key is its label too).
pub const COLUMNS: [(&str, ColumnKind); 15] = [
    ("companyId", ColumnKind::Identifier),
    ("company", ColumnKind::Text),
    ("parent", ColumnKind::Text),
    ("usersExported", ColumnKind::Number),
    ("active", ColumnKind::Number),
    ("inactive", ColumnKind::Number),
    ("deleted", ColumnKind::Number),
    ("monthlyAdded", ColumnKind::Number),
    ("licenceLimit", ColumnKind::Number),
    ("overLimit", ColumnKind::Number),
    ("joined", ColumnKind::Number),
    ("left", ColumnKind::Number),
    ("changed", ColumnKind::Number),
    ("outcome", ColumnKind::Text),
    ("files", ColumnKind::Text),
];

/// The sink kinds whose rollup ends with a total row: spreadsheets, read by people (a CSV or
/// JSON Lines rollup is read by programs, which sum for themselves).
pub const TOTAL_ROW_KINDS: [&str; 1] = ["xlsx"];

/// Where the numbers start and end in [`COLUMNS`] (the total row sums them).
const NUMBERS: std::ops::Range<usize> = 3..13;

/// One company's row, as text: `None` is an empty cell.
type Row = Vec<Option<String>>;

/// The rollup outputs of a run.
pub struct Rollup<'a> {
    /// Sink kinds.
    pub registry: &'a Registry,
    /// `KIND:TARGET` specs, targets possibly with `{date}` or `{timestamp}`.
    pub specs: &'a [SinkSpec],
    /// Options the sinks read.
    pub settings: &'a SinkSettings,
    /// Where the specs came from, for messages.
    pub from: &'a Origin,
}

impl<'a> Rollup<'a> {
    /// The rollup outputs of `batch` (`--rollup`; none when it asked for none).
    pub fn of(batch: &'a Batch<'_>) -> Self {
        Self {
            registry: batch.registry,
            specs: &batch.report.rollup,
            settings: &batch.settings,
            from: &batch.names.rollup,
        }
    }

    /// Writes one row per company of `results` (in their order) to every rollup sink, then
    /// publishes them all or none. `started` is the run's start (`{date}`, `{timestamp}`).
    pub fn write(
        &self,
        results: &[CompanyResult],
        started: &Timestamp,
    ) -> Result<Vec<Artifact>, Failure> {
        if self.specs.is_empty() {
            return Ok(Vec::new());
        }
        let specs = crate::templates::rollup_specs(self.specs, started);
        let mut sinks = self
            .registry
            .build_all(&specs, self.settings, self.from)?
            .sinks;
        let rows: Vec<Row> = results.iter().map(row).collect();
        let export = ExportInfo {
            company_name: "All companies".to_owned(),
            company_id: String::new(),
            started_at: *started,
            expected_rows: Some(rows.len() as u64),
        };
        let columns: Vec<Column> = COLUMNS
            .iter()
            .map(|(key, kind)| Column::new(*key, *key, *kind))
            .collect();
        let written = sinks
            .iter_mut()
            .try_for_each(|named| write_one(named, &export, &columns, &rows));
        if let Err(e) = written {
            for named in &mut sinks {
                named.sink.abort();
            }
            return Err(e);
        }
        let mut all: Vec<&mut dyn keepnet_sink::Sink> = sinks
            .iter_mut()
            .map(|n| n.sink.as_mut() as &mut dyn keepnet_sink::Sink)
            .collect();
        let published = keepnet_sink::publish::commit_all(&mut all);
        drop(all);
        match published {
            Ok(published) => Ok(published.artifacts),
            Err(failed) => Err(Failure::sink(&sinks[failed.index].label, failed.error)),
        }
    }
}

/// Writes the rows (and, for a spreadsheet, the total) to one sink and finishes it.
fn write_one(
    named: &mut NamedSink,
    export: &ExportInfo,
    columns: &[Column],
    rows: &[Row],
) -> Result<(), Failure> {
    let failed = |e| Failure::sink(&named.label, e);
    let sink = &mut named.sink;
    sink.begin(export, columns).map_err(failed)?;
    for values in rows {
        sink.write_row(&cells(values)).map_err(failed)?;
    }
    if TOTAL_ROW_KINDS.contains(&named.spec.kind.as_str()) {
        sink.write_row(&cells(&total(rows))).map_err(failed)?;
    }
    // Every row is written: a plugin, which publishes when it finishes, may.
    sink.finish().map_err(failed)
}

/// The cells of a row: numbers as JSON number text, the rest as text.
fn cells(values: &Row) -> Vec<Cell<'_>> {
    values
        .iter()
        .zip(COLUMNS)
        .map(|(value, (_, kind))| match (value.as_deref(), kind) {
            (None, _) => Cell::Null,
            (Some(n), ColumnKind::Number) => Cell::Json(n),
            (Some(text), _) => Cell::Text(text),
        })
        .collect()
}

/// One company's row.
fn row(result: &CompanyResult) -> Row {
    let company = &result.company;
    let number = |n: Option<u64>| n.map(|n| n.to_string());
    let (outcome, done) = match &result.outcome {
        None => ("skipped", None),
        Some(Err(_)) => ("failed", None),
        Some(Ok(outcome)) => ("succeeded", Some(outcome)),
    };
    let figures = done.and_then(|o| o.figures.as_ref());
    // A baseline has nothing to compare with: its changes are empty, not zero.
    let changes = done
        .and_then(|o| o.changes.as_ref())
        .filter(|c| !c.baseline);
    let files = done.map(|o| {
        o.artifacts
            .iter()
            .map(|a| a.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    });
    vec![
        Some(company.resource_id.to_string()),
        Some(company.name.clone()),
        company.parent_name.clone(),
        number(done.map(|o| o.rows)),
        number(figures.and_then(|f| f.active)),
        number(figures.and_then(|f| f.inactive)),
        number(figures.and_then(|f| f.deleted)),
        number(figures.and_then(|f| f.monthly.last().map(|(_, n)| *n))),
        number(figures.and_then(|f| f.licence_limit)),
        number(figures.and_then(|f| f.over_limit())),
        number(changes.map(|c| c.joined)),
        number(changes.map(|c| c.left)),
        number(changes.map(|c| c.changed)),
        Some(outcome.to_owned()),
        files.filter(|f| !f.is_empty()),
    ]
}

/// The total row: every number column summed over the companies that have it.
fn total(rows: &[Row]) -> Row {
    let mut total: Row = vec![None; COLUMNS.len()];
    total[1] = Some("Total".to_owned());
    for column in NUMBERS {
        let values: Vec<u64> = rows
            .iter()
            .filter_map(|r| r[column].as_deref()?.parse().ok())
            .collect();
        if !values.is_empty() {
            total[column] = Some(values.iter().sum::<u64>().to_string());
        }
    }
    let succeeded = rows
        .iter()
        .filter(|r| r[13].as_deref() == Some("succeeded"))
        .count();
    total[13] = Some(format!("{succeeded} of {} succeeded", rows.len()));
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_sums_what_is_known_and_counts_outcomes() {
        let some = |s: &str| Some(s.to_owned());
        let mut a: Row = vec![None; COLUMNS.len()];
        let mut b = a.clone();
        a[3] = some("10");
        a[4] = some("8");
        a[13] = some("succeeded");
        b[3] = some("5");
        b[13] = some("failed");
        let t = total(&[a, b]);
        assert_eq!(t[1].as_deref(), Some("Total"));
        assert_eq!(t[3].as_deref(), Some("15"));
        assert_eq!(t[4].as_deref(), Some("8"));
        assert_eq!(t[5], None, "nobody's inactive count is known");
        assert_eq!(t[13].as_deref(), Some("1 of 2 succeeded"));
        assert_eq!(COLUMNS[NUMBERS.start].0, "usersExported");
        assert_eq!(COLUMNS[NUMBERS.end - 1].0, "changed");
    }
}
