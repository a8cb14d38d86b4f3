//! Every customer in one run: `--company all` (or several), path templates, safe file names,
//! one failure not stopping the others, `--fail-fast`, and `--summary-json`.

use std::collections::BTreeSet;

use keepnet_sandbox::{Config, Faults};
use serde_json::Value;

use crate::sinks::{col, leftovers, read_csv};
use crate::util::Env;

/// Hostile names: path tricks, a Windows device name, two names that sanitise alike.
fn hostile() -> Vec<String> {
    ["../x", "a/b", "CON", "Acme: Europe", "Acme? Europe"]
        .map(String::from)
        .to_vec()
}

fn env() -> Env {
    Env::start(Config {
        users_per_company: 6,
        page_cap: 4,
        extra_companies: hostile(),
        ..Config::default()
    })
}

#[test]
fn all_companies_one_file_each_with_safe_distinct_names() {
    let env = env();
    let out = env.path("out");
    let summary = env.path("summary.json");
    let run = env.run(&[
        "users",
        "--company",
        "all",
        "--sink",
        &format!("csv:{}/{{company}}-{{date}}.csv", out.display()),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    run.ok();
    let data = env.sandbox.dataset();
    let companies = data.all_companies();
    let files = leftovers(&out);
    assert_eq!(
        files.len(),
        companies.len(),
        "one file per company: {files:?}"
    );
    assert!(files
        .iter()
        .all(|f| !f.contains('/') && !f.starts_with('.')));
    assert!(
        files.iter().any(|f| f.starts_with("_x-")),
        "../x became a plain name: {files:?}"
    );
    assert!(files.iter().any(|f| f.starts_with("a_b-")), "{files:?}");
    assert!(
        files.iter().any(|f| f.starts_with("CON_-")),
        "CON is reserved on Windows: {files:?}"
    );
    let lower: BTreeSet<String> = files.iter().map(|f| f.to_lowercase()).collect();
    assert_eq!(lower.len(), files.len(), "no two files differ only by case");
    assert!(
        !env.dir.path().join("x").exists() && !out.parent().unwrap().join("x-").exists(),
        "nothing escaped the folder"
    );

    // Each file holds exactly its company's users; the summary says which file is whose.
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["totals"]["companies"], companies.len());
    assert_eq!(summary["totals"]["succeeded"], companies.len());
    for entry in summary["companies"].as_array().unwrap() {
        let id = entry["company"]["resourceId"].as_str().unwrap();
        let file = &entry["files"][0];
        let rows = read_csv(std::path::Path::new(file["path"].as_str().unwrap()));
        let ids: BTreeSet<String> = rows[1..]
            .iter()
            .map(|r| r[col("resourceId")].clone())
            .collect();
        let want: BTreeSet<String> = env
            .served(id)
            .iter()
            .map(|u| u["resourceId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, want, "{}", entry["company"]["name"]);
    }
}

#[test]
fn several_companies_need_a_company_placeholder_and_no_shared_stdout() {
    let env = env();
    let before = env.sandbox.stats().requests;
    env.run(&["users", "--company", "all", "--sink", "csv:all.csv"])
        .fails_with(2, &["{company}"]);
    env.run(&[
        "users",
        "--company",
        "Initech",
        "--company",
        "Globex Corporation",
        "--sink",
        "jsonl:-",
    ])
    .fails_with(2, &["stdout"]);
    env.run(&["users", "--company", "all"])
        .fails_with(2, &["--sink"]);
    env.run(&[
        "users",
        "--company",
        "all",
        "--sink",
        "csv:{companyname}.csv",
    ])
    .fails_with(2, &["unknown placeholder"]);
    assert_eq!(
        env.sandbox.stats().requests,
        before,
        "refused before any request"
    );
}

#[test]
fn one_failure_does_not_stop_the_others_unless_fail_fast() {
    let env = Env::start(Config {
        users_per_company: 30,
        page_cap: 10,
        faults: Faults {
            fail_user_pages_from: Some(2),
            ..Faults::default()
        },
        ..Config::default()
    });
    // Companies with more than one page fail; small ones (the reseller-sized ones) succeed.
    let out = env.path("out");
    let summary_path = env.path("s.json");
    let run = env.run(&[
        "--retries",
        "0",
        "users",
        "--company",
        "Initech",
        "--company",
        "Umbrella Empty",
        "--company",
        "Globex Corporation",
        "--sink",
        &format!("csv:{}/{{company_id}}.csv", out.display()),
        "--summary-json",
        summary_path.to_str().unwrap(),
    ]);
    run.fails_with(
        5,
        &["2 of 3 companies failed", "Initech", "Globex Corporation"],
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    let outcomes: Vec<&str> = summary["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "succeeded", "failed"]);
    assert_eq!(
        leftovers(&out),
        [format!("{}.csv", env.company_id("Umbrella Empty"))],
        "only the good one published"
    );

    let run = env.run(&[
        "--retries",
        "0",
        "users",
        "--fail-fast",
        "--company-concurrency",
        "1",
        "--company",
        "Initech",
        "--company",
        "Umbrella Empty",
        "--sink",
        &format!("csv:{}/ff-{{company_id}}.csv", out.display()),
        "--summary-json",
        "-",
    ]);
    assert_eq!(run.code, 5);
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["companies"][1]["outcome"], "skipped");
    assert_eq!(summary["totals"]["skipped"], 1);
}

#[test]
fn the_summary_has_its_documented_fields() {
    let env = Env::small(9, 4);
    let out = env.path("o.csv");
    let run = env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        &format!("csv:{}", out.display()),
        "--sink",
        &format!("xlsx:{}", env.path("o.xlsx").display()),
        "--summary-json",
        "-",
    ]);
    let doc: Value = serde_json::from_str(run.ok()).unwrap();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let set = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        keys(&doc),
        set(&[
            "version",
            "tool",
            "startedAt",
            "finishedAt",
            "totals",
            "companies",
            "failedJobs"
        ])
    );
    assert_eq!(doc["version"], 1);
    assert_eq!(
        keys(&doc["totals"]),
        set(&[
            "companies",
            "succeeded",
            "failed",
            "skipped",
            "rows",
            "requests",
            "retries",
            "throttled"
        ])
    );
    let company = &doc["companies"][0];
    assert_eq!(
        keys(company),
        set(&[
            "company",
            "outcome",
            "exitCode",
            "error",
            "rows",
            "pages",
            "sweeps",
            "incomplete",
            "duplicatesDropped",
            "retries",
            "files",
            "emails",
            "deliveries",
            "warnings",
            "durationMs",
            "changes",
            "stateFile",
            "statusFilter"
        ])
    );
    assert_eq!(
        company["rows"],
        env.served(&env.company_id("Initech")).len()
    );
    let file = &company["files"][0];
    assert_eq!(
        keys(file),
        set(&["path", "mediaType", "bytes", "rows", "sha256"])
    );
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(file["bytes"], bytes.len());
    let digest = keepnet_test_support::sha256_hex(&bytes);
    assert_eq!(file["sha256"], digest.as_str());
    let documented =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/summary-json.md"))
            .unwrap();
    for key in keys(company)
        .iter()
        .chain(keys(file).iter())
        .chain(keys(&doc["totals"]).iter())
    {
        assert!(
            documented.contains(&format!("`{key}`")),
            "docs/summary-json.md documents `{key}`"
        );
    }
}

#[test]
fn ctrl_c_during_a_fan_out_publishes_nothing_half_written_and_the_summary_says_what_finished() {
    let env = Env::start(Config {
        users_per_company: 60,
        page_cap: 5,
        latency: std::time::Duration::from_millis(25),
        ..Config::default()
    });
    let out = env.path("out");
    let summary = env.path("summary.json");
    let mut cmd = env.command_as(&env.sandbox.reseller());
    cmd.args([
        "-v",
        "--concurrency",
        "1",
        "users",
        "--company",
        "all",
        "--company-concurrency",
        "1",
    ])
    .args([
        "--sink",
        &format!("csv:{}/{{company_id}}.csv", out.display()),
    ])
    .args(["--summary-json", summary.to_str().unwrap()]);
    let mut watched = crate::util::Watched::spawn(cmd);
    // Interrupt once the first company is done and the next one is streaming.
    let mut pages_after_first = 0;
    let mut first_done = false;
    watched.read_until(|line| {
        first_done |= line.contains("file written");
        if first_done && line.contains("page fetched") {
            pages_after_first += 1;
        }
        pages_after_first == 3
    });
    let (code, rest) = watched.interrupt();
    assert_eq!(code, Some(130), "{rest}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let outcomes: Vec<&str> = doc["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes[0] == "succeeded", "{outcomes:?}");
    assert!(
        outcomes.contains(&"failed") && outcomes.contains(&"skipped"),
        "{outcomes:?}"
    );
    let published = leftovers(&out);
    assert_eq!(
        published.len(),
        outcomes.iter().filter(|o| **o == "succeeded").count(),
        "only finished companies have files: {published:?}"
    );
    assert!(
        published
            .iter()
            .all(|f| f.ends_with(".csv") && !f.starts_with('.')),
        "no temporary file: {published:?}"
    );
}
