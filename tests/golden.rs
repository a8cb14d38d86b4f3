//! Golden files: exact output of a few commands against a small seeded sandbox, compared byte
//! for byte with tests/fixtures/. `cargo xtask fixtures` regenerates them (the same commands,
//! listed in xtask/src/fixtures.rs); CI runs `cargo xtask fixtures --check`.

use keepnet_sandbox::Config;

use crate::util::Env;

const CASES: [(&str, &[&str]); 4] = [
    ("companies.json", &["companies", "--format", "json"]),
    (
        "count-initech.json",
        &["count", "--company", "Initech", "--format", "json"],
    ),
    (
        "initech.csv",
        &[
            "users",
            "--company",
            "Initech",
            "--header",
            "human",
            "--sink",
            "csv:-",
        ],
    ),
    (
        "initech-custom.jsonl",
        &[
            "users",
            "--company",
            "Initech",
            "--columns",
            "email,phoneNumber,custom:Employee Number,createTime",
            "--sink",
            "jsonl:-",
        ],
    ),
];

#[test]
fn outputs_match_the_golden_files() {
    let env = Env::start(Config {
        users_per_company: 8,
        page_cap: 3,
        ..Config::default()
    });
    for (name, args) in CASES {
        let mut all = vec!["-q"];
        all.extend(args);
        let run = env.run(&all);
        let want = std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert!(
            run.ok() == want,
            "{name} differs from tests/fixtures/{name}; if the change is intended, run `cargo xtask fixtures` and review the diff"
        );
    }
}
