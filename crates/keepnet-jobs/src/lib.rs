//! Job files for `keepnet-export run reports.toml`: recurring reports, parsed and checked.
//!
//! [`parse`] reads the file and returns either a [`JobFile`] or **every** error it found,
//! each with a 1-based line and column (columns count characters, not bytes).
//! [`render_error`] shows one error like rustc does, and [`plan_summary`] describes what a
//! run would do (for `run --check`). This crate only reads and checks text: it makes no
//! request, reads no other file and sends no mail.
//!
//! # The file
//!
//! ```toml
//! # reports.toml
//! [smtp]                                  # optional; needed when a job e-mails
//! host = "smtp.mssp.example"
//! port = 587                              # optional (default: 587 starttls, 465 tls, 25 none)
//! tls = "starttls"                        # optional: starttls (default) | tls | none
//! user = "reports@mssp.example"           # optional; needs password_env
//! password_env = "KEEPNET_SMTP_PASSWORD"  # the NAME of an env var; a literal `password` key is an error
//! from = "MSSP Reports <reports@mssp.example>"
//! ca_file = "/etc/ssl/mssp-ca.pem"        # optional: extra trusted CA (PEM)
//!
//! [[job]]
//! name = "monthly-all"                    # required, unique, [a-z0-9_-]+
//! companies = "all"                       # required: "all", or a list of ids/names
//! search = ""                             # optional search text ("" = no search)
//! status = ["active", "inactive"]         # optional: which users (active, inactive, deleted, all)
//! columns = ["email", "firstName", "custom:Employee Number"]   # optional
//! header = "human"                        # optional: api | human
//! sinks = ["xlsx:out/{company}-{date}.xlsx", "csv:out/{company}-{date}.csv"]   # required, unless changes or rollup
//! allow_incomplete = false                # optional: publish a read that stays inconsistent
//! fail_fast = false                       # optional
//!
//! [job.email]                             # optional: mail each company's files
//! subject = "Keepnet users of {company} ({date})"   # optional
//! cc = ["am@mssp.example"]                # optional
//! bcc = []                                # optional
//! default = ["security@mssp.example"]     # optional: recipients for companies not listed below
//! [job.email.to]                          # per-company recipients, by company name or id
//! "Acme Holdings" = ["it@acme.example", "ciso@acme.example"]
//! "Müşteri A.Ş." = ["bt@musteri.example"]
//!
//! [[job]]
//! name = "weekly-acme"
//! companies = ["Acme Holdings"]           # one company: a fixed file name is fine
//! sinks = ["jsonl:out/acme.jsonl"]
//! ```
//!
//! * `[[job]]` (double brackets) starts each job; jobs run in file order.
//! * A sink is `KIND:TARGET`, e.g. `csv:out/{company}-{date}.csv` or `jsonl:-` (stdout).
//!   Targets may use `{company}`, `{company_id}` and `{date}` (no other `{`). The subject
//!   may use those and `{rows}`; `{{` and `}}` are literal braces there.
//! * When `companies` is `"all"` or lists several companies, every target that is a file
//!   (not `-`) must contain `{company}` or `{company_id}`, and `-` is refused: otherwise
//!   the companies would overwrite one file. `email:` sinks are not files and are exempt.
//! * E-mail: each company's files go to its entry in `[job.email.to]`, else to `default`; a
//!   company listed with `[]` gets no mail. `cc` and `bcc` are added to every message. Keys
//!   are resolved when the job runs, against the companies the credential manages, exactly
//!   as `--company` is (`keepnet_export_core::recipients`): an exact id, else the name
//!   compared by `keepnet_api::name_key`; a key naming two companies fails the job, a key
//!   naming none is reported.
//! * Addresses are `name@domain` or `Name <name@domain>`, one per string.
//! * Optional in a `[[job]]` too, as on the command line: `order_by = "CreateTime"` (an API
//!   field), `descending = false`, `page_size = 100` (1 to 10000), and a sink kind's own
//!   options in `[job.options.KIND]` tables, e.g. `[job.options.csv]` with
//!   `delimiter = ";"`, `bom = true` or `raw-cells = true`, `[job.options.xlsx]` with
//!   `compression = 6`, or a team's own kind's options.
//! * Change reports, also optional in a `[[job]]`: `state = "state/monthly"` keeps a state
//!   per company and compares each run with the last; `changes = ["xlsx:out/{company}-changes.xlsx"]`
//!   writes one row per user who joined, left or changed (needs `state`);
//!   `fail_on_changes = true` exits 9 when anything changed; `mail_skip_unchanged = true`
//!   sends no e-mail for a company with no changes; `rollup = ["xlsx:out/rollup-{date}.xlsx"]`
//!   writes one row per company of the job (an xlsx rollup ends with a total row).
//! * E-mail branding and any other e-mail option in `[job.options.email]`: `sender-name`,
//!   `header`, `logo` (a PNG, JPEG or GIF file), `footer`, and the keys of
//!   `docs/sink-options.md`; they win over `[smtp]` and `[job.email]`.
//!
//! # What is checked
//!
//! TOML syntax; unknown keys anywhere (with the closest known key suggested); value types;
//! required keys (`job.name`, `job.companies`, `job.sinks` unless the job names `changes` or
//! `rollup`, `smtp.host`, `smtp.from`);
//! at least one job; job names (`[a-z0-9_-]+`, unique); `companies` (`"all"` or a non-empty
//! list without repeats); sinks (non-empty, `KIND:TARGET`, known placeholders, one file per
//! company, no two sinks of a job on one file); the subject's placeholders; e-mail
//! addresses; a `[job.email]` needs `[smtp]` and at least one recipient (`to` or `default`),
//! and two `to` keys may not differ only by case; `[smtp]`: no literal `password`,
//! `password_env` is an environment variable name, `user` and `password_env` come together,
//! `port` in 1..=65535. The rules on outputs are the engine's, the same for `--sink` flags:
//! sinks (shape, placeholders, several companies, one file per sink, one on stdout), sink
//! options against what each kind declares, and `tls = "none"` never with a `user`.
//!
//! Not checked here (the runner knows them): column names, status names, order and page
//! size, sink kinds (a plugin may be on the runner's PATH). [`Job::settings`] carries every
//! value with its place in the file, so the runner's
//! `keepnet_export_core::settings::ExportSettings::validate` reports them at the right place.
//!
//! ```
//! let text = "[[job]]\nname = \"acme\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:acme.csv\"]\n";
//! let file = keepnet_jobs::parse(text).unwrap();
//! assert_eq!(file.jobs[0].sinks[0].value, "csv:acme.csv");
//! assert_eq!((file.jobs[0].sinks[0].line, file.jobs[0].sinks[0].column), (4, 10));
//!
//! let errors = keepnet_jobs::parse("[[job]]\nname = \"acme\"\nsink = []\n").unwrap_err();
//! assert_eq!(errors[0].to_string(), "1:1: [[job]] has no `companies`: add companies = \"all\" or companies = [\"Acme Holdings\"]");
//! assert_eq!(errors[1].to_string(), "3:1: unknown key `sink` in [[job]]: did you mean `sinks`?");
//! assert_eq!(errors.len(), 2); // no second error for the missing `sinks`: the typo explains it
//! ```

mod check;
mod plan;
mod text;

use std::fmt;
use std::path::PathBuf;

pub use plan::{plan_summary, plan_summary_resolved};
pub use text::Positions;

/// A whole job file: the optional SMTP settings and the jobs, in file order.
#[derive(Debug, Clone)]
pub struct JobFile {
    /// `[smtp]`, if present.
    pub smtp: Option<Smtp>,
    /// Every `[[job]]`, in file order (at least one).
    pub jobs: Vec<Job>,
}

/// `[smtp]`: how to send mail. Never holds a password, only the name of its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// Relay host name or address.
    pub host: String,
    /// Port; `None` means the default for [`Smtp::tls`] (587, 465 or 25).
    pub port: Option<u16>,
    /// Transport security (default [`Tls::StartTls`]).
    pub tls: Tls,
    /// User name for AUTH; set exactly when [`Smtp::password_env`] is.
    pub user: Option<String>,
    /// Name of the environment variable holding the password (not the password).
    pub password_env: Option<String>,
    /// Sender, `name@domain` or `Name <name@domain>`.
    pub from: String,
    /// Extra trusted CA certificate(s), PEM.
    pub ca_file: Option<PathBuf>,
    /// Line of the `[smtp]` header (1-based).
    pub line: usize,
}

/// `tls` in `[smtp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tls {
    /// `"starttls"`: plain connection upgraded with STARTTLS, required (the default).
    StartTls,
    /// `"tls"`: implicit TLS from the first byte (SMTPS).
    Tls,
    /// `"none"`: no encryption; allowed only without credentials.
    None,
}

impl Tls {
    /// The word the file writes: `starttls`, `tls` or `none`.
    pub fn word(self) -> &'static str {
        match self {
            Tls::StartTls => "starttls",
            Tls::Tls => "tls",
            Tls::None => "none",
        }
    }
}

/// One `[[job]]`.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique name, `[a-z0-9_-]+`.
    pub name: String,
    /// Which companies to export.
    pub companies: Companies,
    /// Search text; `None` when absent or empty.
    pub search: Option<String>,
    /// Which users (`active`, `inactive`, `deleted`, `all`) as written (not checked here);
    /// `None` means the runner's default (active and inactive).
    pub status: Option<Vec<Located<String>>>,
    /// Columns as written (not checked here); `None` means the runner's default.
    pub columns: Option<Vec<Located<String>>>,
    /// Header labels; `None` means the runner's default.
    pub header: Option<Header>,
    /// Sinks as written, `KIND:TARGET`; at least one.
    pub sinks: Vec<Located<String>>,
    /// The job as the engine's settings (search, status, columns, sinks,
    /// `[job.options.KIND]`, header, e-mail), every value with its place in the file. Parsing
    /// applies the engine's rules on outputs; the runner validates the whole
    /// ([`ExportSettings::validate`](keepnet_export_core::settings::ExportSettings::validate)).
    /// The SMTP password is not in it: the runner reads it from `password_env`.
    pub settings: keepnet_export_core::settings::ExportSettings,
    /// `allow_incomplete` (default false): publish, marked incomplete, a read that stayed
    /// inconsistent with the server instead of failing. (`strict`, its old opposite, is still
    /// accepted and changes nothing: failing is the default.)
    pub allow_incomplete: bool,
    /// `fail_fast` (default false).
    pub fail_fast: bool,
    /// `[job.email]`, if present.
    pub email: Option<Email>,
    /// Line of the `[[job]]` header (1-based).
    pub line: usize,
}

/// `companies` of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Companies {
    /// `"all"`: every company of the reseller.
    All,
    /// Company ids or names as written, non-empty, without repeats (not resolved here).
    List(Vec<Located<String>>),
}

/// `header` of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Header {
    /// `"api"`: API field names, e.g. `firstName`.
    Api,
    /// `"human"`: labels for people, e.g. `First Name`.
    Human,
}

/// `[job.email]`: who receives each company's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Subject template; `None` means the runner's default.
    pub subject: Option<String>,
    /// Copy recipients of every message.
    pub cc: Vec<String>,
    /// Blind copy recipients of every message.
    pub bcc: Vec<String>,
    /// Recipients of companies not listed in [`Email::to`].
    pub default: Vec<String>,
    /// `[job.email.to]`: company name or id (as written) and its recipients, in file order.
    pub to: Vec<(Located<String>, Vec<String>)>,
    /// Line of the `[job.email]` header or `email =` key (1-based).
    pub line: usize,
}

/// A value with the 1-based line and column (in characters) where it starts in the file;
/// for strings, that is the opening quote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

/// One problem in a job file. Displays as `LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobError {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for JobError {}

/// Parses and checks a job file. On failure, returns every error found, sorted by
/// position (after a TOML syntax error, only the syntax errors).
pub fn parse(text: &str) -> Result<JobFile, Vec<JobError>> {
    parse_with(text, &keepnet_export_core::sinks::Registry::builtin())
}

/// [`parse`] for a runner with its own sink kinds: the rules on sinks
/// (`keepnet_export_core::rules`) ask `registry` which kinds write files.
pub fn parse_with(
    text: &str,
    registry: &keepnet_export_core::sinks::Registry,
) -> Result<JobFile, Vec<JobError>> {
    check::parse(text, registry)
}

/// The 1-based line and column (in characters) of byte `offset` of a job file's `text`: where
/// an engine rule's [`Origin::File`](keepnet_export_core::settings::Origin::File) points.
/// Scans the text from its start: for many offsets, build [`Positions`] once.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    text::position(text, offset)
}

/// One error as a person reads it, without a trailing newline:
///
/// ```text
/// reports.toml:12:5: unknown key `sink` in [[job]]: did you mean `sinks`?
///    |
/// 12 | sink = ["csv:out.csv"]
///    | ^
/// ```
///
/// `text` is the file's content; when the line is not in it, only the first line is shown. A
/// line that names a password, secret or token is shown with its value replaced by
/// `"[redacted]"`.
pub fn render_error(path: &str, text: &str, e: &JobError) -> String {
    render_error_with(path, text, e, &|value| value.to_owned())
}

/// [`render_error`], each quoted `KIND:TARGET` value of the line shown as `show` shows it: the
/// runner's `Registry::shown_text`, which cuts a secret target (a webhook URL carries its
/// token) to its scheme and host. So a snippet hides a value by what it is, not by the words
/// around it.
pub fn render_error_with(
    path: &str,
    text: &str,
    e: &JobError,
    show: &dyn Fn(&str) -> String,
) -> String {
    render_line(path, text.lines().nth(e.line.saturating_sub(1)), e, show)
}

/// How many errors [`render_errors_with`] shows; the rest are counted.
pub const ERRORS_SHOWN: usize = 100;

/// Every error of `errors` as [`render_error_with`] shows it, one after another, the first
/// [`ERRORS_SHOWN`] of them, then `... and N more errors` for the rest. `positions` is the
/// file's index ([`Positions::new`]), so a file with thousands of errors is shown in time
/// linear in its size.
pub fn render_errors_with(
    path: &str,
    positions: &Positions<'_>,
    errors: &[JobError],
    show: &dyn Fn(&str) -> String,
) -> String {
    let mut out: Vec<String> = errors
        .iter()
        .take(ERRORS_SHOWN)
        .map(|e| render_line(path, positions.line(e.line), e, show))
        .collect();
    if errors.len() > ERRORS_SHOWN {
        out.push(format!(
            "... and {} more errors in {path} (the first {ERRORS_SHOWN} are shown)",
            errors.len() - ERRORS_SHOWN
        ));
    }
    out.join("\n")
}

/// One error with `source`, its line in the file (none: the message alone).
fn render_line(
    path: &str,
    source: Option<&str>,
    e: &JobError,
    show: &dyn Fn(&str) -> String,
) -> String {
    let mut out = format!("{path}:{e}");
    let Some(source) = source else {
        return out;
    };
    let (source, column) = shown_values(&redacted(source), e.column, show);
    let number = e.line.to_string();
    let gutter = " ".repeat(number.len());
    // Keep tabs so the caret lines up under tab-indented text.
    let pad: String = source
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let extra = " ".repeat(column.saturating_sub(1).saturating_sub(pad.chars().count()));
    out.push_str(&format!(
        "\n{gutter} |\n{number} | {source}\n{gutter} | {pad}{extra}^"
    ));
    out
}

/// `line` with each quoted string that looks like `KIND:TARGET` replaced by `show` of it, and
/// `column` (1-based, in characters) moved to match: past a replaced value by the change in
/// its length, inside one to its opening quote.
fn shown_values(line: &str, column: usize, show: &dyn Fn(&str) -> String) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    let caret = column.saturating_sub(1);
    let mut out = String::with_capacity(line.len());
    // The change in length of the values replaced before the caret; the caret's new place
    // when it is inside a replaced value.
    let (mut shift, mut inside) = (0isize, None);
    let mut i = 0;
    while i < chars.len() {
        let quote = chars[i];
        let close = match quote {
            '"' | '\'' => chars[i + 1..]
                .iter()
                .position(|c| *c == quote)
                .map(|at| i + 1 + at),
            _ => None,
        };
        let Some(close) = close else {
            out.push(quote);
            i += 1;
            continue;
        };
        let value: String = chars[i + 1..close].iter().collect();
        let shown = match looks_like_spec(&value) {
            true => show(&value),
            false => value.clone(),
        };
        out.push(quote);
        out.push_str(&shown);
        out.push(quote);
        if shown != value {
            let start = i + 1;
            if (start..=close).contains(&caret) {
                inside.get_or_insert((start as isize + shift).max(0) as usize);
            } else if caret > close {
                shift += shown.chars().count() as isize - value.chars().count() as isize;
            }
        }
        i = close + 1;
    }
    let moved = inside.unwrap_or_else(|| (caret as isize + shift).max(0) as usize);
    (out, moved + 1)
}

/// Whether `value` has the shape `KIND:...` (a kind name, then a colon).
fn looks_like_spec(value: &str) -> bool {
    value.split_once(':').is_some_and(|(kind, _)| {
        !kind.is_empty()
            && kind
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// A source line as it may be shown: when it names something secret (a password, a secret, a
/// token) everything after its first `=` is replaced, so a password pasted into the file never
/// reaches a terminal or a log through an error snippet.
fn redacted(line: &str) -> std::borrow::Cow<'_, str> {
    let lower = line.to_ascii_lowercase();
    let secret = ["pass", "secret", "token", "pwd"]
        .iter()
        .any(|word| lower.contains(word));
    match line.find('=') {
        Some(at) if secret => std::borrow::Cow::Owned(format!("{} \"[redacted]\"", &line[..=at])),
        _ => std::borrow::Cow::Borrowed(line),
    }
}
