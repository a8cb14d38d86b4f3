//! The command-line interface: clap definitions only. Validation and the building of real
//! objects happen in [`crate::session`] and the commands, so clap types stop here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;
use crate::secret::SecretArg;

/// List and export a Keepnet reseller's customer target users.
#[derive(Debug, Parser)]
#[command(name = "keepnet-export", version, about, long_about = None, after_help = exit::HELP)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Connection, credential and logging options.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Keepnet API base URL (https; plain http only on loopback).
    #[arg(long, env = "KEEPNET_BASE_URL", default_value = keepnet_api::DEFAULT_BASE_URL, global = true)]
    pub base_url: String,

    /// OAuth2 client id (Company Settings > REST API).
    #[arg(long, env = "KEEPNET_CLIENT_ID", global = true)]
    pub client_id: Option<String>,

    /// OAuth2 client secret. Prefer the environment variable or --client-secret-file: a value
    /// given here is visible in the process list.
    #[arg(
        long,
        env = "KEEPNET_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub client_secret: Option<SecretArg>,

    /// Read the client secret from this file (first line; surrounding whitespace ignored).
    #[arg(
        long,
        env = "KEEPNET_CLIENT_SECRET_FILE",
        value_name = "PATH",
        global = true
    )]
    pub client_secret_file: Option<PathBuf>,

    /// Start the built-in sandbox API in-process and run against it with its own credentials.
    #[arg(long, env = "KEEPNET_SANDBOX", global = true)]
    pub sandbox: bool,

    /// Retries of a call that failed transiently (429, 408, 5xx, network); 0 disables.
    #[arg(
        long,
        env = "KEEPNET_RETRIES",
        value_name = "N",
        default_value_t = 8,
        global = true
    )]
    pub retries: u32,

    /// First retry waits up to this long (ms); the bound doubles each retry (full jitter).
    #[arg(
        long,
        env = "KEEPNET_RETRY_INITIAL_BACKOFF_MS",
        value_name = "MS",
        default_value_t = 250,
        global = true
    )]
    pub retry_initial_backoff_ms: u64,

    /// Longest single wait between retries (s), the server's Retry-After included.
    #[arg(
        long,
        env = "KEEPNET_RETRY_MAX_BACKOFF",
        value_name = "SECS",
        default_value_t = 30,
        global = true
    )]
    pub retry_max_backoff: u64,

    /// Longest total wait for one call across its retries (s).
    #[arg(
        long,
        env = "KEEPNET_RETRY_MAX_ELAPSED",
        value_name = "SECS",
        default_value_t = 120,
        global = true
    )]
    pub retry_max_elapsed: u64,

    /// Longest time for one request, from sending to the end of the answer (s).
    #[arg(
        long,
        env = "KEEPNET_TIMEOUT",
        value_name = "SECS",
        default_value_t = 120,
        global = true
    )]
    pub timeout: u64,

    /// Most API requests in flight at once, shared by every company of the run; halves on
    /// HTTP 429 and recovers gradually.
    #[arg(long, env = "KEEPNET_CONCURRENCY", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256), global = true)]
    pub concurrency: u16,

    /// At most this many API requests per second (for credentials with a known rate limit).
    #[arg(long, env = "KEEPNET_MAX_RPS", value_name = "RPS", global = true, value_parser = parse_rps)]
    pub max_rps: Option<f64>,

    /// Longest time to establish a connection (s).
    #[arg(
        long,
        env = "KEEPNET_CONNECT_TIMEOUT",
        value_name = "SECS",
        default_value_t = 10,
        global = true
    )]
    pub connect_timeout: u64,

    /// Seconds between progress lines when stderr is not a terminal.
    #[arg(
        long,
        env = "KEEPNET_PROGRESS_INTERVAL",
        value_name = "SECS",
        default_value_t = 10.0,
        global = true
    )]
    pub progress_interval: f64,

    /// How long an exec plugin may leave its input unread, or keep running after its input
    /// ended, before it is stopped (with every process it started) and the run fails.
    #[arg(long, env = "KEEPNET_PLUGIN_TIMEOUT", value_name = "SECS", default_value_t = 60.0, value_parser = parse_seconds, global = true)]
    pub plugin_timeout: f64,

    /// Where `--plugin-timeout` came from (filled in after parsing).
    #[arg(skip)]
    pub plugin_timeout_source: Option<clap::parser::ValueSource>,

    /// Scope guard margin: how far, in percent, an answer scoped to one company may exceed
    /// that company's own user counts (from companies/search) before it is refused as holding
    /// other customers' people (exit 8). At least 20 users of margin either way.
    #[arg(long, env = "KEEPNET_SCOPE_TOLERANCE", value_name = "PERCENT", default_value_t = keepnet_api::scope::DEFAULT_TOLERANCE_PERCENT, value_parser = clap::value_parser!(u32).range(0..=1000), global = true)]
    pub scope_tolerance: u32,

    /// More detail on stderr: -v debug, -vv trace, -vvv trace of dependencies too.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// How log lines on stderr look: text for people, or one JSON object per line (time,
    /// level, target, fields) for log shippers; the final error is such a line too.
    #[arg(long, env = "KEEPNET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Only errors on stderr. Given with -v on the command line it is a usage error; from
    /// KEEPNET_QUIET, a -v flag wins.
    #[arg(short, long, env = "KEEPNET_QUIET", global = true)]
    pub quiet: bool,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every company the credential manages (children after their parent).
    Companies(CompaniesArgs),
    /// Show a company's target-user count summary.
    Count(CountArgs),
    /// Export a company's target users to sinks (CSV, Excel, JSON Lines), or stream them as
    /// JSON Lines on stdout when no output (--sink, --changes, --rollup) is named.
    Users(Box<UsersArgs>),
    /// Save the server-side export (CSV or Excel) of a company's target users.
    Export(ExportArgs),
    /// Serve the sandbox API on 127.0.0.1 for trying the tool by hand.
    Sandbox(SandboxArgs),
    /// Run the jobs of a report file (companies, columns, outputs, e-mail per customer).
    Run(RunArgs),
    /// Write the summary e-mail one company's export would send, as COMPANY.eml and
    /// COMPANY.html, to look at before sending to customers: the export runs (with --sandbox,
    /// against the built-in sandbox), nothing is sent.
    PreviewEmail(Box<PreviewArgs>),
    /// Show what the credential is allowed to do (role, company, permissions) before a run.
    Whoami(WhoamiArgs),
    /// Answer, on your own tenant, each guess the tool makes about the live API
    /// (docs/api-assumptions.md): read-only, and its output holds no personal data (counts,
    /// field names, formats, status codes), so it can be pasted into a bug report.
    Doctor(DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page (roff) generated from these same definitions.
    Man,
    /// The benchmark floor (for `cargo xtask bench`): fetch a company's user pages as `users`
    /// would and only check that each is well-formed JSON; build no row, write nothing.
    #[command(hide = true)]
    BenchFloor(FloorArgs),
}

/// `run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file (TOML), e.g. reports.toml.
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,
    /// Validate the file and print the plan; call no API.
    #[arg(long)]
    pub check: bool,
    /// Companies exported at once within a job; their requests share the --concurrency
    /// budget.
    #[arg(long, env = "KEEPNET_COMPANY_CONCURRENCY", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub company_concurrency: u16,
    /// Write the run's summary (see docs/summary-json.md) to PATH, or - for stdout.
    #[arg(long, env = "KEEPNET_SUMMARY_JSON", value_name = "PATH")]
    pub summary_json: Option<std::path::PathBuf>,
    /// How long to wait for another run that holds a job's state folder's lock before giving
    /// up (0: give up at once). A lock whose run is gone is taken over.
    #[arg(long, env = "KEEPNET_STATE_WAIT", value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub state_wait: u64,
}

/// `whoami` options.
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = CountFormat::Table)]
    pub format: CountFormat,
}

/// `doctor` options.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The company to test with: its resource id, or its exact name (case-insensitive).
    #[arg(long, env = "KEEPNET_COMPANY", value_name = "ID|NAME")]
    pub company: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CountFormat::Table)]
    pub format: CountFormat,
}

/// `completions` options.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `companies` options.
#[derive(Debug, Args)]
pub struct CompaniesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Only companies whose target users exceed their licence.
    #[arg(long)]
    pub exceeding_limit: bool,
}

/// `count` options.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// The company: its resource id, or its exact name (case-insensitive).
    #[arg(long, env = "KEEPNET_COMPANY", value_name = "ID|NAME")]
    pub company: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CountFormat::Table)]
    pub format: CountFormat,
}

/// `bench-floor` options.
#[derive(Debug, Args)]
pub struct FloorArgs {
    /// The company: its resource id, or its exact name (case-insensitive).
    #[arg(long, value_name = "ID|NAME")]
    pub company: String,
    /// Users asked per page, as `users --page-size`.
    #[arg(long, value_name = "N", default_value_t = keepnet_api::DEFAULT_PAGE_SIZE)]
    pub page_size: u32,
    /// Which users, as `users --status`.
    #[arg(long, value_name = "LIST", default_value = "active,inactive", value_parser = parse_statuses)]
    pub status: keepnet_api::StatusSet,
}

/// `preview-email` options: one company's `users` export whose e-mail is written to files.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Where to write COMPANY.eml (the whole message, as it would be sent) and COMPANY.html
    /// (its HTML part, the logo beside it).
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,
    /// The recipient the message is addressed to, when no --sink email:ADDR is given.
    #[arg(long, value_name = "ADDR", default_value = "it@customer.example")]
    pub to: String,
    /// The export, as `users` takes it (company, columns, state, e-mail settings...).
    #[command(flatten)]
    pub users: UsersArgs,
}

/// `users` options.
#[derive(Debug, Clone, Args)]
pub struct UsersArgs {
    /// The company: its resource id or exact name (case-insensitive); repeat for several, or
    /// `all` for every managed company (file targets then need {company} or {company_id}).
    #[arg(
        long,
        env = "KEEPNET_COMPANY",
        value_name = "ID|NAME|all",
        required = true
    )]
    pub company: Vec<String>,
    /// Companies exported at once (with several companies); their requests share the
    /// --concurrency budget.
    #[arg(long, env = "KEEPNET_COMPANY_CONCURRENCY", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub company_concurrency: u16,
    /// Stop at the first company that fails (default: export the others, then report).
    #[arg(long, env = "KEEPNET_FAIL_FAST")]
    pub fail_fast: bool,
    /// Write a machine-readable summary (per company: rows, files with SHA-256, e-mails,
    /// retries, warnings, duration, outcome) to PATH, or - for stdout.
    #[arg(long, env = "KEEPNET_SUMMARY_JSON", value_name = "PATH")]
    pub summary_json: Option<std::path::PathBuf>,
    /// Keep, in DIR, one state file per company (user ids, field fingerprints, names; personal
    /// data, written 0600) so the next run reports who joined, left or changed. It advances
    /// only after a complete, successful run; the first run is the baseline.
    #[arg(long, env = "KEEPNET_STATE", value_name = "DIR")]
    pub state: Option<String>,
    /// How long to wait for another run that holds the --state folder's lock before giving up
    /// (0: give up at once). A lock whose run is gone is taken over.
    #[arg(long, env = "KEEPNET_STATE_WAIT", value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub state_wait: u64,
    /// Write one row per change since the previous run (columns change, changedFields, then
    /// the exported ones), repeatable, any row sink kind; needs --state.
    #[arg(long = "changes", env = "KEEPNET_CHANGES", value_name = "KIND:TARGET")]
    pub changes: Vec<String>,
    /// With several companies, write one row per company (companyId, company, parent,
    /// usersExported, active, inactive, deleted, monthlyAdded, licenceLimit, overLimit,
    /// joined, left, changed, outcome, files), repeatable, any row sink kind; an xlsx rollup
    /// ends with a total row. The target may hold {date} or {timestamp}.
    #[arg(long = "rollup", env = "KEEPNET_ROLLUP", value_name = "KIND:TARGET")]
    pub rollup: Vec<String>,
    /// Exit 9 when users joined, left or changed since the previous run (after publishing
    /// everything and advancing the state); needs --state.
    #[arg(long, env = "KEEPNET_FAIL_ON_CHANGES")]
    pub fail_on_changes: bool,
    /// Send no e-mail for a company whose users did not change since the previous run; needs
    /// --state.
    #[arg(long, env = "KEEPNET_MAIL_SKIP_UNCHANGED")]
    pub mail_skip_unchanged: bool,
    /// Free-text search over name, e-mail and department.
    #[arg(long, env = "KEEPNET_SEARCH", value_name = "TEXT")]
    pub search: Option<String>,
    /// Which users: a comma list of active, inactive, deleted (or all). The live list keeps
    /// deleted users; by default they are left out, selected on the server.
    #[arg(
        long,
        env = "KEEPNET_STATUS",
        value_name = "LIST",
        default_value = "active,inactive"
    )]
    pub status: String,
    /// API field to order by (e.g. CreateTime, Email, FirstName).
    #[arg(
        long,
        env = "KEEPNET_ORDER_BY",
        value_name = "FIELD",
        default_value = "CreateTime"
    )]
    pub order_by: String,
    /// Newest/last first instead of ascending.
    #[arg(long, env = "KEEPNET_DESCENDING")]
    pub descending: bool,
    /// Users asked per page (the server may answer with fewer; paging follows it). A server
    /// that refuses the size is asked for 100 instead, once, with a log line.
    #[arg(
        long,
        env = "KEEPNET_PAGE_SIZE",
        value_name = "N",
        default_value = "1000"
    )]
    pub page_size: String,
    /// Publish, marked incomplete (a warning, `incomplete: true` in the summary), a read that
    /// still disagrees with the server's own figures after every page was read 3 times. By
    /// default that run fails (exit 7) and publishes nothing.
    #[arg(long, env = "KEEPNET_ALLOW_INCOMPLETE")]
    pub allow_incomplete: bool,
    /// Accepted for old scripts: failing on an incomplete read is now the default.
    #[arg(long, hide = true, conflicts_with = "allow_incomplete")]
    pub strict: bool,
    /// Output, repeatable; every sink is fed from the same single fetch. KIND is csv, xlsx,
    /// jsonl (TARGET a file path, or - for stdout with csv and jsonl), email (TARGET the
    /// addresses), s3 (s3://BUCKET/PREFIX/), sftp (USER@HOST:/PATH/), webhook (an https URL;
    /// runs after the other deliveries), exec (TARGET a command reading rows as JSON Lines) or
    /// NAME for an executable keepnet-export-sink-NAME on PATH. Deliveries (email, s3, sftp,
    /// webhook) run once every file is published. Targets may hold {company}, {company_id},
    /// {date} and {timestamp}. Without --sink, users stream to stdout as JSON Lines exactly as
    /// the API returns them.
    #[arg(long = "sink", env = "KEEPNET_SINK", value_name = "KIND:TARGET")]
    pub sinks: Vec<String>,
    /// Check every option as a run would and print what it would do (like `run --check`),
    /// calling no API and writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A sink kind's own option, repeatable: KIND.NAME=VALUE. Built in: csv.delimiter (one
    /// ASCII character or `tab`, default `,`), csv.bom, csv.raw-cells (true/false, default
    /// false), xlsx.compression (1-9, default 2); a team's own kinds declare theirs
    /// (docs/sink-options.md).
    #[arg(
        long = "sink-option",
        env = "KEEPNET_SINK_OPTION",
        value_name = "KIND.NAME=VALUE"
    )]
    pub sink_options: Vec<String>,
    /// Where each value came from (set by the runner, for messages): argument id and source.
    #[arg(skip)]
    pub sources: Vec<(String, clap::parser::ValueSource)>,
    /// Columns to export, in order: API field names (email,firstName,...) and custom:NAME for
    /// one custom field as its own column. Default: every field, custom fields in one column.
    #[arg(long, env = "KEEPNET_COLUMNS", value_name = "LIST")]
    pub columns: Option<String>,
    /// Header labels: API field names (firstName) or labels for people (First Name).
    #[arg(long, env = "KEEPNET_HEADER", value_enum, default_value_t = HeaderArg::Api)]
    pub header: HeaderArg,
    /// Write CSV cells raw: no apostrophe before text a spreadsheet would run as a formula
    /// (the option csv.raw-cells=true).
    #[arg(long, env = "KEEPNET_RAW_CELLS")]
    pub raw_cells: bool,
    /// CSV field delimiter: one ASCII character, or `tab` (the option csv.delimiter; default
    /// `,`).
    #[arg(long, env = "KEEPNET_CSV_DELIMITER", value_name = "CHAR")]
    pub csv_delimiter: Option<String>,
    /// Start CSV files with a UTF-8 byte-order mark (Excel on Windows needs it for non-Latin
    /// names; the option csv.bom=true).
    #[arg(long, env = "KEEPNET_CSV_BOM")]
    pub csv_bom: bool,
    /// XLSX deflate level: 1 fastest .. 9 smallest (the option xlsx.compression; default 2).
    #[arg(long, env = "KEEPNET_XLSX_COMPRESSION", value_name = "1-9")]
    pub xlsx_compression: Option<String>,
    /// E-mail delivery settings (for `--sink email:ADDR[,ADDR...]`).
    #[command(flatten)]
    pub email: EmailArgs,
    /// Encryption of what deliveries send.
    #[command(flatten)]
    pub encrypt: EncryptArgs,
}

/// Encryption of the files e-mail, S3 and SFTP deliveries send (the published files stay as
/// they are). Secrets come from the environment or files, never from the command line:
/// KEEPNET_ENCRYPT_PASSWORD, KEEPNET_SFTP_KEY_PASSPHRASE, KEEPNET_WEBHOOK_TOKEN.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Encryption of deliveries (--sink email:, s3:, sftp:)")]
pub struct EncryptArgs {
    /// Send encrypted copies: zip-aes (an AES-256 ZIP that 7-Zip, WinZip and common tools
    /// open; its password from KEEPNET_ENCRYPT_PASSWORD or --encrypt-password-file) or
    /// age:RECIPIENT[,RECIPIENT...] (age1... public keys). Sets the option KIND.encrypt of
    /// every delivery that sends files.
    #[arg(long, env = "KEEPNET_ENCRYPT", value_name = "zip-aes|age:RECIPIENT")]
    pub encrypt: Option<String>,
    /// Read the zip-aes password from this file (first line); otherwise
    /// KEEPNET_ENCRYPT_PASSWORD. Send it to the recipient another way than the files.
    #[arg(long, env = "KEEPNET_ENCRYPT_PASSWORD_FILE", value_name = "PATH")]
    pub encrypt_password_file: Option<PathBuf>,
}

/// Settings of `--sink email:...`. The password comes from KEEPNET_SMTP_PASSWORD or
/// --smtp-password-file, never from the command line.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "E-mail delivery (--sink email:ADDR[,ADDR...])")]
pub struct EmailArgs {
    /// SMTP server host.
    #[arg(long, env = "KEEPNET_SMTP_HOST", value_name = "HOST")]
    pub smtp_host: Option<String>,
    /// SMTP port [default: 587 for starttls, 465 for tls, 25 for none].
    #[arg(long, env = "KEEPNET_SMTP_PORT", value_name = "PORT")]
    pub smtp_port: Option<u16>,
    /// Transport security: STARTTLS required (no downgrade), implicit TLS, or none (loopback
    /// hosts only).
    #[arg(long, env = "KEEPNET_SMTP_TLS", value_enum, default_value_t = SmtpTlsArg::Starttls)]
    pub smtp_tls: SmtpTlsArg,
    /// SMTP user name (AUTH only ever happens over TLS).
    #[arg(long, env = "KEEPNET_SMTP_USER", value_name = "USER")]
    pub smtp_user: Option<String>,
    /// Read the SMTP password from this file (first line); otherwise KEEPNET_SMTP_PASSWORD.
    #[arg(long, env = "KEEPNET_SMTP_PASSWORD_FILE", value_name = "PATH")]
    pub smtp_password_file: Option<PathBuf>,
    /// Extra trusted CA certificate(s), PEM, for a relay with a private CA.
    #[arg(long, env = "KEEPNET_SMTP_CA_FILE", value_name = "PATH")]
    pub smtp_ca_file: Option<PathBuf>,
    /// The From address, e.g. "Reports <reports@mssp.example>".
    #[arg(long, env = "KEEPNET_MAIL_FROM", value_name = "ADDR")]
    pub mail_from: Option<String>,
    /// Subject; placeholders {company}, {company_id}, {date}, {rows}.
    #[arg(long, env = "KEEPNET_MAIL_SUBJECT", value_name = "TEXT", default_value = keepnet_sink_email::DEFAULT_SUBJECT)]
    pub mail_subject: String,
    /// Cc recipients (repeatable, or comma-separated).
    #[arg(
        long,
        env = "KEEPNET_MAIL_CC",
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub mail_cc: Vec<String>,
    /// Bcc recipients (repeatable, or comma-separated); never shown in the message.
    #[arg(
        long,
        env = "KEEPNET_MAIL_BCC",
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub mail_bcc: Vec<String>,
    /// Largest total size of the attachments, checked before connecting: a number of bytes
    /// or with a unit (KB, KiB, MB, MiB, GB, GiB).
    #[arg(long, env = "KEEPNET_MAIL_MAX_ATTACHMENT_SIZE", value_name = "SIZE", default_value = "20MiB", value_parser = parse_size)]
    pub mail_max_attachment_size: u64,
    /// The sender's display name, e.g. your MSSP's (replaces the name in --mail-from).
    #[arg(long, env = "KEEPNET_MAIL_SENDER_NAME", value_name = "NAME")]
    pub mail_sender_name: Option<String>,
    /// A header line at the top of the message, e.g. your MSSP's name.
    #[arg(long, env = "KEEPNET_MAIL_HEADER", value_name = "TEXT")]
    pub mail_header: Option<String>,
    /// A logo at the top of the message: PNG, JPEG or GIF, at most 512 KiB, embedded (no
    /// remote image).
    #[arg(long, env = "KEEPNET_MAIL_LOGO", value_name = "PATH")]
    pub mail_logo: Option<PathBuf>,
    /// The footer text, replacing "Sent by keepnet-export".
    #[arg(long, env = "KEEPNET_MAIL_FOOTER", value_name = "TEXT")]
    pub mail_footer: Option<String>,
}

/// `--smtp-tls` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTlsArg {
    /// STARTTLS, required: the run fails rather than send in clear.
    Starttls,
    /// Implicit TLS (SMTPS, usually port 465).
    Tls,
    /// No TLS: refused unless the host is loopback; never with a password.
    None,
}

/// Header label styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeaderArg {
    /// API field names: firstName.
    Api,
    /// Labels for people: First Name.
    Human,
}

/// `export` options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The company: its resource id, or its exact name (case-insensitive).
    #[arg(long, env = "KEEPNET_COMPANY", value_name = "ID|NAME")]
    pub company: String,
    /// File type the server builds.
    #[arg(long = "type", value_enum)]
    pub kind: ExportKind,
    /// Which users: a comma list of active, inactive, deleted (or all); deleted users are
    /// left out by default.
    #[arg(long, env = "KEEPNET_STATUS", value_name = "LIST", default_value = "active,inactive", value_parser = parse_statuses)]
    pub status: keepnet_api::StatusSet,
    /// Where to save it; an existing directory keeps the server's file name.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

/// `sandbox` options.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 7401)]
    pub port: u16,
    /// Target users per customer company (the generated ones included).
    #[arg(long, default_value_t = 250)]
    pub users: usize,
    /// Also serve N generated top-level customers of the reseller, "Customer 001" to
    /// "Customer 200" for N = 200 (numbers padded to the width of N), each with --users
    /// users: e.g. `--extra-companies 200 --users 500` for a reseller-sized run. At most 10000.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=10_000))]
    pub extra_companies: u16,
    /// Most users the server returns per page, whatever is asked.
    #[arg(long, default_value_t = 50)]
    pub page_cap: u32,
    /// Answer a target-users/search asking for more than --page-cap users with HTTP 400,
    /// status INPUT_ERROR and "pageSize: PageSize must be between 1 and 50." (for the default
    /// cap), instead of a page capped at --page-cap. Exports and companies/search still cap.
    #[arg(long)]
    pub refuse_oversize_pages: bool,
    /// Fixed latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Fraction of API calls answered with 429/500/502/503 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Ignore the status filter items, as a public API that does not apply the UI's filters
    /// would: every state is answered (see docs/api-assumptions.md, status-filter).
    #[arg(long)]
    pub ignore_filter_items: bool,
    /// Mark deleted users by `status: "Deleted"` alone, with no `isDeleted` key on any row.
    #[arg(long)]
    pub status_only_deleted: bool,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Formats of `companies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// A JSON array.
    Json,
    /// CSV with a header row.
    Csv,
}

/// Formats of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CountFormat {
    /// Aligned columns for people.
    Table,
    /// The summary object as the API returned it.
    Json,
}

/// Server-side export types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportKind {
    /// CSV.
    Csv,
    /// Excel workbook (XLSX).
    Excel,
}

impl ExportKind {
    /// The name as typed.
    pub fn name(self) -> &'static str {
        match self {
            ExportKind::Csv => "csv",
            ExportKind::Excel => "excel",
        }
    }
}

/// `--max-rps R`: a finite rate from 0.01 to 100,000 requests per second.
pub fn parse_rps(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && (0.01..=100_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{text:?} is not a request rate: give requests per second from 0.01 to 100000"
        )),
    }
}

/// A positive, finite number of seconds, at most a day.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    keepnet_export_core::options::read_seconds(text).map(|d| d.as_secs_f64())
}

/// `--status LIST`.
pub fn parse_statuses(text: &str) -> Result<keepnet_api::StatusSet, String> {
    keepnet_api::StatusSet::parse(text).map_err(|e| e.to_string())
}

/// `20MiB`, `500 KB`, `1048576`: a size in bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    keepnet_export_core::options::read_size(text)
}

/// Options that have no environment variable, and why: how a command shows its answer
/// (`--format`), one-off switches and what only makes sense on the command line.
pub const NO_ENVIRONMENT: [&str; 9] = [
    "to",
    "verbose",
    "dry-run",
    "format",
    "type",
    "out",
    "check",
    "exceeding-limit",
    "strict",
];

/// The `KEEPNET_*` variable of a long option: `--smtp-tls` is `KEEPNET_SMTP_TLS`.
pub fn env_name(flag: &str) -> String {
    format!(
        "KEEPNET_{}",
        flag.trim_start_matches('-')
            .replace('-', "_")
            .to_uppercase()
    )
}

/// The first sentence of a help text on one line: up to a `. ` that starts a new sentence.
fn first_sentence(help: &str) -> String {
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut end = flat.len();
    for (at, _) in flat.match_indices(". ") {
        let abbreviation = flat[..at].ends_with("e.g") || flat[..at].ends_with("i.e");
        if !abbreviation && flat[at + 2..].starts_with(|c: char| c.is_uppercase()) {
            end = at;
            break;
        }
    }
    flat[..end].trim_end_matches('.').to_owned()
}

/// The Markdown table of every `KEEPNET_*` environment variable: the option it sets, the
/// commands that read it, its default and its help line. docs/environment.md holds it (a
/// test keeps it current).
pub fn environment_table() -> String {
    use clap::CommandFactory;
    use std::collections::BTreeMap;
    // env -> (flag, commands, default, help)
    let mut rows: BTreeMap<String, (String, Vec<String>, String, String)> = BTreeMap::new();
    let root = Cli::command();
    let mut visit = |command: &clap::Command, name: &str| {
        for arg in command.get_arguments() {
            let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let env = env.to_string_lossy().into_owned();
            let default = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",");
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let help = first_sentence(&help);
            let row = rows
                .entry(env)
                .or_insert_with(|| (format!("--{long}"), Vec::new(), default, help));
            if !row.1.iter().any(|c| c == name) {
                row.1.push(name.to_owned());
            }
        }
    };
    visit(&root, "all");
    for sub in root.get_subcommands() {
        visit(sub, sub.get_name());
    }
    let mut out = String::from(
        "| variable | option | commands | default | what it sets |\n|---|---|---|---|---|\n",
    );
    for (env, (flag, commands, default, help)) in rows {
        // Global options are listed by every subcommand too: "all" says it once.
        let commands = if commands.iter().any(|c| c == "all") {
            "all".to_owned()
        } else {
            commands.join(", ")
        };
        let default = if default.is_empty() {
            String::new()
        } else {
            format!("`{default}`")
        };
        let help = help.replace('|', "\\|");
        out.push_str(&format!(
            "| `{env}` | `{flag}` | {commands} | {default} | {help} |\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{environment_table, parse_size, Cli, NO_ENVIRONMENT};

    /// Every long option of every command can be set from a `KEEPNET_*` variable named after
    /// it, except the few listed (and why) in [`NO_ENVIRONMENT`].
    #[test]
    fn every_setting_has_its_environment_variable() {
        use clap::CommandFactory;
        let root = Cli::command();
        let mut missing = Vec::new();
        for command in std::iter::once(&root).chain(root.get_subcommands()) {
            // Hidden commands (bench-floor) are measuring tools, not settings a user keeps.
            if command.is_hide_set()
                || matches!(command.get_name(), "sandbox" | "completions" | "man")
            {
                continue;
            }
            for arg in command.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if arg.is_hide_set() || NO_ENVIRONMENT.contains(&long) || long == "help" {
                    continue;
                }
                let want = super::env_name(long);
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                if env.as_deref() != Some(want.as_str()) {
                    missing.push(format!(
                        "{} --{long}: {env:?}, want {want}",
                        command.get_name()
                    ));
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }

    /// docs/environment.md holds the generated table; `UPDATE_DOCS=1 cargo test -p
    /// keepnet-export --lib environment` rewrites it.
    #[test]
    fn the_environment_table_in_the_docs_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/environment.md");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let marker = "<!-- generated: cargo test environment -->\n";
        let head = text.split(marker).next().unwrap_or("").to_owned();
        let want = format!("{head}{marker}{}", environment_table());
        if text != want {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(&path, &want).unwrap();
            } else {
                panic!(
                    "docs/environment.md is stale: run `UPDATE_DOCS=1 cargo test -p keepnet-export --lib environment` and review the diff"
                );
            }
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20MiB"), Ok(20 << 20));
        assert_eq!(parse_size("1.5 KB"), Ok(1500));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        for bad in ["", "MiB", "0", "5 parsecs", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
