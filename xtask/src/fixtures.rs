//! `cargo xtask fixtures [--check]`: the golden files under tests/fixtures/, made by the debug
//! binary against a small sandbox process. `--check` (run by `cargo xtask ci`) fails when a file
//! is stale instead of rewriting it; the end-to-end test `golden` compares the same outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::sandbox::Sandbox;
use crate::{cargo, workspace_root};

/// Each fixture: its file name and the client arguments that produce it on stdout.
/// Keep in sync with tests/golden.rs, which runs the same commands.
pub(crate) const FIXTURES: [(&str, &[&str]); 4] = [
    ("companies.json", &["companies", "--format", "json"]),
    (
        "count-initech.json",
        &["count", "--company", "Initech", "--format", "json"],
    ),
    (
        "initech.csv",
        &[
            "users",
            "--company",
            "Initech",
            "--header",
            "human",
            "--sink",
            "csv:-",
        ],
    ),
    (
        "initech-custom.jsonl",
        &[
            "users",
            "--company",
            "Initech",
            "--columns",
            "email,phoneNumber,custom:Employee Number,createTime",
            "--sink",
            "jsonl:-",
        ],
    ),
];

/// The sandbox the fixtures come from (seed 42, the default).
pub(crate) const USERS: u64 = 8;
/// Its page cap.
pub(crate) const PAGE_CAP: u32 = 3;

/// Regenerates (or with `--check`, verifies) every fixture.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        other => bail!("fixtures takes only --check, got {other:?}"),
    };
    cargo(&["build", "--quiet", "--bin", "keepnet-export"])?;
    let binary = workspace_root().join("target/debug/keepnet-export");
    let sandbox = Sandbox::start(&binary, USERS, PAGE_CAP, 0)?;
    let dir = workspace_root().join("tests/fixtures");
    std::fs::create_dir_all(&dir)?;
    let mut stale = Vec::new();
    for (name, args) in FIXTURES {
        let output = Command::new(&binary)
            .args(["-q"])
            .args(args)
            .envs(sandbox.env())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {args:?}"))?;
        if !output.status.success() {
            bail!("{name}: {args:?} failed ({})", output.status);
        }
        let path: PathBuf = dir.join(name);
        if !ensure(&path, &output.stdout, check)? {
            stale.push(name);
        }
    }
    if !stale.is_empty() {
        bail!(
            "stale fixtures: {}; run `cargo xtask fixtures` and review the diff",
            stale.join(", ")
        );
    }
    eprintln!(
        "xtask: fixtures {}",
        if check { "up to date" } else { "written" }
    );
    Ok(())
}

/// Writes `contents` to `path` unless it already holds them; with `check`, only compares.
/// Returns whether the file is (now) current.
fn ensure(path: &Path, contents: &[u8], check: bool) -> Result<bool> {
    if std::fs::read(path).ok().as_deref() == Some(contents) {
        return Ok(true);
    }
    if check {
        return Ok(false);
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: updated {}", path.display());
    Ok(true)
}
