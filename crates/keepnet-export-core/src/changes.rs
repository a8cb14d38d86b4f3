//! The change report (`--state DIR`, `--changes KIND:TARGET`): who joined, left or changed
//! since the previous run that kept a state.
//!
//! [`Track`] is one more lane of the pipeline ([`crate::lane`]): it sees every user as the
//! pages stream, fingerprints the exported cells, compares them with the previous state
//! ([`keepnet_state::Tracker`]) and writes one row per joined or changed user to the change
//! sinks at once; at the end it writes the users who left (named by what the state kept) and
//! finishes. The change sinks then publish with the export's own sinks, all or nothing, and
//! the state advances only after the whole run succeeded, complete
//! ([`crate::pipeline::run`]).
//!
//! Change rows have the columns `change` (`joined`, `left` or `changed`), `changedFields`
//! (the API names of the fields that changed, comma-separated) and then the export's columns.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepnet_api::{Page, TargetUser};
use keepnet_sink::{Cell, Changes, Column, ColumnKind, ExportInfo};
use keepnet_state::lock::Lock;
use keepnet_state::{Change, NameRef, Named, Next, Previous, Tracker};

use crate::columns::Layout;
use crate::exit::{self, Failure};
use crate::lane::Consumer;
use crate::sinks::NamedSink;

/// The first two columns of a change row.
pub const CHANGE_COLUMNS: [&str; 2] = ["change", "changedFields"];

/// Where and how a company's state is kept. Clones share one lock on the folder
/// ([`keepnet_state::lock`]): taken by the first company that loads its state, held until
/// the last clone is dropped (the end of the run), so every company of a run compares and
/// saves while no other run can.
#[derive(Debug, Clone)]
pub struct StateKeeping {
    /// The state folder (`--state DIR`).
    pub dir: PathBuf,
    /// How the user wrote it, for messages: `--state DIR`, `state = "DIR"`.
    pub label: String,
    /// Which users are exported (the status filter), recorded in the state.
    pub scope: String,
    /// How long to wait for another run's lock on the folder before refusing (zero: refuse
    /// at once).
    pub wait: Duration,
    lock: Arc<Mutex<Option<Arc<Lock>>>>,
}

impl StateKeeping {
    /// The state kept in `dir` (named `label` in messages) for users read with `scope`; a
    /// run waits for no other run's lock unless [`StateKeeping::wait`] says.
    pub fn new(dir: PathBuf, label: String, scope: String) -> Self {
        Self {
            dir,
            label,
            scope,
            wait: Duration::ZERO,
            lock: Arc::default(),
        }
    }

    /// Takes the folder's lock for the run, unless a clone already did; creates the folder
    /// (owner-only) when it does not exist.
    fn lock(&self) -> Result<(), Failure> {
        let mut held = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_some() {
            return Ok(());
        }
        if !self.dir.exists() {
            create_private_dir(&self.dir).map_err(|e| {
                Failure::output(
                    format!("{}: cannot create {}", self.label, self.dir.display()),
                    e,
                )
            })?;
        }
        match Lock::acquire(&self.dir, self.wait) {
            Ok(lock) => {
                tracing::debug!(lock = %lock.path().display(), "state folder locked");
                *held = Some(lock);
                Ok(())
            }
            Err(_) if crate::stop::requested().is_some() => Err(crate::stop::requested()
                .expect("a stop was requested")
                .failure()),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// The previous state of `company_id`; `None` when this run is the baseline. A state of
    /// another version, company or status filter is an error. Takes the folder's lock first
    /// (another run holding it is an error naming it, once [`StateKeeping::wait`] is over).
    pub fn load(&self, company_id: &str) -> Result<Option<Previous>, Failure> {
        self.lock()?;
        keepnet_state::load(&self.dir, company_id, &self.scope).map_err(|e| {
            let code = match e {
                keepnet_state::StateError::Read { .. }
                | keepnet_state::StateError::Working { .. } => exit::OUTPUT,
                _ => exit::USAGE,
            };
            Failure::msg(code, format!("{}: {e}", self.label))
        })
    }

    /// A failure of the comparison's working files.
    fn failed(&self, e: keepnet_state::StateError) -> Failure {
        Failure::msg(exit::OUTPUT, format!("{}: {e}", self.label))
    }

    /// Writes the next state, creating the folder (owner-only) when it does not exist;
    /// refused when this run no longer holds the folder's lock.
    pub fn save(&self, state: &Next) -> Result<PathBuf, Failure> {
        if let Some(lock) = self.lock.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            lock.check().map_err(|e| self.failed(e))?;
        }
        if !self.dir.exists() {
            create_private_dir(&self.dir).map_err(|e| {
                Failure::output(
                    format!("{}: cannot create {}", self.label, self.dir.display()),
                    e,
                )
            })?;
        }
        keepnet_state::save(&self.dir, state).map_err(|e| Failure::msg(exit::OUTPUT, e.to_string()))
    }
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// What the tracker found, once the read finished.
#[derive(Debug)]
pub struct Tracked {
    /// The state to keep if the run succeeds.
    pub state: Next,
    /// The counts and the first names, for the summary and the e-mail.
    pub changes: Changes,
    /// What the user should know (columns not compared, users without a resourceId).
    pub warnings: Vec<String>,
}

/// The change-tracking lane: compares every user with the previous state and writes the
/// change rows.
pub struct Track {
    previous: Option<Arc<Previous>>,
    keeping: StateKeeping,
    company_id: String,
    taken_at: String,
    /// The change sinks (`--changes`), handed back for publication once the read finished.
    pub sinks: Vec<NamedSink>,
    tracker: Option<Tracker>,
    /// The counts and names so far.
    changes: Changes,
    untracked: u64,
    /// A row's fingerprints, reused.
    hashes: Vec<u64>,
    /// Set by `finish`.
    pub tracked: Option<Tracked>,
}

impl Track {
    /// A tracker comparing with `previous` (none: a baseline), keeping its working files
    /// where `keeping` keeps the state, writing change rows to `sinks`.
    pub fn new(
        previous: Option<Arc<Previous>>,
        export: &ExportInfo,
        keeping: &StateKeeping,
        sinks: Vec<NamedSink>,
    ) -> Self {
        Self {
            previous,
            keeping: keeping.clone(),
            company_id: export.company_id.clone(),
            taken_at: export.started_at.to_string(),
            sinks,
            tracker: None,
            changes: Changes::default(),
            untracked: 0,
            hashes: Vec::new(),
            tracked: None,
        }
    }

    fn each_sink(
        &mut self,
        mut act: impl FnMut(&mut NamedSink) -> Result<(), keepnet_sink::SinkError>,
    ) -> Result<(), Failure> {
        for named in &mut self.sinks {
            act(named).map_err(|e| Failure::sink(&named.label, e))?;
        }
        Ok(())
    }

    fn write_change(
        &mut self,
        change: &str,
        fields: &str,
        row: &[Cell<'_>],
    ) -> Result<(), Failure> {
        if self.sinks.is_empty() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(row.len() + 2);
        out.push(Cell::Text(change));
        out.push(Cell::Text(fields));
        out.extend_from_slice(row);
        self.each_sink(|named| named.sink.write_row(&out))
    }
}

fn named(user: &TargetUser) -> Named {
    Named {
        email: user.email.clone().map(String::from),
        first_name: user.first_name.clone().map(String::from),
        last_name: user.last_name.clone().map(String::from),
    }
}

impl Consumer for Track {
    fn begin(&mut self, export: &ExportInfo, layout: &Arc<Layout>) -> Result<(), Failure> {
        let fields: Vec<String> = layout.columns().iter().map(|c| c.key.clone()).collect();
        let tracker = Tracker::new(
            self.previous.clone(),
            &self.keeping.dir,
            &self.company_id,
            &self.taken_at,
            &self.keeping.scope,
            fields,
        )
        .map_err(|e| self.keeping.failed(e))?;
        self.changes.baseline = tracker.is_baseline();
        self.tracker = Some(tracker);
        let mut columns: Vec<Column> = CHANGE_COLUMNS
            .iter()
            .map(|c| Column::new(*c, *c, ColumnKind::Text))
            .collect();
        columns.extend(layout.columns().iter().cloned());
        self.each_sink(|named| named.sink.begin(export, &columns))
    }

    fn write(&mut self, page: &Page<TargetUser>, layout: &Layout) -> Result<(), Failure> {
        let Some(mut tracker) = self.tracker.take() else {
            return Err(Failure::msg(
                exit::INTERNAL,
                "rows arrived before the columns",
            ));
        };
        let width = layout.columns().len();
        let mut outcome = Ok(());
        for user in &page.results {
            let Some(id) = user.resource_id.as_deref().filter(|id| !id.is_empty()) else {
                self.untracked += 1;
                continue;
            };
            let prepared = layout.prepare(user);
            let mut row = Vec::with_capacity(width);
            layout.row(user, &prepared, &mut row);
            self.hashes.clear();
            self.hashes
                .extend(row.iter().map(keepnet_state::fingerprint));
            let name = NameRef {
                email: user.email.as_deref(),
                first_name: user.first_name.as_deref(),
                last_name: user.last_name.as_deref(),
            };
            let change = match tracker.observe(id, &self.hashes, name) {
                Ok(change) => change,
                Err(e) => {
                    outcome = Err(self.keeping.failed(e));
                    break;
                }
            };
            let written = match change {
                Change::Baseline | Change::Same => Ok(()),
                Change::Joined => {
                    self.changes.joined += 1;
                    if self.changes.joined_names.len() < Changes::NAMES_SHOWN {
                        self.changes.joined_names.push(named(user).display(id));
                    }
                    self.write_change("joined", "", &row)
                }
                Change::Changed(fields) => {
                    self.changes.changed += 1;
                    let names: Vec<&str> = fields
                        .iter()
                        .map(|i| tracker.fields()[*i].as_str())
                        .collect();
                    self.write_change("changed", &names.join(","), &row)
                }
            };
            if let Err(e) = written {
                outcome = Err(e);
                break;
            }
        }
        self.tracker = Some(tracker);
        outcome
    }

    fn finish(&mut self) -> Result<(), Failure> {
        let Some(tracker) = self.tracker.take() else {
            return Err(Failure::msg(
                exit::INTERNAL,
                "the read ended before its columns",
            ));
        };
        let mut warnings = Vec::new();
        let (added, dropped) = (tracker.fields_added(), tracker.fields_dropped());
        if !added.is_empty() || !dropped.is_empty() {
            warnings.push(format!(
                "the exported columns differ from the state's (added: {}; dropped: {}): users \
                 are compared on the columns both have",
                list_or_none(&added),
                list_or_none(&dropped)
            ));
        }
        if self.untracked > 0 {
            warnings.push(format!(
                "{} users had no resourceId and are not in the change report",
                self.untracked
            ));
        }
        let fields: Vec<String> = tracker.fields().to_vec();
        let (state, left) = tracker.finish().map_err(|e| self.keeping.failed(e))?;
        self.changes.left = left.len() as u64;
        for gone in left {
            let (id, name) = gone.map_err(|e| self.keeping.failed(e))?;
            let (id, name) = (&id, &name);
            if self.changes.left_names.len() < Changes::NAMES_SHOWN {
                self.changes.left_names.push(name.display(id));
            }
            let row: Vec<Cell<'_>> = fields
                .iter()
                .map(|key| match key.as_str() {
                    "resourceId" => Cell::Text(id),
                    "email" => Cell::text(name.email.as_deref()),
                    "firstName" => Cell::text(name.first_name.as_deref()),
                    "lastName" => Cell::text(name.last_name.as_deref()),
                    _ => Cell::Null,
                })
                .collect();
            self.write_change("left", "", &row)?;
        }
        self.each_sink(|named| match named.sink.finish_last() {
            true => Ok(()),
            false => named.sink.finish(),
        })?;
        self.tracked = Some(Tracked {
            state,
            changes: std::mem::take(&mut self.changes),
            warnings,
        });
        Ok(())
    }

    fn abort(&mut self) {
        for named in &mut self.sinks {
            named.sink.abort();
        }
    }
}

fn list_or_none(names: &[&str]) -> String {
    match names.is_empty() {
        true => "none".to_owned(),
        false => names.join(", "),
    }
}
