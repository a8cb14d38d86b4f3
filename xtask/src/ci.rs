//! `cargo xtask ci`: the checks CI runs, fastest-failing first; the tests near the end, then
//! the e-mail rendering check, which needs the test-built crates and a browser.

use anyhow::{bail, Result};

use crate::cargo;

/// Formatting, lints, fixtures, module layers, docs, then every test of the workspace (the example crate
/// included: it is a workspace member), then the summary e-mail rendered in headless Chromium.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("`ci` takes no arguments, got {extra:?}");
    }
    cargo(&["fmt", "--all", "--check"])?;
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
