//! Finding `keepnet-export-sink-NAME` on `PATH`, the way git and cargo find subcommands.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// What a plugin's file name starts with: `keepnet-export-sink-md` is the plugin `md`.
pub const PLUGIN_PREFIX: &str = "keepnet-export-sink-";

/// Finds the plugin `keepnet-export-sink-NAME` on the `PATH` environment variable: the first
/// executable regular file (symlinks followed) in the first directory that has one. `NAME` must
/// be `[a-z0-9_-]+`; anything else finds nothing. Relative and empty `PATH` entries are
/// skipped, so a plugin is never picked up from the current directory.
pub fn discover(name: &str) -> Option<PathBuf> {
    discover_in(name, &std::env::var_os("PATH")?)
}

/// [`discover`] with an explicit `PATH` value.
pub fn discover_in(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid {
        return None;
    }
    let file = format!("{PLUGIN_PREFIX}{name}");
    std::env::split_paths(path_var)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(&file))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}
