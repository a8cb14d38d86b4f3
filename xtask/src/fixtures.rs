//! `cargo xtask fixtures [--check]`: the golden files under tests/fixtures/, made by the debug
//! binary against a small sandbox process, from the list in tests/fixtures/cases.json (which
//! the end-to-end test `golden` reads too). `--check` (run by `cargo xtask ci`) fails when a
//! file is stale instead of rewriting it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::sandbox::Sandbox;
use crate::{cargo, workspace_root};

/// Regenerates (or with `--check`, verifies) every fixture.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        other => bail!("fixtures takes only --check, got {other:?}"),
    };
    let dir = workspace_root().join("tests/fixtures");
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json"))?)
        .context("tests/fixtures/cases.json")?;
    let number = |key: &str| {
        cases["sandbox"][key]
            .as_u64()
            .with_context(|| format!("sandbox.{key}"))
    };
    cargo(&["build", "--quiet", "--bin", "keepnet-export"])?;
    let binary = crate::target_dir().join("debug/keepnet-export");
    let sandbox = Sandbox::start(
        &binary,
        number("users")?,
        u32::try_from(number("pageCap")?)?,
        0,
        &[],
    )?;
    let mut stale = Vec::new();
    for case in cases["cases"].as_array().context("cases")? {
        let name = case["file"].as_str().context("case.file")?;
        let args: Vec<&str> = case["args"]
            .as_array()
            .context("case.args")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let output = Command::new(&binary)
            .args(["-q"])
            .args(&args)
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
