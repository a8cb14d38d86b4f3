//! The sandbox as a separate process, for the benchmark and the fixtures.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

/// A sandbox process serving on a free port.
pub(crate) struct Sandbox {
    child: Child,
    env: Vec<(String, String)>,
    page_cap: u32,
}

impl Sandbox {
    /// The environment that points a client at this sandbox.
    pub(crate) fn env(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The sandbox's page cap.
    pub(crate) fn page_cap(&self) -> u32 {
        self.page_cap
    }

    pub(crate) fn start(binary: &Path, users: u64, page_cap: u32, latency_ms: u64) -> Result<Self> {
        let mut child = Command::new(binary)
            .args(["sandbox", "--port", "0", "--users", &users.to_string()])
            .args([
                "--page-cap",
                &page_cap.to_string(),
                "--latency-ms",
                &latency_ms.to_string(),
            ])
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
            page_cap,
        })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
