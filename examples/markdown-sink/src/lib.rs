//! A Markdown table sink: the template for adding an output format in Rust.
//!
//! The whole contract is `keepnet_sink::Sink`; file safety (a temporary file renamed into place
//! only on success, owner-only permissions, stdout for `-`) comes from `keepnet_sink::Output`.

use std::io::Write;
use std::path::PathBuf;

use keepnet_sink::{Artifact, Cell, Column, ExportInfo, HeaderStyle, Output, Sink, SinkError};

/// Writes the export as one GitHub-flavoured Markdown table.
pub struct MarkdownSink {
    path: PathBuf,
    header: HeaderStyle,
    out: Option<Output>,
    rows: u64,
    heading_level: usize,
}

impl MarkdownSink {
    /// A sink writing to `path` (`-` for stdout). Nothing is opened before `begin`.
    pub fn new(path: impl Into<PathBuf>, header: HeaderStyle) -> Self {
        Self {
            path: path.into(),
            header,
            out: None,
            rows: 0,
            heading_level: 1,
        }
    }

    /// The title's heading level, 1 (`#`) to 6 (`######`): the kind's option
    /// `md.heading-level`.
    pub fn with_heading_level(mut self, level: usize) -> Self {
        self.heading_level = level.clamp(1, 6);
        self
    }

    fn out(&mut self) -> Result<&mut Output, SinkError> {
        self.out
            .as_mut()
            .ok_or_else(|| SinkError::Invalid("markdown sink used out of order".into()))
    }
}

/// A cell's text made safe inside a table: `|` escaped, line breaks as `<br>`.
pub fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

impl Sink for MarkdownSink {
    fn begin(&mut self, export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
        let mut out = Output::open(&self.path)?;
        let header = self.header;
        let mut text = format!(
            "{} Target users of {}\n\n|",
            "#".repeat(self.heading_level),
            escape(&export.company_name)
        );
        for column in columns {
            text.push_str(&format!(" {} |", escape(column.header(header))));
        }
        text.push_str("\n|");
        text.push_str(&" --- |".repeat(columns.len()));
        text.push('\n');
        out.write_all(text.as_bytes()).map_err(|e| out.error(e))?;
        self.out = Some(out);
        Ok(())
    }

    fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError> {
        let mut line = String::from("|");
        for cell in row {
            line.push(' ');
            line.push_str(&escape(&cell.to_text()));
            line.push_str(" |");
        }
        line.push('\n');
        let out = self.out()?;
        out.write_all(line.as_bytes()).map_err(|e| out.error(e))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.out()?.finish()
    }

    fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
        let out = self
            .out
            .take()
            .ok_or_else(|| SinkError::Invalid("markdown sink committed twice".into()))?;
        Ok(out
            .commit("text/markdown", self.rows)?
            .into_iter()
            .collect())
    }

    fn abort(&mut self) {
        // Dropping an uncommitted Output removes its temporary file.
        self.out = None;
    }
}
