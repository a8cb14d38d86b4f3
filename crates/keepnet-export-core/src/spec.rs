//! A `KIND:TARGET` spec on its own: its shape, its placeholders and the file it names. The
//! bottom of the output rules: [`crate::sinks`] builds specs, [`crate::rules`] checks several
//! of them together.

use std::path::{Path, PathBuf};

use crate::exit::Failure;

/// One `--sink` argument, split into kind and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSpec {
    /// The kind, e.g. `csv`.
    pub kind: String,
    /// What follows the first `:`, e.g. a path or `-`.
    pub target: String,
}

impl SinkSpec {
    /// Parses `KIND:TARGET` ([`parse_sink`]); the error starts with the text.
    pub fn parse(text: &str) -> Result<Self, Failure> {
        parse_sink(text).map_err(|b| Failure::usage(format!("{text}: {}", b.message)))
    }

    /// The target as a path.
    pub fn path(&self) -> &Path {
        Path::new(&self.target)
    }
}

impl std::fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.target)
    }
}

/// The placeholders a sink target may use.
///
/// `{date}` is the run's start date (UTC, `2026-12-02`) and `{timestamp}` its start to the
/// second (UTC, `20261202T050234Z`, no `:` so it is a valid file name everywhere): two runs a
/// day do not overwrite each other with it. Every company of one run gets the same values.
pub const PLACEHOLDERS: [&str; 4] = ["{company}", "{company_id}", "{date}", "{timestamp}"];

/// A broken rule: the byte offset in the checked text it is about, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Byte offset in the text checked (0: the text as a whole).
    pub at: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Broken {
    pub(crate) fn new(at: usize, message: impl Into<String>) -> Self {
        Self {
            at,
            message: message.into(),
        }
    }
}

/// Parses `KIND:TARGET`: a kind of letters, digits, `-` and `_`, a non-empty target whose
/// placeholders are known. The kind is lower-cased.
pub fn parse_sink(text: &str) -> Result<SinkSpec, Broken> {
    let shape = || {
        Broken::new(
            0,
            String::from(
                "not KIND:TARGET: write e.g. \"csv:out/{company}-{date}.csv\", \"xlsx:...\" or \"jsonl:-\""
            ),
        )
    };
    let (kind, target) = text.split_once(':').ok_or_else(shape)?;
    let kind_ok = !kind.is_empty()
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !kind_ok || target.is_empty() {
        return Err(shape());
    }
    check_target(target).map_err(|b| Broken::new(kind.len() + 1 + b.at, b.message))?;
    Ok(SinkSpec {
        kind: kind.to_ascii_lowercase(),
        target: target.to_owned(),
    })
}

/// Checks that every `{...}` in a sink target is a known placeholder.
pub fn check_target(target: &str) -> Result<(), Broken> {
    let known = PLACEHOLDERS.join(", ");
    let mut from = 0;
    while let Some(rel) = target[from..].find('{') {
        let start = from + rel;
        let Some(len) = target[start..].find('}') else {
            return Err(Broken::new(
                start,
                format!("`{{` without a closing `}}` in the sink target; placeholders are {known}"),
            ));
        };
        let placeholder = &target[start..=start + len];
        if !PLACEHOLDERS.contains(&placeholder) {
            return Err(Broken::new(
                start,
                format!("unknown placeholder `{placeholder}` in the sink target; use {known}"),
            ));
        }
        from = start + len + 1;
    }
    Ok(())
}

/// Whether a target names the company, so that several companies get several files.
pub fn names_company(target: &str) -> bool {
    target.contains("{company}") || target.contains("{company_id}")
}

/// The message for a second output on stdout; `one` names an output as the front end's user
/// knows it (`--sink`, `sink`).
pub fn two_on_stdout(one: &str) -> String {
    format!("only one {one} can write to stdout (-)")
}

/// The message for two outputs on one file.
pub fn two_writers(noun: &str, target: &str) -> Broken {
    Broken::new(
        0,
        format!("two {noun} write {target:?}: give each sink its own file"),
    )
}

/// What a target path names, made comparable: the file's device and inode when it exists
/// (so hard links and symlinks to one file compare equal), else its folder resolved through
/// symlinks and `..` plus its name.
#[derive(Debug, PartialEq, Eq)]
pub enum FileIdentity {
    /// Device and inode of an existing file.
    Inode(u64, u64),
    /// The resolved path of a file that does not exist yet.
    Path(PathBuf),
}

/// What this process's stdout is, as a [`FileIdentity`], when that can be told.
pub fn stdout_identity() -> Option<FileIdentity> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let fd = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
        let meta = std::fs::File::from(fd).metadata().ok()?;
        Some(FileIdentity::Inode(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    None
}

/// The [`FileIdentity`] of a target path.
pub fn identity(path: &Path) -> FileIdentity {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        return FileIdentity::Inode(meta.dev(), meta.ino());
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let name = absolute.file_name().map(ToOwned::to_owned);
    let folder = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    // The deepest existing ancestor resolved through symlinks, then the rest as written.
    let existing = folder
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    let rest = folder.strip_prefix(existing).unwrap_or(Path::new(""));
    let mut resolved = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    for part in rest.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    if let Some(name) = name {
        resolved.push(name);
    }
    FileIdentity::Path(resolved)
}
