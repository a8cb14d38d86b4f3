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

/// Fails on the first two targets that write one file. Linear in the targets (a map, and
/// one look at the file system per target): `--company all` with 20,000 companies checks
/// 20,000 targets per output.
pub fn check_distinct(targets: &[Target]) -> Result<(), Failure> {
    let mut seen: HashMap<Key, usize> = HashMap::with_capacity(targets.len());
    for (index, target) in targets.iter().enumerate() {
        match seen.entry(key(target)) {
            std::collections::hash_map::Entry::Occupied(first) => {
                return Err(Failure::usage(format!(
                    "{} and {} write one file ({}): each output needs a file of its own; \
                     nothing was exported",
                    targets[*first.get()].what,
                    target.what,
                    target.path.display()
                )));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(index);
            }
        }
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
    fn twenty_thousand_companies_are_named_and_checked_in_linear_time() {
        // `--company all` with 20,000 companies spent 33 s making safe names (a scan of every
        // name per name); names, paths and the distinct-files check now take a map each.
        // Half the names collide (ignoring case), so every round of suffixing is exercised.
        let companies: Vec<keepnet_api::Company> = (0..20_000)
            .map(|i| {
                let id = keepnet_api::CompanyId::parse(&format!("C{i:011}")).unwrap();
                let name = match i % 2 {
                    0 => format!("Customer {}", i / 2),
                    _ => format!("CUSTOMER {}", i / 2),
                };
                keepnet_api::Company::new(id, name)
            })
            .collect();
        let names = crate::templates::safe_names(&companies);
        let date = keepnet_sink::Timestamp::parse("2026-11-27T10:04:05Z").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let template = format!("{}/{{company}}.csv", dir.path().display());
        let mut targets: Vec<Target> = companies
            .iter()
            .zip(&names)
            .map(|(c, name)| Target {
                path: crate::templates::expand(&template, name, c.resource_id.as_str(), &date)
                    .into(),
                what: format!("--sink for {}", c.name),
            })
            .collect();
        assert!(check_distinct(&targets).is_ok());
        assert_eq!(names[1], "CUSTOMER 0-C00000000001");
        // One more output on the last company's file is found.
        targets.push(Target {
            path: dir.path().join(
                targets[19_999]
                    .path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_uppercase(),
            ),
            what: "--rollup".to_owned(),
        });
        let text = check_distinct(&targets).unwrap_err().to_string();
        assert!(
            text.contains("--sink for CUSTOMER 9999 and --rollup write one file"),
            "{text}"
        );
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
