//! The rules about sink targets that every front end applies, written once: the command line
//! (`--sink`), job files (`sinks = [...]`) and a team's own binary get the same verdict and the
//! same message; only where the value came from is shown differently (`--sink TEXT: ...`,
//! `reports.toml:4:10: ...`). A rule says where in the value it broke ([`Broken::at`]), so a
//! front end that knows the value's position can point at the character.

use std::path::{Path, PathBuf};

use crate::sinks::{Registry, SinkSpec};

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
    fn new(at: usize, message: impl Into<String>) -> Self {
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

/// With several companies in one run, a kind whose target is a file (csv, xlsx, jsonl, a
/// team's own file kinds) needs `{company}` or `{company_id}` in it and cannot share stdout,
/// or each company would overwrite the last. A delivery's target is an address and an exec
/// plugin's a command, run once per company with the company in its header: both are free.
pub fn several_companies(spec: &SinkSpec, registry: &Registry) -> Result<(), Broken> {
    if !registry.writes_files(&spec.kind) {
        return Ok(());
    }
    let kind = &spec.kind;
    if spec.target == "-" {
        return Err(Broken::new(
            0,
            format!("several companies cannot share stdout: write one file per company, e.g. \"{kind}:out/{{company}}-{{date}}.{kind}\""),
        ));
    }
    if !names_company(&spec.target) {
        return Err(Broken::new(
            0,
            format!(
                "with several companies every file needs {{company}} or {{company_id}} in its path, or each company overwrites the last: e.g. \"{kind}:out/{{company}}-{{date}}.{kind}\""
            ),
        ));
    }
    Ok(())
}

/// Checks a list of sink texts as one run would use them, `several` companies or one: each
/// one's shape, then [`check_specs`]. Returns every broken rule with the index of the text it
/// is about (offsets in the text).
pub fn check_sinks(
    texts: &[&str],
    several: bool,
    registry: &Registry,
    noun: &str,
) -> Vec<(usize, Broken)> {
    let mut broken = Vec::new();
    let mut specs = Vec::new();
    let mut indices = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        match parse_sink(text) {
            Ok(spec) => {
                specs.push(spec);
                indices.push(index);
            }
            Err(b) => broken.push((index, b)),
        }
    }
    for (i, b) in check_specs(&specs, several, registry, noun) {
        let at = match b.at {
            0 => 0,
            inside => specs[i].kind.len() + 1 + inside,
        };
        broken.push((indices[i], Broken::new(at, b.message)));
    }
    broken.sort_by_key(|(index, _)| *index);
    broken
}

/// Checks parsed sinks as one run would use them: placeholders, the several-companies rule,
/// and that no two file sinks write one file (`noun` names the list in that message:
/// `--sink arguments`, `sinks`). Offsets are in the target.
pub fn check_specs(
    specs: &[SinkSpec],
    several: bool,
    registry: &Registry,
    noun: &str,
) -> Vec<(usize, Broken)> {
    let mut broken = Vec::new();
    let mut files: Vec<FileIdentity> = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        if let Err(b) = check_target(&spec.target) {
            broken.push((index, b));
            continue;
        }
        if several {
            if let Err(b) = several_companies(spec, registry) {
                broken.push((index, b));
                continue;
            }
        }
        if spec.target != "-" && registry.writes_files(&spec.kind) {
            let file = identity(spec.path());
            if files.contains(&file) {
                broken.push((index, two_writers(noun, &spec.target)));
            }
            files.push(file);
        }
    }
    broken
}

/// The message for two outputs on one file.
pub(crate) fn two_writers(noun: &str, target: &str) -> Broken {
    Broken::new(
        0,
        format!("two {noun} write {target:?}: give each sink its own file"),
    )
}

/// What a target path names, made comparable: the file's device and inode when it exists
/// (so hard links and symlinks to one file compare equal), else its folder resolved through
/// symlinks and `..` plus its name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileIdentity {
    Inode(u64, u64),
    Path(PathBuf),
}

/// What this process's stdout is, as a [`FileIdentity`], when that can be told.
pub(crate) fn stdout_identity() -> Option<FileIdentity> {
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
pub(crate) fn identity(path: &Path) -> FileIdentity {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_placeholders_point_at_the_character() {
        assert!(parse_sink("out.csv")
            .unwrap_err()
            .message
            .contains("not KIND:TARGET"));
        assert!(parse_sink("csv:").is_err());
        assert!(parse_sink("out/x:y.csv").is_err());
        let b = parse_sink("csv:out/{day}.csv").unwrap_err();
        assert_eq!(b.at, 8);
        assert!(b.message.contains("unknown placeholder `{day}`"), "{b:?}");
        assert!(check_target("{company.csv")
            .unwrap_err()
            .message
            .contains("without a closing"));
        assert_eq!(parse_sink("CSV:a.csv").unwrap().kind, "csv");
    }

    #[test]
    fn several_companies_bind_file_kinds_only() {
        let registry = Registry::builtin();
        let spec = |t: &str| parse_sink(t).unwrap();
        assert!(several_companies(&spec("csv:a.csv"), &registry).is_err());
        assert!(several_companies(&spec("jsonl:-"), &registry)
            .unwrap_err()
            .message
            .contains("cannot share stdout"));
        assert!(several_companies(&spec("csv:{company}.csv"), &registry).is_ok());
        assert!(several_companies(&spec("exec:cat"), &registry).is_ok());
        assert!(several_companies(&spec("email:it@example.com"), &registry).is_ok());
        let twice = check_sinks(&["csv:a.csv", "xlsx:./a.csv"], false, &registry, "sinks");
        assert_eq!(twice.len(), 1);
        assert_eq!(twice[0].0, 1);
        assert!(twice[0]
            .1
            .message
            .starts_with("two sinks write \"./a.csv\""));
    }
}
