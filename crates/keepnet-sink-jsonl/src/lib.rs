//! JSON Lines output: one JSON object per row, keyed by the selected columns (API field names,
//! or labels with [`HeaderStyle::Human`]).
//!
//! Values: null stays `null`, text is a string, booleans are booleans, a date-time is the
//! server's original text, and named fields (custom fields) become an object
//! `{"Employee Number": "000123", ...}`; a raw JSON value ([`Cell::Json`]: a field the client
//! does not know) is embedded unchanged. No formula guard: JSON is not opened by spreadsheets,
//! and data stays exact.
//!
//! Given a single [`ColumnKind::Record`] column, each line is the record itself: every field
//! exactly as served.

use std::io::Write;
use std::path::PathBuf;

use keepnet_sink::{
    Artifact, Cell, Column, ColumnKind, ExportInfo, HeaderStyle, Output, Sink, SinkError,
};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// Writes an export as JSON Lines to a file (published on commit) or stdout (`-`).
pub struct JsonlSink {
    path: PathBuf,
    header: HeaderStyle,
    keys: Vec<String>,
    records: bool,
    out: Option<Output>,
    line: Vec<u8>,
    rows: u64,
}

impl JsonlSink {
    /// A sink writing to `path` (`-` for stdout). Nothing is opened until `begin`.
    pub fn new(path: impl Into<PathBuf>, header: HeaderStyle) -> Self {
        Self {
            path: path.into(),
            header,
            keys: Vec::new(),
            records: false,
            out: None,
            line: Vec::with_capacity(1024),
            rows: 0,
        }
    }
}

/// Appends `row` to `out` as one JSON object keyed by `keys` (no newline): the encoding this
/// sink writes, shared with other sinks that speak JSON (the exec plugin protocol).
pub fn encode_row(out: &mut Vec<u8>, keys: &[String], row: &[Cell<'_>]) -> Result<(), SinkError> {
    serde_json::to_writer(out, &RowJson { keys, cells: row }).map_err(SinkError::other)
}

/// Whether `columns` ask for whole records ([`ColumnKind::Record`] alone).
pub fn is_record_layout(columns: &[Column]) -> bool {
    matches!(columns, [only] if only.kind == ColumnKind::Record)
}

/// Appends a record row (one [`Cell::Json`] object) to `out` as it is (no newline).
pub fn encode_record(out: &mut Vec<u8>, row: &[Cell<'_>]) -> Result<(), SinkError> {
    match row {
        [Cell::Json(record)] => {
            out.extend_from_slice(record.as_bytes());
            Ok(())
        }
        _ => Err(SinkError::Invalid(
            "a record row must be one JSON object cell".into(),
        )),
    }
}

/// A row as a JSON object.
struct RowJson<'r, 'a> {
    keys: &'r [String],
    cells: &'r [Cell<'a>],
}

impl Serialize for RowJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.keys.len()))?;
        for (key, cell) in self.keys.iter().zip(self.cells) {
            map.serialize_entry(key, &CellJson(cell))?;
        }
        map.end()
    }
}

struct CellJson<'r, 'a>(&'r Cell<'a>);

impl Serialize for CellJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Cell::Null => s.serialize_none(),
            Cell::Text(text) | Cell::DateTime { text, .. } => s.serialize_str(text),
            Cell::Json(json) => {
                let raw = serde_json::value::RawValue::from_string((*json).to_owned())
                    .map_err(serde::ser::Error::custom)?;
                raw.serialize(s)
            }
            Cell::Bool(b) => s.serialize_bool(*b),
            Cell::Fields(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for field in fields.iter() {
                    map.serialize_entry(field.name, &CellJson(&field.value))?;
                }
                map.end()
            }
        }
    }
}

impl Sink for JsonlSink {
    fn begin(&mut self, _export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
        self.records = is_record_layout(columns);
        self.keys = columns
            .iter()
            .map(|c| c.header(self.header).to_owned())
            .collect();
        self.out = Some(Output::open(&self.path)?);
        Ok(())
    }

    fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| SinkError::Invalid("JSON Lines sink used out of order".into()))?;
        self.line.clear();
        if self.records {
            encode_record(&mut self.line, row)?;
        } else {
            encode_row(&mut self.line, &self.keys, row)?;
        }
        self.line.push(b'\n');
        out.write_all(&self.line).map_err(|e| out.error(e))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.out
            .as_mut()
            .ok_or_else(|| SinkError::Invalid("JSON Lines sink finished before it began".into()))?
            .finish()
    }

    fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
        let out = self
            .out
            .take()
            .ok_or_else(|| SinkError::Invalid("JSON Lines sink committed twice".into()))?;
        Ok(out
            .commit("application/jsonl", self.rows)?
            .into_iter()
            .collect())
    }

    fn abort(&mut self) {
        self.out = None;
    }
}
