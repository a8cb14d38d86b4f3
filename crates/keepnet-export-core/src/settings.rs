//! One settings model for every front end: the command line, the environment, job files and a
//! team's own binary all describe an export's outputs as [`OutputSettings`], each value with
//! the [`Origin`] it came from, and get them checked by the one [`OutputSettings::check`] (and
//! [`OutputSettings::validate`], which also builds them once). A broken rule is one
//! [`Invalid`]: one message whatever the front end, shown after how that front end's user
//! wrote the value (`--sink csv:a.csv`, `KEEPNET_SINK=csv:a.csv`, `reports.toml:4:10`).
//!
//! This is the command line's "low" arguments turned into "high" ones, as ripgrep does it:
//! the front ends only gather text and where it came from; what the text means, and whether
//! it is allowed, is decided here.

use std::fmt;

use keepnet_sink::HeaderStyle;

pub use crate::origin::{Origin, Sourced};

use crate::options::{split_key, Secrets};
use crate::rules;
use crate::sinks::{Registry, SinkSettings, SinkSpec};

/// A setting that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where the value came from.
    pub origin: Origin,
    /// Byte offset in the value the rule is about (0: the value as a whole).
    pub at: usize,
    /// How the value was written ([`Origin::shown`]).
    pub label: String,
    /// What is wrong and how to fix it: the same text in every front end.
    pub message: String,
    /// The setting the message asks for, for the front end to say how its user gives it.
    pub setting: Option<keepnet_sink::Setting>,
}

impl Invalid {
    fn new(origin: &Origin, value: &str, at: usize, message: impl Into<String>) -> Self {
        Self {
            origin: origin.clone(),
            at,
            label: origin.shown(value),
            message: message.into(),
            setting: None,
        }
    }
}

/// `LABEL: message`, e.g. `--sink csv:a.csv: ...`; just the message when it starts by naming
/// the setting itself (`--smtp-tls none would send ...`).
impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message.starts_with(&self.label) {
            true => f.write_str(&self.message),
            false => write!(f, "{}: {}", self.label, self.message),
        }
    }
}

/// One sink option as a front end gathered it: `KIND.NAME` and its value as text.
#[derive(Debug, Clone)]
pub struct SinkOption {
    /// `KIND.NAME`, e.g. `csv.delimiter`.
    pub key: Sourced<String>,
    /// The value as text, e.g. `;`.
    pub value: Sourced<String>,
    /// How it was written when key and value came as one (`--sink-option csv.delimiter=;`
    /// gives `csv.delimiter=;`; `--csv-delimiter ;` gives `;`); `None` for a job file's key
    /// and value.
    pub written: Option<String>,
}

impl SinkOption {
    /// `KIND.NAME=VALUE` from one flag or variable.
    pub fn parse(text: &str, origin: Origin) -> Self {
        // Without `=`, no key: the check then says how an option is written.
        let (key, value) = text.split_once('=').unwrap_or(("", ""));
        Self {
            key: Sourced::new(key.trim().to_owned(), origin.clone()),
            value: Sourced::new(value.to_owned(), origin),
            written: Some(text.to_owned()),
        }
    }

    /// A flag that is a shorthand for one option, e.g. `--csv-delimiter` for `csv.delimiter`.
    pub fn shorthand(key: &str, value: &str, origin: Origin) -> Self {
        Self {
            key: Sourced::new(key.to_owned(), origin.clone()),
            value: Sourced::new(value.to_owned(), origin),
            written: Some(value.to_owned()),
        }
    }

    fn invalid(&self, about: &Sourced<String>, message: String) -> Invalid {
        let mut invalid = Invalid::new(&about.origin, &about.value, 0, message);
        if let Some(written) = &self.written {
            invalid.label = about.origin.shown(written);
        }
        invalid
    }
}

/// Everything about an export's outputs, as a front end gathered it.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    /// `KIND:TARGET` texts, in order.
    pub sinks: Vec<Sourced<String>>,
    /// Sink options, in order (a later one wins).
    pub options: Vec<SinkOption>,
    /// Header labels.
    pub header: HeaderStyle,
    /// Secrets some kinds read (`email.smtp-password`); never part of a check's message.
    pub secrets: Secrets,
    /// Whether the outputs end with one `email:` delivery whose recipients are chosen per
    /// company (a job file's `[job.email]`).
    pub recipients_per_company: bool,
}

impl OutputSettings {
    /// Settings with no sinks, the API's header labels and no e-mail.
    pub fn new() -> Self {
        Self {
            sinks: Vec::new(),
            options: Vec::new(),
            header: HeaderStyle::Api,
            secrets: Secrets::default(),
            recipients_per_company: false,
        }
    }

    /// Checks every rule that needs nothing but the settings (no file is read, nothing is
    /// built): each sink's shape, kind and placeholders, the several-companies rule, one file
    /// per sink, one sink on stdout, the sink options of each kind and each kind's rules on
    /// them (no login without TLS). Returns every broken rule, in the order the settings were
    /// given.
    pub fn check(&self, several: bool, registry: &Registry) -> Result<Checked, Vec<Invalid>> {
        self.checked(several, registry, true)
    }

    /// [`OutputSettings::check`] without asking whether each sink kind exists: what a job
    /// file's reader checks, since which plugins are on PATH is the runner's business (its
    /// [`OutputSettings::validate`] asks). A kind it does not know is taken for a plugin.
    pub fn check_rules(&self, several: bool, registry: &Registry) -> Result<Checked, Vec<Invalid>> {
        self.checked(several, registry, false)
    }

    fn checked(
        &self,
        several: bool,
        registry: &Registry,
        kinds: bool,
    ) -> Result<Checked, Vec<Invalid>> {
        let mut broken = Vec::new();
        let mut specs = Vec::new();
        let mut origins = Vec::new();
        for sink in &self.sinks {
            let text = &sink.value;
            let spec = match rules::parse_sink(text) {
                Ok(spec) => spec,
                Err(b) => {
                    broken.push(Invalid::new(&sink.origin, text, b.at, b.message));
                    continue;
                }
            };
            let unknown = !registry.knows(&spec.kind);
            let verdict = match kinds || !unknown {
                true => registry.check_kind(&spec),
                false => Ok(()),
            };
            if let Err(message) = verdict {
                broken.push(Invalid::new(&sink.origin, text, 0, message));
                continue;
            }
            specs.push(spec);
            origins.push(sink);
        }
        // The list and one of its items as this front end's user knows them.
        let (list, one) = first_origin(&self.sinks).list_names("sinks", "sink");
        // `/dev/stdout` (or `/proc/self/fd/1`) is the same stdout as `-`.
        let stdout = rules::stdout_identity();
        let mut on_stdout = 0;
        for (i, spec) in specs.iter().enumerate() {
            let is_stdout = spec.target == "-"
                || stdout
                    .as_ref()
                    .is_some_and(|out| rules::identity(spec.path()) == *out);
            if is_stdout && registry.writes_files(&spec.kind) {
                on_stdout += 1;
                if on_stdout == 2 {
                    let sink = origins[i];
                    broken.push(Invalid::new(
                        &sink.origin,
                        &sink.value,
                        0,
                        crate::spec::two_on_stdout(&one),
                    ));
                }
            }
        }
        for (i, b) in rules::check_specs(&specs, several, registry, &list) {
            let sink = origins[i];
            let at = match b.at {
                0 => 0,
                inside => specs[i].kind.len() + 1 + inside,
            };
            broken.push(Invalid::new(&sink.origin, &sink.value, at, b.message));
        }
        if self.recipients_per_company {
            // A job file's e-mail: one delivery, its recipients filled in per company.
            specs.push(SinkSpec {
                kind: "email".into(),
                target: String::new(),
            });
            origins.push(&EMAIL);
        }
        let options = self.resolve_options(registry, &mut broken);
        let shown = |kind: &str, name: &str| self.option_source(kind, name, &options);
        for (kind, name, message) in registry.broken_rules(&options, &shown) {
            let (origin, value) = self.option_origin(&kind, name, &options);
            broken.push(Invalid::new(&origin, &value, 0, message));
        }
        broken.extend(self.nothing_to_encrypt(&specs));
        if !broken.is_empty() {
            return Err(broken);
        }
        Ok(Checked {
            specs,
            settings: SinkSettings {
                header: self.header,
                options,
                secrets: self.secrets.clone(),
            },
            origins: origins.into_iter().map(|s| s.origin.clone()).collect(),
            texts: self.sinks.iter().map(|s| s.value.clone()).collect(),
        })
    }

    /// An `encrypt` option set for kinds none of which is an output (`--encrypt` without an
    /// e-mail, s3 or sftp delivery): it would encrypt nothing, silently.
    fn nothing_to_encrypt(&self, specs: &[SinkSpec]) -> Option<Invalid> {
        let name = crate::sinks::ENCRYPT.name;
        let encrypting: Vec<&SinkOption> = self
            .options
            .iter()
            .filter(|o| {
                crate::options::split_key(&o.key.value).is_some_and(|(_, n)| n == name)
                    && !o.value.value.trim().is_empty()
            })
            .collect();
        let first = encrypting.first()?;
        let used = encrypting.iter().any(|o| {
            crate::options::split_key(&o.key.value)
                .is_some_and(|(kind, _)| specs.iter().any(|s| s.kind == kind))
        });
        (!used).then(|| {
            Invalid::new(
                &first.value.origin,
                &first.value.value,
                0,
                "nothing to encrypt: no output sends files; encryption applies to what an \
                 e-mail, s3 or sftp delivery sends"
                    .to_owned(),
            )
        })
    }

    /// [`OutputSettings::check`], then each output's kind check ([`Registry::register_check`]):
    /// what building it would refuse (addresses, a CA file), found without building it or
    /// writing anything.
    pub fn validate(&self, several: bool, registry: &Registry) -> Result<Checked, Vec<Invalid>> {
        let checked = self.check(several, registry)?;
        let broken: Vec<Invalid> = checked
            .specs
            .iter()
            .zip(&checked.origins)
            .enumerate()
            .filter_map(|(i, (spec, origin))| {
                let error = registry.check_output(spec, &checked.settings).err()?;
                // A webhook's URL carries its token: shown cut to its host.
                let text = checked
                    .texts
                    .get(i)
                    .map_or_else(String::new, |t| registry.shown_text(t));
                let mut invalid = Invalid::new(origin, &text, 0, error.to_string());
                invalid.setting = error.setting();
                Some(invalid)
            })
            .collect();
        match broken.is_empty() {
            true => Ok(checked),
            false => Err(broken),
        }
    }

    /// The last option that set `KIND.NAME`: its origin and how it was written (`none` for
    /// `--smtp-tls none`, `email.smtp-tls=none` for `--sink-option`); the default's when
    /// nobody set it.
    fn option_origin(
        &self,
        kind: &str,
        name: &str,
        options: &std::collections::BTreeMap<String, crate::options::Options>,
    ) -> (Origin, String) {
        let key = format!("{kind}.{name}");
        let set = self
            .options
            .iter()
            .rev()
            .find(|o| o.key.value.eq_ignore_ascii_case(&key));
        match set {
            Some(option) => (
                option.value.origin.clone(),
                option
                    .written
                    .clone()
                    .unwrap_or_else(|| option.value.value.clone()),
            ),
            None => {
                let value = match options.get(kind).and_then(|o| o.get(name)) {
                    Some(crate::options::OptionValue::Text(text)) => text.clone(),
                    _ => String::new(),
                };
                (Origin::Default, value)
            }
        }
    }

    /// How `KIND.NAME` was written: `--smtp-tls none`, `tls = "none"`.
    fn option_source(
        &self,
        kind: &str,
        name: &str,
        options: &std::collections::BTreeMap<String, crate::options::Options>,
    ) -> String {
        let (origin, value) = self.option_origin(kind, name, options);
        origin.shown(&value)
    }

    /// Every kind's options: declared defaults, then what was set, each checked by its kind.
    fn resolve_options(
        &self,
        registry: &Registry,
        broken: &mut Vec<Invalid>,
    ) -> std::collections::BTreeMap<String, crate::options::Options> {
        let mut all = registry.default_options();
        for option in &self.options {
            let (key, value) = (&option.key, &option.value);
            let Some((kind, name)) = split_key(&key.value) else {
                broken.push(option.invalid(
                    key,
                    "a sink option is KIND.NAME=VALUE, e.g. csv.delimiter=;".to_owned(),
                ));
                continue;
            };
            let declared = registry.options_of(&kind);
            let Some(spec) = declared.iter().find(|o| o.name == name) else {
                let names: Vec<&str> = declared.iter().map(|o| o.name).collect();
                let message = match (registry.knows(&kind), names.is_empty()) {
                    (false, _) => format!(
                        "no sink kind {kind:?}; kinds are: {}",
                        registry.kinds().join(", ")
                    ),
                    (true, true) => format!("sink kind {kind:?} has no options"),
                    (true, false) => {
                        let hint = keepnet_api::suggest(name, &names)
                            .map(|n| format!("did you mean {kind}.{n}? "))
                            .unwrap_or_default();
                        format!(
                            "{kind} has no option {name:?}: {hint}its options are {}",
                            names.join(", ")
                        )
                    }
                };
                broken.push(option.invalid(key, message));
                continue;
            };
            match spec.read(&value.value) {
                Ok(read) => {
                    if let Some(options) = all.get_mut(&kind) {
                        options.set(spec.name, read);
                    }
                }
                Err(message) => {
                    broken.push(option.invalid(value, format!("{kind}.{name}: {message}")))
                }
            }
        }
        all
    }
}

impl Default for OutputSettings {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the first of a list of values came from (the default for an empty list).
fn first_origin(list: &[Sourced<String>]) -> Origin {
    list.first().map(|s| s.origin.clone()).unwrap_or_default()
}

/// The stand-in origin of a job file's e-mail delivery (its target is filled in per company).
static EMAIL: Sourced<String> = Sourced {
    value: String::new(),
    origin: Origin::Default,
};

/// Outputs that passed every rule: what the engine runs with.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The sinks, parsed, in order.
    pub specs: Vec<SinkSpec>,
    /// What the sinks read.
    pub settings: SinkSettings,
    origins: Vec<Origin>,
    texts: Vec<String>,
}

/// The most users one page may ask for.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// Everything about one export, as a front end gathered it: which users, which columns, how
/// strict, and the outputs. Both front ends fill it (`users` from flags and variables, a job
/// file's `[[job]]`) and [`ExportSettings::validate`] decides.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Search text; `None` or empty: no search.
    pub search: Option<Sourced<String>>,
    /// Which users, each a comma list of `active`, `inactive`, `deleted`, `all`; empty: the
    /// current users (active and inactive).
    pub statuses: Vec<Sourced<String>>,
    /// Columns, each a comma list of API field names and `custom:NAME`; `None`: not chosen.
    pub columns: Option<Vec<Sourced<String>>>,
    /// The API field to order by; `None`: `CreateTime` (oldest first, so users added during
    /// a run land on later pages).
    pub order_by: Option<Sourced<String>>,
    /// Newest/last first.
    pub descending: Sourced<bool>,
    /// Users asked per page, 1 to 10000, as text; `None`: 100.
    pub page_size: Option<Sourced<String>>,
    /// Publish a read that stayed inconsistent with the server, marked incomplete.
    pub allow_incomplete: Sourced<bool>,
    /// Stop starting companies after the first failure.
    pub fail_fast: Sourced<bool>,
    /// The outputs.
    pub outputs: OutputSettings,
    /// What is kept and reported across runs: the state, the change sinks.
    pub report: ReportSettings,
}

/// The change report's settings (`--state`, `--changes`, `--fail-on-changes`,
/// `--mail-skip-unchanged`), as a front end gathered them.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// The folder holding one state file per company; `None`: no change report.
    pub state: Option<Sourced<String>>,
    /// Change sinks, `KIND:TARGET`, in order.
    pub changes: Vec<Sourced<String>>,
    /// Rollup sinks, `KIND:TARGET` (one row per company of the run), in order.
    pub rollup: Vec<Sourced<String>>,
    /// Exit with [`crate::exit::CHANGES`] when anything joined, left or changed.
    pub fail_on_changes: Sourced<bool>,
    /// Send no delivery for a company whose users did not change since the previous run.
    pub mail_skip_unchanged: Sourced<bool>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            state: None,
            changes: Vec::new(),
            rollup: Vec::new(),
            fail_on_changes: Sourced::new(false, Origin::Default),
            mail_skip_unchanged: Sourced::new(false, Origin::Default),
        }
    }
}

/// How the state setting is written where `origin` points: the change settings that need it
/// name it in the same front end.
fn state_setting(origin: &Origin) -> &'static str {
    match origin {
        Origin::Flag(_) | Origin::Default => "--state DIR",
        Origin::Env(_) => "KEEPNET_STATE",
        Origin::File { .. } => "state = \"DIR\"",
    }
}

impl ReportSettings {
    /// Checks the change report's rules: a state folder that is not a file, change sinks of
    /// row kinds writing files of their own (one per company with several companies), and
    /// no change setting without a state. Reads nothing but the state path's metadata.
    fn check(
        &self,
        several: bool,
        registry: &Registry,
        sinks: &[SinkSpec],
        statuses: keepnet_api::StatusSet,
    ) -> Result<crate::batch::Reporting, Vec<Invalid>> {
        let mut broken = Vec::new();
        let state = match &self.state {
            Some(dir) if dir.value.trim().is_empty() => {
                broken.push(Invalid::new(
                    &dir.origin,
                    &dir.value,
                    0,
                    "the state folder is empty: name a folder, e.g. state/",
                ));
                None
            }
            Some(dir) if std::path::Path::new(&dir.value).is_file() => {
                broken.push(Invalid::new(
                    &dir.origin,
                    &dir.value,
                    0,
                    "the state is a folder (one file per company), and this is a file",
                ));
                None
            }
            Some(dir) => Some(crate::changes::StateKeeping::new(
                dir.value.clone().into(),
                dir.origin.shown(&dir.value),
                statuses.describe(),
            )),
            None => None,
        };
        if self.state.is_none() {
            let needs = |what: &Sourced<bool>, broken: &mut Vec<Invalid>| {
                if what.value {
                    broken.push(Invalid::new(
                        &what.origin,
                        "true",
                        0,
                        format!(
                            "needs {}: changes are counted against the state the previous run kept",
                            state_setting(&what.origin)
                        ),
                    ));
                }
            };
            needs(&self.fail_on_changes, &mut broken);
            needs(&self.mail_skip_unchanged, &mut broken);
            if let Some(first) = self.changes.first() {
                broken.push(Invalid::new(
                    &first.origin,
                    &first.value,
                    0,
                    format!(
                        "needs {}: changes are counted against the state the previous run kept",
                        state_setting(&first.origin)
                    ),
                ));
            }
        }
        let changes = RowOutputs {
            list: &self.changes,
            name: "changes",
            are: "changes are rows",
            several,
        }
        .check(registry, sinks, &mut broken);
        // One rollup file for the whole run, whatever the number of companies.
        let rollup = RowOutputs {
            list: &self.rollup,
            name: "rollup",
            are: "a rollup is rows",
            several: false,
        }
        .check(registry, sinks, &mut broken);
        for (text, spec) in self.rollup.iter().zip(&rollup) {
            if spec.target.contains("{company") {
                broken.push(Invalid::new(
                    &text.origin,
                    &text.value,
                    0,
                    "a rollup is one file for the whole run, one row per company: its target \
                     takes {date} or {timestamp}, not {company} or {company_id}",
                ));
            }
        }
        if !broken.is_empty() {
            return Err(broken);
        }
        Ok(crate::batch::Reporting {
            state,
            changes,
            want_figures: !rollup.is_empty(),
            rollup,
            skip_unchanged_mail: self.mail_skip_unchanged.value,
            fail_on_changes: self.fail_on_changes.value,
        })
    }
}

/// The row outputs of a report (`changes`, `rollup`), to check.
struct RowOutputs<'a> {
    list: &'a [Sourced<String>],
    /// What the list is called in a job file, and in messages (`the changes`).
    name: &'a str,
    /// What a delivery is not: `changes are rows`.
    are: &'a str,
    /// Whether the several-companies rule applies (one file per company).
    several: bool,
}

impl RowOutputs<'_> {
    /// Row sink kinds, each on a file of its own (not an export sink's), with the
    /// several-companies rule when `several`. Returns the specs that passed, in order.
    fn check(
        &self,
        registry: &Registry,
        sinks: &[SinkSpec],
        broken: &mut Vec<Invalid>,
    ) -> Vec<SinkSpec> {
        let (list, what, several) = (self.list, self.name, self.several);
        let mut specs = Vec::new();
        let mut origins = Vec::new();
        for text in list {
            match rules::parse_sink(&text.value) {
            Ok(spec) if !registry.is_sink(&spec.kind) && registry.knows(&spec.kind) => broken
                .push(Invalid::new(
                    &text.origin,
                    &text.value,
                    0,
                    format!(
                        "{}: is a delivery, and {}: write them with a row sink (csv, xlsx, jsonl, ...)",
                        spec.kind, self.are
                    ),
                )),
            Ok(spec) => match registry.check_kind(&spec) {
                Ok(()) => {
                    specs.push(spec);
                    origins.push(text);
                }
                Err(message) => broken.push(Invalid::new(&text.origin, &text.value, 0, message)),
            },
            Err(b) => broken.push(Invalid::new(&text.origin, &text.value, b.at, b.message)),
        }
        }
        let (names, _) = first_origin(list).list_names(what, what);
        for (i, b) in rules::check_specs(&specs, several, registry, &names) {
            let text = origins[i];
            let at = match b.at {
                0 => 0,
                inside => specs[i].kind.len() + 1 + inside,
            };
            broken.push(Invalid::new(&text.origin, &text.value, at, b.message));
        }
        for (i, spec) in specs.iter().enumerate() {
            let same = sinks.iter().any(|s| {
                registry.writes_files(&s.kind)
                    && match (s.target == "-", spec.target == "-") {
                        (true, true) => true,
                        (false, false) => rules::identity(s.path()) == rules::identity(spec.path()),
                        _ => false,
                    }
            });
            if same && registry.writes_files(&spec.kind) {
                let text = origins[i];
                broken.push(Invalid::new(
                &text.origin,
                &text.value,
                0,
                format!("this file (or stdout) is also an export sink's: write the {what} to a file of their own"),
            ));
            }
        }
        specs
    }
}

/// An export that passed every rule.
#[derive(Debug, Clone)]
pub struct Export {
    /// Search, order, page size and which users.
    pub query: keepnet_api::UserQuery,
    /// The columns, when chosen.
    pub layout: Option<crate::columns::Layout>,
    /// Publish an inconsistent read, marked incomplete.
    pub allow_incomplete: bool,
    /// Stop after the first failure.
    pub fail_fast: bool,
    /// The outputs.
    pub outputs: Checked,
    /// The change report, when a state is kept.
    pub report: crate::batch::Reporting,
    /// Where the settings came from, for the run's messages.
    pub names: crate::names::Names,
}

impl ExportSettings {
    /// An export of the current users, every column, to `outputs`.
    pub fn new(outputs: OutputSettings) -> Self {
        Self {
            search: None,
            statuses: Vec::new(),
            columns: None,
            order_by: None,
            descending: Sourced::new(false, Origin::Default),
            page_size: None,
            allow_incomplete: Sourced::new(false, Origin::Default),
            fail_fast: Sourced::new(false, Origin::Default),
            outputs,
            report: ReportSettings::default(),
        }
    }

    /// The columns named that keepnet-export does not know: not errors (each run checks them
    /// against the fields the API sends), but worth a note before the run.
    pub fn unknown_columns(&self) -> Vec<(&Sourced<String>, String)> {
        let mut unknown = Vec::new();
        for list in self.columns.iter().flatten() {
            for name in list
                .value
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                if !crate::columns::Layout::is_known(name) {
                    unknown.push((list, name.to_owned()));
                }
            }
        }
        unknown
    }

    /// Every rule, the outputs' included ([`OutputSettings::validate`]): statuses and columns
    /// are read, each broken rule reported where its value came from. Nothing is fetched,
    /// written or sent.
    pub fn validate(&self, several: bool, registry: &Registry) -> Result<Export, Vec<Invalid>> {
        use crate::columns::Layout;
        let mut broken = Vec::new();
        for list in &self.statuses {
            if let Err(e) = keepnet_api::StatusSet::parse(&list.value) {
                broken.push(Invalid::new(&list.origin, &list.value, 0, e.to_string()));
            }
        }
        let statuses = match self.statuses.is_empty() {
            true => Some(keepnet_api::StatusSet::CURRENT),
            false => {
                let all: Vec<&str> = self.statuses.iter().map(|s| s.value.as_str()).collect();
                keepnet_api::StatusSet::parse(&all.join(",")).ok()
            }
        };
        let layout = match &self.columns {
            None => Some(None),
            Some(lists) => {
                for list in lists {
                    if let Err(e) = Layout::parse(&list.value) {
                        broken.push(Invalid::new(&list.origin, &list.value, 0, e.to_string()));
                    }
                }
                let all: Vec<&str> = lists.iter().map(|s| s.value.as_str()).collect();
                match Layout::parse(&all.join(",")) {
                    Ok(layout) => Some(Some(layout)),
                    Err(e) if broken.is_empty() => {
                        // Each list reads alone, but not together: a column in two of them.
                        let last = lists.last().map_or(&Origin::Default, |l| &l.origin);
                        broken.push(Invalid::new(last, &all.join(","), 0, e.to_string()));
                        None
                    }
                    Err(_) => None,
                }
            }
        };
        let mut query = keepnet_api::UserQuery {
            search: self
                .search
                .as_ref()
                .map(|s| s.value.clone())
                .filter(|s| !s.is_empty()),
            ascending: !self.descending.value,
            ..keepnet_api::UserQuery::default()
        };
        if let Some(field) = &self.order_by {
            let name_like =
                !field.value.is_empty() && field.value.chars().all(|c| c.is_ascii_alphanumeric());
            match name_like {
                true => query.order_by = field.value.clone(),
                false => broken.push(Invalid::new(
                    &field.origin,
                    &field.value,
                    0,
                    "not an API field name: write one like CreateTime, Email or FirstName",
                )),
            }
        }
        if let Some(size) = &self.page_size {
            match size.value.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => query.page_size = n,
                _ => broken.push(Invalid::new(
                    &size.origin,
                    &size.value,
                    0,
                    format!(
                        "a page size is a whole number from 1 to {MAX_PAGE_SIZE} (the server may answer with fewer)"
                    ),
                )),
            }
        }
        let outputs = match self.outputs.validate(several, registry) {
            Ok(outputs) => Some(outputs),
            Err(more) => {
                broken.extend(more);
                None
            }
        };
        let report = match (&statuses, &outputs) {
            (Some(statuses), Some(outputs)) => {
                match self
                    .report
                    .check(several, registry, &outputs.specs, *statuses)
                {
                    Ok(report) => Some(report),
                    Err(more) => {
                        broken.extend(more);
                        None
                    }
                }
            }
            _ => None,
        };
        match (statuses, layout, outputs, report) {
            (Some(statuses), Some(layout), Some(outputs), Some(report)) if broken.is_empty() => {
                let names = crate::names::Names {
                    sinks: first_origin(&self.outputs.sinks),
                    changes: first_origin(&self.report.changes),
                    rollup: first_origin(&self.report.rollup),
                    allow_incomplete: self.allow_incomplete.origin.clone(),
                    mail_skip_unchanged: self.report.mail_skip_unchanged.origin.clone(),
                };
                Ok(Export {
                    query: keepnet_api::UserQuery { statuses, ..query },
                    layout,
                    allow_incomplete: self.allow_incomplete.value,
                    fail_fast: self.fail_fast.value,
                    outputs,
                    report,
                    names,
                })
            }
            _ => Err(broken),
        }
    }
}

/// What a run adds to a validated [`Export`] to make a [`Batch`](crate::batch::Batch): the
/// connection and the run-wide knobs.
pub struct RunWith<'a> {
    /// The API client.
    pub client: &'a keepnet_api::Client,
    /// Sink and delivery kinds.
    pub registry: &'a Registry,
    /// The scope guard's margin, in percent.
    pub scope_tolerance: u32,
    /// Companies exported at once.
    pub concurrency: usize,
    /// Per-company recipients for a job file's e-mail.
    pub recipients: Option<crate::batch::Recipients>,
    /// Progress display.
    pub progress: &'a dyn crate::progress::Progress,
}

impl Export {
    /// The export as a batch over companies; without chosen columns, every column.
    pub fn into_batch(self, with: RunWith<'_>) -> crate::batch::Batch<'_> {
        crate::batch::Batch {
            client: with.client,
            registry: with.registry,
            query: self.query,
            layout: self.layout.unwrap_or_else(crate::columns::Layout::all),
            specs: self.outputs.specs,
            settings: self.outputs.settings,
            allow_incomplete: self.allow_incomplete,
            scope_tolerance: with.scope_tolerance,
            fail_fast: self.fail_fast,
            concurrency: with.concurrency,
            recipients: with.recipients,
            progress: with.progress,
            report: self.report,
            names: self.names,
            started: keepnet_sink::Timestamp::now(),
            reserved: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_sinks(sinks: &[&str], origin: Origin) -> OutputSettings {
        let mut settings = OutputSettings::new();
        settings.sinks = sinks
            .iter()
            .map(|s| Sourced::new((*s).to_owned(), origin.clone()))
            .collect();
        settings
    }

    /// A team's delivery kind declares an option, a rule on it and a check, exactly as the
    /// built-in e-mail kind does; `check` applies the rule, `validate` also the check, and
    /// each message points at where the value was written.
    #[test]
    fn a_kinds_own_rule_and_check_run_in_every_check() {
        use crate::options::{OptionSpec, OptionType};
        let mut registry = Registry::builtin();
        registry.register_delivery(
            "ticket",
            "open a ticket; QUEUE",
            Box::new(|_, _| Err(keepnet_sink::SinkError::Invalid("not built here".into()))),
        );
        registry.register_option(
            "ticket",
            OptionSpec::new("priority", OptionType::Integer { min: 1, max: 5 }, "3", ""),
        );
        registry.register_rule("ticket", |own, shown| match own.integer("priority") {
            Ok(5) => Err((
                "priority",
                format!("{} pages someone at night", shown("priority")),
            )),
            _ => Ok(()),
        });
        registry.register_check(
            "ticket",
            Box::new(|spec, _| match spec.target.starts_with("ops-") {
                true => Ok(()),
                false => Err(keepnet_sink::SinkError::Invalid(format!(
                    "no queue {:?}: queues start with ops-",
                    spec.target
                ))),
            }),
        );
        let mut settings = with_sinks(&["ticket:sales"], Origin::Flag("--sink".into()));
        assert!(
            settings.check(false, &registry).is_ok(),
            "a check is not a rule"
        );
        let broken = settings.validate(false, &registry).unwrap_err();
        assert_eq!(
            broken[0].to_string(),
            "--sink ticket:sales: no queue \"sales\": queues start with ops-",
            "validate runs the kind's check, not its factory"
        );
        settings.sinks[0].value = "ticket:ops-night".into();
        assert!(settings.validate(false, &registry).is_ok());
        settings.options.push(SinkOption::parse(
            "ticket.priority=5",
            Origin::Env("KEEPNET_SINK_OPTION".into()),
        ));
        let broken = settings.check_rules(false, &registry).unwrap_err();
        assert_eq!(
            broken[0].to_string(),
            "KEEPNET_SINK_OPTION=ticket.priority=5 pages someone at night"
        );
        assert_eq!(broken[0].origin, Origin::Env("KEEPNET_SINK_OPTION".into()));

        // Registered again, the kind keeps its options and rules but not the old check.
        registry.register_delivery("ticket", "", Box::new(|_, _| unreachable!()));
        settings.options.clear();
        settings.sinks[0].value = "ticket:sales".into();
        assert!(settings.validate(false, &registry).is_ok());
    }

    /// The e-mail kind's settings are its options: set them in any front end, read them back
    /// as the delivery's settings, with the password a secret no `Debug` shows.
    #[test]
    fn e_mail_settings_are_the_e_mail_kinds_options() {
        let registry = Registry::builtin();
        let mut settings = with_sinks(&["email:it@initech.example"], Origin::Flag("--sink".into()));
        for text in [
            "email.smtp-host=smtp.mssp.example",
            "email.smtp-user=reports@mssp.example",
            "email.cc=a@mssp.example, b@mssp.example",
            "email.max-attachment-size=5MiB",
            "email.smtp-port=2525",
        ] {
            settings.options.push(SinkOption::parse(
                text,
                Origin::Flag("--sink-option".into()),
            ));
        }
        settings.secrets.set(
            crate::kinds::email::SMTP_PASSWORD,
            "hunter2-secret".to_owned().into(),
        );
        let checked = settings.validate(false, &registry).unwrap();
        let (smtp, mail) =
            crate::kinds::email::settings("it@initech.example", &checked.settings).unwrap();
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.user.as_deref()),
            (
                "smtp.mssp.example",
                Some(2525),
                Some("reports@mssp.example")
            )
        );
        assert!(smtp.password.is_some());
        assert_eq!(
            mail.from, "reports@mssp.example",
            "from defaults to an address user"
        );
        assert_eq!(mail.cc, ["a@mssp.example", "b@mssp.example"]);
        assert_eq!(mail.max_attachment_bytes, 5 << 20);
        assert_eq!(mail.subject, keepnet_sink_email::DEFAULT_SUBJECT);
        let shown = format!("{checked:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("email.smtp-password"),
            "the secret's name is shown"
        );

        settings.options.push(SinkOption::parse(
            "email.smtp-tls=none",
            Origin::Flag("--sink-option".into()),
        ));
        let broken = settings.check(false, &registry).unwrap_err();
        assert!(
            broken[0]
                .to_string()
                .starts_with("--sink-option email.smtp-tls=none would send the user name"),
            "{}",
            broken[0]
        );
    }

    #[test]
    fn a_plugin_kind_is_the_runners_to_know() {
        let registry = Registry::builtin();
        let settings = with_sinks(&["nosuchkind:x"], Origin::Flag("--sink".into()));
        assert!(settings.check_rules(false, &registry).is_ok());
        let broken = settings.check(false, &registry).unwrap_err();
        assert_eq!(
            broken[0].to_string().split(';').next().unwrap(),
            "--sink nosuchkind:x: unknown sink kind \"nosuchkind\""
        );
    }

    #[test]
    fn an_offset_inside_a_plain_file_string_is_an_offset_in_the_file() {
        let plain = Origin::File {
            key: "sinks".into(),
            offset: 40,
            plain: true,
        };
        assert_eq!(plain.file_offset(0), Some(40));
        assert_eq!(plain.file_offset(4), Some(45), "past the opening quote");
        let escaped = Origin::File {
            key: "sinks".into(),
            offset: 40,
            plain: false,
        };
        assert_eq!(escaped.file_offset(4), Some(40), "the value as a whole");
        assert_eq!(Origin::Flag("--sink".into()).file_offset(4), None);
        let broken = with_sinks(&["csv:out/{day}.csv"], plain)
            .check(false, &Registry::builtin())
            .unwrap_err();
        assert_eq!(broken[0].at, 8, "the `{{` of the unknown placeholder");
    }

    #[test]
    fn an_option_without_a_value_says_how_options_are_written() {
        let mut settings = with_sinks(&["csv:a.csv"], Origin::Default);
        settings.options.push(SinkOption::parse(
            "csv.bom",
            Origin::Env("KEEPNET_SINK_OPTION".into()),
        ));
        let broken = settings.check(false, &Registry::builtin()).unwrap_err();
        assert_eq!(
            broken[0].to_string(),
            "KEEPNET_SINK_OPTION=csv.bom: a sink option is KIND.NAME=VALUE, e.g. csv.delimiter=;"
        );
    }
}
