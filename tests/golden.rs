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
        assert!(
            run.ok() == want,
            "{name} differs from tests/fixtures/{name}; if the change is intended, run `cargo xtask fixtures` and review the diff"
        );
    }
}
