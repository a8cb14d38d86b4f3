//! Writing to stdout and to files without losing data.

use std::io::{self, Write};
use std::path::Path;

use crate::exit::Failure;

/// Writes through `write` to a locked, buffered stdout and flushes. A closed pipe (`| head`)
/// ends the output quietly: the reader has what it wanted.
pub fn to_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::output("cannot write to stdout", e)),
    }
}

/// Writes `bytes` to `path` atomically: into a temporary file beside it (created readable by
/// the owner only), then renamed over the target. On any failure the temporary file is removed
/// and an existing file at `path` is left untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let context = || format!("cannot write {}", path.display());
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".keepnet-export-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Failure::output(context(), e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Failure::output(context(), e))?;
    temp.persist(path)
        .map_err(|e| Failure::output(context(), e.error))?;
    Ok(())
}
