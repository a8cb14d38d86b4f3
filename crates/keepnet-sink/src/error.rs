//! The error every sink method returns.

use std::path::PathBuf;

/// Why a sink failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Reading or writing a file (or stdout) failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file concerned (`-` for stdout).
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The sink's target or options are unusable; found before any data was written.
    #[error("{0}")]
    Invalid(String),
    /// A limit set by a setting was reached (a plugin that took longer than its timeout). The
    /// message does not name the setting: the front end does, as it spells it
    /// (`--plugin-timeout`, `KEEPNET_PLUGIN_TIMEOUT`).
    #[error("{message}")]
    Limit {
        /// What happened.
        message: String,
        /// The setting whose limit it was.
        setting: Setting,
    },
    /// A setting the output needs has no value (e-mail without an SMTP host). The message
    /// names the setting as the engine does; the front end adds how its user sets it.
    #[error("{message}")]
    Unset {
        /// What is missing.
        message: String,
        /// The setting to give.
        setting: Setting,
    },
    /// A published file is no longer the one published (replaced or changed at its path since
    /// by another process or run): a delivery sends nothing of it.
    #[error("{}: {detail}; it was not sent", .path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// How it differs.
        detail: String,
    },
    /// Anything else, from a sink written elsewhere.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// A setting an error points at, for the front end to name the way its user sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// How long a plugin may leave its input unread or run on after it.
    PluginTimeout,
    /// The most an e-mail may attach, in all (fewer columns or a search make an export
    /// smaller).
    MailAttachmentLimit,
    /// The Keepnet API's base URL (a redirect was refused).
    BaseUrl,
    /// Publishing a read that stayed inconsistent with the server, marked incomplete.
    AllowIncomplete,
    /// Which users are exported by state: every state needs no status filter.
    Status,
    /// A sink kind's option, `KIND.NAME` (`email.smtp-host`).
    Option(&'static str),
}

impl SinkError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SinkError::Io {
            path: path.into(),
            source,
        }
    }

    /// The setting this error points at, if any.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            SinkError::Limit { setting, .. } | SinkError::Unset { setting, .. } => Some(*setting),
            _ => None,
        }
    }

    /// Wraps any error, for sinks with errors of their own.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        SinkError::Other(error.into())
    }
}
