//! Timing a child process the way `cargo xtask bench` reports it: wall time and peak RSS.
//! Shared by the bench's own runs and the Python peer's.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A finished process: its wall time, peak RSS and stderr.
pub(crate) struct Timed {
    pub(crate) wall: Duration,
    pub(crate) peak_rss_kib: u64,
    pub(crate) stderr: String,
}

/// Runs `command` to its end, polling its peak RSS (VmHWM) from /proc every 20 ms; fails
/// with its stderr when it fails.
pub(crate) fn timed(mut command: Command, what: &str) -> Result<Timed> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut stderr = child.stderr.take().context("stderr")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = read_hwm(&status_path) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let stderr = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("{what} failed ({status}):\n{stderr}");
    }
    Ok(Timed {
        wall,
        peak_rss_kib: peak,
        stderr,
    })
}

fn read_hwm(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
