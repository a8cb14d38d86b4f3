//! The rules about sink targets that every front end applies, written once: the command line
//! (`--sink`), job files (`sinks = [...]`) and a team's own binary get the same verdict and the
//! same message; only where the value came from is shown differently (`--sink TEXT: ...`,
//! `reports.toml:4:10: ...`). A rule says where in the value it broke ([`Broken::at`]), so a
//! front end that knows the value's position can point at the character.

use crate::sinks::Registry;
use crate::spec::SinkSpec;
pub use crate::spec::{
    check_target, identity, names_company, parse_sink, stdout_identity, two_writers, Broken,
    FileIdentity, PLACEHOLDERS,
};

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
