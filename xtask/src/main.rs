//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `ci`: everything CI checks, in the order that fails fastest: formatting, clippy with
//!   warnings as errors, then the whole test suite.
//! - `bench`: the release binary against the sandbox process; prints the performance table.
//! - `layers`: checks that no module imports a module above it (no module cycles) and
//!   prints each package's module order.
//! - `fixtures`: regenerates the golden files of tests/fixtures (`--check` verifies them).
//! - `render-email`: renders the summary e-mail of a sample report in headless Chromium and
//!   checks the screenshot (not blank, the chart's bars in proportion).

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

mod bench;
mod ci;
mod fixtures;
mod layers;
mod peer;
mod render;
mod sandbox;
mod timed;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fixtures") => fixtures::run(&args[1..]),
        Some("layers") => layers::run(&args[1..]),
        Some("render-email") => render::run(&args[1..]),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci            fmt --check, clippy -D warnings, fixtures --check, docs (-D warnings), tests,
                render-email
  bench         [--runs N] [--quick]: release binary vs the sandbox process; prints the table
  fixtures      [--check]: regenerate (or verify) the golden files in tests/fixtures
  render-email  render the sample summary e-mail in headless Chromium (chromium on the PATH)
                into target/email-render/summary.{html,png}; check the chart's bars";

/// Runs `cargo <args>` from the workspace root, failing if it fails.
pub(crate) fn cargo(args: &[&str]) -> Result<()> {
    cargo_env(args, &[])
}

/// [`cargo`] with extra environment variables.
pub(crate) fn cargo_env(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The workspace root: xtask's manifest lives one level below it.
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR`, or the workspace's `target/`.
pub(crate) fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => workspace_root().join("target"),
    }
}
