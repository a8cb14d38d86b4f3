//! `cargo xtask ci`: the checks CI runs, fastest-failing first; the tests last, so their
//! summary closes the output.

use anyhow::{bail, Result};

use crate::cargo;

/// Formatting, lints, fixtures, module layers, docs, then every test of the workspace (the example crate
/// included: it is a workspace member).
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
    // Tests last: their summary closes the output.
    cargo(&["test", "--workspace"])?;
    Ok(())
}
