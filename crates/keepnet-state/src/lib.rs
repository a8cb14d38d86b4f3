//! What a change report compares against (`--state DIR`): for one company, every exported
//! user's `resourceId`, a fingerprint of each exported field, and the few fields that name
//! someone who left. [`diff`] says who joined, left or changed since the previous state.
//!
//! A state file is personal data (names and e-mail addresses of the people who may leave):
//! it is written owner-only (0600) through [`keepnet_sink::AtomicFile`], so a failed write
//! never leaves half a state and never destroys the previous one; it records the format
//! version and the company, and [`load`] refuses a file of another version or another
//! company rather than report every user as changed. Field values are kept only as
//! fingerprints (the first 16 bytes of SHA-256 over the value's JSON), so the file says
//! whether a phone number changed without holding it.
//!
//! ```text
//! DIR/<companyId>.state.json
//! {"format":"keepnet-export-state","version":1,"companyId":"...","takenAt":"...",
//!  "users":{"<resourceId>":{"fields":{"email":"9f2c...","department":"01ab..."},
//!                            "name":{"email":"a@b.example","firstName":"A","lastName":"B"}}}}
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `format` every state file carries.
pub const FORMAT: &str = "keepnet-export-state";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// A state file bigger than this is refused (a million users is about 300 MiB).
pub const MAX_BYTES: u64 = 1 << 30;

/// Why a state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read, or is not a regular file, or is too big.
    #[error("cannot read the state file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a state file this build understands.
    #[error("{path} is not a keepnet-export state file ({reason}); move it away to start a new baseline")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Written by another version of the format.
    #[error("{path} is a state of format version {found}, this keepnet-export reads version {VERSION}; move it away to start a new baseline")]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// Kept for another company than the one exported.
    #[error("{path} holds the state of company {found}, not {expected}: each company needs its own state file")]
    OtherCompany {
        /// The file.
        path: PathBuf,
        /// The company it belongs to.
        found: String,
        /// The company exported.
        expected: String,
    },
    /// The file could not be written.
    #[error("cannot write the state file {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// What names a user in a change report after they left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Named {
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// One user as the state keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Each exported field's fingerprint, by API field name.
    pub fields: BTreeMap<String, String>,
    /// What names them.
    pub name: Named,
}

/// One company's users at the end of a successful run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] when written by this build.
    pub version: u32,
    /// The company's resourceId.
    pub company_id: String,
    /// When the run that took it started (ISO 8601, UTC).
    pub taken_at: String,
    /// The users, by resourceId.
    pub users: BTreeMap<String, Entry>,
}

impl State {
    /// An empty state of `company_id` taken at `taken_at`.
    pub fn new(company_id: impl Into<String>, taken_at: impl Into<String>) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            company_id: company_id.into(),
            taken_at: taken_at.into(),
            users: BTreeMap::new(),
        }
    }

    /// Adds a user: each exported field's value (as JSON) is kept as its fingerprint.
    pub fn add<'a>(
        &mut self,
        resource_id: &str,
        fields: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>,
        name: Named,
    ) {
        let fields = fields
            .into_iter()
            .map(|(field, value)| (field.to_owned(), fingerprint(value)))
            .collect();
        self.users
            .insert(resource_id.to_owned(), Entry { fields, name });
    }
}

/// The first 16 bytes of SHA-256 over a value's JSON text, in hex.
pub fn fingerprint(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Where `dir` keeps the state of `company_id`. The id is used as given: callers pass a
/// validated company id (letters and digits), so it is a plain file name.
pub fn path_of(dir: &Path, company_id: &str) -> PathBuf {
    dir.join(format!("{company_id}.state.json"))
}

/// The state of `company_id` kept in `dir`; `None` when there is none yet (the next run is a
/// baseline).
pub fn load(dir: &Path, company_id: &str) -> Result<Option<State>, StateError> {
    let path = path_of(dir, company_id);
    let bytes = match keepnet_sink::read_regular_file(&path, MAX_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path, source }),
    };
    let invalid = |reason: String| StateError::Invalid {
        path: path.clone(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
    if value.get("format").and_then(serde_json::Value::as_str) != Some(FORMAT) {
        return Err(invalid(format!("its \"format\" is not {FORMAT:?}")));
    }
    let found = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| invalid("it has no \"version\"".to_owned()))?;
    if found != u64::from(VERSION) {
        return Err(StateError::Version {
            path,
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    let state: State =
        serde_json::from_value(value).map_err(|e| invalid(format!("unexpected shape: {e}")))?;
    if state.company_id != company_id {
        return Err(StateError::OtherCompany {
            path,
            found: state.company_id,
            expected: company_id.to_owned(),
        });
    }
    Ok(Some(state))
}

/// Writes `state` to its file in `dir` atomically (a temporary file renamed into place),
/// owner-only; the previous state stays until the new one is complete.
pub fn save(dir: &Path, state: &State) -> Result<PathBuf, StateError> {
    let path = path_of(dir, &state.company_id);
    let write = |message: String| StateError::Write {
        path: path.clone(),
        message,
    };
    let mut file = keepnet_sink::AtomicFile::create(&path).map_err(|e| write(e.to_string()))?;
    if file.is_stream() {
        return Err(write(
            "not a regular file: a state is kept in a file".to_owned(),
        ));
    }
    let bytes = serde_json::to_vec(state).map_err(|e| write(e.to_string()))?;
    file.file()
        .write_all(&bytes)
        .map_err(|e| write(e.to_string()))?;
    file.sync().map_err(|e| write(e.to_string()))?;
    file.commit().map_err(|e| write(e.to_string()))?;
    Ok(path)
}

/// What changed between two states of one company.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// No previous state: everyone is the baseline, nobody joined.
    pub baseline: bool,
    /// In the current state only, by resourceId.
    pub joined: Vec<String>,
    /// In the previous state only, with what names them.
    pub left: Vec<(String, Named)>,
    /// In both, with the fields whose fingerprint differs (a field added or dropped counts).
    pub changed: Vec<(String, Vec<String>)>,
}

/// Who joined, left or changed from `previous` to `current` (each list in resourceId order).
pub fn diff(previous: Option<&State>, current: &State) -> Diff {
    let Some(previous) = previous else {
        return Diff {
            baseline: true,
            ..Diff::default()
        };
    };
    let mut out = Diff::default();
    for (id, now) in &current.users {
        match previous.users.get(id) {
            None => out.joined.push(id.clone()),
            Some(was) => {
                let mut fields: Vec<String> = now
                    .fields
                    .iter()
                    .filter(|(f, h)| was.fields.get(*f) != Some(*h))
                    .map(|(f, _)| f.clone())
                    .collect();
                fields.extend(
                    was.fields
                        .keys()
                        .filter(|f| !now.fields.contains_key(*f))
                        .cloned(),
                );
                if !fields.is_empty() {
                    fields.sort();
                    out.changed.push((id.clone(), fields));
                }
            }
        }
    }
    for (id, was) in &previous.users {
        if !current.users.contains_key(id) {
            out.left.push((id.clone(), was.name.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(company: &str, users: &[(&str, &str, &str)]) -> State {
        let mut s = State::new(company, "2026-12-02T05:02:34Z");
        for (id, email, department) in users {
            let (e, d) = (json!(email), json!(department));
            s.add(
                id,
                [("email", &e), ("department", &d)],
                Named {
                    email: Some((*email).to_owned()),
                    ..Named::default()
                },
            );
        }
        s
    }

    #[test]
    fn joined_left_and_changed_with_their_fields() {
        let before = state(
            "C1",
            &[("a", "a@x", "IT"), ("b", "b@x", "HR"), ("c", "c@x", "HR")],
        );
        let after = state(
            "C1",
            &[
                ("a", "a@x", "IT"),
                ("c", "c@x", "Legal"),
                ("d", "d@x", "IT"),
            ],
        );
        let d = diff(Some(&before), &after);
        assert!(!d.baseline);
        assert_eq!(d.joined, ["d"]);
        assert_eq!(d.left.len(), 1);
        assert_eq!(d.left[0].0, "b");
        assert_eq!(d.left[0].1.email.as_deref(), Some("b@x"));
        assert_eq!(d.changed, [("c".to_owned(), vec!["department".to_owned()])]);
        assert!(diff(None, &after).baseline);
        assert_eq!(diff(Some(&after), &after), Diff::default());
    }

    #[test]
    fn saved_owner_only_loaded_back_and_refused_for_another_company_or_version() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load(dir.path(), "C1").unwrap(),
            None,
            "no state: a baseline"
        );
        let s = state("C1", &[("a", "a@x", "IT")]);
        let path = save(dir.path(), &s).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("\"IT\""),
            "values are kept as fingerprints: {text}"
        );
        assert_eq!(load(dir.path(), "C1").unwrap(), Some(s.clone()));

        // Another company's state under this company's name.
        std::fs::copy(&path, path_of(dir.path(), "C2")).unwrap();
        let e = load(dir.path(), "C2").unwrap_err().to_string();
        assert!(e.contains("holds the state of company C1, not C2"), "{e}");
        // Another version.
        let other = text.replace("\"version\":1", "\"version\":2");
        std::fs::write(path_of(dir.path(), "C1"), other).unwrap();
        let e = load(dir.path(), "C1").unwrap_err().to_string();
        assert!(e.contains("format version 2"), "{e}");
        // Not a state file at all.
        std::fs::write(path_of(dir.path(), "C1"), "[1,2]").unwrap();
        assert!(matches!(
            load(dir.path(), "C1"),
            Err(StateError::Invalid { .. })
        ));
    }

    #[test]
    fn a_fingerprint_tells_values_apart_without_holding_them() {
        assert_eq!(
            fingerprint(&json!("0532 111")),
            fingerprint(&json!("0532 111"))
        );
        assert_ne!(
            fingerprint(&json!("0532 111")),
            fingerprint(&json!("0532 112"))
        );
        assert_ne!(fingerprint(&json!(null)), fingerprint(&json!("")));
        assert_eq!(fingerprint(&json!("x")).len(), 32);
    }
}
