//! Writing to stdout and to files without losing data.

use std::io::{self, Write};
use std::path::Path;

use keepnet_sink::AtomicFile;

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

/// Writes `bytes` to `path` through [`AtomicFile`]: complete or not at all, owner-only, an
/// earlier file replaced only on success.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let context = || format!("cannot write {}", path.display());
    let mut file = AtomicFile::create(path).map_err(|e| Failure::output(context(), e))?;
    file.write_all(bytes)
        .map_err(|e| Failure::output(context(), e))?;
    file.commit().map_err(|e| Failure::output(context(), e))?;
    Ok(())
}
