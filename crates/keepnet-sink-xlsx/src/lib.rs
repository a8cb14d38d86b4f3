//! Streaming Excel (XLSX) output for `keepnet-export`: [`XlsxSink`].
//!
//! The workbook it writes:
//! - one worksheet, named `Users` by default ([`XlsxOptions::sheet_name`]), whose first row is
//!   the header (API keys or labels for people, per [`XlsxOptions::header`]), in bold and frozen
//!   so it stays visible while scrolling;
//! - an autofilter over the header and all data rows, and column widths fitted to the widest
//!   value seen (clamped to 8..=60 characters, date columns at least 20);
//! - typed cells: date-times are real Excel date-times (UTC, milliseconds kept, shown as
//!   `yyyy-mm-dd hh:mm:ss`), booleans are Excel booleans, and all text is a string cell,
//!   never a formula and never a number, whatever it looks like (`=1+1`, `@SUM(A1)`,
//!   `+90 532 000 00 00` and `00123` stay exactly as sent, without a `'` prefix); custom
//!   fields read `Name: value; Name: value`; nulls are blank cells;
//! - more rows than a sheet holds (1,048,575 below the header) continue on `Users (2)`,
//!   `Users (3)`, ..., each with the same header, filter and widths;
//! - text longer than Excel's cell limit (32,767 UTF-16 code units) is cut to fit and counted
//!   ([`XlsxSink::truncated_cells`]).
//!
//! Rows are streamed through rust_xlsxwriter's constant-memory mode: each row goes to an
//! unnamed temporary file (created in the output's folder, deleted by the OS when closed) as
//! soon as the next one starts, so memory stays flat whatever the row count. The finished
//! workbook is written under a temporary name beside the target and renamed into place by
//! [`commit`](keepnet_sink::Sink::commit) (see [`keepnet_sink::AtomicFile`]).

use std::fmt;
use std::io::{BufWriter, Write};
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use keepnet_sink::{
    Artifact, AtomicFile, Cell, Column, ColumnKind, ExportInfo, HeaderStyle, Sink, SinkError,
    Timestamp,
};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

/// The media type of the files this sink writes.
pub const MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Data rows per sheet by default and at most: Excel's 1,048,576 rows minus the header.
pub const MAX_ROWS_PER_SHEET: u32 = 1_048_575;

/// Excel's limit on the text of one cell, in UTF-16 code units (characters, except that a
/// character outside the Basic Multilingual Plane, such as an emoji, counts twice).
pub const MAX_CELL_TEXT: usize = 32_767;

/// Excel's column limit (`XFD`).
const MAX_COLUMNS: usize = 16_384;
/// Column width bounds, in characters.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;
/// Width of a date-time as shown (`yyyy-mm-dd hh:mm:ss`) plus a margin.
const DATE_WIDTH: usize = 20;
/// Room for the autofilter's drop-down button in a header cell.
const FILTER_BUTTON: usize = 2;
/// How date-times are shown.
const DATE_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";
/// Write buffer for saving the workbook into its file.
const SAVE_BUFFER: usize = 256 * 1024;

/// How the workbook is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlsxOptions {
    /// Which header labels to write: API keys (`firstName`) or labels (`First Name`).
    pub header: HeaderStyle,
    /// The first sheet's name (default `Users`); overflow sheets add ` (2)`, ` (3)`, ...
    /// Must be a valid Excel sheet name: 1 to 31 characters, none of `[ ] : * ? / \`, not
    /// starting or ending with `'`, not `History`.
    pub sheet_name: String,
    /// ZIP deflate level, 1 (fastest) to 9 (smallest). Default [`DEFAULT_COMPRESSION`].
    pub compression: u8,
}

/// The default deflate level: 2. Saving is the one step of an export that cannot overlap the
/// download, and level 2 saves a million-user workbook about 30% faster than rust_xlsxwriter's
/// default 6 for files about 14% larger (measured: 7.4 s / 126 MB against 10.4 s / 110 MB).
pub const DEFAULT_COMPRESSION: u8 = 2;

impl Default for XlsxOptions {
    fn default() -> Self {
        Self {
            header: HeaderStyle::default(),
            sheet_name: "Users".to_owned(),
            compression: DEFAULT_COMPRESSION,
        }
    }
}

/// A [`Sink`] writing one `.xlsx` workbook (see the [crate] docs for its layout).
///
/// ```no_run
/// use keepnet_sink_xlsx::{XlsxOptions, XlsxSink};
///
/// let sink = XlsxSink::new("acme-users.xlsx", XlsxOptions::default());
/// // The runner then drives it: begin, write_row*, finish, commit (or abort).
/// # let _ = sink;
/// ```
pub struct XlsxSink {
    path: PathBuf,
    options: XlsxOptions,
    rows_per_sheet: u32,
    truncated: u64,
    state: State,
}

enum State {
    /// Built; `begin` not called yet.
    Ready,
    /// Between `begin` and `finish`.
    Writing(Box<Writer>),
    /// Saved and synced; waiting for `commit`.
    Finished { file: AtomicFile, rows: u64 },
    /// Committed, aborted, or failed: nothing left to do.
    Closed,
}

impl XlsxSink {
    /// A sink that will write the workbook to `path` (no I/O until `begin`).
    pub fn new(path: impl Into<PathBuf>, options: XlsxOptions) -> Self {
        Self {
            path: path.into(),
            options,
            rows_per_sheet: MAX_ROWS_PER_SHEET,
            truncated: 0,
            state: State::Ready,
        }
    }

    /// Starts a new sheet after `rows` data rows instead of [`MAX_ROWS_PER_SHEET`]; `rows` is
    /// clamped to `1..=MAX_ROWS_PER_SHEET`.
    pub fn with_rows_per_sheet(mut self, rows: u32) -> Self {
        self.rows_per_sheet = rows.clamp(1, MAX_ROWS_PER_SHEET);
        self
    }

    /// How many cells (header included) had text longer than [`MAX_CELL_TEXT`] and were cut
    /// to fit. Non-zero means the file is not a complete copy of the data: tell the user.
    pub fn truncated_cells(&self) -> u64 {
        self.truncated
    }

    /// Where the workbook is published.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for XlsxSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Ready => "ready",
            State::Writing(_) => "writing",
            State::Finished { .. } => "finished",
            State::Closed => "closed",
        };
        f.debug_struct("XlsxSink")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("rows_per_sheet", &self.rows_per_sheet)
            .field("truncated", &self.truncated)
            .field("state", &state)
            .finish()
    }
}

impl Sink for XlsxSink {
    fn begin(&mut self, _export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
        if !matches!(self.state, State::Ready) {
            return Err(out_of_order("begin", &self.state));
        }
        validate_sheet_name(&self.options.sheet_name)?;
        if columns.len() > MAX_COLUMNS {
            return Err(SinkError::Invalid(format!(
                "{} columns selected; an Excel sheet holds at most {MAX_COLUMNS}",
                columns.len()
            )));
        }
        let file = AtomicFile::create(&self.path)?;
        let path = self.path.clone();
        let sheet_name = self.options.sheet_name.clone();
        let header = self.options.header;
        let compression = self.options.compression.clamp(1, 9);
        let truncated = &mut self.truncated;
        let writer = guarded(&path, || {
            let mut workbook = Workbook::new();
            workbook.set_zip_compression_level(compression);
            // Keep rust_xlsxwriter's row spill files beside the output: the disk the user chose
            // for the export, rather than a temp folder that may be small or held in memory.
            if let Some(dir) = file.temp_path().parent() {
                workbook
                    .set_tempdir(dir)
                    .map_err(|e| xlsx_error(&path, e))?;
            }
            let mut writer = Writer {
                file,
                workbook,
                bold: Format::new().set_bold(),
                date: Format::new().set_num_format(DATE_FORMAT),
                plain: Format::new(),
                sheet_name,
                headers: columns
                    .iter()
                    .map(|c| c.header(header).to_owned())
                    .collect(),
                kinds: columns.iter().map(|c| c.kind).collect(),
                sheets: Vec::new(),
                sheet_rows: 0,
                rows: 0,
            };
            writer
                .add_sheet(truncated)
                .map_err(|e| xlsx_error(&path, e))?;
            Ok(writer)
        })?;
        self.state = State::Writing(Box::new(writer));
        Ok(())
    }

    fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError> {
        let State::Writing(writer) = &mut self.state else {
            return Err(out_of_order("write_row", &self.state));
        };
        if row.len() != writer.kinds.len() {
            let error = SinkError::Invalid(format!(
                "a row has {} cells but {} columns were given to begin",
                row.len(),
                writer.kinds.len()
            ));
            self.state = State::Closed;
            return Err(error);
        }
        let rows_per_sheet = self.rows_per_sheet;
        let truncated = &mut self.truncated;
        let result = guarded(&self.path, || {
            writer.write_row(row, rows_per_sheet, truncated)
        });
        if result.is_err() {
            self.state = State::Closed;
        }
        result
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        match mem::replace(&mut self.state, State::Closed) {
            State::Writing(writer) => {
                // On error the writer is dropped here, which deletes every temporary file.
                let (file, rows) = guarded(&self.path, || writer.save())?;
                self.state = State::Finished { file, rows };
                Ok(())
            }
            other => {
                let error = out_of_order("finish", &other);
                self.state = other;
                Err(error)
            }
        }
    }

    fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
        match mem::replace(&mut self.state, State::Closed) {
            State::Finished { file, rows } => {
                let published = file.commit()?;
                Ok(vec![Artifact {
                    path: published.path,
                    media_type: MEDIA_TYPE.to_owned(),
                    bytes: published.bytes,
                    rows,
                    sha256: Some(published.sha256),
                }])
            }
            other => {
                let error = out_of_order("commit", &other);
                self.state = other;
                Err(error)
            }
        }
    }

    fn abort(&mut self) {
        // Dropping the writer closes rust_xlsxwriter's unnamed spill files (the OS frees them)
        // and the uncommitted AtomicFile deletes its temporary file.
        self.state = State::Closed;
    }

    fn warnings(&self) -> Vec<String> {
        match self.truncated {
            0 => Vec::new(),
            n => vec![format!(
                "{}: {n} cell(s) were longer than Excel's {MAX_CELL_TEXT} characters and were cut to fit",
                self.path.display()
            )],
        }
    }
}

/// The open workbook between `begin` and `finish`.
struct Writer {
    file: AtomicFile,
    workbook: Workbook,
    bold: Format,
    date: Format,
    plain: Format,
    sheet_name: String,
    headers: Vec<String>,
    kinds: Vec<ColumnKind>,
    /// One per worksheet, in workbook order; the last one is being written.
    sheets: Vec<SheetStats>,
    /// Data rows in the current sheet.
    sheet_rows: u32,
    /// Data rows in all sheets.
    rows: u64,
}

/// What `finish` needs to know about one sheet.
struct SheetStats {
    /// Data rows (header excluded).
    rows: u32,
    /// Widest value per column, in characters.
    widths: Vec<usize>,
}

impl Writer {
    /// Adds a constant-memory sheet with its bold, frozen header and makes it current.
    fn add_sheet(&mut self, truncated: &mut u64) -> Result<(), XlsxError> {
        let number = self.sheets.len() + 1;
        let name = sheet_name(&self.sheet_name, number);
        let sheet = self.workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        sheet.set_freeze_panes(1, 0)?;
        let mut widths = Vec::with_capacity(self.headers.len());
        for (col, header) in self.headers.iter().enumerate() {
            let width = write_text(
                sheet,
                0,
                col_num(col),
                header,
                Some(&self.bold),
                &self.plain,
                truncated,
            )?;
            widths.push(width + FILTER_BUTTON);
        }
        self.sheets.push(SheetStats { rows: 0, widths });
        self.sheet_rows = 0;
        Ok(())
    }

    fn write_row(
        &mut self,
        row: &[Cell<'_>],
        rows_per_sheet: u32,
        truncated: &mut u64,
    ) -> Result<(), SinkError> {
        if self.sheet_rows >= rows_per_sheet {
            self.add_sheet(truncated)
                .map_err(|e| xlsx_error(self.file.target(), e))?;
        }
        let index = self.sheets.len() - 1;
        let target = self.file.target();
        let sheet = self
            .workbook
            .worksheet_from_index(index)
            .map_err(|e| xlsx_error(target, e))?;
        let stats = &mut self.sheets[index];
        let r = self.sheet_rows + 1;
        for (col, cell) in row.iter().enumerate() {
            let c = col_num(col);
            let width = match *cell {
                Cell::Null => Ok(0),
                Cell::Text(text) => write_text(sheet, r, c, text, None, &self.plain, truncated),
                Cell::Bool(value) => sheet.write_boolean(r, c, value).map(|_| 5),
                Cell::DateTime { at, text } => match excel_date_time(&at) {
                    Some(when) => sheet
                        .write_datetime_with_format(r, c, &when, &self.date)
                        .map(|_| DATE_WIDTH),
                    // Outside Excel's calendar (before 1900): keep the API's text.
                    None => write_text(sheet, r, c, text, None, &self.plain, truncated),
                },
                Cell::Fields(_) => {
                    write_text(sheet, r, c, &cell.to_text(), None, &self.plain, truncated)
                }
                Cell::Json(json) => match (self.kinds.get(col), json.parse::<f64>()) {
                    (Some(ColumnKind::Number), Ok(n)) if n.is_finite() => {
                        sheet.write_number(r, c, n).map(|_| json.len())
                    }
                    _ => write_text(sheet, r, c, json, None, &self.plain, truncated),
                },
            }
            .map_err(|e| xlsx_error(target, e))?;
            if width > stats.widths[col] {
                stats.widths[col] = width;
            }
        }
        self.sheet_rows += 1;
        stats.rows = self.sheet_rows;
        self.rows += 1;
        Ok(())
    }

    /// Sets widths and autofilters, saves the workbook into the temporary file and syncs it.
    fn save(mut self) -> Result<(AtomicFile, u64), SinkError> {
        let target = self.file.target().to_path_buf();
        let error = |e| xlsx_error(&target, e);
        // Widths and autofilter are sheet metadata kept in memory and written when the
        // workbook is saved, so setting them after the rows works in constant-memory mode.
        for (index, stats) in self.sheets.iter().enumerate() {
            let sheet = self.workbook.worksheet_from_index(index).map_err(error)?;
            for (col, (&kind, &widest)) in self.kinds.iter().zip(&stats.widths).enumerate() {
                sheet
                    .set_column_width(col_num(col), column_width(kind, widest))
                    .map_err(error)?;
            }
            if let Some(last) = self.kinds.len().checked_sub(1) {
                sheet
                    .autofilter(0, 0, stats.rows, col_num(last))
                    .map_err(error)?;
            }
        }
        {
            let mut out = BufWriter::with_capacity(SAVE_BUFFER, &mut self.file);
            self.workbook.save_to_writer(&mut out).map_err(error)?;
            out.flush().map_err(|e| SinkError::io(&target, e))?;
        }
        self.file.sync()?;
        let Writer { file, rows, .. } = self;
        Ok((file, rows))
    }
}

/// The `number`th sheet's name: `base`, then `base (2)`, `base (3)`, ..., with `base` cut so
/// that the name stays within Excel's 31 UTF-16 code units.
fn sheet_name(base: &str, number: usize) -> String {
    if number <= 1 {
        return base.to_owned();
    }
    let suffix = format!(" ({number})");
    let room = 31usize.saturating_sub(suffix.len());
    let mut name = String::with_capacity(base.len() + suffix.len());
    let mut used = 0;
    for c in base.chars() {
        used += c.len_utf16();
        if used > room {
            break;
        }
        name.push(c);
    }
    name.push_str(&suffix);
    name
}

/// Checks a sheet name against Excel's rules, before any file is created.
fn validate_sheet_name(name: &str) -> Result<(), SinkError> {
    let invalid =
        |why: String| SinkError::Invalid(format!("invalid Excel sheet name {name:?}: {why}"));
    if name.eq_ignore_ascii_case("History") {
        return Err(invalid("Excel reserves it".to_owned()));
    }
    Worksheet::new()
        .set_name(name)
        .map(|_| ())
        .map_err(|e| invalid(e.to_string()))
}

/// An Excel date-time for `at`, or `None` outside Excel's years 1900 to 9999.
fn excel_date_time(at: &Timestamp) -> Option<ExcelDateTime> {
    let year = u16::try_from(at.year)
        .ok()
        .filter(|y| (1900..=9999).contains(y))?;
    ExcelDateTime::from_ymd(year, at.month, at.day)
        .and_then(|d| d.and_hms_milli(u16::from(at.hour), at.minute, at.second, at.millisecond))
        .ok()
}

/// Writes `text` as a string cell (blank when empty) and returns its width in characters:
/// its longest line, capped at [`MAX_WIDTH`].
///
/// Text over [`MAX_CELL_TEXT`] is cut on a character boundary and counted in `truncated`.
fn write_text(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
    format: Option<&Format>,
    plain: &Format,
    truncated: &mut u64,
) -> Result<usize, XlsxError> {
    let (text, mut cut) = clip(text, MAX_CELL_TEXT);
    if needs_manual_escape(text) {
        // See `needs_manual_escape`: write the text as a one-run rich string, whose text
        // rust_xlsxwriter escapes for XML only, with the `_x` escaping done here.
        let (escaped, cut_more) = escape_underscores(text);
        cut |= cut_more;
        let run = [(plain, escaped.as_str())];
        match format {
            Some(format) => sheet.write_rich_string_with_format(row, col, &run, format)?,
            None => sheet.write_rich_string(row, col, &run)?,
        };
    } else {
        match format {
            Some(format) => sheet.write_string_with_format(row, col, text, format)?,
            None => sheet.write_string(row, col, text)?,
        };
    }
    if cut {
        *truncated += 1;
    }
    Ok(text_width(text))
}

/// `text` cut to at most `max` UTF-16 code units on a character boundary, and whether it
/// was cut.
fn clip(text: &str, max: usize) -> (&str, bool) {
    // UTF-8 never takes fewer bytes than UTF-16 code units, so short text needs no count.
    if text.len() <= max {
        return (text, false);
    }
    let mut units = 0;
    for (at, c) in text.char_indices() {
        units += c.len_utf16();
        if units > max {
            return (&text[..at], true);
        }
    }
    (text, false)
}

/// Characters rust_xlsxwriter writes as `_xHHHH_` escapes (XML cannot hold them literally).
fn is_escaped_by_writer(c: char) -> bool {
    matches!(c, '\0'..='\x08' | '\x0B'..='\x1F' | '\u{FFFE}' | '\u{FFFF}')
}

/// Whether rust_xlsxwriter (0.102) would garble `text` in a string cell.
///
/// XLSX writes characters XML cannot hold as `_xHHHH_` and a literal `_xHHHH_` as
/// `_x005F_xHHHH_`. rust_xlsxwriter escapes a literal only when its closing `_` is in the
/// text, so `_x0041` followed by a control character is written `_x0041_x0001_`, which
/// Excel and calamine read back as `Ax0001_`.
fn needs_manual_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices("_x").any(|(at, _)| {
        bytes
            .get(at + 2..at + 6)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            // The four bytes after `_x` are ASCII, so `at + 6` is a character boundary.
            && text[at + 6..].chars().next().is_some_and(is_escaped_by_writer)
    })
}

/// `text` with every `_x` written `_x005F_x` (an escaped underscore), for a rich-string run,
/// cut so that the run's XML stays within Excel's limit; and whether it was cut.
fn escape_underscores(text: &str) -> (String, bool) {
    // `<r><t xml:space="preserve">` and `</t></r>` around the run count towards the limit.
    const BUDGET: usize = MAX_CELL_TEXT - 40;
    let mut out = String::with_capacity(text.len() + 12);
    let mut used = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let escape = c == '_' && chars.peek() == Some(&'x');
        let cost = match c {
            '&' => 5,
            '<' | '>' => 4,
            c if is_escaped_by_writer(c) => 7,
            c => c.len_utf16(),
        } + if escape { 6 } else { 0 };
        used += cost;
        if used > BUDGET {
            return (out, true);
        }
        if escape {
            out.push_str("_x005F");
        }
        out.push(c);
    }
    (out, false)
}

/// The longest line of `text` in characters, capped at [`MAX_WIDTH`].
fn text_width(text: &str) -> usize {
    let (mut widest, mut line) = (0, 0);
    for c in text.chars() {
        if c == '\n' {
            line = 0;
            continue;
        }
        line += 1;
        if line > widest {
            widest = line;
            if widest >= MAX_WIDTH {
                break;
            }
        }
    }
    widest
}

/// The width to give a column whose widest value (header included) is `widest` characters.
fn column_width(kind: ColumnKind, widest: usize) -> f64 {
    let widest = match kind {
        ColumnKind::DateTime => widest.max(DATE_WIDTH),
        _ => widest,
    };
    // One character of padding.
    (widest + 1).clamp(MIN_WIDTH, MAX_WIDTH) as f64
}

/// A column index as rust_xlsxwriter's column number (`begin` checked the count).
fn col_num(col: usize) -> u16 {
    u16::try_from(col).unwrap_or(u16::MAX)
}

/// A rust_xlsxwriter error as a sink error about `target`.
fn xlsx_error(target: &Path, error: XlsxError) -> SinkError {
    match error {
        XlsxError::IoError(source) => SinkError::io(target, source),
        XlsxError::TempFileError(dir, source) => SinkError::io(dir, source),
        other => SinkError::other(other),
    }
}

static QUIET_HOOK: std::sync::Once = std::sync::Once::new();

thread_local! {
    /// Whether this thread is inside [`guarded`].
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into an error.
///
/// rust_xlsxwriter 0.102 panics (`Couldn't write to xml file`) instead of returning an error
/// when writing a constant-memory spill file fails, e.g. on a full disk. The sink that ran
/// `f` is discarded afterwards, so no state broken by the panic is used again.
///
/// The panic is caught here, so the process's panic hook must not print it (with a
/// backtrace) as if the program had crashed: a hook installed once, chained to the previous
/// one, stays silent for panics raised on a thread inside `guarded`.
fn guarded<T>(target: &Path, f: impl FnOnce() -> Result<T, SinkError>) -> Result<T, SinkError> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = GUARDED.with(|g| g.replace(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown error");
            Err(SinkError::io(
                target,
                std::io::Error::other(format!("the Excel writer failed: {message}")),
            ))
        }
    }
}

/// The error for a method called in the wrong order.
fn out_of_order(method: &str, state: &State) -> SinkError {
    let now = match state {
        State::Ready => "before begin",
        State::Writing(_) => "before finish",
        State::Finished { .. } => "after finish",
        State::Closed => "after commit, abort or an error",
    };
    SinkError::Invalid(format!("XlsxSink::{method} called {now}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_utf16_units_and_keeps_char_boundaries() {
        assert_eq!(clip("abc", 3), ("abc", false));
        assert_eq!(clip("abcd", 3), ("abc", true));
        // An emoji is two UTF-16 units: it does not fit in the last one.
        assert_eq!(clip("ab🎉", 3), ("ab", true));
        assert_eq!(clip("aé", 2), ("aé", false));
        let long = "ş".repeat(MAX_CELL_TEXT + 5);
        let (cut, was_cut) = clip(&long, MAX_CELL_TEXT);
        assert!(was_cut);
        assert_eq!(cut.chars().count(), MAX_CELL_TEXT);
    }

    #[test]
    fn overflow_sheet_names_fit_excel() {
        assert_eq!(sheet_name("Users", 1), "Users");
        assert_eq!(sheet_name("Users", 2), "Users (2)");
        assert_eq!(sheet_name("Users", 12), "Users (12)");
        let long = "Ç".repeat(31);
        let name = sheet_name(&long, 3);
        assert_eq!(name.encode_utf16().count(), 31);
        assert!(name.ends_with(" (3)"));
        assert!(Worksheet::new().set_name(name).is_ok());
    }

    #[test]
    fn sheet_names_are_checked() {
        assert!(validate_sheet_name("Users").is_ok());
        for bad in ["", "a/b", "[x]", "'quoted'", "history", &"x".repeat(32)] {
            assert!(
                matches!(validate_sheet_name(bad), Err(SinkError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn finds_text_rust_xlsxwriter_would_garble() {
        assert!(needs_manual_escape("_x0041\u{1}"));
        assert!(needs_manual_escape("a_xBEEF\u{FFFF}b"));
        assert!(!needs_manual_escape("_x0041_\u{1}"));
        assert!(!needs_manual_escape("_x004\u{1}"));
        assert!(!needs_manual_escape("_x0041"));
        assert!(!needs_manual_escape("_x0041é"));
        assert!(!needs_manual_escape("max_xavier@example.com"));
    }

    #[test]
    fn escapes_every_underscore_before_x() {
        assert_eq!(
            escape_underscores("_x0041\u{1}"),
            ("_x005F_x0041\u{1}".to_owned(), false)
        );
        assert_eq!(
            escape_underscores("a_b_x"),
            ("a_b_x005F_x".to_owned(), false)
        );
        let (long, cut) = escape_underscores(&"&".repeat(MAX_CELL_TEXT));
        assert!(cut);
        assert!(long.len() * 5 <= MAX_CELL_TEXT - 40);
    }

    #[test]
    fn widths() {
        assert_eq!(text_width("Ayşe"), 4);
        assert_eq!(text_width("a\nlonger line\nb"), 11);
        assert_eq!(text_width(&"x".repeat(500)), MAX_WIDTH);
        assert_eq!(column_width(ColumnKind::Text, 2), MIN_WIDTH as f64);
        assert_eq!(column_width(ColumnKind::Text, 30), 31.0);
        assert_eq!(column_width(ColumnKind::Text, 500), MAX_WIDTH as f64);
        assert_eq!(column_width(ColumnKind::DateTime, 9), 21.0);
    }

    #[test]
    fn dates_outside_excel_are_refused() {
        let at = |year| Timestamp {
            year,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            millisecond: 0,
        };
        assert!(excel_date_time(&at(1899)).is_none());
        assert!(excel_date_time(&at(1900)).is_some());
        assert!(excel_date_time(&at(9999)).is_some());
    }

    #[test]
    fn a_panicking_writer_becomes_an_error() {
        let target = Path::new("out.xlsx");
        let result: Result<(), SinkError> =
            guarded(target, || panic!("Couldn't write to xml file"));
        match result {
            Err(SinkError::Io { path, source }) => {
                assert_eq!(path, target);
                assert!(
                    source.to_string().contains("Couldn't write to xml file"),
                    "{source}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(guarded(target, || Ok(7)).unwrap(), 7);
    }

    #[test]
    fn out_of_order_calls_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = XlsxSink::new(dir.path().join("x.xlsx"), XlsxOptions::default());
        assert!(matches!(sink.write_row(&[]), Err(SinkError::Invalid(_))));
        assert!(matches!(sink.finish(), Err(SinkError::Invalid(_))));
        assert!(matches!(sink.commit(), Err(SinkError::Invalid(_))));
        sink.abort();
        assert!(matches!(
            sink.begin(&export(), &[]),
            Err(SinkError::Invalid(_))
        ));
        assert_eq!(keepnet_sink_files(dir.path()), Vec::<String>::new());
    }

    fn export() -> ExportInfo {
        ExportInfo {
            company_name: "c".into(),
            company_id: "id".into(),
            started_at: Timestamp::from_unix(0, 0),
            expected_rows: None,
        }
    }

    fn keepnet_sink_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}
