//! What a change report compares against (`--state DIR`): for one company, every exported
//! user's `resourceId`, a fingerprint of each exported field, and the few fields that name
//! someone who left. A [`Tracker`] compares a run's users with the previous state as they
//! stream, and builds the next one.
//!
//! Memory stays small whatever the number of users (about 80 bytes a user while comparing,
//! where the whole state took 2.2 KB): [`load`] reads the file as a stream and keeps, per
//! user, its id, a digest of its fingerprints and where the rest is in a working file (an
//! unnamed temporary file in the state folder, removed by the system when the run ends); a
//! user whose digest differs has its fingerprints read back to say which fields changed.
//! The next state is written to a working file of its own as users arrive, and [`save`]
//! writes it out sorted by id.
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

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keepnet_sink::Cell;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod lock;
mod read;
mod spool;

use spool::Spool;

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
        /// Its version, as written (any number of digits).
        found: String,
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
    /// Another run holds the state folder's lock.
    #[error("the state folder is in use by another keepnet-export run ({holder}; its lock file: {path}; waited {waited} s): two runs on one state would report the same changes twice and the later one could move the state back in time, so nothing was exported; run again once it has ended (the lock of a run whose process is gone, or that stopped refreshing it, is taken over)")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as its file says (host, pid, start and refresh times).
        holder: String,
        /// How long this run waited, in seconds.
        waited: u64,
    },
    /// This run's lock was taken over (or removed) while it ran.
    #[error("the state folder's lock ({path}) is no longer this run's, it is held by {holder}: the state was not advanced, so the next run compares against the state before this one")]
    LockLost {
        /// The lock file.
        path: PathBuf,
        /// Who holds it now.
        holder: String,
    },
    /// The lock file could not be written or read.
    #[error("cannot lock the state folder ({path}): {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The comparison's working file could not be written or read.
    #[error("cannot keep the comparison's working file in {dir}: {source}")]
    Working {
        /// The folder it is kept in.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
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

/// One 8-byte digest of a user's fingerprints, in order. Not a security measure: it tells
/// whether any fingerprint differs without reading them all back (a vector that differs in
/// one place always gets another digest: each step is a bijection of the running value).
fn digest(hashes: impl IntoIterator<Item = u64>) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for x in hashes {
        h = (h ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    h ^ (h >> 32)
}

/// Where `dir` keeps the state of `company_id`. The id is used as given: callers pass a
/// validated company id (letters and digits), so it is a plain file name.
pub fn path_of(dir: &Path, company_id: &str) -> PathBuf {
    dir.join(format!("{company_id}.state.json"))
}

/// The folder a working file goes in: the state folder, or the system's temporary folder
/// while the state folder does not exist.
fn working_dir(dir: &Path) -> PathBuf {
    match dir.is_dir() {
        true => dir.to_path_buf(),
        false => std::env::temp_dir(),
    }
}

/// An id in an arena of ids: where it starts and how long it is.
#[derive(Debug, Clone, Copy)]
struct Id {
    start: u32,
    len: u32,
}

/// Appends `id` to `arena`.
fn keep_id(arena: &mut String, id: &str) -> Option<Id> {
    let start = u32::try_from(arena.len()).ok()?;
    let len = u32::try_from(id.len()).ok()?;
    u32::try_from(arena.len() + id.len()).ok()?;
    arena.push_str(id);
    Some(Id { start, len })
}

fn id_in(arena: &str, id: Id) -> &str {
    &arena[id.start as usize..(id.start + id.len) as usize]
}

/// One user of a previous state, in memory: the rest is in the working file.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// [`digest`] of every fingerprint, in the state's field order.
    digest: u64,
    /// Where the fingerprints and name are in the working file.
    spool: u64,
    id: Id,
}

/// A company's state as the previous successful run kept it, held compactly: each user's id,
/// a digest of its fingerprints, and where the fingerprints and name are in a working file.
#[derive(Debug)]
pub struct Previous {
    company_id: String,
    taken_at: String,
    scope: String,
    fields: Vec<String>,
    ids: String,
    /// Sorted by id, one per id.
    records: Vec<Record>,
    /// Each record's index in an open-addressing table by [`id_hash`] (at most half full;
    /// [`EMPTY`] for none): a lookup touches a slot or two and its record, where a binary
    /// search over the records missed the cache 18 times (a third of the comparison's CPU
    /// at 200,000 users).
    table: Vec<u32>,
    spool: Spool,
    /// The folder of the working file, for messages.
    dir: PathBuf,
}

/// An empty slot of [`Previous::table`].
const EMPTY: u32 = u32::MAX;

/// An id's hash for [`Previous::table`] (FNV-1a, then mixed): not a security measure, ids come
/// from the file the run itself wrote.
fn id_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ (h >> 29)
}

/// The lookup table of `records` (see [`Previous::table`]).
fn table_of(ids: &str, records: &[Record]) -> Vec<u32> {
    let size = (records.len() * 2).next_power_of_two().max(16);
    let mask = size - 1;
    let mut table = vec![EMPTY; size];
    for (index, record) in records.iter().enumerate() {
        let mut slot = id_hash(id_in(ids, record.id)) as usize & mask;
        while table[slot] != EMPTY {
            slot = (slot + 1) & mask;
        }
        table[slot] = index as u32;
    }
    table
}

impl Previous {
    /// The exported fields (column keys), in column order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// How many users the state holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the state holds no user.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// When the run that took it started (ISO 8601, UTC).
    pub fn taken_at(&self) -> &str {
        &self.taken_at
    }

    /// The company it belongs to.
    pub fn company_id(&self) -> &str {
        &self.company_id
    }

    /// Which users were exported (the status filter).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn id(&self, index: usize) -> &str {
        id_in(&self.ids, self.records[index].id)
    }

    /// The index of the user `id`.
    fn find(&self, id: &str) -> Option<usize> {
        let mask = self.table.len() - 1;
        let mut slot = id_hash(id) as usize & mask;
        loop {
            let index = self.table[slot];
            if index == EMPTY {
                return None;
            }
            if id_in(&self.ids, self.records[index as usize].id) == id {
                return Some(index as usize);
            }
            slot = (slot + 1) & mask;
        }
    }

    fn working(&self, source: std::io::Error) -> StateError {
        StateError::Working {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Every user, in id order, with its fingerprints and name (for tests and tools: it
    /// reads the whole working file).
    pub fn users(
        &self,
    ) -> impl Iterator<Item = Result<(String, Vec<u64>, Named), StateError>> + '_ {
        (0..self.records.len()).map(move |index| {
            let record = self.records[index];
            let mut hashes = Vec::new();
            self.spool
                .record(record.spool, self.fields.len(), &mut hashes)
                .map(|name| (self.id(index).to_owned(), hashes, name))
                .map_err(|e| self.working(e))
        })
    }
}

/// The state of `company_id` kept in `dir` for users read with `scope`; `None` when there is
/// none yet (the next run is a baseline). Read as a stream: memory holds each user's id and
/// two numbers, the rest goes to a working file in `dir`.
pub fn load(dir: &Path, company_id: &str, scope: &str) -> Result<Option<Previous>, StateError> {
    let path = path_of(dir, company_id);
    let file = match read::open_regular(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path, source }),
    };
    let work = working_dir(dir);
    let working = |source: std::io::Error| StateError::Working {
        dir: work.clone(),
        source,
    };
    let mut spool = Spool::new(&work).map_err(working)?;
    let mut ids = String::new();
    let mut records: Vec<Record> = Vec::new();
    let mut sorted = true;
    let mut keep = |id: String, hashes: Vec<u64>, name: Named| -> std::io::Result<()> {
        let at = spool.push(
            &hashes,
            [
                name.email.as_deref(),
                name.first_name.as_deref(),
                name.last_name.as_deref(),
            ],
        )?;
        if let Some(last) = records.last() {
            sorted &= id_in(&ids, last.id) < id.as_str();
        }
        let id = keep_id(&mut ids, &id)
            .ok_or_else(|| std::io::Error::other("more user ids than a state can hold"))?;
        records.push(Record {
            digest: digest(hashes.iter().copied()),
            spool: at,
            id,
        });
        Ok(())
    };
    let header = read::read(file, company_id, scope, &mut keep).map_err(|failed| {
        let invalid = |reason: String| StateError::Invalid {
            path: path.clone(),
            reason,
        };
        match failed {
            read::Failed::Io(source) => StateError::Read {
                path: path.clone(),
                source,
            },
            read::Failed::Syntax(e) => invalid(format!("not JSON: {e}")),
            read::Failed::Stop(stop) => match stop {
                read::Stop::Format => invalid(format!("its \"format\" is not {FORMAT:?}")),
                read::Stop::NoVersion => invalid("it has no \"version\"".to_owned()),
                read::Stop::Version(found) => StateError::Version {
                    path: path.clone(),
                    found,
                },
                read::Stop::Company(found) => StateError::OtherCompany {
                    path: path.clone(),
                    found,
                    expected: company_id.to_owned(),
                },
                read::Stop::Hashes { id, found, fields } => invalid(format!(
                    "user {id} has {found} fingerprints for {fields} fields"
                )),
                read::Stop::Scope(found) => StateError::OtherScope {
                    path: path.clone(),
                    found,
                    expected: scope.to_owned(),
                },
                read::Stop::Shape(e) => invalid(format!("unexpected shape: {e}")),
                read::Stop::Keep(source) => StateError::Working {
                    dir: work.clone(),
                    source,
                },
            },
        }
    })?;
    spool.seal().map_err(working)?;
    if !sorted {
        // Written by hand, or twice a key: in id order, the last of an id kept, as a JSON
        // reader keeps the last of a repeated key.
        records.sort_by(|a, b| id_in(&ids, a.id).cmp(id_in(&ids, b.id)));
        let mut kept: Vec<Record> = Vec::with_capacity(records.len());
        for record in records {
            match kept.last_mut() {
                Some(last) if id_in(&ids, last.id) == id_in(&ids, record.id) => *last = record,
                _ => kept.push(record),
            }
        }
        records = kept;
    }
    records.shrink_to_fit();
    ids.shrink_to_fit();
    if u32::try_from(records.len()).is_err() {
        return Err(working(std::io::Error::other(
            "more users than a state can hold",
        )));
    }
    let table = table_of(&ids, &records);
    Ok(Some(Previous {
        table,
        company_id: header.company_id,
        taken_at: header.taken_at,
        scope: header.scope,
        fields: header.fields,
        ids,
        records,
        spool,
        dir: work,
    }))
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

/// What names a user, borrowed: what [`Tracker::observe`] keeps of them.
#[derive(Debug, Clone, Copy, Default)]
pub struct NameRef<'a> {
    /// E-mail address.
    pub email: Option<&'a str>,
    /// First name.
    pub first_name: Option<&'a str>,
    /// Last name.
    pub last_name: Option<&'a str>,
}

impl NameRef<'_> {
    /// The same, owned.
    pub fn to_named(self) -> Named {
        Named {
            email: self.email.map(str::to_owned),
            first_name: self.first_name.map(str::to_owned),
            last_name: self.last_name.map(str::to_owned),
        }
    }
}

/// One user of the next state: the rest is in its working file.
#[derive(Debug, Clone, Copy)]
struct Current {
    spool: u64,
    id: Id,
}

/// The next state, complete once [`Tracker::finish`] made it: written out by [`save`].
#[derive(Debug)]
pub struct Next {
    company_id: String,
    taken_at: String,
    scope: String,
    fields: Vec<String>,
    ids: String,
    /// In arrival order while tracking; sorted by id, one per id, once finished.
    entries: Vec<Current>,
    spool: Spool,
    dir: PathBuf,
}

impl Next {
    /// How many users it holds (each id once).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no user.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The company it belongs to.
    pub fn company_id(&self) -> &str {
        &self.company_id
    }

    /// The exported fields, in column order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    fn working(&self, source: std::io::Error) -> StateError {
        StateError::Working {
            dir: self.dir.clone(),
            source,
        }
    }
}

/// For each compared field, in current order: its index now and in the previous state.
type Pairs = Vec<(usize, usize)>;

/// Compares a run's users, one at a time as they stream, with the previous state, and builds
/// the next state. Fields only one of the two states has are not compared (a column added to
/// or dropped from the export is not a change of people): see [`Tracker::fields_added`].
#[derive(Debug)]
pub struct Tracker {
    previous: Option<Arc<Previous>>,
    /// For each current field, its index in the previous state's fields.
    previous_index: Vec<Option<usize>>,
    /// When the two states' fields differ: the compared pairs, and each previous user's
    /// digest over them.
    subset: Option<(Pairs, Vec<u64>)>,
    /// Previous users seen in this run, a bit each.
    seen: Vec<u64>,
    /// Users of this run not in the previous state (to compare a repeated one once).
    joined: HashSet<Box<str>>,
    next: Next,
    /// A previous user's fingerprints, read back.
    buffer: Vec<u64>,
}

impl Tracker {
    /// A comparison with `previous` (none: a baseline), building the next state of
    /// `company_id` taken at `taken_at` of users read with `scope` over `fields`; its working
    /// file goes in `dir` (the state folder).
    pub fn new(
        previous: Option<Arc<Previous>>,
        dir: &Path,
        company_id: impl Into<String>,
        taken_at: impl Into<String>,
        scope: impl Into<String>,
        fields: Vec<String>,
    ) -> Result<Self, StateError> {
        let work = working_dir(dir);
        let spool = Spool::new(&work).map_err(|source| StateError::Working {
            dir: work.clone(),
            source,
        })?;
        let previous_fields: HashMap<&str, usize> = previous
            .iter()
            .flat_map(|p| p.fields.iter().enumerate())
            .map(|(i, f)| (f.as_str(), i))
            .rev()
            .collect();
        let previous_index: Vec<Option<usize>> = fields
            .iter()
            .map(|f| previous_fields.get(f.as_str()).copied())
            .collect();
        let mut subset = None;
        let mut seen = Vec::new();
        if let Some(p) = &previous {
            seen = vec![0; p.records.len().div_ceil(64)];
            let identical = p.fields == fields;
            if !identical {
                let pairs: Pairs = previous_index
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| p.map(|p| (i, p)))
                    .collect();
                // One pass over the working file: each previous user's digest over the
                // fields both states have.
                let mut digests = Vec::with_capacity(p.records.len());
                let mut hashes = Vec::new();
                for record in &p.records {
                    p.spool
                        .hashes(record.spool, p.fields.len(), &mut hashes)
                        .map_err(|e| p.working(e))?;
                    digests.push(digest(pairs.iter().map(|(_, was)| hashes[*was])));
                }
                subset = Some((pairs, digests));
            }
        }
        Ok(Self {
            previous,
            previous_index,
            subset,
            seen,
            joined: HashSet::new(),
            next: Next {
                company_id: company_id.into(),
                taken_at: taken_at.into(),
                scope: scope.into(),
                fields,
                ids: String::new(),
                entries: Vec::new(),
                spool,
                dir: work,
            },
            buffer: Vec::new(),
        })
    }

    /// The fields exported now (column keys).
    pub fn fields(&self) -> &[String] {
        &self.next.fields
    }

    /// Whether a previous state is compared against.
    pub fn is_baseline(&self) -> bool {
        self.previous.is_none()
    }

    /// Fields exported now that the previous state did not have (not compared).
    pub fn fields_added(&self) -> Vec<&str> {
        match self.previous {
            None => Vec::new(),
            Some(_) => self
                .next
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
        let now: HashSet<&str> = self.next.fields.iter().map(String::as_str).collect();
        self.previous
            .iter()
            .flat_map(|p| p.fields.iter())
            .filter(|f| !now.contains(f.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// Records one user of this run (`hashes` in the order of [`Tracker::fields`]) and says how
    /// they compare. A resourceId seen twice in one run is compared once: the later record
    /// replaces the earlier one in the next state.
    pub fn observe(
        &mut self,
        resource_id: &str,
        hashes: &[u64],
        name: NameRef<'_>,
    ) -> Result<Change, StateError> {
        debug_assert_eq!(hashes.len(), self.next.fields.len());
        let change = self.compare(resource_id, hashes)?;
        let next = &mut self.next;
        let spool = next
            .spool
            .push(hashes, [name.email, name.first_name, name.last_name])
            .map_err(|e| next.working(e))?;
        let id = keep_id(&mut next.ids, resource_id).ok_or_else(|| {
            next.working(std::io::Error::other("more user ids than a state can hold"))
        })?;
        next.entries.push(Current { spool, id });
        Ok(change)
    }

    fn compare(&mut self, resource_id: &str, hashes: &[u64]) -> Result<Change, StateError> {
        let Some(previous) = &self.previous else {
            return Ok(Change::Baseline);
        };
        let Some(index) = previous.find(resource_id) else {
            return Ok(match self.joined.contains(resource_id) {
                true => Change::Same,
                false => {
                    self.joined.insert(resource_id.into());
                    Change::Joined
                }
            });
        };
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        if self.seen[word] & bit != 0 {
            return Ok(Change::Same);
        }
        self.seen[word] |= bit;
        let record = previous.records[index];
        let same = match &self.subset {
            None => digest(hashes.iter().copied()) == record.digest,
            Some((pairs, digests)) => {
                digest(pairs.iter().map(|(now, _)| hashes[*now])) == digests[index]
            }
        };
        if same {
            return Ok(Change::Same);
        }
        previous
            .spool
            .hashes(record.spool, previous.fields.len(), &mut self.buffer)
            .map_err(|e| previous.working(e))?;
        let was = &self.buffer;
        let differ: Vec<usize> = self
            .previous_index
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let p = (*p)?;
                (was.get(p) != hashes.get(i)).then_some(i)
            })
            .collect();
        Ok(match differ.is_empty() {
            true => Change::Same,
            false => Change::Changed(differ),
        })
    }

    /// The next state, and who left (in the previous state, not seen in this run), in
    /// resourceId order, read from the working file as they are asked for.
    pub fn finish(self) -> Result<(Next, Left), StateError> {
        let mut next = self.next;
        next.spool.seal().map_err(|e| next.working(e))?;
        let ids = &next.ids;
        // Stable: a repeated id keeps its arrival order, and its last record is kept.
        next.entries
            .sort_by(|a, b| id_in(ids, a.id).cmp(id_in(ids, b.id)));
        let mut kept = 0;
        for at in 0..next.entries.len() {
            let entry = next.entries[at];
            if kept > 0 && id_in(ids, next.entries[kept - 1].id) == id_in(ids, entry.id) {
                next.entries[kept - 1] = entry;
            } else {
                next.entries[kept] = entry;
                kept += 1;
            }
        }
        next.entries.truncate(kept);
        next.entries.shrink_to_fit();
        let seen_count: usize = self.seen.iter().map(|w| w.count_ones() as usize).sum();
        let left = Left {
            remaining: self
                .previous
                .as_ref()
                .map_or(0, |p| p.records.len() - seen_count),
            previous: self.previous,
            seen: self.seen,
            at: 0,
            hashes: Vec::new(),
        };
        Ok((next, left))
    }
}

/// Who left: the previous state's users not seen in the run, in resourceId order, each with
/// what names them (read from the working file when asked for).
#[derive(Debug)]
pub struct Left {
    previous: Option<Arc<Previous>>,
    seen: Vec<u64>,
    at: usize,
    remaining: usize,
    /// The fingerprints read with a name, unused.
    hashes: Vec<u64>,
}

impl Left {
    /// How many left.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether nobody left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl Iterator for Left {
    type Item = Result<(String, Named), StateError>;

    fn next(&mut self) -> Option<Self::Item> {
        let previous = self.previous.as_ref()?;
        while self.at < previous.records.len() {
            let index = self.at;
            self.at += 1;
            if self.seen[index / 64] & (1 << (index % 64)) != 0 {
                continue;
            }
            self.remaining -= 1;
            let record = previous.records[index];
            let name = previous
                .spool
                .record(record.spool, previous.fields.len(), &mut self.hashes)
                .map_err(|e| previous.working(e));
            return Some(name.map(|name| (previous.id(index).to_owned(), name)));
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

/// Writes `next` to its file in `dir` atomically (a temporary file renamed into place),
/// owner-only; the previous state stays until the new one is complete. Users are written in
/// resourceId order, each read back from the working file.
pub fn save(dir: &Path, next: &Next) -> Result<PathBuf, StateError> {
    let path = path_of(dir, &next.company_id);
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
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file.file());
    let io = |e: std::io::Error| write(e.to_string());
    let json = |e: serde_json::Error| write(e.to_string());
    // The layout serde gave the whole state before: header keys, then users by id.
    out.write_all(b"{\"format\":").map_err(io)?;
    serde_json::to_writer(&mut out, FORMAT).map_err(json)?;
    write!(out, ",\"version\":{VERSION},\"companyId\":").map_err(io)?;
    serde_json::to_writer(&mut out, &next.company_id).map_err(json)?;
    out.write_all(b",\"takenAt\":").map_err(io)?;
    serde_json::to_writer(&mut out, &next.taken_at).map_err(json)?;
    out.write_all(b",\"scope\":").map_err(io)?;
    serde_json::to_writer(&mut out, &next.scope).map_err(json)?;
    out.write_all(b",\"fields\":").map_err(io)?;
    serde_json::to_writer(&mut out, &next.fields).map_err(json)?;
    out.write_all(b",\"users\":{").map_err(io)?;
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hashes = Vec::new();
    let mut hex: Vec<u8> = Vec::new();
    for (i, entry) in next.entries.iter().enumerate() {
        let name = next
            .spool
            .record(entry.spool, next.fields.len(), &mut hashes)
            .map_err(|e| write(next.working(e).to_string()))?;
        if i > 0 {
            out.write_all(b",").map_err(io)?;
        }
        serde_json::to_writer(&mut out, id_in(&next.ids, entry.id)).map_err(json)?;
        hex.clear();
        for h in &hashes {
            hex.extend(
                h.to_be_bytes()
                    .iter()
                    .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]),
            );
        }
        out.write_all(b":{\"hashes\":\"").map_err(io)?;
        out.write_all(&hex).map_err(io)?;
        out.write_all(b"\",\"name\":").map_err(io)?;
        serde_json::to_writer(&mut out, &name).map_err(json)?;
        out.write_all(b"}").map_err(io)?;
    }
    out.write_all(b"}}").map_err(io)?;
    out.flush().map_err(io)?;
    drop(out);
    file.sync().map_err(|e| write(e.to_string()))?;
    file.commit().map_err(|e| write(e.to_string()))?;
    Ok(path)
}

/// Fingerprints as 16 hex digits each, concatenated: a third of the JSON a list of numbers
/// takes, and exact (JSON numbers above 2^53 are not).
mod hex {
    use serde::{de::Error, Deserialize, Deserializer};

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

    fn name(email: &str) -> NameRef<'_> {
        NameRef {
            email: Some(email),
            ..NameRef::default()
        }
    }

    fn tracker(dir: &Path, previous: Option<Previous>, fields: &[&str]) -> Tracker {
        Tracker::new(
            previous.map(Arc::new),
            dir,
            "C1",
            "2026-12-02T05:02:34Z",
            "active",
            fields.iter().map(|f| (*f).to_owned()).collect(),
        )
        .unwrap()
    }

    /// Saves a baseline of `users` (id, email, department) for C1 in `dir`.
    fn baseline(dir: &Path, users: &[(&str, &str, &str)]) -> PathBuf {
        let mut t = tracker(dir, None, &FIELDS);
        for (id, email, department) in users {
            assert_eq!(
                t.observe(id, &hashes(email, department), name(email))
                    .unwrap(),
                Change::Baseline
            );
        }
        let (next, left) = t.finish().unwrap();
        assert_eq!(left.count(), 0);
        save(dir, &next).unwrap()
    }

    fn loaded(dir: &Path) -> Previous {
        load(dir, "C1", "active").unwrap().expect("a state")
    }

    fn users_of(previous: &Previous) -> Vec<(String, Vec<u64>, Named)> {
        previous.users().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn joined_left_and_changed_with_their_fields() {
        let dir = tempfile::tempdir().unwrap();
        baseline(
            dir.path(),
            &[("c", "c@x", "HR"), ("a", "a@x", "IT"), ("b", "b@x", "HR")],
        );
        let mut t = tracker(dir.path(), Some(loaded(dir.path())), &FIELDS);
        assert!(!t.is_baseline());
        let see = |t: &mut Tracker, id: &str, email: &str, department: &str| {
            t.observe(id, &hashes(email, department), name(email))
                .unwrap()
        };
        assert_eq!(see(&mut t, "a", "a@x", "IT"), Change::Same);
        assert_eq!(see(&mut t, "c", "c@x", "Legal"), Change::Changed(vec![1]));
        assert_eq!(see(&mut t, "d", "d@x", "IT"), Change::Joined);
        // Seen twice in one run (a page served twice): compared once, the later one kept.
        assert_eq!(see(&mut t, "d", "d@x", "Sales"), Change::Same);
        assert_eq!(see(&mut t, "c", "c@x", "Legal"), Change::Same);
        let (next, left) = t.finish().unwrap();
        assert_eq!(left.len(), 1);
        let left: Vec<(String, Named)> = left.collect::<Result<_, _>>().unwrap();
        assert_eq!(left, [("b".to_owned(), named("b@x"))]);
        assert_eq!(next.len(), 3);
        save(dir.path(), &next).unwrap();
        let after = users_of(&loaded(dir.path()));
        let ids: Vec<&str> = after.iter().map(|(id, ..)| id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d"], "by id, each once");
        assert_eq!(
            after[1].1,
            hashes("c@x", "Legal"),
            "the next state holds this run"
        );
        assert_eq!(
            after[2].1,
            hashes("d@x", "Sales"),
            "the later record of a repeat"
        );
    }

    #[test]
    fn a_column_added_or_dropped_is_not_a_change_of_people() {
        let dir = tempfile::tempdir().unwrap();
        baseline(dir.path(), &[("a", "a@x", "IT"), ("b", "b@x", "HR")]);
        let mut t = tracker(
            dir.path(),
            Some(loaded(dir.path())),
            &["phoneNumber", "email"],
        );
        assert_eq!(t.fields_added(), ["phoneNumber"]);
        assert_eq!(t.fields_dropped(), ["department"]);
        let now = [
            fingerprint(&Cell::Text("+90")),
            fingerprint(&Cell::Text("a@x")),
        ];
        assert_eq!(t.observe("a", &now, name("a@x")).unwrap(), Change::Same);
        let now = [fingerprint(&Cell::Null), fingerprint(&Cell::Text("B@x"))];
        assert_eq!(
            t.observe("b", &now, name("B@x")).unwrap(),
            Change::Changed(vec![1])
        );
    }

    #[test]
    fn saved_owner_only_loaded_back_and_refused_for_another_company_version_or_scope() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load(dir.path(), "C1", "active").unwrap().is_none(),
            "no state: a baseline"
        );
        let path = baseline(dir.path(), &[("a", "a@x", "IT")]);
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
        let back = loaded(dir.path());
        assert_eq!(
            (back.company_id(), back.scope(), back.taken_at()),
            ("C1", "active", "2026-12-02T05:02:34Z")
        );
        assert_eq!(back.fields(), FIELDS);
        assert_eq!(
            users_of(&back),
            [("a".to_owned(), hashes("a@x", "IT"), named("a@x"))]
        );

        let e = load(dir.path(), "C1", "all").unwrap_err().to_string();
        assert!(
            e.contains("was taken of active users, this run exports all users"),
            "{e}"
        );
        // Another company's state under this company's name.
        std::fs::copy(&path, path_of(dir.path(), "C2")).unwrap();
        let e = load(dir.path(), "C2", "active").unwrap_err().to_string();
        assert!(e.contains("holds the state of company C1, not C2"), "{e}");
        // Another version; one of 20 digits is a version too, not a missing one.
        for version in ["2", "99999999999999999999"] {
            let other = text.replace("\"version\":1", &format!("\"version\":{version}"));
            std::fs::write(path_of(dir.path(), "C1"), other).unwrap();
            let e = load(dir.path(), "C1", "active").unwrap_err().to_string();
            assert!(e.contains(&format!("format version {version},")), "{e}");
        }
        let none = text.replace("\"version\":1", "\"version\":\"1\"");
        std::fs::write(path_of(dir.path(), "C1"), none).unwrap();
        let e = load(dir.path(), "C1", "active").unwrap_err().to_string();
        assert!(e.contains("it has no \"version\""), "{e}");
        // Not a state file at all, or one with a damaged fingerprint list.
        for bad in ["[1,2]", "{\"format\":", "{}"] {
            std::fs::write(path_of(dir.path(), "C1"), bad).unwrap();
            assert!(
                matches!(
                    load(dir.path(), "C1", "active"),
                    Err(StateError::Invalid { .. })
                ),
                "{bad}"
            );
        }
        let short = text.replacen("\"hashes\":\"", "\"hashes\":\"0123", 1);
        std::fs::write(path_of(dir.path(), "C1"), short).unwrap();
        assert!(matches!(
            load(dir.path(), "C1", "active"),
            Err(StateError::Invalid { .. })
        ));
        let fewer = text.replacen("\"hashes\":\"", "\"hashes\":\"0123456789abcdef", 1);
        std::fs::write(path_of(dir.path(), "C1"), fewer).unwrap();
        let e = load(dir.path(), "C1", "active").unwrap_err().to_string();
        assert!(e.contains("user a has 3 fingerprints for 2 fields"), "{e}");
        // Nothing of the working files is left behind.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["C1.state.json", "C2.state.json"]);
    }

    #[test]
    fn the_file_keeps_the_layout_earlier_builds_wrote_and_read() {
        // What the whole-state serialiser of earlier builds wrote for these users.
        let dir = tempfile::tempdir().unwrap();
        let path = baseline(
            dir.path(),
            &[("b\"2", "b@x", "HR"), ("a", "a@x", "IT"), ("é", "e@x", "")],
        );
        let mut users = std::collections::BTreeMap::new();
        for (id, email, department) in [("b\"2", "b@x", "HR"), ("a", "a@x", "IT"), ("é", "e@x", "")]
        {
            let hex: String = hashes(email, department)
                .iter()
                .map(|h| format!("{h:016x}"))
                .collect();
            users.insert(
                id,
                serde_json::json!({"hashes": hex, "name": {"email": email}}),
            );
        }
        let former = serde_json::json!({
            "format": FORMAT, "version": 1, "companyId": "C1",
            "takenAt": "2026-12-02T05:02:34Z", "scope": "active",
            "fields": FIELDS, "users": users,
        });
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            serde_json::to_string(&former).unwrap()
        );
        // A hand-written one: users out of order, one twice (the last one counts), keys in
        // another order, white space, the fields after the users.
        let hand = format!(
            "{{ \"users\": {{ \"z\": {{\"name\":{{}},\"hashes\":\"{a}\"}},\n \"a\": {{\"hashes\":\"{a}\",\"name\":{{\"firstName\":\"A\"}}}},\n \"z\": {{\"hashes\":\"{b}\",\"name\":{{}}}} }},\n \"scope\":\"active\", \"fields\":[\"email\",\"department\"], \"companyId\":\"C1\", \"takenAt\":\"t\", \"extra\": [1], \"version\": 1, \"format\": \"{FORMAT}\" }}",
            a = "00000000000000010000000000000002",
            b = "00000000000000030000000000000004",
        );
        std::fs::write(&path, hand).unwrap();
        let back = users_of(&loaded(dir.path()));
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, "a");
        assert_eq!(back[0].2.first_name.as_deref(), Some("A"));
        assert_eq!(back[1], ("z".to_owned(), vec![3, 4], Named::default()));
    }

    #[test]
    fn a_hundred_thousand_users_compare_as_a_few_do() {
        // Not a measure of memory (cargo xtask bench has the 200,000-user run); the compact
        // structures answer as the whole state did, at a size where shortcuts would show.
        let dir = tempfile::tempdir().unwrap();
        let count = 100_000;
        let id = |i: usize| format!("u{:08}", (i * 7919) % count);
        let mut t = tracker(dir.path(), None, &FIELDS);
        for i in 0..count {
            let email = format!("{i}@x");
            t.observe(&id(i), &hashes(&email, "IT"), name(&email))
                .unwrap();
        }
        let (next, _) = t.finish().unwrap();
        save(dir.path(), &next).unwrap();
        let mut t = tracker(dir.path(), Some(loaded(dir.path())), &FIELDS);
        let (mut same, mut changed, mut joined) = (0, 0, 0);
        for i in (0..count).filter(|i| i % 10 != 0) {
            let email = format!("{i}@x");
            let department = if i % 3 == 0 { "HR" } else { "IT" };
            match t
                .observe(&id(i), &hashes(&email, department), name(&email))
                .unwrap()
            {
                Change::Same => same += 1,
                Change::Changed(fields) => {
                    assert_eq!(fields, [1]);
                    changed += 1
                }
                other => panic!("{other:?}"),
            }
        }
        for i in count..count + 5 {
            let email = format!("{i}@x");
            let new = format!("n{i}");
            assert_eq!(
                t.observe(&new, &hashes(&email, "IT"), name(&email))
                    .unwrap(),
                Change::Joined
            );
            joined += 1;
        }
        let (next, left) = t.finish().unwrap();
        assert_eq!((same, changed, joined), (60_000, 30_000, 5));
        assert_eq!(left.len(), 10_000);
        let left: Vec<(String, Named)> = left.collect::<Result<_, _>>().unwrap();
        assert!(left.windows(2).all(|w| w[0].0 < w[1].0), "by id");
        assert_eq!(left[0].1.email.as_deref(), Some("0@x"));
        assert_eq!(next.len(), 90_005);
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
    fn a_digest_differs_whenever_one_fingerprint_does() {
        let base: Vec<u64> = (0..21)
            .map(|i| fingerprint(&Cell::Text(&i.to_string())))
            .collect();
        for at in 0..base.len() {
            for change in [1u64, 1 << 63, base[(at + 1) % base.len()]] {
                let mut other = base.clone();
                other[at] ^= change;
                assert_ne!(digest(base.iter().copied()), digest(other), "{at}");
            }
        }
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
