//! `cargo xtask workflows`: checks the GitHub Actions files that cannot run here
//! (`.github/workflows/*.yml`, `docs/*.yml`): each parses as YAML (PyYAML, from the tests'
//! Python environment), every `--target` of the release matrix is a target this rustc knows,
//! and every `--profile` a `cargo build` line names is a profile of the workspace.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

/// Checks every workflow file; fails listing every problem.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("`workflows` takes no arguments, got {extra:?}");
    }
    let root = crate::workspace_root();
    let files = workflow_files(&root)?;
    ensure!(!files.is_empty(), "no workflow files found");
    let python = crate::setup::python_env_dir().join("bin/python3");
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let targets = rustc_targets()?;
    let mut problems = Vec::new();
    for file in &files {
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        if let Err(e) = parses(&python, file) {
            problems.push(format!("{shown}: {e:#}"));
        }
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (line, target) in values_after(&text, "target:") {
            if !target.contains("${{") && !targets.contains(&target) {
                problems.push(format!("{shown}:{line}: rustc has no target {target:?}"));
            }
        }
        // `--profile` of cargo's lines only (rustup has a `--profile` of its own).
        let cargo_lines: String = text
            .lines()
            .map(|l| if l.contains("cargo ") { l } else { "" })
            .collect::<Vec<_>>()
            .join("\n");
        for (line, profile) in values_after(&cargo_lines, "--profile") {
            if !profile_defined(&manifest, &profile) {
                problems.push(format!(
                    "{shown}:{line}: Cargo.toml has no [profile.{profile}]"
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!("workflow files:\n  {}", problems.join("\n  "));
    }
    eprintln!(
        "xtask: workflows: {} files parse; their targets and profiles exist",
        files.len()
    );
    Ok(())
}

/// `.github/workflows/*.yml` and `docs/*.yml`, sorted.
fn workflow_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in [root.join(".github/workflows"), root.join("docs")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Whether PyYAML loads the file; its error otherwise.
fn parses(python: &Path, file: &Path) -> Result<()> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, yaml; doc = yaml.safe_load(open(sys.argv[1])); \
             assert isinstance(doc, dict) and 'jobs' in doc, 'no jobs'",
        ])
        .arg(file)
        .output()
        .with_context(|| format!("cannot run {} (run `cargo xtask setup`)", python.display()))?;
    if !out.status.success() {
        // PyYAML ends with `yaml.…Error: what` and `in "FILE", line L, column C`.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(2).map(str::trim).collect();
        bail!(
            "not valid YAML: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" ")
        );
    }
    Ok(())
}

/// The targets `rustc --print target-list` knows.
fn rustc_targets() -> Result<Vec<String>> {
    let out = Command::new("rustc")
        .args(["--print", "target-list"])
        .output()
        .context("cannot run rustc")?;
    ensure!(out.status.success(), "rustc --print target-list failed");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Each word following `key` (`target: X`, `--profile X`), with its 1-based line.
fn values_after(text: &str, key: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find(key) {
            rest = &rest[at + key.len()..];
            let value: String = rest
                .trim_start()
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '}'))
                .collect();
            if !value.is_empty() {
                found.push((i + 1, value));
            }
        }
    }
    found
}

/// Whether `Cargo.toml` defines `[profile.NAME]` (or NAME is a built-in profile).
fn profile_defined(manifest: &str, name: &str) -> bool {
    matches!(name, "dev" | "release" | "test" | "bench")
        || manifest
            .lines()
            .any(|l| l.trim() == format!("[profile.{name}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_targets_and_profiles() {
        let text = "- { target: x86_64-unknown-linux-musl, os: ubuntu }\n\
                    run: cargo build --profile dist --target ${{ matrix.target }}\n";
        assert_eq!(
            values_after(text, "target:"),
            [(1, "x86_64-unknown-linux-musl".to_owned())]
        );
        assert_eq!(values_after(text, "--profile"), [(2, "dist".to_owned())]);
        assert!(profile_defined(
            "[profile.dist]\ninherits = \"release\"",
            "dist"
        ));
        assert!(!profile_defined("[profile.dist]", "fast"));
        assert!(profile_defined("", "release"));
    }
}
