//! A sink's byte output: an [`AtomicFile`] or stdout, buffered.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Artifact, AtomicFile, SinkError};

const BUFFER: usize = 256 * 1024;

/// Where a streaming text sink writes: a file published on commit, or stdout (`-`), which is
/// streamed as it goes and cannot be taken back.
pub struct Output {
    inner: BufWriter<Target>,
    label: PathBuf,
}

enum Target {
    File(AtomicFile),
    Stdout(io::Stdout),
}

impl Output {
    /// Opens `path`, or stdout when it is `-`.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        let target = if path == Path::new("-") {
            Target::Stdout(io::stdout())
        } else {
            Target::File(AtomicFile::create(path)?)
        };
        Ok(Self {
            inner: BufWriter::with_capacity(BUFFER, target),
            label: path.to_path_buf(),
        })
    }

    /// Whether this is stdout.
    pub fn is_stdout(&self) -> bool {
        matches!(self.inner.get_ref(), Target::Stdout(_))
    }

    /// An I/O error tagged with this output's path.
    pub fn error(&self, source: io::Error) -> SinkError {
        SinkError::io(&self.label, source)
    }

    /// Flushes buffers and syncs a file to disk.
    pub fn finish(&mut self) -> Result<(), SinkError> {
        self.inner
            .flush()
            .map_err(|e| SinkError::io(&self.label, e))?;
        match self.inner.get_mut() {
            Target::File(file) => file.sync(),
            Target::Stdout(_) => Ok(()),
        }
    }

    /// Publishes a file (rename into place) and describes it; stdout yields no artifact.
    pub fn commit(self, media_type: &str, rows: u64) -> Result<Option<Artifact>, SinkError> {
        let label = self.label;
        let target = self
            .inner
            .into_inner()
            .map_err(|e| SinkError::io(&label, e.into_error()))?;
        match target {
            Target::File(file) => {
                let published = file.commit()?;
                Ok(Some(Artifact {
                    path: published.path,
                    media_type: media_type.to_owned(),
                    bytes: published.bytes,
                    rows,
                    sha256: Some(published.sha256),
                }))
            }
            Target::Stdout(mut out) => {
                out.flush().map_err(|e| SinkError::io(&label, e))?;
                Ok(None)
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::File(f) => f.write(buf),
            Target::Stdout(s) => s.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Target::File(f) => f.write_all(buf),
            Target::Stdout(s) => s.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::File(f) => f.flush(),
            Target::Stdout(s) => s.flush(),
        }
    }
}
