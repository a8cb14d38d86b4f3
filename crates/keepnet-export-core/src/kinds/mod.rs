//! The built-in delivery kinds, each in its own module: its options (as [`OptionSpec`]s), how
//! its settings are read from them, its rules, its check before a run and its factory, all in
//! one [`DeliveryKind`]. [`Registry::builtin`](crate::sinks::Registry::builtin) registers them
//! with [`Registry::register_delivery_kind`](crate::sinks::Registry::register_delivery_kind),
//! the call a binary embedding the runner uses for its own.
//!
//! The file formats are described the same way, each one [`SinkKind`] ([`files`]).
//!
//! - [`email`]: `email:ADDR[,ADDR...]`, the files by e-mail.
//! - [`s3`]: `s3:s3://BUCKET/PREFIX/`, S3-compatible object storage.
//! - [`sftp`]: `sftp:user@host:/path/`, upload over SSH.
//! - [`webhook`]: `webhook:URL`, a JSON notice (Teams, Slack) after the other deliveries.

pub mod email;
pub mod files;
pub mod s3;
pub mod sftp;
pub mod webhook;

use keepnet_sink::{Delivery, Sink, SinkError};

use crate::options::{OptionRule, OptionSpec, SinkSettings};
use crate::spec::SinkSpec;

/// Builds a delivery from its target and the settings.
pub type BuildDelivery = fn(&SinkSpec, &SinkSettings) -> Result<Box<dyn Delivery>, SinkError>;

/// Builds a sink from its target and the settings.
pub type BuildSink = fn(&SinkSpec, &SinkSettings) -> Result<Box<dyn Sink>, SinkError>;

/// A file format described whole, for
/// [`Registry::register_sink_kind`](crate::sinks::Registry::register_sink_kind).
#[derive(Clone, Copy)]
pub struct SinkKind {
    /// The kind's name, before the `:` of `--sink KIND:TARGET`.
    pub name: &'static str,
    /// One line for `--help` and errors.
    pub description: &'static str,
    /// Its options (`KIND.NAME`).
    pub options: &'static [OptionSpec],
    /// Whether the target `-` means stdout.
    pub stdout: bool,
    /// Whether, with no columns chosen, it takes each record whole, every field as served.
    pub records: bool,
    /// Builds it from its target and the settings.
    pub build: BuildSink,
}

/// Checks an output before the run, as building it would.
pub type CheckOutput = fn(&SinkSpec, &SinkSettings) -> Result<(), SinkError>;

/// A delivery kind described whole, for
/// [`Registry::register_delivery_kind`](crate::sinks::Registry::register_delivery_kind).
#[derive(Clone, Copy)]
pub struct DeliveryKind {
    /// The kind's name, before the `:` of `--sink KIND:TARGET`.
    pub name: &'static str,
    /// One line for `--help` and errors.
    pub description: &'static str,
    /// Its options (`KIND.NAME`).
    pub options: &'static [OptionSpec],
    /// Rules its options follow together, checked with every front end's settings.
    pub rules: &'static [OptionRule],
    /// Builds it from its target and the settings.
    pub build: BuildDelivery,
    /// What building it would refuse, with no I/O beyond local files.
    pub check: CheckOutput,
    /// Whether it sends the files (and so takes the `encrypt` option).
    pub sends_files: bool,
    /// Whether it runs after every other delivery (a notice).
    pub last: bool,
    /// Whether its target holds a secret, shown cut to its host.
    pub secret_target: bool,
}

/// The built-in delivery kinds.
pub const BUILTIN: [DeliveryKind; 4] = [
    DeliveryKind {
        name: email::KIND,
        description: email::DESCRIPTION,
        options: &email::OPTIONS,
        rules: &[email::rule],
        build: email::build,
        check: email::check,
        sends_files: true,
        last: false,
        secret_target: false,
    },
    DeliveryKind {
        name: s3::KIND,
        description: s3::DESCRIPTION,
        options: &s3::OPTIONS,
        rules: &[],
        build: s3::build,
        check: s3::check,
        sends_files: true,
        last: false,
        secret_target: false,
    },
    DeliveryKind {
        name: sftp::KIND,
        description: sftp::DESCRIPTION,
        options: &sftp::OPTIONS,
        rules: &[],
        build: sftp::build,
        check: sftp::check,
        sends_files: true,
        last: false,
        secret_target: false,
    },
    DeliveryKind {
        name: webhook::KIND,
        description: webhook::DESCRIPTION,
        options: &webhook::OPTIONS,
        rules: &[],
        build: webhook::build,
        check: webhook::check,
        sends_files: false,
        last: true,
        secret_target: true,
    },
];

/// The `encrypt` options of the built-in deliveries that send files: what `--encrypt` sets
/// (a unit test keeps it equal to the kinds that declare `encrypt`).
pub const SENDS_FILES: [&str; 3] = ["email.encrypt", "s3.encrypt", "sftp.encrypt"];

/// The secret an SFTP private key's passphrase is kept as (from KEEPNET_SFTP_KEY_PASSPHRASE).
pub const SFTP_KEY_PASSPHRASE: &str = "sftp.key-passphrase";

/// The secret a webhook's token is kept as (from KEEPNET_WEBHOOK_TOKEN).
pub const WEBHOOK_TOKEN: &str = "webhook.token";
