//! SFTP delivery for `keepnet-export`: after an export's files are published, upload them to a
//! folder on an SSH server (`--sink sftp:user@host:/drop/{company}/`).
//!
//! [`SftpDelivery`] implements [`keepnet_sink::Delivery`]. [`SftpDelivery::new`] (and the pure
//! [`SftpDelivery::check`]) check everything that needs no network: the target, the port, the
//! timeout, the host key fingerprint's form, that the known_hosts file can be read, that the
//! private key loads (and decrypts), or that an SSH agent is there.
//!
//! # How files are uploaded
//!
//! Each file is written under a temporary name in the target folder (`.Acme.csv.part-<random>`,
//! created exclusively, flushed with `fsync@openssh.com` when offered), and only when **every**
//! file is written are they renamed, in order, over their final names. A pickup job therefore
//! never sees a partial file, and a failed upload removes its temporary files (best effort) and
//! leaves any earlier file of that name untouched. The rename uses OpenSSH's
//! `posix-rename@openssh.com`, which replaces an existing file atomically; a server without it
//! gets a plain SFTP rename, and when that refuses because the file exists, the old file is
//! removed first: for that moment no file has the final name (never a partial one), and the
//! log line says `(replaced without posix-rename: not atomic)`.
//!
//! Missing folders are created by default ([`SftpSettings::mkdir`]): the target usually holds
//! `{company}`, a folder per customer that does not exist before its first export.
//!
//! # Host keys
//!
//! Always checked, there is no way to turn it off: against a known_hosts file
//! ([`SftpSettings::known_hosts`], `~/.ssh/known_hosts` by default; plain, `[host]:port`,
//! wildcard and hashed `|1|` entries, `@revoked`), or, when
//! [`SftpSettings::host_key_fingerprint`] is given, only against that fingerprint
//! (`SHA256:…` as `ssh-keygen -lf` prints it). An unknown or changed key is refused with its
//! type and fingerprint and how to accept it.
//!
//! # Login
//!
//! With [`SftpSettings::identity`] when given (an OpenSSH private key: ed25519, ecdsa or rsa,
//! passphrase in [`SftpSettings::passphrase`]), and then only with it; otherwise with the keys
//! of the SSH agent at [`SftpSettings::agent_socket`] (`SSH_AUTH_SOCK`), tried in the agent's
//! order. Passwords are not supported: an unattended export should not hold one.
//!
//! # Why russh
//!
//! SSH is [`russh`] with [`russh_sftp`]: pure Rust (no OpenSSL, no libssh2, no C build: built
//! here with `ring` for its primitives, not the default `aws-lc-rs`), async on tokio, and
//! actively maintained (releases every few weeks; the library under the Warpgate SSH bastion and
//! many deployment tools), with OpenSSH key formats, the agent protocol and the OpenSSH SFTP
//! extensions (`posix-rename`, `fsync`, `statvfs`) built in. The alternatives are the `ssh2`
//! crate (libssh2 and OpenSSL: a C build) or driving the `sftp` binary (whose errors and host
//! key prompts are made for people, not programs).
//!
//! [`deliver`](keepnet_sink::Delivery::deliver) is synchronous: it runs the upload on a small
//! current-thread tokio runtime of its own, so it works from a plain thread and from
//! `tokio::task::spawn_blocking`.
//!
//! The passphrase is never formatted: `Debug` shows `[redacted]` and no message holds it.

mod error;
mod known_hosts;
mod session;
mod target;

pub use error::{Reason, SftpError};
pub use target::Target;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use keepnet_sink::{Delivery, Report, Setting, SinkError};
use russh::keys::PrivateKey;
use secrecy::{ExposeSecret, SecretString};

use crate::session::{HostCheck, Login, Plan, Upload};

/// The port used when neither the target nor [`SftpSettings::port`] gives one.
pub const DEFAULT_PORT: u16 = 22;

/// The timeout used by [`SftpSettings::new`]: for connecting, and for each step after.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings of an SFTP upload.
#[derive(Clone)]
pub struct SftpSettings {
    /// What follows `sftp:` in `--sink`: `user@host:/folder/` (a folder without a leading `/`
    /// is relative to the login folder; IPv6 as `user@[::1]:/folder/`) or
    /// `sftp://user@host:port/folder/`, placeholders already filled in.
    pub target: String,
    /// The port; `None` means the target's, else [`DEFAULT_PORT`]. Refused when the target
    /// gives another.
    pub port: Option<u16>,
    /// The known_hosts file to check the host key against; `None` means `~/.ssh/known_hosts`.
    /// Not read when [`host_key_fingerprint`](Self::host_key_fingerprint) is given.
    pub known_hosts: Option<PathBuf>,
    /// Accept exactly the host key with this fingerprint, `SHA256:…` as `ssh-keygen -lf`
    /// prints it, instead of consulting known_hosts.
    pub host_key_fingerprint: Option<String>,
    /// The private key to log in with (OpenSSH format); `None` means the SSH agent's keys.
    pub identity: Option<PathBuf>,
    /// The passphrase of an encrypted [`identity`](Self::identity); never shown.
    pub passphrase: Option<SecretString>,
    /// The SSH agent's socket, used when no identity is given. [`SftpSettings::new`] takes it
    /// from `SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    /// Timeout for connecting and for each step after (login, each SFTP request).
    pub timeout: Duration,
    /// Create the target folder and its missing parents (default `true`).
    pub mkdir: bool,
}

impl SftpSettings {
    /// Settings for `target`: port from the target or 22, `~/.ssh/known_hosts`, the agent at
    /// `SSH_AUTH_SOCK` (if set), [`DEFAULT_TIMEOUT`], missing folders created.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            port: None,
            known_hosts: None,
            host_key_fingerprint: None,
            identity: None,
            passphrase: None,
            agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            timeout: DEFAULT_TIMEOUT,
            mkdir: true,
        }
    }
}

/// Prints `[redacted]` in place of a secret.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Debug for SftpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpSettings")
            .field("target", &self.target)
            .field("port", &self.port)
            .field("known_hosts", &self.known_hosts)
            .field("host_key_fingerprint", &self.host_key_fingerprint)
            .field("identity", &self.identity)
            .field("passphrase", &self.passphrase.as_ref().map(|_| Redacted))
            .field("agent_socket", &self.agent_socket)
            .field("timeout", &self.timeout)
            .field("mkdir", &self.mkdir)
            .finish()
    }
}

/// Uploads an export's files to a folder on an SSH server, atomically.
pub struct SftpDelivery {
    settings: SftpSettings,
    plan: Plan,
}

impl fmt::Debug for SftpDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpDelivery")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SftpDelivery {
    /// Checks `settings` (see [`SftpDelivery::check`]) and keeps the loaded key.
    pub fn new(settings: SftpSettings) -> Result<Self, SinkError> {
        let plan = plan(&settings)?;
        Ok(Self { settings, plan })
    }

    /// Checks `settings` without any network I/O: the target, port and timeout, the
    /// fingerprint's form, that the known_hosts file reads (unless a fingerprint is given),
    /// that the identity loads and decrypts, or, without one, that the agent socket exists.
    pub fn check(settings: &SftpSettings) -> Result<(), SinkError> {
        plan(settings).map(drop)
    }

    /// `sftp://user@host:port/folder/`, where the files go.
    pub fn destination(&self) -> String {
        self.plan.target.url(self.plan.port)
    }
}

const KNOWN_HOSTS: Setting = Setting::Option("sftp.known-hosts");

fn plan(settings: &SftpSettings) -> Result<Plan, SinkError> {
    let target = Target::parse(&settings.target).map_err(SinkError::Invalid)?;
    let port = match (target.port, settings.port) {
        (Some(a), Some(b)) if a != b => {
            return Err(SinkError::Invalid(format!(
                "sftp target `{}` says port {a} but the port setting says {b}: give one",
                settings.target
            )))
        }
        (Some(port), _) | (None, Some(port)) => port,
        (None, None) => DEFAULT_PORT,
    };
    if port == 0 {
        return Err(SinkError::Invalid("sftp port 0: give 1-65535".into()));
    }
    if settings.timeout.is_zero() {
        return Err(SinkError::Invalid(
            "sftp timeout is 0: give how long to wait, e.g. 30s".into(),
        ));
    }
    let host_check = match &settings.host_key_fingerprint {
        Some(fingerprint) => HostCheck::Fingerprint(check_fingerprint(fingerprint)?),
        None => {
            let path = match &settings.known_hosts {
                Some(path) => path.clone(),
                None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                    Some(home) => PathBuf::from(home).join(".ssh/known_hosts"),
                    None => {
                        return Err(SinkError::Unset {
                            message: "no known_hosts file to check the sftp server's host key: HOME is unset, so there is no ~/.ssh/known_hosts; give sftp.known-hosts or sftp.host-key-fingerprint".into(),
                            setting: KNOWN_HOSTS,
                        })
                    }
                },
            };
            match std::fs::read_to_string(&path) {
                Ok(_) => HostCheck::KnownHosts(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && settings.known_hosts.is_none() => {
                    return Err(SinkError::Unset {
                        message: format!(
                            "no known_hosts file at {} to check the host key of {}: give sftp.known-hosts (a file with the server's line, e.g. from `ssh-keyscan{} {}` after checking it) or sftp.host-key-fingerprint",
                            path.display(),
                            target.host,
                            if port == 22 { String::new() } else { format!(" -p {port}") },
                            target.host,
                        ),
                        setting: KNOWN_HOSTS,
                    })
                }
                Err(e) => return Err(SinkError::io(path, e)),
            }
        }
    };
    let login = match &settings.identity {
        Some(path) => Login::Key(
            path.clone(),
            Arc::new(load_key(path, settings.passphrase.as_ref())?),
        ),
        None => match &settings.agent_socket {
            Some(socket) if socket.exists() => Login::Agent(socket.clone()),
            Some(socket) => {
                return Err(SinkError::Invalid(format!(
                    "no SSH agent at {} (SSH_AUTH_SOCK): start one and `ssh-add` the key, or give sftp.identity",
                    socket.display()
                )))
            }
            None => {
                return Err(SinkError::Unset {
                    message: "no key to log in to the sftp server with: give sftp.identity (a private key file), or run an SSH agent (SSH_AUTH_SOCK) holding the key".into(),
                    setting: Setting::Option("sftp.identity"),
                })
            }
        },
    };
    Ok(Plan {
        target,
        port,
        host_check,
        login,
        timeout: settings.timeout,
        mkdir: settings.mkdir,
    })
}

/// `SHA256:` and 43 base64 characters (32 bytes), as `ssh-keygen -lf` prints it.
fn check_fingerprint(text: &str) -> Result<String, SinkError> {
    let text = text.trim();
    let bad = |why: &str| {
        SinkError::Invalid(format!(
            "sftp host key fingerprint `{text}` {why}: give it as `ssh-keygen -lf` prints it, e.g. SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
        ))
    };
    let Some(b64) = text.strip_prefix("SHA256:") else {
        return Err(bad(
            if text.starts_with("MD5:") || text.contains(':') && text.len() == 47 {
                "is an MD5 fingerprint, which is not accepted"
            } else {
                "does not start with SHA256:"
            },
        ));
    };
    match STANDARD_NO_PAD.decode(b64.trim_end_matches('=')) {
        Ok(bytes) if bytes.len() == 32 => Ok(format!("SHA256:{}", b64.trim_end_matches('='))),
        _ => Err(bad("is not 32 bytes of base64")),
    }
}

fn load_key(path: &PathBuf, passphrase: Option<&SecretString>) -> Result<PrivateKey, SinkError> {
    let text = std::fs::read_to_string(path).map_err(|e| SinkError::io(path, e))?;
    let key = PrivateKey::from_openssh(text.trim()).map_err(|e| {
        SinkError::Invalid(format!(
            "sftp identity {} is not an OpenSSH private key ({e}); `ssh-keygen -t ed25519` writes one, `ssh-keygen -p -f FILE` converts an old PEM key",
            path.display()
        ))
    })?;
    if !key.is_encrypted() {
        return Ok(key);
    }
    let Some(passphrase) = passphrase else {
        return Err(SinkError::Unset {
            message: format!(
                "sftp identity {} is encrypted and no passphrase was given",
                path.display()
            ),
            setting: Setting::Option("sftp.key-passphrase"),
        });
    };
    key.decrypt(passphrase.expose_secret().as_bytes())
        .map_err(|_| {
            SinkError::Invalid(format!(
                "cannot decrypt sftp identity {}: wrong passphrase",
                path.display()
            ))
        })
}

pub(crate) use keepnet_sink::human_size as size;

impl Delivery for SftpDelivery {
    fn deliver(&mut self, report: &Report<'_>) -> Result<String, SinkError> {
        let destination = self.destination();
        let names = keepnet_sink::delivered_names(report.artifacts, &destination)?;
        let uploads: Vec<Upload> = report
            .artifacts
            .iter()
            .zip(names)
            .map(|(artifact, name)| Upload {
                artifact: artifact.clone(),
                name: name.to_owned(),
            })
            .collect();
        if uploads.is_empty() {
            return Ok(format!("no files to upload to {destination}"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SinkError::io("tokio runtime", e))?;
        let done = runtime
            .block_on(session::upload(&self.plan, &uploads))
            .map_err(|reason| {
                SinkError::other(SftpError {
                    destination: destination.clone(),
                    reason,
                })
            })?;
        let files = match done.files {
            1 => "1 file".to_owned(),
            n => format!("{n} files"),
        };
        let note = if done.non_atomic {
            " (replaced without posix-rename: not atomic)"
        } else {
            ""
        };
        Ok(format!(
            "uploaded {files} ({}) to {destination}{note}",
            size(done.bytes)
        ))
    }
}
