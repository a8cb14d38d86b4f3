//! `sftp:user@host:/path/`: upload over SSH through `keepnet-sink-sftp` (russh, pure Rust),
//! host keys always checked, each file written under a temporary name and renamed into place.

use keepnet_sink::{Delivery, SinkError};
use keepnet_sink_sftp::{SftpDelivery, SftpSettings};

use crate::options::{OptionSpec, OptionType, SinkSettings};
use crate::spec::SinkSpec;

/// The kind's name.
pub const KIND: &str = "sftp";

/// For `--help` and errors.
pub const DESCRIPTION: &str = "upload the run's files over SSH once published, host key \
     checked; USER@HOST:/PATH/ or sftp://USER@HOST:PORT/PATH/";

/// The kind's options.
pub const OPTIONS: [OptionSpec; 6] = [
    OptionSpec::new(
        "port",
        OptionType::Integer { min: 1, max: 65535 },
        "",
        "the SSH port [default: the target's, else 22]",
    ),
    OptionSpec::new(
        "known-hosts",
        OptionType::Text,
        "",
        "the known_hosts file the server's key must be in [default: ~/.ssh/known_hosts]; an \
         unknown or changed key is refused",
    ),
    OptionSpec::new(
        "host-key-fingerprint",
        OptionType::Text,
        "",
        "accept exactly this host key instead (SHA256:..., as ssh-keygen -lf prints it)",
    ),
    OptionSpec::new(
        "identity",
        OptionType::Text,
        "",
        "an OpenSSH private key file (passphrase from KEEPNET_SFTP_KEY_PASSPHRASE) \
         [default: the SSH agent at SSH_AUTH_SOCK]",
    ),
    OptionSpec::new(
        "timeout",
        OptionType::Seconds,
        "30",
        "seconds to connect, and for each step after",
    ),
    OptionSpec::new(
        "mkdir",
        OptionType::Bool,
        "true",
        "create the target folder and its missing parents",
    ),
];

/// The SFTP settings of `spec`, from the kind's options and the passphrase secret.
pub fn settings(spec: &SinkSpec, s: &SinkSettings) -> Result<SftpSettings, SinkError> {
    let own = s.options(KIND);
    let mut settings = SftpSettings::new(spec.target.clone());
    // Declared as 1..=65535, so it fits.
    settings.port = own
        .optional_integer("port")
        .and_then(|p| u16::try_from(p).ok());
    settings.known_hosts = own.nonempty("known-hosts")?.map(Into::into);
    settings.host_key_fingerprint = own.nonempty("host-key-fingerprint")?.map(str::to_owned);
    settings.identity = own.nonempty("identity")?.map(Into::into);
    settings.passphrase = s.secrets.get(super::SFTP_KEY_PASSPHRASE).cloned();
    settings.timeout = own.seconds("timeout")?;
    settings.mkdir = own.bool("mkdir")?;
    Ok(settings)
}

/// Builds the delivery (reads the key; connects only when delivering).
pub fn build(spec: &SinkSpec, s: &SinkSettings) -> Result<Box<dyn Delivery>, SinkError> {
    Ok(Box::new(SftpDelivery::new(settings(spec, s)?)?))
}

/// What building it would refuse (the target, the key, known_hosts), with no connection.
pub fn check(spec: &SinkSpec, s: &SinkSettings) -> Result<(), SinkError> {
    SftpDelivery::check(&settings(spec, s)?)
}
