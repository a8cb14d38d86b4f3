//! The Python peer of `cargo xtask bench`: `xtask/peer/keepnet_peer.py`, the script a user
//! would write for the same export (requests + csv + XlsxWriter), run against the bench's own
//! sandbox so that its wall time and peak RSS compare with keepnet-export's within one run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::sandbox::Sandbox;
use crate::timed::timed;
use crate::workspace_root;

/// What the peer needs, said when it is missing.
const NEEDS: &str =
    "the Python peer runs in target/test-python (requests, XlsxWriter): run `cargo xtask setup`";

/// One timed run of the peer.
pub(crate) struct PeerRun {
    pub wall: Duration,
    pub rows: u64,
    pub peak_rss_kib: u64,
}

/// The tests' Python environment's interpreter, which has the peer's packages.
fn python() -> std::path::PathBuf {
    crate::setup::python_env_dir().join("bin/python3")
}

/// Checks that the environment's Python runs and imports both modules the peer uses.
pub(crate) fn available() -> Result<()> {
    let imported = Command::new(python())
        .args(["-c", "import requests, xlsxwriter"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !imported {
        bail!("{NEEDS}");
    }
    Ok(())
}

/// Runs the peer once against `sandbox`, exporting `company` into `out_dir`, timed and with
/// its peak RSS as the bench measures the Rust client.
pub(crate) fn run(
    sandbox: &Sandbox,
    company: &str,
    threads: usize,
    out_dir: &Path,
) -> Result<PeerRun> {
    let mut command = Command::new(python());
    command
        .arg(workspace_root().join("xtask/peer/keepnet_peer.py"))
        .args(["--company", company, "--threads", &threads.to_string()])
        .arg("--out-dir")
        .arg(out_dir)
        .envs(sandbox.env());
    let run = timed(command, &format!("the Python peer ({NEEDS})"))?;
    let rows = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("users="))
        .and_then(|v| v.trim().parse().ok())
        .context("no \"users=\" line in the Python peer's stderr")?;
    Ok(PeerRun {
        wall: run.wall,
        rows,
        peak_rss_kib: run.peak_rss_kib,
    })
}

/// The peer once sequential and once with 8 threads, on one sandbox.
pub(crate) struct Pair {
    sequential: PeerRun,
    threaded: PeerRun,
}

/// Runs the peer in both modes (one run each: it is slow) on the bench's sandbox, exporting
/// Initech's `users` users (every user, as the bench's Rust runs with `--status all`).
pub(crate) fn pair(sandbox: &Sandbox, users: u64, scratch: &Path) -> Result<Pair> {
    let out = scratch.join("peer");
    let one = |threads: usize| -> Result<PeerRun> {
        let run = run(sandbox, "Initech", threads, &out)?;
        if run.rows != users {
            bail!(
                "the Python peer ({threads} threads) wrote {} users of {users}",
                run.rows
            );
        }
        eprintln!(
            "xtask bench: python peer, {threads} thread(s): {:.2} s, {:.1} MiB",
            run.wall.as_secs_f64(),
            run.peak_rss_kib as f64 / 1024.0
        );
        Ok(run)
    };
    Ok(Pair {
        sequential: one(1)?,
        threaded: one(8)?,
    })
}

impl Pair {
    /// The ratio lines of both modes against keepnet-export's run of the same scenario.
    pub(crate) fn ratios(&self, scenario: &str, wall: Duration, rss_mib: f64) -> [String; 2] {
        let line = |mode: &str, run: &PeerRun| {
            let peer_mib = run.peak_rss_kib as f64 / 1024.0;
            format!(
                "python peer (requests+csv+XlsxWriter), {scenario}, {mode}, 1 run: {:.1} s = \
                 {:.1}x keepnet-export's wall; peak RSS {peer_mib:.0} MiB = {:.1}x",
                run.wall.as_secs_f64(),
                run.wall.as_secs_f64() / wall.as_secs_f64(),
                peer_mib / rss_mib
            )
        };
        [
            line("sequential", &self.sequential),
            line("8 threads", &self.threaded),
        ]
    }
}
