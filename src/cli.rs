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
    #[arg(long, value_name = "PATH", global = true)]
    pub client_secret_file: Option<PathBuf>,

    /// Start the built-in sandbox API in-process and run against it with its own credentials.
    #[arg(long, global = true)]
    pub sandbox: bool,

    /// More detail on stderr: -v debug, -vv trace, -vvv trace of dependencies too.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every company the credential manages (children after their parent).
    Companies(CompaniesArgs),
    /// Show a company's target-user count summary.
    Count(CountArgs),
    /// Export a company's target users to sinks (CSV, Excel, JSON Lines), or stream them as
    /// JSON Lines on stdout when no --sink is given.
    Users(UsersArgs),
    /// Save the server-side export (CSV or Excel) of a company's target users.
    Export(ExportArgs),
    /// Serve the sandbox API on 127.0.0.1 for trying the tool by hand.
    Sandbox(SandboxArgs),
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
    #[arg(long, value_name = "ID|NAME")]
    pub company: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CountFormat::Table)]
    pub format: CountFormat,
}

/// `users` options.
#[derive(Debug, Args)]
pub struct UsersArgs {
    /// The company: its resource id, or its exact name (case-insensitive).
    #[arg(long, value_name = "ID|NAME")]
    pub company: String,
    /// Free-text search over name, e-mail and department.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// API field to order by (e.g. CreateTime, Email, FirstName).
    #[arg(long, value_name = "FIELD", default_value = "CreateTime")]
    pub order_by: String,
    /// Newest/last first instead of ascending.
    #[arg(long)]
    pub descending: bool,
    /// Users asked per page (the server may answer with fewer; paging follows it).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub page_size: u32,
    /// Output, repeatable; every sink is fed from the same single fetch. KIND is csv, xlsx or
    /// jsonl; TARGET a file path, or - for stdout (csv, jsonl). Without --sink, users stream
    /// to stdout as JSON Lines exactly as the API returns them.
    #[arg(long = "sink", value_name = "KIND:TARGET")]
    pub sinks: Vec<String>,
    /// Columns to export, in order: API field names (email,firstName,...) and custom:NAME for
    /// one custom field as its own column. Default: every field, custom fields in one column.
    #[arg(long, value_name = "LIST")]
    pub columns: Option<String>,
    /// Header labels: API field names (firstName) or labels for people (First Name).
    #[arg(long, value_enum, default_value_t = HeaderArg::Api)]
    pub header: HeaderArg,
    /// Write CSV cells raw: no apostrophe before text a spreadsheet would run as a formula.
    #[arg(long)]
    pub raw_cells: bool,
    /// CSV field delimiter: one ASCII character, or `tab`.
    #[arg(long, value_name = "CHAR", default_value = ",")]
    pub csv_delimiter: String,
    /// Start CSV files with a UTF-8 byte-order mark (Excel on Windows needs it for non-Latin
    /// names).
    #[arg(long)]
    pub csv_bom: bool,
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
    #[arg(long, value_name = "ID|NAME")]
    pub company: String,
    /// File type the server builds.
    #[arg(long = "type", value_enum)]
    pub kind: ExportKind,
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
    /// Target users per customer company.
    #[arg(long, default_value_t = 250)]
    pub users: usize,
    /// Most users the server returns per page, whatever is asked.
    #[arg(long, default_value_t = 50)]
    pub page_cap: u32,
    /// Fixed latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Fraction of API calls answered with 429/500/502/503 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
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
