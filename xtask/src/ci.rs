//! `cargo xtask ci`: the checks CI runs, fastest-failing first.

use anyhow::{bail, Result};

use crate::cargo;

/// Formatting, lints, then every test of the workspace.
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
    cargo(&["test", "--workspace"])?;
    Ok(())
}
