//! The [`Sink`] trait and what it is told about an export.

use std::path::PathBuf;

use crate::{Cell, Column, SinkError, Timestamp};

/// What is being exported, given to [`Sink::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    /// The customer company's name.
    pub company_name: String,
    /// The customer company's resource id.
    pub company_id: String,
    /// When the export started (UTC).
    pub started_at: Timestamp,
    /// How many rows the server said there are, when known.
    pub expected_rows: Option<u64>,
}

/// A file a sink published, for deliveries (e-mail) and summaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where the file now is.
    pub path: PathBuf,
    /// Its media type, e.g. `text/csv`.
    pub media_type: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Data rows written (header excluded).
    pub rows: u64,
    /// SHA-256 of the published bytes (lower-case hex), as written; `None` when the sink did
    /// not publish through [`AtomicFile`](crate::AtomicFile).
    pub sha256: Option<String>,
}

/// The bytes of a published file as a delivery reads them, hashed as they go, to hold
/// against what was published ([`Artifact::verify`]).
#[derive(Debug, Clone, Default)]
pub struct ReadBack {
    hasher: sha2::Sha256,
    len: u64,
}

impl ReadBack {
    /// Adds the next bytes read.
    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }
}

impl Artifact {
    /// Fails unless the bytes `read` are the ones published: the same length and (when the
    /// sink recorded it) the same SHA-256. Every delivery checks each file before it sends it,
    /// so a file replaced at its path since it was published (another run, another process)
    /// is never sent in its place.
    pub fn verify(&self, read: ReadBack) -> Result<(), SinkError> {
        use sha2::Digest;
        let changed = |detail: String| SinkError::Changed {
            path: self.path.clone(),
            detail,
        };
        if read.len != self.bytes {
            return Err(changed(format!(
                "it has {} bytes where {} were published",
                read.len, self.bytes
            )));
        }
        if let Some(published) = &self.sha256 {
            let now: String = read
                .hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if !now.eq_ignore_ascii_case(published) {
                return Err(changed(format!(
                    "its SHA-256 is {now} where {published} was published"
                )));
            }
        }
        Ok(())
    }

    /// [`Artifact::verify`] for a file read whole.
    pub fn verify_bytes(&self, bytes: &[u8]) -> Result<(), SinkError> {
        let mut read = ReadBack::default();
        read.update(bytes);
        self.verify(read)
    }
}

/// An output format. One value receives one export, in one pass.
///
/// Only [`write_row`](Sink::write_row) is required. The runner calls:
/// 1. [`begin`](Sink::begin) once, with the export and the selected columns;
/// 2. [`write_row`](Sink::write_row) once per user, cells in column order;
/// 3. on success of every sink and of the fetch: [`finish`](Sink::finish) on all sinks (flush,
///    sync: the step that may still fail), then [`commit`](Sink::commit) on all (publish:
///    rename into place);
/// 4. on any failure, instead: [`abort`](Sink::abort), which must leave nothing behind.
///
/// A sink that writes a file should write through [`AtomicFile`](crate::AtomicFile) (or
/// [`Output`](crate::Output)) so that nothing is published before `commit` and an aborted run
/// leaves any earlier file untouched.
///
/// ```
/// use keepnet_sink::{Artifact, Cell, Column, ExportInfo, Output, Sink, SinkError};
/// use std::io::Write;
///
/// /// Writes one e-mail address per line.
/// struct EmailList {
///     out: Option<Output>,
///     email_column: Option<usize>,
/// }
///
/// impl Sink for EmailList {
///     fn begin(&mut self, _export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
///         self.email_column = columns.iter().position(|c| c.key == "email");
///         Ok(())
///     }
///
///     fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError> {
///         let out = self.out.as_mut().expect("not aborted");
///         if let Some(Cell::Text(email)) = self.email_column.map(|i| &row[i]) {
///             writeln!(out, "{email}").map_err(|e| out.error(e))?;
///         }
///         Ok(())
///     }
///
///     fn finish(&mut self) -> Result<(), SinkError> {
///         self.out.as_mut().map_or(Ok(()), Output::finish)
///     }
///
///     fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
///         let out = self.out.take().expect("committed once");
///         Ok(out.commit("text/plain", 0)?.into_iter().collect())
///     }
///
///     fn abort(&mut self) {
///         self.out = None; // dropping an uncommitted Output removes its temporary file
///     }
/// }
/// ```
pub trait Sink: Send {
    /// Called once before the first row.
    fn begin(&mut self, export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
        let _ = (export, columns);
        Ok(())
    }

    /// Writes one row: one cell per column given to `begin`, in that order.
    fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError>;

    /// Called after the last row when the whole run succeeded so far: flush and sync
    /// everything, but publish nothing yet. May fail; then every sink is aborted.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Publishes what `finish` prepared (e.g. renames the temporary file into place) and
    /// returns the files now visible.
    fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
        Ok(Vec::new())
    }

    /// The run failed: discard everything this sink wrote. Must not fail and must leave no
    /// temporary file.
    fn abort(&mut self) {}

    /// True for a sink whose `finish` cannot be taken back (an external program that publishes
    /// when its input ends): the runner then finishes it only after every other sink finished,
    /// so a failure elsewhere still aborts it. Default false.
    fn finish_last(&self) -> bool {
        false
    }

    /// Things the user should know about a successful export, e.g. cells a format had to
    /// shorten. Asked after `commit`.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn begin(&mut self, export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
        (**self).begin(export, columns)
    }
    fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError> {
        (**self).write_row(row)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        (**self).finish()
    }
    fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
        (**self).commit()
    }
    fn abort(&mut self) {
        (**self).abort()
    }
    fn warnings(&self) -> Vec<String> {
        (**self).warnings()
    }
    fn finish_last(&self) -> bool {
        (**self).finish_last()
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn begin(&mut self, export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
        (**self).begin(export, columns)
    }
    fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError> {
        (**self).write_row(row)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        (**self).finish()
    }
    fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
        (**self).commit()
    }
    fn abort(&mut self) {
        (**self).abort()
    }
    fn warnings(&self) -> Vec<String> {
        (**self).warnings()
    }
    fn finish_last(&self) -> bool {
        (**self).finish_last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_published_bytes_pass() {
        let mut artifact = Artifact {
            path: PathBuf::from("out/a.csv"),
            media_type: "text/csv".into(),
            bytes: 4,
            rows: 1,
            // SHA-256 of "abc\n".
            sha256: Some("edeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb".into()),
        };
        assert!(artifact.verify_bytes(b"abc\n").is_ok());
        let text = artifact.verify_bytes(b"abd\n").unwrap_err().to_string();
        assert!(
            text.contains("SHA-256") && text.ends_with("it was not sent"),
            "{text}"
        );
        assert!(artifact
            .verify_bytes(b"abc")
            .unwrap_err()
            .to_string()
            .contains("3 bytes where 4 were published"));
        artifact.sha256 = None;
        assert!(
            artifact.verify_bytes(b"xyz\n").is_ok(),
            "the size alone, without a hash"
        );
    }
}
