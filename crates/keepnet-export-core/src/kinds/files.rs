//! The built-in file formats, each one [`SinkKind`]: `csv` (RFC 4180, UTF-8), `xlsx` (an
//! Excel workbook) and `jsonl` (JSON Lines, each record whole when no columns are chosen).

use keepnet_sink::{Sink, SinkError};
use keepnet_sink_csv::{CsvOptions, CsvSink};
use keepnet_sink_jsonl::JsonlSink;
use keepnet_sink_xlsx::{XlsxOptions, XlsxSink};

use crate::kinds::SinkKind;
use crate::options::{OptionSpec, OptionType, SinkSettings};
use crate::spec::SinkSpec;

/// The CSV kind's options.
pub const CSV_OPTIONS: [OptionSpec; 3] = [
    OptionSpec::new(
        "delimiter",
        OptionType::Char,
        ",",
        "field delimiter: one ASCII character, or `tab`",
    ),
    OptionSpec::new(
        "bom",
        OptionType::Bool,
        "false",
        "start the file with a UTF-8 byte-order mark (for older Excel)",
    ),
    OptionSpec::new(
        "raw-cells",
        OptionType::Bool,
        "false",
        "write formula-like text (=, +, -, @) as is instead of guarding it with a quote",
    ),
];

/// The XLSX kind's option.
pub const XLSX_OPTIONS: [OptionSpec; 1] = [OptionSpec::new(
    "compression",
    OptionType::Integer { min: 1, max: 9 },
    "2",
    "deflate level, 1 (fastest) to 9 (smallest)",
)];

fn csv(spec: &SinkSpec, s: &SinkSettings) -> Result<Box<dyn Sink>, SinkError> {
    let own = s.options(&spec.kind);
    let options = CsvOptions {
        delimiter: own.char("delimiter")?,
        bom: own.bool("bom")?,
        header: s.header,
        guard_formulas: !own.bool("raw-cells")?,
    };
    Ok(Box::new(CsvSink::new(spec.path(), options)))
}

fn xlsx(spec: &SinkSpec, s: &SinkSettings) -> Result<Box<dyn Sink>, SinkError> {
    let level = s.options(&spec.kind).integer("compression")?;
    let options = XlsxOptions {
        header: s.header,
        // Declared as 1..=9, so it fits.
        compression: u8::try_from(level).unwrap_or(keepnet_sink_xlsx::DEFAULT_COMPRESSION),
        ..XlsxOptions::default()
    };
    Ok(Box::new(XlsxSink::new(spec.path(), options)))
}

fn jsonl(spec: &SinkSpec, s: &SinkSettings) -> Result<Box<dyn Sink>, SinkError> {
    Ok(Box::new(JsonlSink::new(spec.path(), s.header)))
}

/// The built-in file formats.
pub const BUILTIN: [SinkKind; 3] = [
    SinkKind {
        name: "csv",
        description: "CSV file (RFC 4180, UTF-8); PATH or - for stdout",
        options: &CSV_OPTIONS,
        stdout: true,
        records: false,
        build: csv,
    },
    SinkKind {
        name: "xlsx",
        description: "Excel workbook; PATH",
        options: &XLSX_OPTIONS,
        stdout: false,
        records: false,
        build: xlsx,
    },
    SinkKind {
        name: "jsonl",
        description: "JSON Lines, one object per user; PATH or - for stdout",
        options: &[],
        stdout: true,
        records: true,
        build: jsonl,
    },
];
