//! Files that appear only when complete.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::SinkError;

/// A file written under a temporary name beside its target and renamed onto the target by
/// [`commit`](AtomicFile::commit).
///
/// Until then the target is untouched: an existing file there stays as it was, and dropping an
/// uncommitted `AtomicFile` (an error, an abort, a panic) deletes the temporary file. New files
/// are created readable and writable by the owner only (0600 on Unix): exports hold personal
/// data. Missing parent folders are created (0700).
///
/// A target that is not a regular file (a FIFO, a character device such as a terminal, a
/// socket; symlinks followed) is a stream: it is written directly, as the data comes, and is
/// never renamed over (a rename would replace the device itself with a file of personal
/// data). A stream cannot be taken back: an aborted run leaves what was already written.
///
/// The SHA-256 of the published bytes is computed as they are written (or, after raw access
/// through [`file`](AtomicFile::file), from the temporary file itself before it is renamed),
/// never read back from the target path, which another process could change.
pub struct AtomicFile {
    target: PathBuf,
    destination: Destination,
    hasher: Sha256,
    written: u64,
    raw_access: bool,
}

/// Where the bytes go until commit.
enum Destination {
    /// A temporary file beside the target, renamed onto it on commit.
    Temp(tempfile::NamedTempFile),
    /// The target itself, a FIFO, device or socket, written as a stream.
    Stream(File),
}

impl std::fmt::Debug for AtomicFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicFile")
            .field("target", &self.target)
            .field("temp", &self.temp_path())
            .finish_non_exhaustive()
    }
}

/// Whether `path` exists (after symlinks) and is not a regular file or folder: a FIFO, a
/// device, a socket. [`AtomicFile`] writes such a target directly, as a stream, so what was
/// written there cannot be taken back.
pub fn is_stream_target(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// A published file: where it is, its size and the SHA-256 of its bytes (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Where the file now is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of exactly the bytes published.
    pub sha256: String,
}

/// Creates `dir` and any missing parents readable by the owner only (0700 on Unix, whatever
/// the umask): they will hold files of personal data. Every folder the tool creates is made
/// here.
pub fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .filter(|d| !d.as_os_str().is_empty())
        .take_while(|d| !d.exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    for created in missing {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(created, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

impl AtomicFile {
    /// Creates the temporary file for `target`.
    pub fn create(target: impl AsRef<Path>) -> Result<Self, SinkError> {
        let target = target.as_ref().to_path_buf();
        let file_name = target.file_name().ok_or_else(|| {
            SinkError::Invalid(format!("{} is not a file path", target.display()))
        })?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if target.is_dir() {
            return Err(SinkError::Invalid(format!(
                "{} is a folder; give a file path",
                target.display()
            )));
        }
        let destination = if is_stream_target(&target) {
            let stream = std::fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(|e| SinkError::io(&target, e))?;
            Destination::Stream(stream)
        } else {
            create_private_dirs(&dir).map_err(|e| SinkError::io(&dir, e))?;
            let prefix = format!(".{}.", file_name.to_string_lossy());
            let temp = tempfile::Builder::new()
                .prefix(&prefix)
                .suffix(".keepnet-tmp")
                .tempfile_in(&dir)
                .map_err(|e| SinkError::io(&target, e))?;
            Destination::Temp(temp)
        };
        Ok(Self {
            target,
            destination,
            hasher: Sha256::new(),
            written: 0,
            raw_access: false,
        })
    }

    /// Whether the target is a stream (FIFO, device, socket) written directly.
    pub fn is_stream(&self) -> bool {
        matches!(self.destination, Destination::Stream(_))
    }

    fn handle(&mut self) -> &mut File {
        match &mut self.destination {
            Destination::Temp(temp) => temp.as_file_mut(),
            Destination::Stream(file) => file,
        }
    }

    /// The file itself, for writers that need it (bytes written this way are hashed from the
    /// file at commit instead of as they are written).
    pub fn file(&mut self) -> &mut File {
        self.raw_access = true;
        self.handle()
    }

    /// Where the data is being written until commit (the target itself for a stream).
    pub fn temp_path(&self) -> &Path {
        match &self.destination {
            Destination::Temp(temp) => temp.path(),
            Destination::Stream(_) => &self.target,
        }
    }

    /// Where the file will appear.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the data to disk. Call before [`commit`](Self::commit).
    pub fn sync(&mut self) -> Result<(), SinkError> {
        let target = self.target.clone();
        match &mut self.destination {
            Destination::Temp(temp) => temp
                .as_file_mut()
                .flush()
                .and_then(|()| temp.as_file().sync_all()),
            // A FIFO or device cannot be synced; flushing is all there is.
            Destination::Stream(file) => file.flush(),
        }
        .map_err(|e| SinkError::io(target, e))
    }

    /// Renames the temporary file onto the target (replacing an existing file atomically) and
    /// says what was published.
    pub fn commit(mut self) -> Result<Published, SinkError> {
        self.sync()?;
        let target = self.target.clone();
        match self.destination {
            Destination::Temp(mut temp) => {
                let size = temp
                    .as_file()
                    .metadata()
                    .map_err(|e| SinkError::io(&target, e))?
                    .len();
                let digest = if self.raw_access {
                    hash_from_start(temp.as_file_mut()).map_err(|e| SinkError::io(&target, e))?
                } else {
                    self.hasher.finalize()
                };
                temp.persist(&target)
                    .map_err(|e| SinkError::io(&target, e.error))?;
                sync_parent(&target);
                Ok(Published {
                    path: target,
                    bytes: size,
                    sha256: hex(&digest),
                })
            }
            // Already written, as it came: nothing to rename.
            Destination::Stream(_) => Ok(Published {
                path: target,
                bytes: self.written,
                sha256: hex(&self.hasher.finalize()),
            }),
        }
    }
}

/// The SHA-256 of a whole open file, read through its own handle.
fn hash_from_start(file: &mut File) -> io::Result<sha2::digest::Output<Sha256>> {
    file.seek(io::SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.handle().write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.handle().write_all(buf)?;
        self.hasher.update(buf);
        self.written += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.handle().flush()
    }
}

/// Makes the rename itself durable (Unix); best effort.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn commit_replaces_and_drop_discards() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        std::fs::write(&target, "old").unwrap();

        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"old",
            "untouched before commit"
        );
        drop(f);
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"old",
            "untouched after abort"
        );
        assert_eq!(leftovers(dir.path()), ["out.csv"], "no temporary file left");

        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new").unwrap();
        let published = f.commit().unwrap();
        assert_eq!((published.path, published.bytes), (target.clone(), 3));
        // SHA-256("new")
        assert_eq!(
            published.sha256,
            "11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437"
        );
        let raw_dir = tempfile::tempdir().unwrap();
        let mut raw = AtomicFile::create(raw_dir.path().join("raw.bin")).unwrap();
        raw.file().write_all(b"new").unwrap();
        assert_eq!(
            raw.commit().unwrap().sha256,
            published.sha256,
            "hashed from the file"
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(leftovers(dir.path()), ["out.csv"]);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("nested/deeper/out.csv");
        AtomicFile::create(&target).unwrap().commit().unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_folder_is_not_a_target() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            AtomicFile::create(dir.path()),
            Err(SinkError::Invalid(_))
        ));
    }
}
