//! `--sink KIND:TARGET`: parsing, validation, and the registry that builds sinks by kind.
//!
//! Built-in kinds: the sinks `csv`, `xlsx`, `jsonl`, which receive rows while the export
//! streams, and the delivery `email`, which runs once every file is published. A binary
//! embedding this runner can register more kinds of either with [`Registry::register`] and
//! [`Registry::register_delivery`].

use std::collections::{BTreeMap, BTreeSet};

use keepnet_sink::{Delivery, HeaderStyle, Sink, SinkError};
use keepnet_sink_csv::{CsvOptions, CsvSink};
use keepnet_sink_email::{EmailDelivery, MailSettings, SmtpSettings};
use keepnet_sink_exec::{ExecCommand, ExecSink};
use keepnet_sink_jsonl::JsonlSink;
use keepnet_sink_xlsx::{XlsxOptions, XlsxSink};

use crate::exit::Failure;
use crate::options::{OptionSpec, OptionType, Options};
pub use crate::spec::SinkSpec;
use crate::spec::{identity, stdout_identity, FileIdentity};

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
    /// Change-report sinks (`--changes`), fed by the change tracker.
    pub changes: Vec<NamedSink>,
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

/// What every sink factory can read: the settings shared by all kinds, and each kind's own
/// options ([`crate::options`]), checked and with their defaults filled in.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// Header labels.
    pub header: HeaderStyle,
    /// SMTP settings for e-mail deliveries, when an SMTP server was given.
    pub smtp: Option<SmtpSettings>,
    /// Message settings for e-mail deliveries; `to` is filled from each `email:` target.
    pub mail: MailSettings,
    /// Each kind's options, by kind.
    pub options: BTreeMap<String, Options>,
}

impl SinkSettings {
    /// The options of `kind` (none for a kind that declares none).
    pub fn options(&self, kind: &str) -> &Options {
        static NONE: Options = Options::none();
        self.options
            .get(&kind.to_ascii_lowercase())
            .unwrap_or(&NONE)
    }
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
    options: Vec<OptionSpec>,
}

/// The sink kinds `--sink` accepts.
pub struct Registry {
    kinds: BTreeMap<String, Kind>,
    /// Kinds that, without `--columns`, take whole records as served (JSON Lines).
    record_kinds: BTreeSet<String>,
    /// Options declared for kinds not registered yet.
    pending_options: BTreeMap<String, Vec<OptionSpec>>,
}

/// The CSV kind's options.
const CSV_OPTIONS: [OptionSpec; 3] = [
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

/// The exec kind's option, which plugins found on PATH read too.
const EXEC_TIMEOUT: OptionSpec = OptionSpec::new(
    "timeout",
    OptionType::Seconds,
    "60",
    "seconds a plugin may leave its input unread, or run on after it, before it is stopped",
);

/// How long a plugin may stall: the exec kind's `timeout` option.
fn plugin_timeout(s: &SinkSettings) -> Result<std::time::Duration, SinkError> {
    s.options("exec").seconds(EXEC_TIMEOUT.name)
}

/// The XLSX kind's option.
const XLSX_COMPRESSION: OptionSpec = OptionSpec::new(
    "compression",
    OptionType::Integer { min: 1, max: 9 },
    "2",
    "deflate level, 1 (fastest) to 9 (smallest)",
);

impl Registry {
    /// The built-in kinds: csv, xlsx, jsonl.
    pub fn builtin() -> Self {
        let mut registry = Self {
            kinds: BTreeMap::new(),
            record_kinds: BTreeSet::from(["jsonl".to_owned()]),
            pending_options: BTreeMap::new(),
        };
        registry.register(
            "csv",
            "CSV file (RFC 4180, UTF-8); PATH or - for stdout",
            true,
            Box::new(|spec, s| {
                let own = s.options(&spec.kind);
                let options = CsvOptions {
                    delimiter: own.char("delimiter")?,
                    bom: own.bool("bom")?,
                    header: s.header,
                    guard_formulas: !own.bool("raw-cells")?,
                };
                Ok(Box::new(CsvSink::new(spec.path(), options)))
            }),
        );
        for option in CSV_OPTIONS {
            registry.register_option("csv", option);
        }
        registry.register(
            "xlsx",
            "Excel workbook; PATH",
            false,
            Box::new(|spec, s| {
                let level = s.options(&spec.kind).integer("compression")?;
                let options = XlsxOptions {
                    header: s.header,
                    // Declared as 1..=9, so it fits.
                    compression: u8::try_from(level)
                        .unwrap_or(keepnet_sink_xlsx::DEFAULT_COMPRESSION),
                    ..XlsxOptions::default()
                };
                Ok(Box::new(XlsxSink::new(spec.path(), options)))
            }),
        );
        registry.register_option("xlsx", XLSX_COMPRESSION);
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
                options: vec![EXEC_TIMEOUT],
                factory: Factory::Command(Box::new(|spec, s| {
                    Ok(Box::new(
                        ExecSink::new(ExecCommand::Shell(spec.target.clone()), s.header)
                            .with_timeout(plugin_timeout(s)?),
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
        let options = self.take_options(kind);
        self.kinds.insert(
            kind.to_ascii_lowercase(),
            Kind {
                description: description.to_owned(),
                factory: Factory::Sink {
                    stdout,
                    build: factory,
                },
                options,
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
        let options = self.take_options(kind);
        self.kinds.insert(
            kind.to_ascii_lowercase(),
            Kind {
                description: description.to_owned(),
                factory: Factory::Delivery(factory),
                options,
            },
        );
    }

    /// Declares an option of `kind` (registered already or later): set as
    /// `--sink-option KIND.NAME=VALUE`, `KEEPNET_SINK_OPTION`, or `[job.options.KIND]` in a
    /// job file; read by the kind's factory from [`SinkSettings::options`]. Declaring a name
    /// again replaces it.
    pub fn register_option(&mut self, kind: &str, option: OptionSpec) {
        let kind = kind.to_ascii_lowercase();
        let list = match self.kinds.get_mut(&kind) {
            Some(k) => &mut k.options,
            None => self.pending_options.entry(kind).or_default(),
        };
        list.retain(|o| o.name != option.name);
        list.push(option);
    }

    /// Options declared before their kind was registered (kept across re-registration).
    fn take_options(&mut self, kind: &str) -> Vec<OptionSpec> {
        let kind = kind.to_ascii_lowercase();
        let mut options = self
            .kinds
            .remove(&kind)
            .map(|k| k.options)
            .unwrap_or_default();
        for option in self.pending_options.remove(&kind).unwrap_or_default() {
            options.retain(|o| o.name != option.name);
            options.push(option);
        }
        options
    }

    /// The options `kind` declares, in declaration order.
    pub fn options_of(&self, kind: &str) -> &[OptionSpec] {
        self.kinds
            .get(&kind.to_ascii_lowercase())
            .map_or(&[], |k| k.options.as_slice())
    }

    /// Every kind's options at their defaults.
    pub fn default_options(&self) -> BTreeMap<String, Options> {
        self.kinds
            .iter()
            .filter(|(_, k)| !k.options.is_empty())
            .map(|(name, k)| {
                // A default that does not read is the registering code's bug: leave the
                // option unset, so its factory says so when it is built.
                let options = Options::defaults(&k.options).unwrap_or_else(|e| {
                    tracing::error!(kind = %name, "{e}");
                    Options::default()
                });
                (name.clone(), options)
            })
            .collect()
    }

    /// The registered kind names.
    pub fn kinds(&self) -> Vec<&str> {
        self.kinds.keys().map(String::as_str).collect()
    }

    /// Whether a sink spec's kind exists and takes its target: known (or a plugin on PATH),
    /// and `-` only for kinds that stream to stdout. `Err` says why not.
    pub fn check_kind(&self, spec: &SinkSpec) -> Result<(), String> {
        match self.kinds.get(&spec.kind).map(|k| &k.factory) {
            None if keepnet_sink_exec::discover(&spec.kind).is_none() => Err(format!(
                "unknown sink kind {:?}; kinds are: {}; or put an executable named \
                 keepnet-export-sink-{} on PATH",
                spec.kind,
                self.describe(),
                spec.kind
            )),
            Some(Factory::Sink { stdout: false, .. }) if spec.target == "-" => Err(format!(
                "{} cannot stream to stdout; give a file path",
                spec.kind
            )),
            _ => Ok(()),
        }
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
            changes: Vec::new(),
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
            if self.writes_files(&spec.kind) {
                if spec.target == "-" {
                    if std::mem::replace(&mut stdout_used, true) {
                        return Err(Failure::usage(crate::spec::two_on_stdout("--sink")));
                    }
                } else {
                    let path = identity(spec.path());
                    if seen.contains(&path) {
                        return Err(Failure::usage(
                            crate::spec::two_writers("--sink arguments", &spec.target).message,
                        ));
                    }
                    seen.push(path);
                }
            }
            match self.build(spec, settings) {
                Ok(Built::Sink(sink)) => plan.sinks.push(sink),
                Ok(Built::Delivery(delivery)) => plan.deliveries.push((spec.clone(), delivery)),
                Err(message) => return Err(Failure::usage(format!("--sink {spec}: {message}"))),
            }
        }
        Ok(plan)
    }

    /// Builds one output: [`Registry::check_kind`], then its kind's factory. `Err` says what is
    /// wrong, without naming the spec.
    pub fn build(&self, spec: &SinkSpec, settings: &SinkSettings) -> Result<Built, String> {
        self.check_kind(spec)?;
        let text = |e: SinkError| e.to_string();
        let Some(kind) = self.kinds.get(&spec.kind) else {
            // Like git and cargo subcommands: keepnet-export-sink-NAME on PATH.
            let path = keepnet_sink_exec::discover(&spec.kind)
                .ok_or_else(|| format!("unknown sink kind {:?}", spec.kind))?;
            let command = ExecCommand::Program {
                path,
                args: vec![spec.target.clone()],
            };
            return Ok(Built::Sink(NamedSink {
                spec: spec.clone(),
                sink: Box::new(
                    ExecSink::new(command, settings.header)
                        .with_timeout(plugin_timeout(settings).map_err(text)?),
                ),
                records: false,
                retractable: true,
            }));
        };
        Ok(match &kind.factory {
            Factory::Command(build) => Built::Sink(NamedSink {
                spec: spec.clone(),
                sink: build(spec, settings).map_err(text)?,
                records: false,
                retractable: true,
            }),
            Factory::Delivery(build) => Built::Delivery(build(spec, settings).map_err(text)?),
            Factory::Sink { build, .. } => Built::Sink(NamedSink {
                spec: spec.clone(),
                sink: build(spec, settings).map_err(text)?,
                records: self.record_kinds.contains(&spec.kind),
                retractable: spec.target != "-" && !keepnet_sink::is_stream_target(spec.path()),
            }),
        })
    }
}

/// One built output.
pub enum Built {
    /// A row sink.
    Sink(NamedSink),
    /// A delivery.
    Delivery(Box<dyn Delivery>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SinkSettings {
        SinkSettings {
            header: HeaderStyle::Api,
            smtp: Some(SmtpSettings::new("smtp.example.com")),
            mail: MailSettings::new("reports@mssp.example", Vec::new()),
            options: Registry::builtin().default_options(),
        }
    }

    fn specs(list: &[&str]) -> Vec<SinkSpec> {
        list.iter().map(|s| SinkSpec::parse(s).unwrap()).collect()
    }

    /// `--csv-delimiter` and `csv.delimiter` read through the option the csv kind declares.
    #[test]
    fn delimiters() {
        let registry = Registry::builtin();
        let option = registry
            .options_of("csv")
            .iter()
            .find(|o| o.name == "delimiter")
            .unwrap();
        let parse_delimiter = |text: &str| match option.read(text) {
            Ok(crate::options::OptionValue::Char(c)) => Ok(c),
            other => Err(other),
        };
        assert_eq!(parse_delimiter(",").unwrap(), b',');
        assert_eq!(parse_delimiter(";").unwrap(), b';');
        assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
        for bad in ["", ";;", "\"", "é", "\n"] {
            assert!(parse_delimiter(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            plugin_timeout(&settings()).unwrap(),
            keepnet_sink_exec::DEFAULT_TIMEOUT,
            "exec.timeout's declared default is the plugin runner's"
        );
        let xlsx = &registry.options_of("xlsx")[0];
        assert_eq!(
            xlsx.read(xlsx.default),
            Ok(crate::options::OptionValue::Integer(i64::from(
                keepnet_sink_xlsx::DEFAULT_COMPRESSION
            ))),
            "the declared default is the sink's"
        );
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
