//! `--sink KIND:TARGET`: parsing, validation, and the registry that builds sinks by kind.
//!
//! Built-in kinds: the sinks `csv`, `xlsx`, `jsonl`, which receive rows while the export
//! streams, and the delivery `email`, which runs once every file is published. A binary
//! embedding this runner can register more kinds of either with [`Registry::register`] and
//! [`Registry::register_delivery`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use keepnet_sink::{Delivery, HeaderStyle, Sink, SinkError};
use keepnet_sink_csv::{CsvOptions, CsvSink};
use keepnet_sink_email::{EmailDelivery, MailSettings, SmtpSettings};
use keepnet_sink_exec::{ExecCommand, ExecSink};
use keepnet_sink_jsonl::JsonlSink;
use keepnet_sink_xlsx::{XlsxOptions, XlsxSink};

use crate::exit::Failure;
use crate::rules::{identity, stdout_identity, FileIdentity};

/// One `--sink` argument, split into kind and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSpec {
    /// The kind, e.g. `csv`.
    pub kind: String,
    /// What follows the first `:`, e.g. a path or `-`.
    pub target: String,
}

impl SinkSpec {
    /// Parses `KIND:TARGET` ([`rules::parse_sink`](crate::rules::parse_sink)); the error
    /// names the `--sink` argument.
    pub fn parse(text: &str) -> Result<Self, Failure> {
        crate::rules::parse_sink(text)
            .map_err(|b| Failure::usage(format!("--sink {text}: {}", b.message)))
    }

    /// The target as a path.
    pub fn path(&self) -> &Path {
        Path::new(&self.target)
    }
}

impl std::fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.target)
    }
}

/// A built sink and the `--sink` argument it came from (for error messages).
pub struct NamedSink {
    /// The `--sink` argument.
    pub spec: SinkSpec,
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// Without `--columns`, the sink gets each record whole, exactly as served (JSON Lines)
    /// instead of the file columns.
    pub records: bool,
    /// Whether `abort` takes back everything written: false for stdout and stream targets
    /// (FIFOs, devices), true for files and plugins (which discard a run without its trailer).
    pub retractable: bool,
}

/// A built delivery and the `--sink` argument it came from.
pub type NamedDelivery = (SinkSpec, Box<dyn Delivery>);

/// Everything `--sink` asked for, built and validated.
pub struct Plan {
    /// Row sinks, in `--sink` order.
    pub sinks: Vec<NamedSink>,
    /// Deliveries, run after the sinks' files are published.
    pub deliveries: Vec<NamedDelivery>,
    /// A private folder for files made only to be delivered (removed when the plan is dropped).
    pub scratch: Option<tempfile::TempDir>,
}

impl Plan {
    /// Whether some sink writes a file (as opposed to stdout only).
    pub fn has_file_sink(&self) -> bool {
        self.sinks.iter().any(|s| s.spec.target != "-")
    }
}

/// Options every sink factory can read.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// Header labels.
    pub header: HeaderStyle,
    /// Write spreadsheet-formula-like text raw in CSV (no guard).
    pub raw_cells: bool,
    /// CSV delimiter.
    pub csv_delimiter: u8,
    /// Start CSV files with a UTF-8 byte-order mark.
    pub csv_bom: bool,
    /// XLSX deflate level, 1 to 9.
    pub xlsx_compression: u8,
    /// SMTP settings for e-mail deliveries, when `--smtp-host` was given.
    pub smtp: Option<SmtpSettings>,
    /// Message settings for e-mail deliveries; `to` is filled from each `--sink email:`.
    pub mail: MailSettings,
    /// How long a plugin may leave its input unread, or run on after it, before it is stopped.
    pub plugin_timeout: std::time::Duration,
}

/// Builds a sink of one kind from its spec and the shared settings.
pub type SinkFactory =
    Box<dyn Fn(&SinkSpec, &SinkSettings) -> Result<Box<dyn Sink>, SinkError> + Send + Sync>;

/// Builds a delivery of one kind from its spec and the shared settings.
pub type DeliveryFactory =
    Box<dyn Fn(&SinkSpec, &SinkSettings) -> Result<Box<dyn Delivery>, SinkError> + Send + Sync>;

enum Factory {
    /// A sink whose target is a file path (or `-` when `stdout`).
    Sink {
        stdout: bool,
        build: SinkFactory,
    },
    /// A sink whose target is a command, not a path (exec plugins).
    Command(SinkFactory),
    Delivery(DeliveryFactory),
}

struct Kind {
    description: String,
    factory: Factory,
}

/// The sink kinds `--sink` accepts.
pub struct Registry {
    kinds: BTreeMap<String, Kind>,
    /// Kinds that, without `--columns`, take whole records as served (JSON Lines).
    record_kinds: BTreeSet<String>,
}

impl Registry {
    /// The built-in kinds: csv, xlsx, jsonl.
    pub fn builtin() -> Self {
        let mut registry = Self {
            kinds: BTreeMap::new(),
            record_kinds: BTreeSet::from(["jsonl".to_owned()]),
        };
        registry.register(
            "csv",
            "CSV file (RFC 4180, UTF-8); PATH or - for stdout",
            true,
            Box::new(|spec, s| {
                let options = CsvOptions {
                    delimiter: s.csv_delimiter,
                    bom: s.csv_bom,
                    header: s.header,
                    guard_formulas: !s.raw_cells,
                };
                Ok(Box::new(CsvSink::new(spec.path(), options)))
            }),
        );
        registry.register(
            "xlsx",
            "Excel workbook; PATH",
            false,
            Box::new(|spec, s| {
                let options = XlsxOptions {
                    header: s.header,
                    compression: s.xlsx_compression,
                    ..XlsxOptions::default()
                };
                Ok(Box::new(XlsxSink::new(spec.path(), options)))
            }),
        );
        registry.register(
            "jsonl",
            "JSON Lines, one object per user; PATH or - for stdout",
            true,
            Box::new(|spec, s| Ok(Box::new(JsonlSink::new(spec.path(), s.header)))),
        );
        registry.kinds.insert(
            "exec".to_owned(),
            Kind {
                description: "any program: COMMAND (run by sh) reads the rows as JSON Lines on \
                              stdin (docs/exec-protocol.md)"
                    .to_owned(),
                factory: Factory::Command(Box::new(|spec, s| {
                    Ok(Box::new(
                        ExecSink::new(ExecCommand::Shell(spec.target.clone()), s.header)
                            .with_timeout(s.plugin_timeout),
                    ))
                })),
            },
        );
        registry.register_delivery(
            "email",
            "e-mail the run's files once published; ADDR[,ADDR...]",
            Box::new(|spec, s| {
                let smtp = s.smtp.clone().ok_or_else(|| {
                    SinkError::Invalid("e-mail needs an SMTP server: add --smtp-host HOST".into())
                })?;
                let to = spec
                    .target
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect();
                let mail = MailSettings {
                    to,
                    ..s.mail.clone()
                };
                Ok(Box::new(EmailDelivery::new(smtp, mail)?))
            }),
        );
        registry
    }

    /// Adds (or replaces) a sink kind. `stdout` says whether the target `-` means stdout for it.
    pub fn register(&mut self, kind: &str, description: &str, stdout: bool, factory: SinkFactory) {
        self.kinds.insert(
            kind.to_ascii_lowercase(),
            Kind {
                description: description.to_owned(),
                factory: Factory::Sink {
                    stdout,
                    build: factory,
                },
            },
        );
    }

    /// Makes `kind` take each record whole, every field exactly as served, when no columns
    /// were chosen (as `jsonl` does): its sink then gets one [`ColumnKind::Record`] column.
    ///
    /// [`ColumnKind::Record`]: keepnet_sink::ColumnKind::Record
    pub fn takes_records(&mut self, kind: &str) {
        self.record_kinds.insert(kind.to_ascii_lowercase());
    }

    /// Adds (or replaces) a delivery kind.
    pub fn register_delivery(&mut self, kind: &str, description: &str, factory: DeliveryFactory) {
        self.kinds.insert(
            kind.to_ascii_lowercase(),
            Kind {
                description: description.to_owned(),
                factory: Factory::Delivery(factory),
            },
        );
    }

    /// Whether `kind` is registered (sink or delivery) or a plugin on PATH.
    pub fn knows(&self, kind: &str) -> bool {
        self.kinds.contains_key(&kind.to_ascii_lowercase())
            || keepnet_sink_exec::discover(kind).is_some()
    }

    /// Whether `kind` is a row sink (as opposed to a delivery or unknown).
    pub fn is_sink(&self, kind: &str) -> bool {
        match self
            .kinds
            .get(&kind.to_ascii_lowercase())
            .map(|k| &k.factory)
        {
            Some(Factory::Sink { .. } | Factory::Command(_)) => true,
            Some(Factory::Delivery(_)) => false,
            None => keepnet_sink_exec::discover(kind).is_some(),
        }
    }

    /// Whether `kind` writes the file named by its target (so several companies need
    /// `{company}` in it).
    pub fn writes_files(&self, kind: &str) -> bool {
        matches!(
            self.kinds
                .get(&kind.to_ascii_lowercase())
                .map(|k| &k.factory),
            Some(Factory::Sink { .. })
        )
    }

    /// The kinds and their descriptions, for help and errors.
    pub fn describe(&self) -> String {
        self.kinds
            .iter()
            .map(|(name, kind)| format!("{name}: {}", kind.description))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Checks every spec before any work starts (unknown kind, `-` where stdout is not
    /// supported or used twice, two sinks on one file, delivery settings) and builds them.
    pub fn build_all(&self, specs: &[SinkSpec], settings: &SinkSettings) -> Result<Plan, Failure> {
        let mut seen: Vec<FileIdentity> = Vec::new();
        let mut stdout_used = false;
        let mut plan = Plan {
            sinks: Vec::new(),
            deliveries: Vec::new(),
            scratch: None,
        };
        let stdout = stdout_identity();
        for spec in specs {
            // `/dev/stdout` (or `/proc/self/fd/1`) is the same stdout as `-`: streamed, and
            // counted once.
            let spec = &match (&stdout, spec.target.as_str()) {
                (Some(out), target) if target != "-" && identity(spec.path()) == *out => SinkSpec {
                    kind: spec.kind.clone(),
                    target: "-".to_owned(),
                },
                _ => spec.clone(),
            };
            let invalid = |e: SinkError| Failure::usage(format!("--sink {spec}: {e}"));
            let Some(kind) = self.kinds.get(&spec.kind) else {
                // Like git and cargo subcommands: keepnet-export-sink-NAME on PATH.
                let Some(path) = keepnet_sink_exec::discover(&spec.kind) else {
                    return Err(Failure::usage(format!(
                        "unknown sink kind {:?} in --sink {spec}; kinds are: {}; or put an \
                         executable named keepnet-export-sink-{} on PATH",
                        spec.kind,
                        self.describe(),
                        spec.kind
                    )));
                };
                let command = ExecCommand::Program {
                    path,
                    args: vec![spec.target.clone()],
                };
                plan.sinks.push(NamedSink {
                    spec: spec.clone(),
                    sink: Box::new(
                        ExecSink::new(command, settings.header)
                            .with_timeout(settings.plugin_timeout),
                    ),
                    records: false,
                    retractable: true,
                });
                continue;
            };
            match &kind.factory {
                Factory::Command(build) => {
                    plan.sinks.push(NamedSink {
                        spec: spec.clone(),
                        sink: build(spec, settings).map_err(invalid)?,
                        records: false,
                        retractable: true,
                    });
                }
                Factory::Delivery(build) => {
                    plan.deliveries
                        .push((spec.clone(), build(spec, settings).map_err(invalid)?));
                }
                Factory::Sink { stdout, build } => {
                    if spec.target == "-" {
                        if !stdout {
                            return Err(Failure::usage(format!(
                                "--sink {spec}: {} cannot stream to stdout; give a file path",
                                spec.kind
                            )));
                        }
                        if std::mem::replace(&mut stdout_used, true) {
                            return Err(Failure::usage("only one --sink can write to stdout (-)"));
                        }
                    } else {
                        let path = identity(spec.path());
                        if seen.contains(&path) {
                            return Err(Failure::usage(
                                crate::rules::two_writers("--sink arguments", &spec.target).message,
                            ));
                        }
                        seen.push(path);
                    }
                    plan.sinks.push(NamedSink {
                        spec: spec.clone(),
                        sink: build(spec, settings).map_err(invalid)?,
                        records: self.record_kinds.contains(&spec.kind),
                        retractable: spec.target != "-"
                            && !keepnet_sink::is_stream_target(spec.path()),
                    });
                }
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SinkSettings {
        SinkSettings {
            header: HeaderStyle::Api,
            raw_cells: false,
            csv_delimiter: b',',
            csv_bom: false,
            xlsx_compression: 2,
            smtp: Some(SmtpSettings::new("smtp.example.com")),
            mail: MailSettings::new("reports@mssp.example", Vec::new()),
            plugin_timeout: keepnet_sink_exec::DEFAULT_TIMEOUT,
        }
    }

    fn specs(list: &[&str]) -> Vec<SinkSpec> {
        list.iter().map(|s| SinkSpec::parse(s).unwrap()).collect()
    }

    #[test]
    fn parses_kind_and_target() {
        assert_eq!(
            SinkSpec::parse("CSV:out/a:b.csv").unwrap(),
            SinkSpec {
                kind: "csv".into(),
                target: "out/a:b.csv".into()
            }
        );
        for bad in ["csv", ":x", "csv:", ""] {
            assert!(SinkSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_happens_before_any_work() {
        let r = Registry::builtin();
        let msg = |list: &[&str]| match r.build_all(&specs(list), &settings()) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        assert!(msg(&["pdf:x.pdf"]).contains("csv: CSV file"));
        assert!(msg(&["xlsx:-"]).contains("cannot stream to stdout"));
        assert!(msg(&["csv:-", "jsonl:-"]).contains("only one"));
        assert!(msg(&["csv:a.csv", "jsonl:./a.csv"]).contains("two --sink"));
        assert_eq!(msg(&["csv:a.csv", "xlsx:a.xlsx", "jsonl:-"]), "");
        assert_eq!(msg(&["csv:a.csv", "email:a@b.example,c@d.example"]), "");
        assert!(msg(&["email:not-an-address"]).contains("--sink email:not-an-address"));
        let plan = r
            .build_all(&specs(&["email:a@b.example", "jsonl:-"]), &settings())
            .unwrap();
        assert_eq!((plan.sinks.len(), plan.deliveries.len()), (1, 1));
        assert!(!plan.has_file_sink());
    }
}
