//! The server-built file (`target-users/search/export`), read back before it is saved.
//!
//! Its rows are counted for the scope guard, and each row's state is read from the file's own
//! state columns (`Status`, and an `IsDeleted` column when it has one) by the rule search rows
//! follow ([`UserState::of`]). Whether the server applies the status filter is a guess
//! (API-NOTES, Addendum 2), so it is checked, not assumed: rows outside the selection in the
//! file, or a search that answers users inside the selection when asked for the others
//! ([`keepnet_api::probe`]), show it ignored. The rows outside the selection are then dropped
//! (CSV: the kept records' bytes exactly as served; Excel: the workbook written again with the
//! same cell values), provided the file can tell every row's state: it has an `IsDeleted`
//! column, or the server marks deleted users by their status alone (its search rows carry no
//! `isDeleted`). When it cannot, nothing is saved and the failure says why, unless the
//! company's own counts say it has no user outside the selection (nothing to drop).

use std::io::Cursor;

use calamine::{Data, Range, Reader};
use keepnet_api::probe::{probe_status_filter, StatusFilter};
use keepnet_api::{
    Client, Company, ExportFormat, ScopeLimit, StateCounts, StatusSet, UserQuery, UserState,
};

use crate::exit::{self, Failure};

/// What the guard names as the source of the file's figures.
const EXPORT: &str = "target-users/search/export";

/// A server-built file, checked and ready to save.
#[derive(Debug)]
pub struct Vetted {
    /// The bytes to save: the server's own, or without the rows outside the selection.
    pub bytes: Vec<u8>,
    /// Data rows saved.
    pub rows: u64,
    /// Data rows the server's file held.
    pub served: u64,
    /// Rows dropped for being outside the selection, by state.
    pub dropped: StateCounts,
    /// What the server did with the status filter, as far as the file and a search showed.
    pub filter: StatusFilter,
}

impl Vetted {
    /// For people, when rows were dropped: how many, of what, and why.
    pub fn filter_note(&self) -> Option<String> {
        self.dropped
            .filter_note("from its file", self.served, self.rows)
    }
}

/// Checks the server's file for `company` and `query.statuses` before it is saved: the
/// scope guard on its rows, then the status filter (see the module documentation).
pub async fn vet(
    client: &Client,
    company: &Company,
    query: &UserQuery,
    format: ExportFormat,
    bytes: &[u8],
    scope_tolerance: u32,
) -> Result<Vetted, Failure> {
    let kind = match format {
        ExportFormat::Csv => "CSV",
        ExportFormat::Excel => "Excel",
    };
    let table = Table::read(format, bytes).map_err(|e| {
        Failure::msg(
            exit::API,
            format!(
                "the server's {kind} export of {} cannot be read to check whose users it holds \
                 ({e}); nothing was saved",
                company.name
            ),
        )
    })?;
    let served = table.states.len() as u64;
    let selection = query.statuses;
    let limit = ScopeLimit::for_company(company, selection, scope_tolerance);
    let scope = |result: Result<(), keepnet_api::Error>| {
        result.map_err(|e| Failure::from(e).with_note("nothing was saved"))
    };
    if let Some(limit) = &limit {
        scope(limit.check_every(EXPORT, served))?;
    } else {
        tracing::warn!(
            company = %company.name,
            "scope guard off: companies/search sent no user counts for this company"
        );
    }
    let unchanged = |filter| Vetted {
        bytes: bytes.to_vec(),
        rows: served,
        served,
        dropped: StateCounts::default(),
        filter,
    };
    if selection.is_all() {
        if let Some(limit) = &limit {
            scope(limit.check_selected(EXPORT, served))?;
        }
        return Ok(unchanged(StatusFilter::NotSent));
    }
    let probe = probe_status_filter(client, company.id(), query, limit.as_ref()).await?;
    // A Status column says a deleted user's state only where the server marks deletion by
    // status alone; where it flags it with isDeleted, a deleted user's status may say Active.
    let exact =
        table.columns.deleted || (table.columns.status && probe.rows_flag_deletion == Some(false));
    let outside = table
        .states
        .iter()
        .filter(|s| match exact {
            true => !selection.contains(**s),
            false => surely_outside(**s, selection),
        })
        .count();
    let ignored = outside > 0 || probe.verdict == StatusFilter::Ignored;
    if !ignored {
        // Rows nobody could check: above the selection but within every state, the filter.
        if let Some(limit) = &limit {
            scope(limit.check_unverified(EXPORT, served))
                .map_err(|f| f.with_setting(Some(keepnet_sink::Setting::Status)))?;
        }
        return Ok(unchanged(probe.verdict));
    }
    let evidence = match outside {
        0 => "asked for the users outside the selection, target-users/search answered users \
              inside it"
            .to_owned(),
        n => format!("its file holds {n} users outside the selection"),
    };
    let none_outside = selection
        .complement()
        .and_then(|outside| company.expected_users(outside))
        == Some(0);
    if none_outside && outside == 0 {
        // The company's own counts say no user is outside the selection: nothing to drop.
        if let Some(limit) = &limit {
            scope(limit.check_selected(EXPORT, served))?;
        }
        return Ok(unchanged(StatusFilter::Ignored));
    }
    if !exact {
        let why = match (table.columns.status, table.columns.deleted) {
            (false, false) => "it has no Status or IsDeleted column".to_owned(),
            _ => "it has a Status column but no IsDeleted column, and the server flags deleted \
                  users with isDeleted while their status may still say Active"
                .to_owned(),
        };
        return Err(Failure::msg(
            exit::API,
            format!(
                "the server ignored the status filter for {} ({evidence}), and its {kind} file \
                 cannot tell which of its rows are {}: {why}; nothing was saved",
                company.name,
                selection.describe()
            ),
        )
        .with_setting(Some(keepnet_sink::Setting::Status)));
    }
    let keep: Vec<bool> = table
        .states
        .iter()
        .map(|s| selection.contains(*s))
        .collect();
    let mut dropped = StateCounts::default();
    for state in table.states.iter().filter(|s| !selection.contains(**s)) {
        dropped.add(*state);
    }
    let rows = served - dropped.total();
    if let Some(limit) = &limit {
        scope(limit.check_selected(EXPORT, rows))?;
    }
    let bytes = table.without(bytes, &keep).map_err(|e| {
        Failure::msg(
            exit::OUTPUT,
            format!(
                "cannot write the server's {kind} file without the rows outside the selection: {e}"
            ),
        )
    })?;
    Ok(Vetted {
        bytes,
        rows,
        served,
        dropped,
        filter: StatusFilter::Ignored,
    })
}

/// Whether a row whose Status column reads as `read` is outside `selection` whatever it is:
/// where deletion is flagged apart, a row that says Active or Inactive may be a deleted user.
fn surely_outside(read: UserState, selection: StatusSet) -> bool {
    match read {
        UserState::Deleted => !selection.deleted(),
        UserState::Active | UserState::Inactive => {
            !selection.contains(read) && !selection.deleted()
        }
        UserState::Unknown => false,
    }
}

/// Which columns of a file say a row's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StateColumns {
    status: bool,
    deleted: bool,
}

/// The positions of the state columns in one header.
#[derive(Debug, Clone, Copy, Default)]
struct Positions {
    status: Option<usize>,
    deleted: Option<usize>,
}

impl Positions {
    /// Finds `Status` and `IsDeleted` (or `Deleted`, `Is Deleted`...: compared on letters and
    /// digits, any case).
    fn find<'a>(header: impl IntoIterator<Item = &'a str>) -> Self {
        let mut found = Self::default();
        for (i, name) in header.into_iter().enumerate() {
            let key: String = name
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            let slot = match key.as_str() {
                "status" => &mut found.status,
                "isdeleted" | "deleted" => &mut found.deleted,
                _ => continue,
            };
            slot.get_or_insert(i);
        }
        found
    }

    /// The state of a row whose cell `i` is `cell(i)`.
    fn state(&self, cell: impl Fn(usize) -> Option<String>) -> UserState {
        let deleted = self.deleted.and_then(&cell).map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "y"
            )
        });
        let status = self.status.and_then(&cell);
        UserState::of(status.as_deref(), deleted)
    }
}

/// A file's data rows: each one's state, and where it lies.
struct Table {
    columns: StateColumns,
    states: Vec<UserState>,
    layout: Layout,
}

enum Layout {
    /// Where the header ends and each record starts, in bytes.
    Csv {
        header_end: usize,
        starts: Vec<usize>,
    },
    /// Every sheet, its first row the header.
    Excel { sheets: Vec<(String, Range<Data>)> },
}

impl Table {
    fn read(format: ExportFormat, bytes: &[u8]) -> Result<Table, String> {
        match format {
            ExportFormat::Csv => Self::read_csv(bytes),
            ExportFormat::Excel => Self::read_excel(bytes),
        }
    }

    fn read_csv(bytes: &[u8]) -> Result<Table, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(bytes);
        let header = reader.byte_headers().map_err(|e| e.to_string())?.clone();
        let names: Vec<String> = header
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect();
        let positions = Positions::find(names.iter().map(String::as_str));
        let (mut starts, mut states) = (Vec::new(), Vec::new());
        let mut record = csv::ByteRecord::new();
        while reader
            .read_byte_record(&mut record)
            .map_err(|e| e.to_string())?
        {
            let start = record.position().map_or(0, |p| p.byte());
            starts.push(usize::try_from(start).map_err(|e| e.to_string())?);
            states.push(positions.state(|i| {
                record
                    .get(i)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            }));
        }
        Ok(Table {
            columns: StateColumns {
                status: positions.status.is_some(),
                deleted: positions.deleted.is_some(),
            },
            states,
            layout: Layout::Csv {
                header_end: starts.first().copied().unwrap_or(bytes.len()),
                starts,
            },
        })
    }

    fn read_excel(bytes: &[u8]) -> Result<Table, String> {
        let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
        let (mut columns, mut states, mut sheets) =
            (StateColumns::default(), Vec::new(), Vec::new());
        for name in book.sheet_names() {
            let range = book.worksheet_range(&name).map_err(|e| e.to_string())?;
            let mut rows = range.rows();
            if let Some(header) = rows.next() {
                let names: Vec<String> = header.iter().map(cell_text).collect();
                let positions = Positions::find(names.iter().map(String::as_str));
                columns.status |= positions.status.is_some();
                columns.deleted |= positions.deleted.is_some();
                for row in rows {
                    states.push(positions.state(|i| row.get(i).map(cell_text)));
                }
            }
            sheets.push((name, range));
        }
        Ok(Table {
            columns,
            states,
            layout: Layout::Excel { sheets },
        })
    }

    /// The file again with only the rows `keep` marks (one flag per data row, in order).
    fn without(&self, bytes: &[u8], keep: &[bool]) -> Result<Vec<u8>, String> {
        match &self.layout {
            Layout::Csv { header_end, starts } => {
                let mut out = bytes[..*header_end].to_vec();
                for (i, start) in starts.iter().enumerate() {
                    let end = starts.get(i + 1).copied().unwrap_or(bytes.len());
                    if keep[i] {
                        out.extend_from_slice(&bytes[*start..end]);
                    }
                }
                Ok(out)
            }
            Layout::Excel { sheets } => write_excel(sheets, keep).map_err(|e| e.to_string()),
        }
    }
}

/// A cell as text, for finding state columns and reading states.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// The sheets again, header rows kept and data rows where `keep` says, cell values as read.
fn write_excel(
    sheets: &[(String, Range<Data>)],
    keep: &[bool],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let mut flags = keep.iter();
    for (name, range) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(name)?;
        let (first_row, first_col) = range.start().unwrap_or((0, 0));
        let mut out_row = first_row;
        for (i, row) in range.rows().enumerate() {
            if i > 0 && !flags.next().copied().unwrap_or(false) {
                continue;
            }
            for (j, cell) in row.iter().enumerate() {
                let col = u16::try_from(first_col as usize + j).unwrap_or(u16::MAX);
                match cell {
                    Data::Empty => {}
                    Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
                        sheet.write_string(out_row, col, s)?;
                    }
                    Data::Float(f) => {
                        sheet.write_number(out_row, col, *f)?;
                    }
                    Data::Int(i) => {
                        sheet.write_number(out_row, col, *i as f64)?;
                    }
                    Data::Bool(b) => {
                        sheet.write_boolean(out_row, col, *b)?;
                    }
                    Data::DateTime(d) => {
                        sheet.write_number_with_format(out_row, col, d.as_f64(), &date)?;
                    }
                    Data::Error(e) => {
                        sheet.write_string(out_row, col, e.to_string())?;
                    }
                }
            }
            out_row += 1;
        }
    }
    book.save_to_buffer()
}

/// Data rows in a server file whatever their state (the header rows excluded): what the
/// file holds, for a front end that only counts.
pub fn count_rows(format: ExportFormat, bytes: &[u8]) -> Result<u64, String> {
    Table::read(format, bytes).map(|t| t.states.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_exclude_the_header_and_keep_their_bytes() {
        let csv = "First Name,Email,Status\r\nAy\u{15f}e,\"a,\"\"b\"\"\",Active\r\nBob,\"multi\nline\",Deleted\r\nCem,c@x,Inactive\r\n";
        let table = Table::read(ExportFormat::Csv, csv.as_bytes()).unwrap();
        assert_eq!(
            table.states,
            [UserState::Active, UserState::Deleted, UserState::Inactive]
        );
        assert_eq!(
            table.columns,
            StateColumns {
                status: true,
                deleted: false
            }
        );
        let kept = table.without(csv.as_bytes(), &[true, false, true]).unwrap();
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            "First Name,Email,Status\r\nAy\u{15f}e,\"a,\"\"b\"\"\",Active\r\nCem,c@x,Inactive\r\n"
        );
        assert_eq!(count_rows(ExportFormat::Csv, b"First Name\r\n"), Ok(0));
        assert!(count_rows(ExportFormat::Excel, b"not a zip").is_err());
    }

    #[test]
    fn a_status_that_may_hide_a_deleted_user_proves_nothing() {
        let deleted = StatusSet::DELETED;
        assert!(
            !surely_outside(UserState::Active, deleted),
            "may be deleted"
        );
        assert!(surely_outside(UserState::Deleted, StatusSet::CURRENT));
        let active = StatusSet::parse("active").unwrap();
        assert!(surely_outside(UserState::Inactive, active));
        let active_deleted = StatusSet::parse("active,deleted").unwrap();
        assert!(!surely_outside(UserState::Inactive, active_deleted));
        assert!(!surely_outside(UserState::Unknown, StatusSet::CURRENT));
    }

    #[test]
    fn a_deletion_column_wins_over_the_status() {
        let csv = "\u{feff}Email,Status,Is Deleted\nA,Active,true\nB,Active,False\nC,,0\n";
        let table = Table::read(ExportFormat::Csv, csv.as_bytes()).unwrap();
        assert_eq!(
            table.states,
            [UserState::Deleted, UserState::Active, UserState::Unknown]
        );
        assert!(table.columns.deleted && table.columns.status);
    }

    #[test]
    fn excel_rows_are_written_again_with_the_same_values() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("Target Users").unwrap();
        for (r, row) in [["Email", "Status"], ["a@x", "Active"], ["b@x", "Deleted"]]
            .iter()
            .enumerate()
        {
            for (c, v) in row.iter().enumerate() {
                sheet.write_string(r as u32, c as u16, *v).unwrap();
            }
        }
        sheet.write_number(1, 2, 7.5).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let table = Table::read(ExportFormat::Excel, &bytes).unwrap();
        assert_eq!(table.states, [UserState::Active, UserState::Deleted]);
        let kept = table.without(&bytes, &[true, false]).unwrap();
        let mut again = calamine::Xlsx::new(Cursor::new(kept)).unwrap();
        let range = again.worksheet_range("Target Users").unwrap();
        let rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
        assert_eq!(
            rows,
            [
                vec![
                    Data::String("Email".into()),
                    Data::String("Status".into()),
                    Data::Empty
                ],
                vec![
                    Data::String("a@x".into()),
                    Data::String("Active".into()),
                    Data::Float(7.5)
                ],
            ]
        );
    }
}
