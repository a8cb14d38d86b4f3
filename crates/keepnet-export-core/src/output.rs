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
            c if c.is_control() || keepnet_sink::safety::is_bidi_control(c) => '_',
            c => c,
        })
        .collect();
    shorten(cleaned.trim_start_matches('.').trim(), MAX_NAME_BYTES)
}

/// File systems refuse names over 255 bytes; the rest is left for the temporary-file suffix.
const MAX_NAME_BYTES: usize = 200;

/// `name` cut to at most `max` bytes on a character boundary, keeping a short extension.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let extension = name
        .rfind('.')
        .map(|i| &name[i..])
        .filter(|e| e.len() <= 16)
        .unwrap_or("");
    let mut end = max - extension.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{extension}", &name[..end])
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
        let long = format!("TargetUsers_{}.xlsx", "ü".repeat(300));
        let short = safe_file_name(&long);
        assert!(short.len() <= 200 && short.ends_with(".xlsx"), "{short}");
        assert!(short.starts_with("TargetUsers_ü"));
    }
}
