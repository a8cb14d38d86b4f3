//! Golden files: exact output of the commands listed in tests/fixtures/cases.json against a
//! small seeded sandbox, compared byte for byte with the files beside it. `cargo xtask
//! fixtures` regenerates them from the same list; CI runs `cargo xtask fixtures --check`.

use keepnet_sandbox::Config;
use serde_json::Value;

use crate::util::Env;

#[test]
fn outputs_match_the_golden_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/cases.json")).unwrap())
            .unwrap();
    let env = Env::start(Config {
        users_per_company: cases["sandbox"]["users"].as_u64().unwrap() as usize,
        page_cap: cases["sandbox"]["pageCap"].as_u64().unwrap() as u32,
        ..Config::default()
    });
    let list = cases["cases"].as_array().unwrap();
    assert!(list.len() >= 4);
    for case in list {
        let name = case["file"].as_str().unwrap();
        let mut args = vec!["-q"];
        args.extend(
            case["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap()),
        );
        let run = env.run(&args);
        let want = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
        let got = run.ok();
        assert!(
            got == want,
            "{name} differs from tests/fixtures/{name}; if the change is intended, run `cargo xtask fixtures` and review the diff\n{}",
            line_diff(&want, got)
        );
    }
}

/// The lines that differ, as `-` (the fixture) and `+` (this run) with their line numbers,
/// at most 20 of them, so a failure shows what changed instead of two whole files.
fn line_diff(want: &str, got: &str) -> String {
    let (want, got): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let mut out = Vec::new();
    for i in 0..want.len().max(got.len()) {
        let (w, g) = (want.get(i), got.get(i));
        if w != g {
            if let Some(w) = w {
                out.push(format!("{:>5} - {w}", i + 1));
            }
            if let Some(g) = g {
                out.push(format!("{:>5} + {g}", i + 1));
            }
        }
        if out.len() >= 20 {
            out.push("      ...".to_owned());
            break;
        }
    }
    out.join("\n")
}

#[test]
fn the_golden_diff_names_the_lines_that_changed() {
    let diff = line_diff("a\nb\nc\n", "a\nB\nc\nd\n");
    assert_eq!(diff, "    2 - b\n    2 + B\n    4 + d");
}
