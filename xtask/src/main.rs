//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `setup`: finds the programs and Python packages the tests need and installs what is
//!   missing (`--no-install`: check only).
//! - `ci`: `setup`, then everything CI checks, in the order that fails fastest: formatting,
//!   clippy with warnings as errors, then the whole test suite.
//! - `bench`: the release binary against the sandbox process; prints the performance table.
//! - `layers`: checks that no module imports a module above it (no module cycles) and
//!   prints each package's module order.
//! - `links`: checks every relative link and `#anchor` in README.md, ARCHITECTURE.md and
//!   docs/ (no network).
//! - `workflows`: checks the GitHub Actions files that cannot run here (YAML, targets,
//!   profiles).
//! - `fixtures`: regenerates the golden files of tests/fixtures (`--check` verifies them).
//! - `render-email`: renders the summary e-mail of a sample report in headless Chromium and
//!   checks the screenshot (not blank, the chart's bars in proportion).

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

mod bench;
mod ci;
mod fixtures;
mod layers;
mod links;
mod peer;
mod render;
mod sandbox;
mod setup;
mod timed;
mod workflows;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(&args[1..]),
        Some("ci") => ci::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fixtures") => fixtures::run(&args[1..]),
        Some("layers") => layers::run(&args[1..]),
        Some("links") => links::run(&args[1..]),
        Some("workflows") => workflows::run(&args[1..]),
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
  setup         [--no-install]: install what the tests need (Debian packages with apt-get as
                root, Python packages into target/test-python); --no-install only checks
  ci            setup, fmt --check, links, workflows, clippy -D warnings, fixtures --check, docs (-D warnings), tests,
                render-email
  bench         [--runs N] [--quick]: release binary vs the sandbox process; prints the table
  links         check every relative link and #anchor in README.md, ARCHITECTURE.md, docs/
  workflows     check .github/workflows/*.yml and docs/*.yml: YAML parses, targets and
                profiles exist
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
