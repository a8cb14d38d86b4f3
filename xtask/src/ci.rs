//! `cargo xtask ci`: installs what the tests need (`setup`), then the checks CI runs,
//! fastest-failing first; the tests near the end, then the e-mail rendering check, which needs
//! the test-built crates and a browser.

use anyhow::{bail, Result};

use crate::cargo;

/// Setup (before anything is compiled: a missing tool fails in seconds, not after the build),
/// formatting, the docs' links, lints, fixtures, module layers, docs, then every test of the workspace (the example crate
/// included: it is a workspace member), then the summary e-mail rendered in headless Chromium.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("`ci` takes no arguments, got {extra:?}");
    }
    crate::setup::ensure(crate::setup::Mode::Install)?;
    cargo(&["fmt", "--all", "--check"])?;
    // Every relative link and anchor of the README and docs/ resolves.
    crate::links::run(&[])?;
    // The release workflow cannot run here: at least it parses and names what exists.
    crate::workflows::run(&[])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    crate::fixtures::run(&["--check".to_owned()])?;
    // No module imports a module above it.
    crate::layers::run(&[])?;
    // Broken intra-doc links and bad doc syntax fail the build.
    crate::cargo_env(
        &["doc", "--workspace", "--no-deps", "--quiet"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    cargo(&["test", "--workspace"])?;
    // The summary e-mail as a browser draws it: not blank, the chart's bars in proportion.
    crate::render::run(&[])?;
    Ok(())
}
