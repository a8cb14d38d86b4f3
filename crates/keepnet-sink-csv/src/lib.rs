//! Streaming CSV output (RFC 4180: CRLF line ends, fields quoted only when needed, UTF-8).
//!
//! Cells are written as the text the API sent ([`Cell::to_text`]); date-times keep their
//! original text. By default every cell passes through the formula guard of
//! [`keepnet_sink::safety`] so a spreadsheet opening the file runs nothing; `guard_formulas:
//! false` writes cells raw. An optional UTF-8 byte-order mark makes Excel on Windows read
//! non-Latin names correctly.

use std::path::PathBuf;

use keepnet_sink::{
    safety, Artifact, Cell, Column, ExportInfo, HeaderStyle, Output, Sink, SinkError,
};

/// CSV settings.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Start the file with a UTF-8 byte-order mark (default false).
    pub bom: bool,
    /// Header labels (default API field names).
    pub header: HeaderStyle,
    /// Neutralise cells a spreadsheet would run as formulas (default true).
    pub guard_formulas: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            bom: false,
            header: HeaderStyle::Api,
            guard_formulas: true,
        }
    }
}

/// Writes an export as CSV to a file (published on commit) or to stdout (`-`).
pub struct CsvSink {
    path: PathBuf,
    options: CsvOptions,
    state: State,
    rows: u64,
}

enum State {
    New,
    Writing(Box<csv::Writer<Output>>),
    Finished(Box<Output>),
    Done,
}

const MEDIA_TYPE: &str = "text/csv";

impl CsvSink {
    /// A sink writing to `path` (`-` for stdout). Nothing is opened until `begin`.
    pub fn new(path: impl Into<PathBuf>, options: CsvOptions) -> Self {
        Self {
            path: path.into(),
            options,
            state: State::New,
            rows: 0,
        }
    }

    fn csv_error(&self, error: csv::Error) -> SinkError {
        match error.into_kind() {
            csv::ErrorKind::Io(e) => SinkError::io(&self.path, e),
            other => SinkError::other(format!("{}: {other:?}", self.path.display())),
        }
    }

    fn writer(&mut self) -> Result<&mut csv::Writer<Output>, SinkError> {
        match &mut self.state {
            State::Writing(w) => Ok(w),
            _ => Err(SinkError::Invalid("CSV sink used out of order".into())),
        }
    }
}

impl Sink for CsvSink {
    fn begin(&mut self, _export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
        let mut output = Output::open(&self.path)?;
        if self.options.bom {
            use std::io::Write;
            output
                .write_all("\u{feff}".as_bytes())
                .map_err(|e| output.error(e))?;
        }
        let mut writer = csv::WriterBuilder::new()
            .delimiter(self.options.delimiter)
            .terminator(csv::Terminator::CRLF)
            .from_writer(output);
        let header = self.options.header;
        writer
            .write_record(columns.iter().map(|c| c.header(header)))
            .map_err(|e| self.csv_error(e))?;
        self.state = State::Writing(Box::new(writer));
        Ok(())
    }

    fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError> {
        let guard = self.options.guard_formulas;
        let writer = self.writer()?;
        let mut result = Ok(());
        for cell in row {
            let text = cell.to_text();
            let written = if guard {
                writer.write_field(safety::guard(&text).as_bytes())
            } else {
                writer.write_field(text.as_bytes())
            };
            if let Err(e) = written {
                result = Err(e);
                break;
            }
        }
        let result = result.and_then(|()| writer.write_record(None::<&[u8]>));
        result.map_err(|e| self.csv_error(e))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let State::Writing(writer) = std::mem::replace(&mut self.state, State::Done) else {
            return Err(SinkError::Invalid(
                "CSV sink finished before it began".into(),
            ));
        };
        let mut output = writer
            .into_inner()
            .map_err(|e| SinkError::io(&self.path, e.into_error()))?;
        output.finish()?;
        self.state = State::Finished(Box::new(output));
        Ok(())
    }

    fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
        let State::Finished(output) = std::mem::replace(&mut self.state, State::Done) else {
            return Err(SinkError::Invalid(
                "CSV sink committed before it finished".into(),
            ));
        };
        Ok(output.commit(MEDIA_TYPE, self.rows)?.into_iter().collect())
    }

    fn abort(&mut self) {
        // Dropping the Output removes its temporary file; stdout cannot be taken back.
        self.state = State::Done;
    }
}
