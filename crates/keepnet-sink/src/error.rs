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
    /// Anything else, from a sink written elsewhere.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl SinkError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SinkError::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps any error, for sinks with errors of their own.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        SinkError::Other(error.into())
    }
}
