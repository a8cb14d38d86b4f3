//! What a change report compares against (`--state DIR`): for one company, every exported
//! user's `resourceId`, a fingerprint of each exported field, and the few fields that name
//! someone who left. A [`Tracker`] compares a run's users with the previous state as they
//! stream, and builds the next one.
//!
//! A state file is personal data (names and e-mail addresses of the people who may leave):
//! it is written owner-only (0600) through [`keepnet_sink::AtomicFile`], so a failed write
//! never leaves half a state and never destroys the previous one; it records the format
//! version, the company and which users were exported (the status filter), and [`load`]
//! refuses a file of another version, company or filter rather than report everyone as
//! changed. Field values are kept only as fingerprints (the first 8 bytes of SHA-256 over the
//! value, [`fingerprint`]), so the file says whether a phone number changed without holding
//! it. Fingerprints of a small value space (a phone number, a department) can be guessed by
//! trying values: the file is protected like the exports themselves, not by the hashing.
//!
//! ```text
//! DIR/<companyId>.state.json
//! {"format":"keepnet-export-state","version":1,"companyId":"...","takenAt":"...",
//!  "scope":"active","fields":["email","department"],
//!  "users":{"<resourceId>":{"hashes":"9f2c01ab77e3d210c4a0b1f2e3d4c5b6",
//!                           "name":{"email":"a@b.example","firstName":"A","lastName":"B"}}}}
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use keepnet_sink::Cell;
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
    /// Taken of other users (another status filter) than this run exports.
    #[error("{path} was taken of {found} users, this run exports {expected} users: a change report compares like with like; export the same statuses, or keep this run's state in another folder")]
    OtherScope {
        /// The file.
        path: PathBuf,
        /// The state's scope.
        found: String,
        /// This run's.
        expected: String,
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

impl Named {
    /// `First Last <email>`, or as much of it as is known; the resourceId when nothing is.
    pub fn display(&self, resource_id: &str) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        match (name.is_empty(), self.email.as_deref()) {
            (false, Some(email)) => format!("{name} <{email}>"),
            (false, None) => name,
            (true, Some(email)) => email.to_owned(),
            (true, None) => resource_id.to_owned(),
        }
    }
}

/// One user as the state keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// One fingerprint per field of [`State::fields`], in that order (16 hex digits each in
    /// the file).
    #[serde(with = "hex")]
    pub hashes: Vec<u64>,
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
    /// Which users were exported (the status filter, e.g. `active`): a run with another filter
    /// would report everyone it filters differently as joined or left, so it is refused.
    pub scope: String,
    /// The exported fields (column keys, API names), in column order.
    pub fields: Vec<String>,
    /// The users, by resourceId.
    pub users: BTreeMap<String, Entry>,
}

impl State {
    /// An empty state of `company_id` taken at `taken_at`, for users read with `scope`, over
    /// `fields`.
    pub fn new(
        company_id: impl Into<String>,
        taken_at: impl Into<String>,
        scope: impl Into<String>,
        fields: Vec<String>,
    ) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            company_id: company_id.into(),
            taken_at: taken_at.into(),
            scope: scope.into(),
            fields,
            users: BTreeMap::new(),
        }
    }
}

/// A field value's fingerprint: the first 8 bytes of SHA-256 over its encoding (a kind tag,
/// then the text), so equal values give equal fingerprints across runs and versions, and the
/// state says whether a value changed without holding it.
pub fn fingerprint(cell: &Cell<'_>) -> u64 {
    let mut hasher = Sha256::new();
    feed(&mut hasher, cell);
    let digest = hasher.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
}

fn feed(hasher: &mut Sha256, cell: &Cell<'_>) {
    // Lengths go in before text, so ("ab","c") and ("a","bc") never collide by construction.
    let text = |hasher: &mut Sha256, tag: u8, text: &str| {
        hasher.update([tag]);
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    };
    match cell {
        Cell::Null => hasher.update([0]),
        Cell::Text(t) => text(hasher, 1, t),
        Cell::Bool(b) => hasher.update([2, u8::from(*b)]),
        // The text as sent: a changed spelling of the same instant is a change the API made.
        Cell::DateTime { text: t, .. } => text(hasher, 3, t),
        Cell::Json(t) => text(hasher, 4, t),
        Cell::Fields(fields) => {
            hasher.update([5]);
            hasher.update((fields.len() as u64).to_be_bytes());
            for field in *fields {
                text(hasher, 6, field.name);
                feed(hasher, &field.value);
            }
        }
    }
}

/// Where `dir` keeps the state of `company_id`. The id is used as given: callers pass a
/// validated company id (letters and digits), so it is a plain file name.
pub fn path_of(dir: &Path, company_id: &str) -> PathBuf {
    dir.join(format!("{company_id}.state.json"))
}

/// The state of `company_id` kept in `dir` for users read with `scope`; `None` when there is
/// none yet (the next run is a baseline).
pub fn load(dir: &Path, company_id: &str, scope: &str) -> Result<Option<State>, StateError> {
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
    if let Some((id, _)) = state
        .users
        .iter()
        .find(|(_, e)| e.hashes.len() != state.fields.len())
    {
        return Err(invalid(format!(
            "user {id} has {} fingerprints for {} fields",
            state.users[id].hashes.len(),
            state.fields.len()
        )));
    }
    if state.scope != scope {
        return Err(StateError::OtherScope {
            path,
            found: state.scope,
            expected: scope.to_owned(),
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
    let mut out = std::io::BufWriter::new(file.file());
    serde_json::to_writer(&mut out, state).map_err(|e| write(e.to_string()))?;
    out.flush().map_err(|e| write(e.to_string()))?;
    drop(out);
    file.sync().map_err(|e| write(e.to_string()))?;
    file.commit().map_err(|e| write(e.to_string()))?;
    Ok(path)
}

/// How one user compares with the previous state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// No previous state: the run is the baseline.
    Baseline,
    /// In the previous state, every compared field the same.
    Same,
    /// Not in the previous state.
    Joined,
    /// In the previous state, with these fields (indexes into the current fields) different.
    Changed(Vec<usize>),
}

/// Compares a run's users, one at a time as they stream, with the previous state, and builds
/// the next state. Fields only one of the two states has are not compared (a column added to
/// or dropped from the export is not a change of people): see [`Tracker::fields_added`].
#[derive(Debug)]
pub struct Tracker {
    /// The previous state's users not seen yet in this run: who left, at the end.
    remaining: Option<BTreeMap<String, Entry>>,
    /// For each current field, its index in the previous state's fields.
    previous_index: Vec<Option<usize>>,
    previous_fields: Vec<String>,
    current: State,
}

impl Tracker {
    /// A comparison with `previous` (none: a baseline), building a state like `current`
    /// (empty, with the run's fields).
    pub fn new(previous: Option<State>, current: State) -> Self {
        let (remaining, previous_fields) = match previous {
            Some(p) => (Some(p.users), p.fields),
            None => (None, Vec::new()),
        };
        let previous_index = current
            .fields
            .iter()
            .map(|f| previous_fields.iter().position(|p| p == f))
            .collect();
        Self {
            remaining,
            previous_index,
            previous_fields,
            current,
        }
    }

    /// The fields exported now (column keys).
    pub fn fields(&self) -> &[String] {
        &self.current.fields
    }

    /// Whether a previous state is compared against.
    pub fn is_baseline(&self) -> bool {
        self.remaining.is_none()
    }

    /// Fields exported now that the previous state did not have (not compared).
    pub fn fields_added(&self) -> Vec<&str> {
        match self.remaining {
            None => Vec::new(),
            Some(_) => self
                .current
                .fields
                .iter()
                .zip(&self.previous_index)
                .filter(|(_, p)| p.is_none())
                .map(|(f, _)| f.as_str())
                .collect(),
        }
    }

    /// Fields the previous state had that are not exported now (not compared).
    pub fn fields_dropped(&self) -> Vec<&str> {
        self.previous_fields
            .iter()
            .filter(|f| !self.current.fields.contains(f))
            .map(String::as_str)
            .collect()
    }

    /// Records one user of this run (`hashes` in the order of [`Tracker::fields`]) and says how
    /// they compare. A resourceId seen twice in one run is compared once: the later record
    /// replaces the earlier one in the next state.
    pub fn observe(&mut self, resource_id: &str, hashes: Vec<u64>, name: Named) -> Change {
        debug_assert_eq!(hashes.len(), self.current.fields.len());
        let change = match &mut self.remaining {
            None => Change::Baseline,
            Some(remaining) => match remaining.remove(resource_id) {
                None if self.current.users.contains_key(resource_id) => Change::Same,
                None => Change::Joined,
                Some(was) => {
                    let differ: Vec<usize> = self
                        .previous_index
                        .iter()
                        .enumerate()
                        .filter_map(|(i, p)| {
                            let p = (*p)?;
                            (was.hashes.get(p) != hashes.get(i)).then_some(i)
                        })
                        .collect();
                    match differ.is_empty() {
                        true => Change::Same,
                        false => Change::Changed(differ),
                    }
                }
            },
        };
        self.current
            .users
            .insert(resource_id.to_owned(), Entry { hashes, name });
        change
    }

    /// The next state, and who left (in the previous state, not seen in this run), in
    /// resourceId order.
    pub fn finish(self) -> (State, Vec<(String, Named)>) {
        let left = self
            .remaining
            .unwrap_or_default()
            .into_iter()
            .map(|(id, entry)| (id, entry.name))
            .collect();
        (self.current, left)
    }
}

/// Fingerprints as 16 hex digits each, concatenated: a third of the JSON a list of numbers
/// takes, and exact (JSON numbers above 2^53 are not).
mod hex {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hashes: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(hashes.len() * 16);
        for h in hashes {
            use std::fmt::Write;
            let _ = write!(text, "{h:016x}");
        }
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if text.len() % 16 != 0 || !text.is_ascii() {
            return Err(D::Error::custom(
                "fingerprints are 16 hex digits each, concatenated",
            ));
        }
        (0..text.len() / 16)
            .map(|i| {
                u64::from_str_radix(&text[i * 16..i * 16 + 16], 16)
                    .map_err(|_| D::Error::custom("a fingerprint is not hexadecimal"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [&str; 2] = ["email", "department"];

    fn hashes(email: &str, department: &str) -> Vec<u64> {
        vec![
            fingerprint(&Cell::Text(email)),
            fingerprint(&Cell::Text(department)),
        ]
    }

    fn named(email: &str) -> Named {
        Named {
            email: Some(email.to_owned()),
            ..Named::default()
        }
    }

    fn empty(company: &str, fields: &[&str]) -> State {
        State::new(
            company,
            "2026-12-02T05:02:34Z",
            "active",
            fields.iter().map(|f| (*f).to_owned()).collect(),
        )
    }

    fn state(company: &str, users: &[(&str, &str, &str)]) -> State {
        let mut tracker = Tracker::new(None, empty(company, &FIELDS));
        for (id, email, department) in users {
            assert_eq!(
                tracker.observe(id, hashes(email, department), named(email)),
                Change::Baseline
            );
        }
        let (state, left) = tracker.finish();
        assert!(left.is_empty());
        state
    }

    #[test]
    fn joined_left_and_changed_with_their_fields() {
        let before = state(
            "C1",
            &[("a", "a@x", "IT"), ("b", "b@x", "HR"), ("c", "c@x", "HR")],
        );
        let mut tracker = Tracker::new(Some(before.clone()), empty("C1", &FIELDS));
        assert!(!tracker.is_baseline());
        assert_eq!(
            tracker.observe("a", hashes("a@x", "IT"), named("a@x")),
            Change::Same
        );
        assert_eq!(
            tracker.observe("c", hashes("c@x", "Legal"), named("c@x")),
            Change::Changed(vec![1])
        );
        assert_eq!(
            tracker.observe("d", hashes("d@x", "IT"), named("d@x")),
            Change::Joined
        );
        // Seen twice in one run (a page served twice): compared once.
        assert_eq!(
            tracker.observe("d", hashes("d@x", "IT"), named("d@x")),
            Change::Same
        );
        let (after, left) = tracker.finish();
        assert_eq!(left, [("b".to_owned(), named("b@x"))]);
        assert_eq!(after.users.len(), 3);
        assert_eq!(
            after.users["c"].hashes,
            hashes("c@x", "Legal"),
            "the next state holds this run"
        );
    }

    #[test]
    fn a_column_added_or_dropped_is_not_a_change_of_people() {
        let before = state("C1", &[("a", "a@x", "IT")]);
        let mut tracker = Tracker::new(Some(before), empty("C1", &["phoneNumber", "email"]));
        assert_eq!(tracker.fields_added(), ["phoneNumber"]);
        assert_eq!(tracker.fields_dropped(), ["department"]);
        let now = vec![
            fingerprint(&Cell::Text("+90")),
            fingerprint(&Cell::Text("a@x")),
        ];
        assert_eq!(tracker.observe("a", now, named("a@x")), Change::Same);
        let now = vec![fingerprint(&Cell::Null), fingerprint(&Cell::Text("A@x"))];
        let mut tracker = Tracker::new(
            Some(state("C1", &[("a", "a@x", "IT")])),
            empty("C1", &["phoneNumber", "email"]),
        );
        assert_eq!(
            tracker.observe("a", now, named("A@x")),
            Change::Changed(vec![1])
        );
    }

    #[test]
    fn saved_owner_only_loaded_back_and_refused_for_another_company_version_or_scope() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load(dir.path(), "C1", "active").unwrap(),
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
            !text.contains("IT"),
            "values are kept as fingerprints: {text}"
        );
        assert_eq!(load(dir.path(), "C1", "active").unwrap(), Some(s.clone()));

        let e = load(dir.path(), "C1", "all").unwrap_err().to_string();
        assert!(
            e.contains("was taken of active users, this run exports all users"),
            "{e}"
        );
        // Another company's state under this company's name.
        std::fs::copy(&path, path_of(dir.path(), "C2")).unwrap();
        let e = load(dir.path(), "C2", "active").unwrap_err().to_string();
        assert!(e.contains("holds the state of company C1, not C2"), "{e}");
        // Another version.
        let other = text.replace("\"version\":1", "\"version\":2");
        std::fs::write(path_of(dir.path(), "C1"), other).unwrap();
        let e = load(dir.path(), "C1", "active").unwrap_err().to_string();
        assert!(e.contains("format version 2"), "{e}");
        // Not a state file at all, or one with a damaged fingerprint list.
        std::fs::write(path_of(dir.path(), "C1"), "[1,2]").unwrap();
        assert!(matches!(
            load(dir.path(), "C1", "active"),
            Err(StateError::Invalid { .. })
        ));
        let short = text.replacen("\"hashes\":\"", "\"hashes\":\"0123", 1);
        std::fs::write(path_of(dir.path(), "C1"), short).unwrap();
        assert!(matches!(
            load(dir.path(), "C1", "active"),
            Err(StateError::Invalid { .. })
        ));
    }

    #[test]
    fn a_fingerprint_tells_values_and_kinds_apart_without_holding_them() {
        let f = fingerprint;
        assert_eq!(f(&Cell::Text("0532 111")), f(&Cell::Text("0532 111")));
        assert_ne!(f(&Cell::Text("0532 111")), f(&Cell::Text("0532 112")));
        assert_ne!(f(&Cell::Null), f(&Cell::Text("")));
        assert_ne!(f(&Cell::Text("true")), f(&Cell::Bool(true)));
        assert_ne!(f(&Cell::Json("1")), f(&Cell::Text("1")));
        let ab = [keepnet_sink::Field {
            name: "ab",
            value: Cell::Text("c"),
        }];
        let a = [keepnet_sink::Field {
            name: "a",
            value: Cell::Text("bc"),
        }];
        assert_ne!(f(&Cell::Fields(&ab)), f(&Cell::Fields(&a)));
        // Stable across builds (last month's state must still compare): SHA-256 over the tag 1,
        // the length 1 as 8 bytes big-endian, then "x"; computed apart with Python's hashlib.
        assert_eq!(format!("{:016x}", f(&Cell::Text("x"))), "ee424718d3d6699e");
    }

    #[test]
    fn a_name_is_shown_with_what_is_known() {
        let full = Named {
            email: Some("a@x".into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
        };
        assert_eq!(full.display("r1"), "Ada Lovelace <a@x>");
        assert_eq!(named("a@x").display("r1"), "a@x");
        assert_eq!(Named::default().display("r1"), "r1");
    }
}
