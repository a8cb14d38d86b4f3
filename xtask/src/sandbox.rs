//! The sandbox as a separate process, for the benchmark and the fixtures.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

/// A sandbox process serving on a free port.
pub(crate) struct Sandbox {
    child: Child,
    env: Vec<(String, String)>,
    binary: std::path::PathBuf,
}

impl Sandbox {
    /// The environment that points a client at this sandbox.
    pub(crate) fn env(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every user of every company the reseller manages, deleted ones included: the sum of
    /// the counts `companies/search` reports (exact in the sandbox).
    pub(crate) fn total_users(&self) -> Result<u64> {
        let output = Command::new(&self.binary)
            .args(["companies", "--format", "json"])
            .envs(self.env())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot list the sandbox's companies")?;
        if !output.status.success() {
            bail!("listing the sandbox's companies failed");
        }
        let companies: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
            .context("`companies --format json` did not print a JSON array")?;
        let mut total = 0;
        for company in companies {
            for key in [
                "targetUserCount",
                "inactiveTargetUserCount",
                "deletedTargetUserCount",
            ] {
                total += company[key].as_u64().unwrap_or(0);
            }
        }
        Ok(total)
    }

    /// Starts `binary sandbox` with `users` per company, pages capped at `page_cap`,
    /// `latency_ms` per request, and `extra` flags.
    pub(crate) fn start(
        binary: &Path,
        users: u64,
        page_cap: u32,
        latency_ms: u64,
        extra: &[&str],
    ) -> Result<Self> {
        let mut child = Command::new(binary)
            .args(["sandbox", "--port", "0", "--users", &users.to_string()])
            .args([
                "--page-cap",
                &page_cap.to_string(),
                "--latency-ms",
                &latency_ms.to_string(),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the sandbox")?;
        let stdout = child.stdout.take().context("sandbox stdout")?;
        let mut env = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some((key, value)) = line
                .trim()
                .strip_prefix("export ")
                .and_then(|p| p.split_once('='))
            {
                env.push((key.to_owned(), value.to_owned()));
            }
            if line.contains("Ctrl-C") {
                break;
            }
        }
        if env.len() != 3 {
            bail!("the sandbox did not print its URL and credentials");
        }
        Ok(Self {
            child,
            env,
            binary: binary.to_owned(),
        })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
