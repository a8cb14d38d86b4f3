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
/// The SHA-256 of the published bytes is computed as they are written (or, after raw access
/// through [`file`](AtomicFile::file), from the temporary file itself before it is renamed),
/// never read back from the target path, which another process could change.
pub struct AtomicFile {
    target: PathBuf,
    temp: tempfile::NamedTempFile,
    hasher: Sha256,
    raw_access: bool,
}

impl std::fmt::Debug for AtomicFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicFile")
            .field("target", &self.target)
            .field("temp", &self.temp.path())
            .finish_non_exhaustive()
    }
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
/// the umask): they will hold files of personal data.
fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
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
        create_private_dirs(&dir).map_err(|e| SinkError::io(&dir, e))?;
        let prefix = format!(".{}.", file_name.to_string_lossy());
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".keepnet-tmp")
            .tempfile_in(&dir)
            .map_err(|e| SinkError::io(&target, e))?;
        Ok(Self {
            target,
            temp,
            hasher: Sha256::new(),
            raw_access: false,
        })
    }

    /// The file itself, for writers that need it (bytes written this way are hashed from the
    /// file at commit instead of as they are written).
    pub fn file(&mut self) -> &mut File {
        self.raw_access = true;
        self.temp.as_file_mut()
    }

    /// Where the data is being written until commit.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// Where the file will appear.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the data to disk. Call before [`commit`](Self::commit).
    pub fn sync(&mut self) -> Result<(), SinkError> {
        let target = self.target.clone();
        self.temp
            .as_file_mut()
            .flush()
            .and_then(|()| self.temp.as_file().sync_all())
            .map_err(|e| SinkError::io(target, e))
    }

    /// Renames the temporary file onto the target (replacing an existing file atomically) and
    /// says what was published.
    pub fn commit(mut self) -> Result<Published, SinkError> {
        self.sync()?;
        let target = self.target.clone();
        let size = self
            .temp
            .as_file()
            .metadata()
            .map_err(|e| SinkError::io(&target, e))?
            .len();
        let digest = if self.raw_access {
            hash_from_start(self.temp.as_file_mut()).map_err(|e| SinkError::io(&target, e))?
        } else {
            self.hasher.finalize()
        };
        self.temp
            .persist(&target)
            .map_err(|e| SinkError::io(&target, e.error))?;
        sync_parent(&target);
        Ok(Published {
            path: target,
            bytes: size,
            sha256: hex(&digest),
        })
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
        let n = self.temp.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.write_all(buf)?;
        self.hasher.update(buf);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
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
