//! Every file a run writes, compared as files before any company is exported. Two outputs on
//! one file, of any kinds (sinks, change reports, rollup, the summary, state files) and of any
//! companies, would overwrite each other silently (one customer's people in another's file,
//! a summary whose hashes no longer match, a state replaced), so such a run is refused.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::exit::Failure;
use crate::spec::{identity, FileIdentity};

/// One file the run will write, and how to name it in a message.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file.
    pub path: PathBuf,
    /// The output, as its user wrote it (`--sink csv:out/Acme.csv for Acme (id X)`).
    pub what: String,
}

/// What two targets are compared by: an existing file's device and inode, else the resolved
/// path without case (two names that differ only in case are one file on macOS and Windows).
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key {
    Inode(u64, u64),
    Path(String),
}

fn key(target: &Target) -> Key {
    match identity(&target.path) {
        FileIdentity::Inode(dev, ino) => Key::Inode(dev, ino),
        FileIdentity::Path(path) => Key::Path(path.to_string_lossy().to_lowercase()),
    }
}

/// Fails on the first two targets that write one file.
pub fn check_distinct(targets: &[Target]) -> Result<(), Failure> {
    let mut seen: HashMap<Key, usize> = HashMap::with_capacity(targets.len());
    for (index, target) in targets.iter().enumerate() {
        if let Some(&first) = seen.get(&key(target)) {
            return Err(Failure::usage(format!(
                "{} and {} write one file ({}): each output needs a file of its own; nothing \
                 was exported",
                targets[first].what,
                target.what,
                target.path.display()
            )));
        }
        seen.insert(key(target), index);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str, what: &str) -> Target {
        Target {
            path: PathBuf::from(path),
            what: what.to_owned(),
        }
    }

    #[test]
    fn one_file_under_two_outputs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        let fine = [target(&at("a.csv"), "one"), target(&at("b.csv"), "two")];
        assert!(check_distinct(&fine).is_ok());
        let same = [
            target(&at("r.csv"), "--changes csv:r.csv"),
            target(&at("sub/../R.csv"), "--rollup csv:R.csv"),
        ];
        let text = check_distinct(&same).unwrap_err().to_string();
        assert!(
            text.contains("--changes csv:r.csv and --rollup csv:R.csv write one file"),
            "{text}"
        );
        std::fs::write(dir.path().join("s.json"), "x").unwrap();
        std::fs::hard_link(dir.path().join("s.json"), dir.path().join("t.json")).unwrap();
        let linked = [target(&at("s.json"), "a"), target(&at("t.json"), "b")];
        assert!(check_distinct(&linked).is_err(), "one file under two names");
    }
}
