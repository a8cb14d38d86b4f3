//! One run at a time per state folder, modelled on restic's repository lock.
//!
//! Two runs comparing against one state at once would both report the same changes, and
//! the one that saves last could move the state back in time. So a run holds a lock file in
//! the folder, [`LOCK_FILE`], naming its holder (host, process id, when it started, when it
//! last said it was alive) for as long as it keeps the state; a thread rewrites the refresh
//! time every [`REFRESH`]. Another run waits for it up to a stated time, then refuses, naming
//! the holder.
//!
//! A lock whose holder is gone is stale and taken over (with a warning): one of this host
//! whose process no longer exists (or from before the host restarted), or one of any host not
//! refreshed for [`STALE_AFTER`]. The file is created with `O_EXCL`, and a stale one is moved
//! aside and checked before it is removed, so two runs taking over one stale lock cannot
//! both win.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use keepnet_sink::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StateError;

/// The lock file's name in the state folder.
pub const LOCK_FILE: &str = "keepnet-export.lock";
/// How often the holder rewrites its refresh time.
pub const REFRESH: Duration = Duration::from_secs(30);
/// A lock not refreshed for this long is stale, whatever its host (its holder would have
/// refreshed it ten times).
pub const STALE_AFTER: Duration = Duration::from_secs(300);
/// How often a waiting run looks at the lock again.
const POLL: Duration = Duration::from_millis(100);

/// Who holds a lock, as its file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// The program that wrote it.
    pub program: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it took the lock (ISO 8601, UTC).
    pub started_at: String,
    /// When it last said it was alive.
    pub refreshed_at: String,
    /// The boot of its host (Linux), so a lock from before a restart is known to be stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// This lock's own id: a holder recognises its lock by it.
    pub id: String,
}

impl Holder {
    /// `host H, pid P, started S, last refreshed R`.
    pub fn describe(&self) -> String {
        format!(
            "host {}, pid {}, started {}, last refreshed {}",
            self.host, self.pid, self.started_at, self.refreshed_at
        )
    }

    /// This process, now.
    fn this_process() -> Self {
        let now = Timestamp::now().to_string();
        let host = this_host();
        let pid = std::process::id();
        let mut id = Sha256::new();
        id.update(host.as_bytes());
        id.update(pid.to_be_bytes());
        id.update(now.as_bytes());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        id.update(nanos.to_be_bytes());
        static TAKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        id.update(TAKEN.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let id: String = id.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            program: "keepnet-export".to_owned(),
            host,
            pid,
            started_at: now.clone(),
            refreshed_at: now,
            boot_id: boot_id(),
            id,
        }
    }
}

/// This host's name, as locks name it.
fn this_host() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// This boot of the host, when the system says (Linux).
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Whether process `pid` of this host exists; `None` when this system cannot say.
fn process_exists(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    match proc.join("self").exists() {
        true => Some(proc.join(pid.to_string()).exists()),
        false => None,
    }
}

/// Why a lock is stale, if it is: its holder cannot be running.
fn stale(holder: &Holder, now: &Timestamp) -> Option<String> {
    let refreshed = Timestamp::parse(&holder.refreshed_at).map(|t| t.unix_seconds());
    let age = refreshed.map(|r| now.unix_seconds().saturating_sub(r));
    if age.is_none_or(|age| age > STALE_AFTER.as_secs() as i64) {
        return Some(format!(
            "not refreshed for more than {} minutes",
            STALE_AFTER.as_secs() / 60
        ));
    }
    if holder.host != this_host() {
        return None;
    }
    if let (Some(theirs), Some(ours)) = (&holder.boot_id, boot_id()) {
        if *theirs != ours {
            return Some("this host restarted since".to_owned());
        }
    }
    match process_exists(holder.pid) {
        Some(false) => Some(format!("process {} no longer exists", holder.pid)),
        _ => None,
    }
}

/// What was found in the lock file.
enum Found {
    /// Nothing: the file went away.
    Gone,
    /// A holder, and the file's bytes.
    Held(Box<Holder>, Vec<u8>),
    /// Bytes that are not a lock (being written, or damaged), and how old the file is.
    Unreadable(Vec<u8>, Option<Duration>),
}

fn look(path: &Path) -> io::Result<Found> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Gone),
        Err(e) => return Err(e),
    };
    match serde_json::from_slice::<Holder>(&bytes) {
        Ok(holder) => Ok(Found::Held(Box::new(holder), bytes)),
        Err(_) => {
            let age = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok());
            Ok(Found::Unreadable(bytes, age))
        }
    }
}

/// A held lock on a state folder: refreshed by a thread of its own while it lives, and
/// removed when dropped (if it is still this run's).
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    holder: Arc<std::sync::Mutex<Holder>>,
    /// Set when the file stopped being this run's (taken over, removed).
    lost: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    refresher: Option<thread::JoinHandle<()>>,
}

/// The locks this process holds, by folder: every run of the process on one folder shares
/// its lock (the jobs of a job file run one after the other, and may share a state folder).
static HELD: std::sync::Mutex<Vec<(PathBuf, std::sync::Weak<Lock>)>> =
    std::sync::Mutex::new(Vec::new());

impl Lock {
    /// Takes the lock of `dir` (which must exist) for this process, waiting up to `wait` for
    /// another run to release it; a stale lock is taken over, with a warning. A lock this
    /// process already holds on `dir` is shared. Gives up early when a stop was requested
    /// ([`keepnet_sink::stop_requested`]).
    pub fn acquire(dir: &Path, wait: Duration) -> Result<Arc<Self>, StateError> {
        let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|(_, lock)| lock.strong_count() > 0);
        if let Some(lock) = held
            .iter()
            .find(|(folder, _)| *folder == key)
            .and_then(|(_, lock)| lock.upgrade())
        {
            return Ok(lock);
        }
        let lock = Arc::new(Self::take(dir, wait, REFRESH)?);
        held.push((key, Arc::downgrade(&lock)));
        Ok(lock)
    }

    /// Takes the lock of `dir` as a run of its own (not shared within the process).
    fn take(dir: &Path, wait: Duration, refresh: Duration) -> Result<Self, StateError> {
        let path = dir.join(LOCK_FILE);
        let failed = |source: io::Error| StateError::Lock {
            path: path.clone(),
            source,
        };
        let mine = Holder::this_process();
        let bytes = serde_json::to_vec(&mine).expect("a holder serialises");
        let deadline = Instant::now() + wait;
        loop {
            match create(&path, &bytes) {
                Ok(()) => return Ok(Self::held(path, mine, refresh)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(failed(e)),
            }
            let now = Timestamp::now();
            let (why, seen, holder) = match look(&path).map_err(failed)? {
                Found::Gone => continue,
                Found::Held(holder, seen) => (stale(&holder, &now), seen, Some(*holder)),
                Found::Unreadable(seen, age) => {
                    let old = age.is_some_and(|a| a > STALE_AFTER);
                    let why = old.then(|| "unreadable and untouched for minutes".to_owned());
                    (why, seen, None)
                }
            };
            if let Some(why) = why {
                let who = holder
                    .as_ref()
                    .map_or("an unknown run".to_owned(), Holder::describe);
                if take_over(&path, &seen, &mine.id).map_err(failed)? {
                    tracing::warn!(
                        lock = %path.display(),
                        "took over a stale lock on the state folder ({who}): {why}; its run \
                         ended without releasing it"
                    );
                }
                continue;
            }
            if Instant::now() >= deadline || keepnet_sink::stop_requested() {
                return Err(StateError::Locked {
                    path,
                    holder: holder.map_or_else(
                        || "a run whose lock file is being written".to_owned(),
                        |h| h.describe(),
                    ),
                    waited: wait.as_secs(),
                });
            }
            thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    fn held(path: PathBuf, holder: Holder, refresh: Duration) -> Self {
        let holder = Arc::new(std::sync::Mutex::new(holder));
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let refresher = {
            let (path, holder, lost) = (path.clone(), holder.clone(), lost.clone());
            thread::Builder::new()
                .name("keepnet-state-lock".to_owned())
                .spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(refresh) {
                        if !refresh_once(&path, &holder, &lost) {
                            break;
                        }
                    }
                })
                .ok()
        };
        Self {
            path,
            holder,
            lost,
            stop: Some(stop),
            refresher,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the lock is still this run's: the file names it. A run that lost its lock
    /// (taken over as stale, or removed by hand) must not advance the state.
    pub fn check(&self) -> Result<(), StateError> {
        let ours = self.holder.lock().map(|h| h.id.clone()).unwrap_or_default();
        let lost = |holder: String| StateError::LockLost {
            path: self.path.clone(),
            holder,
        };
        if self.lost.load(Ordering::SeqCst) {
            return Err(lost("another run".to_owned()));
        }
        match look(&self.path) {
            Ok(Found::Held(holder, _)) if holder.id == ours => Ok(()),
            Ok(Found::Held(holder, _)) => Err(lost(holder.describe())),
            Ok(Found::Gone) => Err(lost("nobody: the lock file was removed".to_owned())),
            Ok(Found::Unreadable(..)) => Err(lost("an unreadable lock file".to_owned())),
            Err(e) => Err(StateError::Lock {
                path: self.path.clone(),
                source: e,
            }),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(refresher) = self.refresher.take() {
            let _ = refresher.join();
        }
        let ours = self.holder.lock().map(|h| h.id.clone()).unwrap_or_default();
        if let Ok(Found::Held(holder, _)) = look(&self.path) {
            if holder.id == ours {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Creates `path` holding `bytes`, failing with `AlreadyExists` when it exists: written
/// beside it first and linked into place, so a reader never sees it half written (where
/// links are not supported, created in place).
fn create(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let beside = aside(path, "new");
    write_private(&beside, bytes)?;
    let linked = std::fs::hard_link(&beside, path);
    let _ = std::fs::remove_file(&beside);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            let mut file = private_options().create_new(true).open(path)?;
            file.write_all(bytes)?;
            file.sync_all()
        }
    }
}

/// A name beside the lock file, unique to this process and purpose.
fn aside(path: &Path, purpose: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".{purpose}-{}-{:?}",
        std::process::id(),
        thread::current().id()
    ));
    PathBuf::from(name)
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = private_options().create(true).truncate(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Removes the stale lock `path` if it still holds `seen`: moved aside first (one run wins
/// the move), then compared; a lock that changed meanwhile (a new holder's) is put back.
/// Answers whether the stale lock was removed.
fn take_over(path: &Path, seen: &[u8], id: &str) -> io::Result<bool> {
    let moved = aside(path, &format!("stale-{id}"));
    match std::fs::rename(path, &moved) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    let bytes = std::fs::read(&moved)?;
    if bytes != seen {
        // A fresh lock, taken meanwhile: back in place unless yet another one is there.
        let _ = std::fs::hard_link(&moved, path);
        let _ = std::fs::remove_file(&moved);
        return Ok(false);
    }
    std::fs::remove_file(&moved)?;
    Ok(true)
}

/// Rewrites the refresh time while the file is this run's; answers whether it still is.
fn refresh_once(path: &Path, holder: &std::sync::Mutex<Holder>, lost: &AtomicBool) -> bool {
    let Ok(mut holder) = holder.lock() else {
        return false;
    };
    match look(path) {
        Ok(Found::Held(found, _)) if found.id == holder.id => {}
        Ok(_) => {
            lost.store(true, Ordering::SeqCst);
            tracing::warn!(
                lock = %path.display(),
                "the state folder's lock is no longer this run's: the state will not advance"
            );
            return false;
        }
        // Unreadable for now (a full disk, a network folder): try again next time.
        Err(_) => return true,
    }
    holder.refreshed_at = Timestamp::now().to_string();
    let bytes = serde_json::to_vec(&*holder).expect("a holder serialises");
    let beside = aside(path, "refresh");
    if write_private(&beside, &bytes).is_ok() && std::fs::rename(&beside, path).is_err() {
        let _ = std::fs::remove_file(&beside);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepnet_sink::conformance::files_in;

    fn holder_file(dir: &Path, holder: &Holder) {
        std::fs::write(dir.join(LOCK_FILE), serde_json::to_vec(holder).unwrap()).unwrap();
    }

    /// A process id of this host that no longer exists.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_second_run_is_refused_naming_the_holder_and_gets_the_lock_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::take(dir.path(), Duration::ZERO, REFRESH).unwrap();
        assert_eq!(files_in(dir.path()), [LOCK_FILE]);
        let text = std::fs::read_to_string(first.path()).unwrap();
        let holder: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.host, this_host());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(first.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let refused = Lock::take(dir.path(), Duration::ZERO, REFRESH).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains(&format!("host {}", this_host()))
                && message.contains(LOCK_FILE),
            "{message}"
        );
        assert!(first.check().is_ok());
        // A run that waits gets it when the holder lets go (no time is asserted).
        let path = dir.path().to_path_buf();
        let waiter = thread::spawn(move || Lock::take(&path, Duration::from_secs(120), REFRESH));
        thread::sleep(POLL * 3);
        drop(first);
        let second = waiter.join().unwrap().expect("the lock, once released");
        assert!(second.check().is_ok());
        drop(second);
        assert!(files_in(dir.path()).is_empty(), "released: no file left");
    }

    #[test]
    fn a_stale_lock_is_taken_over_and_a_live_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        let mut other = Holder::this_process();
        other.id = "other".to_owned();
        // This host, a process that is gone.
        other.pid = dead_pid();
        holder_file(dir.path(), &other);
        let lock = Lock::take(dir.path(), Duration::ZERO, REFRESH).expect("taken over");
        assert!(lock.check().is_ok());
        drop(lock);
        // Another host, refreshed an hour ago: stale whatever its process.
        other.host = "elsewhere.example".to_owned();
        other.refreshed_at = Timestamp::from_unix(now.unix_seconds() - 3600, 0).to_string();
        holder_file(dir.path(), &other);
        drop(Lock::take(dir.path(), Duration::ZERO, REFRESH).expect("taken over"));
        // Another host, refreshed just now: its process cannot be looked at, so it holds.
        other.refreshed_at = now.to_string();
        holder_file(dir.path(), &other);
        let e = Lock::take(dir.path(), Duration::ZERO, REFRESH)
            .unwrap_err()
            .to_string();
        assert!(e.contains("host elsewhere.example"), "{e}");
        // This host, a live process (this one), another lock id: held.
        other.host = this_host();
        other.pid = std::process::id();
        holder_file(dir.path(), &other);
        assert!(Lock::take(dir.path(), Duration::ZERO, REFRESH).is_err());
        // From before this host restarted.
        if let Some(boot) = boot_id() {
            other.boot_id = Some(format!("not-{boot}"));
            holder_file(dir.path(), &other);
            drop(Lock::take(dir.path(), Duration::ZERO, REFRESH).expect("taken over"));
        }
        // Unreadable: held while it could be being written, stale once old.
        std::fs::write(dir.path().join(LOCK_FILE), b"{\"prog").unwrap();
        assert!(Lock::take(dir.path(), Duration::ZERO, REFRESH).is_err());
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(LOCK_FILE))
            .unwrap()
            .set_modified(old)
            .unwrap();
        drop(Lock::take(dir.path(), Duration::ZERO, REFRESH).expect("taken over"));
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn a_lock_taken_over_or_removed_is_known_lost_and_another_runs_lock_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let lock = Lock::take(dir.path(), Duration::ZERO, Duration::from_secs(3600)).unwrap();
        // Refreshed: the time moves on, the id stays.
        let before: Holder = serde_json::from_slice(&std::fs::read(lock.path()).unwrap()).unwrap();
        assert!(refresh_once(lock.path(), &lock.holder, &lock.lost));
        let after: Holder = serde_json::from_slice(&std::fs::read(lock.path()).unwrap()).unwrap();
        assert_eq!(after.id, before.id);
        assert_eq!(files_in(dir.path()), [LOCK_FILE], "no file left beside it");
        // Another run's lock in its place (it judged this one stale).
        let mut other = Holder::this_process();
        other.id = "other".to_owned();
        holder_file(dir.path(), &other);
        let e = lock.check().unwrap_err().to_string();
        assert!(e.contains("lock") && e.contains("not advanced"), "{e}");
        assert!(!refresh_once(lock.path(), &lock.holder, &lock.lost));
        drop(lock);
        assert_eq!(
            serde_json::from_slice::<Holder>(&std::fs::read(dir.path().join(LOCK_FILE)).unwrap())
                .unwrap()
                .id,
            "other",
            "the other run's lock is not removed"
        );
        std::fs::remove_file(dir.path().join(LOCK_FILE)).unwrap();
        let lock = Lock::take(dir.path(), Duration::ZERO, REFRESH).unwrap();
        std::fs::remove_file(lock.path()).unwrap();
        assert!(lock.check().is_err(), "removed by hand");
    }

    #[test]
    fn runs_of_one_process_share_its_lock_on_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path(), Duration::ZERO).unwrap();
        let second = Lock::acquire(&dir.path().join("."), Duration::ZERO).unwrap();
        assert!(Arc::ptr_eq(&first, &second), "one lock, shared");
        assert!(Lock::take(dir.path(), Duration::ZERO, REFRESH).is_err());
        drop(first);
        assert!(second.check().is_ok(), "held while one user holds it");
        drop(second);
        assert!(files_in(dir.path()).is_empty());
        let again = Lock::acquire(dir.path(), Duration::ZERO).unwrap();
        assert!(again.check().is_ok());
    }

    #[test]
    fn staleness_follows_the_refresh_time_and_the_holders_process() {
        let now = Timestamp::now();
        let mut holder = Holder::this_process();
        assert_eq!(stale(&holder, &now), None, "this process, just now");
        holder.refreshed_at = Timestamp::from_unix(now.unix_seconds() - 299, 0).to_string();
        assert_eq!(stale(&holder, &now), None, "under five minutes");
        holder.refreshed_at = Timestamp::from_unix(now.unix_seconds() - 301, 0).to_string();
        assert!(stale(&holder, &now).unwrap().contains("not refreshed"));
        holder.refreshed_at = "yesterday".to_owned();
        assert!(stale(&holder, &now).is_some(), "an unreadable time");
        holder.refreshed_at = now.to_string();
        holder.pid = dead_pid();
        if process_exists(1).is_some() {
            assert!(stale(&holder, &now).unwrap().contains("no longer exists"));
        }
    }
}
