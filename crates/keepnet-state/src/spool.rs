//! The working file of a comparison: each user's fingerprints and name, written once as the
//! users arrive and read back by offset, so memory holds only ids and offsets.
//!
//! A spool is an unnamed temporary file (removed by the system when closed, or when the
//! process dies) in the state folder, owner-only like the state itself. A record is the
//! user's fingerprints (8 bytes each, little-endian), then the e-mail, first and last name,
//! each as a 4-byte length (`u32::MAX`: none) and its UTF-8 bytes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::Named;

const NONE: u32 = u32::MAX;

/// An append-only file of user records, read back by offset.
#[derive(Debug)]
pub(crate) struct Spool {
    writer: Option<BufWriter<File>>,
    file: Option<File>,
    len: u64,
}

impl Spool {
    /// An empty spool in `dir`.
    pub(crate) fn new(dir: &Path) -> io::Result<Self> {
        let file = tempfile::tempfile_in(dir)?;
        Ok(Self {
            writer: Some(BufWriter::with_capacity(64 * 1024, file)),
            file: None,
            len: 0,
        })
    }

    /// Appends a record (`name`: e-mail, first and last name); answers its offset.
    pub(crate) fn push(&mut self, hashes: &[u64], name: [Option<&str>; 3]) -> io::Result<u64> {
        let at = self.len;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the spool was already read"))?;
        for hash in hashes {
            writer.write_all(&hash.to_le_bytes())?;
        }
        self.len += 8 * hashes.len() as u64;
        for text in name {
            match text {
                None => writer.write_all(&NONE.to_le_bytes())?,
                Some(text) => {
                    let len = u32::try_from(text.len())
                        .ok()
                        .filter(|l| *l != NONE)
                        .ok_or_else(|| io::Error::other("a name of 4 GiB"))?;
                    writer.write_all(&len.to_le_bytes())?;
                    writer.write_all(text.as_bytes())?;
                    self.len += text.len() as u64;
                }
            }
            self.len += 4;
        }
        Ok(at)
    }

    /// Ends the writing: from now on records are only read.
    pub(crate) fn seal(&mut self) -> io::Result<()> {
        if let Some(writer) = self.writer.take() {
            self.file = Some(writer.into_inner().map_err(|e| e.into_error())?);
        }
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("the spool is still being written"))?;
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_read(
                    file,
                    &mut buf[done..],
                    offset + done as u64,
                )?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                done += n;
            }
            Ok(())
        }
    }

    /// The `count` fingerprints of the record at `offset`, into `out`.
    pub(crate) fn hashes(&self, offset: u64, count: usize, out: &mut Vec<u64>) -> io::Result<()> {
        let mut bytes = vec![0; 8 * count];
        self.read_at(&mut bytes, offset)?;
        out.clear();
        out.extend(
            bytes
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
        );
        Ok(())
    }

    /// The record at `offset`, whose fingerprints are `count`: its fingerprints into
    /// `hashes`, and its name. One read for most records (names under a few hundred bytes).
    pub(crate) fn record(
        &self,
        offset: u64,
        count: usize,
        hashes: &mut Vec<u64>,
    ) -> io::Result<Named> {
        let head = 8 * count;
        let available = usize::try_from(self.len.saturating_sub(offset)).unwrap_or(usize::MAX);
        let mut bytes = vec![0; (head + 12 + 244).min(available)];
        self.read_at(&mut bytes, offset)?;
        // Reads on when a name goes past what was read.
        let more = |bytes: &mut Vec<u8>, needed: usize| -> io::Result<()> {
            if bytes.len() < needed {
                let had = bytes.len();
                bytes.resize(needed, 0);
                self.read_at(&mut bytes[had..], offset + had as u64)?;
            }
            Ok(())
        };
        more(&mut bytes, head)?;
        hashes.clear();
        hashes.extend(
            bytes[..head]
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
        );
        let mut at = head;
        let mut text = |bytes: &mut Vec<u8>| -> io::Result<Option<String>> {
            more(bytes, at + 4)?;
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
            at += 4;
            if len == NONE {
                return Ok(None);
            }
            let len = len as usize;
            more(bytes, at + len)?;
            let text = std::str::from_utf8(&bytes[at..at + len])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                .to_owned();
            at += len;
            Ok(Some(text))
        };
        Ok(Named {
            email: text(&mut bytes)?,
            first_name: text(&mut bytes)?,
            last_name: text(&mut bytes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_back_by_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path()).unwrap();
        let ada = Named {
            email: Some("ada@x".into()),
            first_name: Some("Ada".into()),
            last_name: None,
        };
        let mut hashes = Vec::new();
        let first = spool
            .push(&[1, u64::MAX], [Some("ada@x"), Some("Ada"), None])
            .unwrap();
        let second = spool.push(&[7, 8], [None; 3]).unwrap();
        let third = spool.push(&[9, 10], [None, None, Some("Çelik")]).unwrap();
        spool.seal().unwrap();
        spool.hashes(first, 2, &mut hashes).unwrap();
        assert_eq!(hashes, [1, u64::MAX]);
        assert_eq!(spool.record(first, 2, &mut hashes).unwrap(), ada);
        assert_eq!(hashes, [1, u64::MAX]);
        assert_eq!(
            spool.record(second, 2, &mut hashes).unwrap(),
            Named::default()
        );
        assert_eq!(hashes, [7, 8]);
        let named = spool.record(third, 2, &mut hashes).unwrap();
        assert_eq!(hashes, [9, 10]);
        assert_eq!(named.last_name.as_deref(), Some("Çelik"));
        assert_eq!(named.email, None);
        // A name longer than the first read, and the last record of the file.
        let long = "ğ".repeat(400);
        let mut spool = Spool::new(dir.path()).unwrap();
        spool.push(&[1; 40], [None; 3]).unwrap();
        let at = spool
            .push(&[2; 40], [Some(&long), None, Some("x")])
            .unwrap();
        spool.seal().unwrap();
        let named = spool.record(at, 40, &mut hashes).unwrap();
        assert_eq!(hashes, [2; 40]);
        assert_eq!(named.email.as_deref(), Some(long.as_str()));
        assert_eq!(named.last_name.as_deref(), Some("x"));
        // Unnamed: nothing of it is left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
