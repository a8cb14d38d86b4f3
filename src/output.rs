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
    stdout_result(write(&mut out).and_then(|()| out.flush()))
}

/// The outcome of writing to stdout: a closed pipe (`| head`) is a normal end, anything else
/// an output failure.
pub fn stdout_result(result: io::Result<()>) -> Result<(), Failure> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure::output("cannot write to stdout", e))
        }
        _ => Ok(()),
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

/// A name reduced to one safe file-name component: no path separators, no characters Windows
/// forbids, no control characters, no leading dots.
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    cleaned.trim_start_matches('.').trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn names_cannot_escape_the_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("Müşteri A.Ş..csv"), "Müşteri A.Ş..csv");
        assert_eq!(safe_file_name(".hidden"), "hidden");
        assert_eq!(safe_file_name("a\\b:c\n"), "a_b_c_");
    }
}
