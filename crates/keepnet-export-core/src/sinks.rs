//! `--sink KIND:TARGET`: parsing, validation, and the registry that builds sinks by kind.
//!
//! Built-in kinds: the sinks `csv`, `xlsx`, `jsonl`, which receive rows while the export
//! streams, and the deliveries `email`, `s3`, `sftp` and `webhook` ([`crate::kinds`]), which
//! run once every file is published. A binary embedding this runner can register more kinds
//! of either with [`Registry::register`] (or [`Registry::register_command`], for a target
//! that is a command) and [`Registry::register_delivery_kind`] (or
//! [`Registry::register_delivery`]): the calls the built-in kinds are registered with.

use std::collections::{BTreeMap, BTreeSet};

use keepnet_sink::{Delivery, Sink, SinkError};
use keepnet_sink_exec::{ExecCommand, ExecSink};

use keepnet_encrypt::Encryption;

use crate::exit::Failure;
pub use crate::kinds::{DeliveryKind, SinkKind};
pub use crate::options::SinkSettings;
use crate::options::{OptionSpec, OptionType, Options};
use crate::origin::Origin;
pub use crate::spec::SinkSpec;
use crate::spec::{identity, stdout_identity, FileIdentity};

/// A built sink and the output it came from (for error messages).
pub struct NamedSink {
    /// The output, its placeholders filled in.
    pub spec: SinkSpec,
    /// How the user wrote it, for messages: `--sink csv:Initech.csv`, `sinks = "..."`.
    pub label: String,
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// Without `--columns`, the sink gets each record whole, exactly as served (JSON Lines)
    /// instead of the file columns.
    pub records: bool,
    /// Whether `abort` takes back everything written: false for stdout and stream targets
    /// (FIFOs, devices), true for files and plugins (which discard a run without its trailer).
    pub retractable: bool,
}

/// A built delivery, how the user wrote it, and what is done to its files first.
pub struct NamedDelivery {
    /// How the user wrote it, for messages: `--sink email:it@acme.example`; a target that holds
    /// a secret (a webhook's URL) is cut to its scheme and host.
    pub label: String,
    /// Its kind (`email`, `sftp`).
    pub kind: String,
    /// The delivery.
    pub delivery: Box<dyn Delivery>,
    /// How its files are encrypted before they are sent (the kind's `encrypt` option).
    pub encryption: Option<Encryption>,
    /// Whether it runs after every delivery that is not (a notice: `webhook`).
    pub last: bool,
}

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

/// Builds a sink of one kind from its spec and the shared settings.
pub type SinkFactory =
    Box<dyn Fn(&SinkSpec, &SinkSettings) -> Result<Box<dyn Sink>, SinkError> + Send + Sync>;

/// Builds a delivery of one kind from its spec and the shared settings.
pub type DeliveryFactory =
    Box<dyn Fn(&SinkSpec, &SinkSettings) -> Result<Box<dyn Delivery>, SinkError> + Send + Sync>;

pub use crate::options::OptionRule;

/// A kind's check of one output before the run: what building it would refuse (addresses, a
/// CA file), found without building it. The target may still hold placeholders; an empty
/// target is a job file's e-mail, whose recipients are chosen per company.
pub type KindCheck = Box<dyn Fn(&SinkSpec, &SinkSettings) -> Result<(), SinkError> + Send + Sync>;

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
    /// Each kind's rules on its options.
    rules: BTreeMap<String, Vec<OptionRule>>,
    /// Each kind's check before the run (dropped when the kind is registered again).
    checks: BTreeMap<String, KindCheck>,
    /// Delivery kinds that run after the others (notices).
    last: BTreeSet<String>,
    /// Kinds whose target holds a secret, shown cut to its scheme and host.
    secret_targets: BTreeSet<String>,
}

/// The option every delivery that sends files declares ([`Registry::sends_files`]).
pub const ENCRYPT: OptionSpec = OptionSpec::new(
    "encrypt",
    OptionType::Text,
    "",
    "encrypt the files before sending: zip-aes (an AES-256 ZIP; its password from \
     KEEPNET_ENCRYPT_PASSWORD or --encrypt-password-file) or age:RECIPIENT[,RECIPIENT...]",
);

/// The secret a `zip-aes` encryption's password is kept as.
pub const ENCRYPT_PASSWORD: &str = "encrypt.password";

/// `spec`'s encryption (its kind's `encrypt` option), when its kind declares one and it is set.
pub fn encryption(spec: &SinkSpec, s: &SinkSettings) -> Result<Option<Encryption>, SinkError> {
    let own = s.options(&spec.kind);
    let Ok(Some(text)) = own.nonempty(ENCRYPT.name) else {
        return Ok(None);
    };
    let password = s.secrets.get(ENCRYPT_PASSWORD).cloned();
    Encryption::parse(text, password)
        .map(Some)
        .map_err(|e| SinkError::Invalid(format!("{}.{}: {e}", spec.kind, ENCRYPT.name)))
}

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

impl Registry {
    /// The built-in kinds: the formats csv, xlsx, jsonl and exec; the deliveries email, s3,
    /// sftp, webhook. Each is registered with the public call a team's kind uses.
    pub fn builtin() -> Self {
        let mut registry = Self {
            kinds: BTreeMap::new(),
            record_kinds: BTreeSet::new(),
            pending_options: BTreeMap::new(),
            rules: BTreeMap::new(),
            checks: BTreeMap::new(),
            last: BTreeSet::new(),
            secret_targets: BTreeSet::new(),
        };
        for kind in crate::kinds::files::BUILTIN {
            registry.register_sink_kind(&kind);
        }
        registry.register_command(
            "exec",
            "any program: COMMAND (run by sh) reads the rows as JSON Lines on stdin \
             (docs/exec-protocol.md)",
            Box::new(|spec, s| {
                Ok(Box::new(
                    ExecSink::new(ExecCommand::Shell(spec.target.clone()), s.header)
                        .with_timeout(plugin_timeout(s)?),
                ))
            }),
        );
        registry.register_option("exec", EXEC_TIMEOUT);
        for kind in crate::kinds::BUILTIN {
            registry.register_delivery_kind(&kind);
        }
        registry
    }

    /// Adds a file format described whole ([`SinkKind`]): its factory, options, whether `-`
    /// means stdout and whether it takes records whole.
    pub fn register_sink_kind(&mut self, kind: &SinkKind) {
        let build = kind.build;
        self.register(kind.name, kind.description, kind.stdout, Box::new(build));
        for option in kind.options {
            self.register_option(kind.name, *option);
        }
        if kind.records {
            self.takes_records(kind.name);
        }
    }

    /// Adds a delivery kind described whole ([`DeliveryKind`]): its factory, options, check
    /// and what it is (sends files, runs last, a secret target).
    pub fn register_delivery_kind(&mut self, kind: &DeliveryKind) {
        let (build, check) = (kind.build, kind.check);
        self.register_delivery(kind.name, kind.description, Box::new(build));
        for option in kind.options {
            self.register_option(kind.name, *option);
        }
        self.register_check(kind.name, Box::new(check));
        for rule in kind.rules {
            self.register_rule(kind.name, *rule);
        }
        if kind.sends_files {
            self.sends_files(kind.name);
        }
        if kind.last {
            self.runs_last(kind.name);
        }
        if kind.secret_target {
            self.hides_target(kind.name);
        }
    }

    /// Makes delivery `kind` send encrypted copies of the files when its `encrypt` option is
    /// set ([`ENCRYPT`]): the engine encrypts them and hands the copies to the delivery as its
    /// report's artifacts.
    pub fn sends_files(&mut self, kind: &str) {
        self.register_option(kind, ENCRYPT);
    }

    /// Makes delivery `kind` run after every delivery that is not, so it can report theirs
    /// (a notice, such as a webhook).
    pub fn runs_last(&mut self, kind: &str) {
        self.last.insert(kind.to_ascii_lowercase());
    }

    /// Makes `kind`'s target a secret (a webhook URL carries its token): messages and plans
    /// show it cut to its scheme and host.
    pub fn hides_target(&mut self, kind: &str) {
        self.secret_targets.insert(kind.to_ascii_lowercase());
    }

    /// `KIND:TARGET` text as plans show it: [`Registry::shown_spec`] when it parses, else as
    /// written.
    pub fn shown_text(&self, text: &str) -> String {
        match SinkSpec::parse(text) {
            Ok(spec) => self.shown_spec(&spec),
            Err(_) => text.to_owned(),
        }
    }

    /// `spec` as messages show it: `KIND:TARGET`, a secret target cut to `scheme://host/…`.
    pub fn shown_spec(&self, spec: &SinkSpec) -> String {
        if !self.secret_targets.contains(&spec.kind) {
            return spec.to_string();
        }
        format!("{}:{}", spec.kind, cut_to_host(&spec.target))
    }

    /// Adds (or replaces) a sink kind. `stdout` says whether the target `-` means stdout for it.
    /// Its options and rules are kept; a check of the kind it replaces is dropped.
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

    /// Adds (or replaces) a sink kind whose target is a command line, not a path (as `exec`:
    /// `exec:COMMAND` runs COMMAND with `sh -c`), so its target is never checked as a file.
    pub fn register_command(&mut self, kind: &str, description: &str, factory: SinkFactory) {
        let options = self.take_options(kind);
        self.kinds.insert(
            kind.to_ascii_lowercase(),
            Kind {
                description: description.to_owned(),
                factory: Factory::Command(factory),
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

    /// Adds (or replaces) a delivery kind, as [`Registry::register`] does a sink kind.
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

    /// Adds a rule on `kind`'s options, checked with every front end's settings before
    /// anything is read (see [`OptionRule`]).
    pub fn register_rule(&mut self, kind: &str, rule: OptionRule) {
        self.rules
            .entry(kind.to_ascii_lowercase())
            .or_default()
            .push(rule);
    }

    /// Sets `kind`'s check of an output before the run (see [`KindCheck`]); register the kind
    /// first. Kinds without one are checked by their options' types and rules only.
    pub fn register_check(&mut self, kind: &str, check: KindCheck) {
        self.checks.insert(kind.to_ascii_lowercase(), check);
    }

    /// Every kind's rules, with its options: `(kind, option, message)` for each one broken.
    pub fn broken_rules(
        &self,
        options: &BTreeMap<String, Options>,
        shown: &dyn Fn(&str, &str) -> String,
    ) -> Vec<(String, &'static str, String)> {
        let mut broken = Vec::new();
        for (kind, rules) in &self.rules {
            static NONE: Options = Options::none();
            let own = options.get(kind).unwrap_or(&NONE);
            for rule in rules {
                if let Err((name, message)) = rule(own, &|name| shown(kind, name)) {
                    broken.push((kind.clone(), name, message));
                }
            }
        }
        broken
    }

    /// `spec`'s kind's check, if it has one, and its encryption's: what building it would
    /// refuse.
    pub fn check_output(&self, spec: &SinkSpec, settings: &SinkSettings) -> Result<(), SinkError> {
        encryption(spec, settings)?;
        match self.checks.get(&spec.kind.to_ascii_lowercase()) {
            Some(check) => check(spec, settings),
            None => Ok(()),
        }
    }

    /// Options declared before their kind was registered (kept across re-registration).
    fn take_options(&mut self, kind: &str) -> Vec<OptionSpec> {
        let kind = kind.to_ascii_lowercase();
        self.checks.remove(&kind);
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
    /// `from` is where the specs came from, which messages name (`--sink csv:a.csv`).
    pub fn build_all(
        &self,
        specs: &[SinkSpec],
        settings: &SinkSettings,
        from: &Origin,
    ) -> Result<Plan, Failure> {
        let (list, one) = from.list_names("sinks", "sink");
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
                        return Err(Failure::usage(crate::spec::two_on_stdout(&one)));
                    }
                } else {
                    let path = identity(spec.path());
                    if seen.contains(&path) {
                        return Err(Failure::usage(
                            crate::spec::two_writers(&list, &spec.target).message,
                        ));
                    }
                    seen.push(path);
                }
            }
            let label = from.shown(&self.shown_spec(spec));
            match self.build(spec, settings) {
                Ok(Built::Sink(sink)) => plan.sinks.push(NamedSink { label, ..sink }),
                Ok(Built::Delivery(delivery)) => {
                    let encryption = encryption(spec, settings)
                        .map_err(|e| Failure::usage(format!("{label}: {e}")))?;
                    plan.deliveries.push(NamedDelivery {
                        label,
                        kind: spec.kind.clone(),
                        delivery,
                        encryption,
                        last: self.last.contains(&spec.kind),
                    });
                }
                Err(message) => return Err(Failure::usage(format!("{label}: {message}"))),
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
                label: spec.to_string(),
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
                label: spec.to_string(),
                sink: build(spec, settings).map_err(text)?,
                records: false,
                retractable: true,
            }),
            Factory::Delivery(build) => Built::Delivery(build(spec, settings).map_err(text)?),
            Factory::Sink { build, .. } => Built::Sink(NamedSink {
                spec: spec.clone(),
                label: spec.to_string(),
                sink: build(spec, settings).map_err(text)?,
                records: self.record_kinds.contains(&spec.kind),
                retractable: spec.target != "-" && !keepnet_sink::is_stream_target(spec.path()),
            }),
        })
    }
}

/// `https://hooks.example/services/T0/B0/secret` as `https://hooks.example/…`; text that is
/// not a URL as `…`.
fn cut_to_host(target: &str) -> String {
    let Some((scheme, rest)) = target.split_once("://") else {
        return "…".to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // user:password@ never shows either.
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}/…")
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
    use crate::options::Secrets;
    use keepnet_sink::HeaderStyle;

    fn settings() -> SinkSettings {
        SinkSettings {
            header: HeaderStyle::Api,
            options: email_options(&[
                ("smtp-host", "smtp.example.com"),
                ("from", "reports@mssp.example"),
            ]),
            secrets: Secrets::default(),
        }
    }

    /// The built-in defaults, with some e-mail options set.
    fn email_options(set: &[(&'static str, &str)]) -> BTreeMap<String, Options> {
        let registry = Registry::builtin();
        let mut all = registry.default_options();
        for (name, value) in set {
            let spec = registry
                .options_of("email")
                .iter()
                .find(|o| o.name == *name);
            let value = spec.unwrap().read(value).unwrap();
            all.get_mut("email").unwrap().set(name, value);
        }
        all
    }

    fn specs(list: &[&str]) -> Vec<SinkSpec> {
        list.iter().map(|s| SinkSpec::parse(s).unwrap()).collect()
    }

    /// A team's delivery described whole is registered as the built-in ones are: its options
    /// declared, its rule run with the others, its check and its target's secrecy applied,
    /// `encrypt` added because it sends the files. And every built-in delivery, e-mail
    /// included, comes from one `DeliveryKind`, so what the registry knows of it is what its
    /// descriptor says.
    #[test]
    fn a_delivery_kind_is_registered_whole() {
        const OPTIONS: [OptionSpec; 1] = [OptionSpec::new(
            "region",
            OptionType::Text,
            "",
            "where to send",
        )];
        fn rule(
            own: &Options,
            shown: &dyn Fn(&str) -> String,
        ) -> Result<(), (&'static str, String)> {
            match own.nonempty("region") {
                Ok(None) => Err(("region", format!("{} is required", shown("region")))),
                _ => Ok(()),
            }
        }
        fn check(spec: &SinkSpec, _: &SinkSettings) -> Result<(), SinkError> {
            if spec.target.contains("bad") {
                return Err(SinkError::Invalid("a bad target".into()));
            }
            Ok(())
        }
        fn build(_: &SinkSpec, _: &SinkSettings) -> Result<Box<dyn Delivery>, SinkError> {
            Err(SinkError::Invalid("not built in this test".into()))
        }
        let kind = DeliveryKind {
            name: "vault",
            description: "a team's vault",
            options: &OPTIONS,
            rules: &[rule],
            build,
            check,
            sends_files: true,
            last: false,
            secret_target: true,
        };
        let mut registry = Registry::builtin();
        registry.register_delivery_kind(&kind);
        let names: Vec<&str> = registry
            .options_of("vault")
            .iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(names, ["region", "encrypt"]);
        let broken = registry.broken_rules(&registry.default_options(), &|k, n| format!("{k}.{n}"));
        assert_eq!(
            broken,
            [(
                "vault".to_owned(),
                "region",
                "vault.region is required".to_owned()
            )]
        );
        let settings = settings();
        let bad = SinkSpec::parse("vault:https://x.example/bad?token=1").unwrap();
        assert!(registry.check_output(&bad, &settings).is_err());
        assert_eq!(registry.shown_spec(&bad), "vault:https://x.example/…");

        for builtin in crate::kinds::BUILTIN {
            let declared: Vec<&str> = registry
                .options_of(builtin.name)
                .iter()
                .map(|o| o.name)
                .filter(|n| *n != ENCRYPT.name)
                .collect();
            let described: Vec<&str> = builtin.options.iter().map(|o| o.name).collect();
            assert_eq!(declared, described, "{}", builtin.name);
            assert!(registry.knows(builtin.name));
        }
        assert!(registry.knows("exec") && registry.is_sink("exec"));
    }

    /// The file formats come from one `SinkKind` each, registered as a team's would be: what
    /// the registry knows of each (options, stdout, records) is what its descriptor says.
    #[test]
    fn file_formats_are_registered_from_their_descriptors() {
        let registry = Registry::builtin();
        for kind in crate::kinds::files::BUILTIN {
            let declared: Vec<&str> = registry
                .options_of(kind.name)
                .iter()
                .map(|o| o.name)
                .collect();
            let described: Vec<&str> = kind.options.iter().map(|o| o.name).collect();
            assert_eq!(declared, described, "{}", kind.name);
            assert!(registry.is_sink(kind.name) && registry.writes_files(kind.name));
            assert_eq!(
                registry.record_kinds.contains(kind.name),
                kind.records,
                "{}",
                kind.name
            );
        }
        let mut team = Registry::builtin();
        team.register_sink_kind(&SinkKind {
            name: "ndjson",
            description: "JSON Lines under another name",
            options: &[],
            stdout: true,
            records: true,
            build: |spec, s| {
                Ok(Box::new(keepnet_sink_jsonl::JsonlSink::new(
                    spec.path(),
                    s.header,
                )))
            },
        });
        assert!(team.record_kinds.contains("ndjson") && team.is_sink("ndjson"));
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
    fn a_secret_target_is_shown_cut_to_its_host() {
        assert_eq!(
            cut_to_host("https://hooks.slack.com/services/T0/B0/xyz"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            cut_to_host("https://user:pw@hooks.example:8443?sig=abc"),
            "https://hooks.example:8443/…"
        );
        assert_eq!(cut_to_host("not a url, secret"), "…");
        let r = Registry::builtin();
        assert_eq!(
            r.shown_text("webhook:https://prod.logic.azure.com/workflows/a?sig=s"),
            "webhook:https://prod.logic.azure.com/…"
        );
        assert_eq!(r.shown_text("email:a@b.example"), "email:a@b.example");
        // `--encrypt` sets exactly the kinds that declare `encrypt`.
        let encrypting: Vec<String> = r
            .kinds()
            .into_iter()
            .filter(|k| r.options_of(k).iter().any(|o| o.name == ENCRYPT.name))
            .map(|k| format!("{k}.{}", ENCRYPT.name))
            .collect();
        assert_eq!(encrypting, crate::kinds::SENDS_FILES);
        assert!(!r
            .options_of("webhook")
            .iter()
            .any(|o| o.name == ENCRYPT.name));
        let flag = Origin::Flag("--sink".into());
        let plan = r
            .build_all(
                &specs(&["webhook:http://127.0.0.1:9/hook/secret", "csv:x.csv"]),
                &settings(),
                &flag,
            )
            .unwrap();
        assert_eq!(
            plan.deliveries[0].label,
            "--sink webhook:http://127.0.0.1:9/…"
        );
        assert!(plan.deliveries[0].last);
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
        let flag = Origin::Flag("--sink".into());
        let msg = |list: &[&str]| match r.build_all(&specs(list), &settings(), &flag) {
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
            .build_all(
                &specs(&["email:a@b.example", "jsonl:-"]),
                &settings(),
                &flag,
            )
            .unwrap();
        assert_eq!((plan.sinks.len(), plan.deliveries.len()), (1, 1));
        assert!(!plan.has_file_sink());
    }
}
