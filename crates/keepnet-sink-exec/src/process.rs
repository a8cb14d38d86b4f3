//! Stopping a plugin: a grace period after EOF, then SIGKILL for it and its descendants.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a plugin has to exit after its stdin is closed, before it is killed.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// How [`stop`] ended a plugin.
pub(crate) enum Stopped {
    /// It exited by itself within the grace period.
    Exited(ExitStatus),
    /// It was still running and was killed.
    Killed,
    /// There was no process.
    NotRunning,
}

/// Waits up to [`GRACE`] for `child` (whose stdin is already closed) to exit, then kills it and
/// its descendants. Always reaps it: no zombie is left.
pub(crate) fn stop(mut child: Child) -> Stopped {
    if let Ok(Some(status)) = wait_for(&mut child, GRACE) {
        return Stopped::Exited(status);
    }
    // Still running, and not reaped, so its pid cannot have been reused. Freeze it and then its
    // descendants, level by level (a stopped process cannot start another, nor react to its
    // children dying), and only then kill them all: killing a `sh -c 'a; b'`'s `a` first would
    // let it start `b`, an orphan.
    let root = child.id();
    signal("STOP", &[root]);
    let mut tree: Vec<u32> = Vec::new();
    for _ in 0..32 {
        let new: Vec<u32> = descendants(root)
            .into_iter()
            .filter(|pid| !tree.contains(pid))
            .collect();
        if new.is_empty() {
            break;
        }
        signal("STOP", &new);
        tree.extend(new);
    }
    signal("KILL", &tree);
    // The plugin leads its own process group: anything in it that left the tree (a daemon
    // that reparented itself) goes too.
    #[cfg(unix)]
    signal_group("KILL", root);
    let _ = child.kill();
    let _ = child.wait();
    Stopped::Killed
}

/// Sends `SIGNAME` to every process of the group `pgid`, best effort.
#[cfg(unix)]
fn signal_group(name: &str, pgid: u32) {
    let _ = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("kill -s {name} -- -{pgid} 2>/dev/null"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `child`'s exit status if it exits within `limit`.
fn wait_for(child: &mut Child, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let waited = start.elapsed();
        if waited >= limit {
            return Ok(None);
        }
        std::thread::sleep(pause.min(limit - waited));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Sends `SIGNAME` to `pids`, best effort. Without `unsafe` or libc there is no signal API: the
/// shell's `kill` builtin does it.
fn signal(name: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("kill -s {name} -- \"$@\" 2>/dev/null"))
        .arg("sh")
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every live descendant of `pid` (Linux: from `/proc`); elsewhere none, so only the plugin
/// itself is killed.
#[cfg(target_os = "linux")]
fn descendants(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // (parent, child) for every process.
    let links: Vec<(u32, u32)> = entries
        .filter_map(|entry| {
            let child: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            let parent = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((parent, child))
        })
        .collect();
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for &(p, c) in &links {
            if p == parent && !found.contains(&c) {
                found.push(c);
                queue.push(c);
            }
        }
    }
    found
}

#[cfg(not(target_os = "linux"))]
fn descendants(_pid: u32) -> Vec<u32> {
    Vec::new()
}

/// An I/O error's message without the ` (os error N)` suffix: `No such file or directory`.
pub(crate) fn io_message(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}
