//! `cargo xtask layers`: no module imports a module above it.
//!
//! For every package of the workspace, reads each top-level module of `src/` (`src/NAME.rs`
//! or `src/NAME/`) and the modules it names through `crate::NAME` outside comments. Those
//! references must form no cycle: then the modules stack in layers, each using only the ones
//! below it, and the command prints that order (lowest first). A cycle fails, named module
//! by module. `ci` runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Checks every package; prints each one's layers.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("`layers` takes no arguments, got {extra:?}");
    }
    let root = crate::workspace_root();
    let mut packages = vec![root.join("src"), root.join("xtask/src")];
    for folder in ["crates", "examples"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(folder))
            .with_context(|| format!("reading {folder}/"))?
            .filter_map(|e| e.ok().map(|e| e.path().join("src")))
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        packages.extend(found);
    }
    let mut cycles = Vec::new();
    for src in &packages {
        let graph = module_graph(src)?;
        let name = src
            .parent()
            .and_then(|p| p.strip_prefix(&root).ok())
            .map_or_else(|| ".".to_owned(), |p| p.display().to_string());
        let name = if name.is_empty() {
            ".".to_owned()
        } else {
            name
        };
        match layers(&graph) {
            Ok(order) => println!("{name}: {}", order.join(" < ")),
            Err(cycle) => cycles.push(format!("{name}: {}", cycle.join(" -> "))),
        }
    }
    if !cycles.is_empty() {
        bail!(
            "modules that import each other (a module may only use modules below it):\n  {}",
            cycles.join("\n  ")
        );
    }
    Ok(())
}

/// Each top-level module of `src` and the other top-level modules it references.
fn module_graph(src: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let path = entry?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        if matches!(stem.as_str(), "lib" | "main") {
            continue;
        }
        if path.is_dir() {
            modules.entry(stem).or_default().extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            modules.entry(stem).or_default().push(path);
        }
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, files) in &modules {
        let mut uses = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            for used in references(&text) {
                if used != *module && names.contains(&used) {
                    uses.insert(used);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    Ok(graph)
}

fn rust_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(files)
}

/// The top-level module names a file's code (not its comments) reaches through `crate::`:
/// `crate::a::b`, and each `a` of `crate::{a, b::c}`.
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let name = ident(part.trim());
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            } else {
                let name = ident(after);
                if !name.is_empty() {
                    found.insert(name);
                }
            }
            rest = after;
        }
    }
    found
}

/// The modules lowest first, each after everything it uses; or a cycle.
fn layers(graph: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>, Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Open) => {
                let start = path.iter().position(|p| p == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Err(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, marks, path, order)?;
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        order.push(node.to_owned());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut order = Vec::new();
    for node in graph.keys() {
        visit(node, graph, &mut marks, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_skip_comments_and_read_groups() {
        let text = "use crate::{a, b::C};\nuse crate::c::D; // crate::e\n/// [x](crate::f)\nlet _ = crate::g::h();\n";
        let found: Vec<String> = references(text).into_iter().collect();
        assert_eq!(found, ["a", "b", "c", "g"]);
    }

    #[test]
    fn a_cycle_is_named_and_a_stack_is_ordered() {
        let graph = |edges: &[(&str, &str)]| {
            let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (from, to) in edges {
                g.entry((*from).into()).or_default().insert((*to).into());
                g.entry((*to).into()).or_default();
            }
            g
        };
        assert_eq!(
            layers(&graph(&[("top", "mid"), ("mid", "low"), ("top", "low")])).unwrap(),
            ["low", "mid", "top"]
        );
        assert_eq!(
            layers(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap_err(),
            ["a", "b", "c", "a"]
        );
    }
}
