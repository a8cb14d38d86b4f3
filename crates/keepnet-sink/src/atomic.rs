//! Files that appear only when complete.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::SinkError;

/// A file written under a temporary name beside its target and renamed onto the target by
/// [`commit`](AtomicFile::commit).
///
/// Until then the target is untouched: an existing file there stays as it was, and dropping an
/// uncommitted `AtomicFile` (an error, an abort, a panic) deletes the temporary file. New files
/// are created readable and writable by the owner only (0600 on Unix): exports hold personal
/// data. Missing parent folders are created.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: tempfile::NamedTempFile,
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
        Ok(Self { target, temp })
    }

    /// The file to write to.
    pub fn file(&mut self) -> &mut File {
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
    /// returns the target's path and size.
    pub fn commit(mut self) -> Result<(PathBuf, u64), SinkError> {
        self.sync()?;
        let target = self.target;
        let size = self
            .temp
            .as_file()
            .metadata()
            .map_err(|e| SinkError::io(&target, e))?
            .len();
        self.temp
            .persist(&target)
            .map_err(|e| SinkError::io(&target, e.error))?;
        sync_parent(&target);
        Ok((target, size))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.write_all(buf)
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
        let (path, size) = f.commit().unwrap();
        assert_eq!((path, size), (target.clone(), 3));
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
