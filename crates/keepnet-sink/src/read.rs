//! Reading small local files (secrets, job files, CA certificates, attachments) without
//! trusting them: only regular files, and never more than a stated size.
//!
//! `/dev/zero` would be read forever and a FIFO with no writer would block forever; both are
//! refused before opening, and a file larger than the cap is refused after reading one byte
//! past it.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The whole of `path` when it is a regular file (after following links) of at most `max`
/// bytes; otherwise an error of kind `InvalidInput` saying which rule it broke.
pub fn read_regular_file(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let not_regular = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}, not a regular file"),
        )
    };
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(not_regular(&describe(kind)));
    }
    let file = File::open(path)?;
    // Checked again on the open file: the path could have been swapped in between.
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(not_regular(&describe(kind)));
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// What a non-regular file is, for the message.
fn describe(kind: std::fs::FileType) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)".into();
        }
        if kind.is_char_device() {
            return "a character device".into();
        }
        if kind.is_block_device() {
            return "a block device".into();
        }
        if kind.is_socket() {
            return "a socket".into();
        }
    }
    if kind.is_dir() {
        "a folder".into()
    } else {
        "not a plain file".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"s3cret\n").unwrap();
        assert_eq!(read_regular_file(&path, 7).unwrap(), b"s3cret\n");
        let big = read_regular_file(&path, 6).unwrap_err();
        assert!(big.to_string().contains("larger than 6 bytes"), "{big}");
        let folder = read_regular_file(dir.path(), 10).unwrap_err();
        assert!(folder.to_string().contains("a folder"), "{folder}");
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            // No writer: opening it would block forever; it is refused first.
            let err = read_regular_file(&fifo, 10).unwrap_err();
            assert!(err.to_string().contains("FIFO"), "{err}");
        }
    }
}
