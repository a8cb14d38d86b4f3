//! The change report (`--state`, `--changes`, `--fail-on-changes`, `--mail-skip-unchanged`):
//! a baseline run, then the sandbox adds, removes and modifies users, then the next run reports
//! exactly those, in JSON Lines, XLSX and the summary JSON; failed and interrupted runs in
//! between keep the state where it was.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use keepnet_sandbox::{Config, UserChanges};
use serde_json::Value;

use crate::smtp::Server;
use crate::util::{plain_smtp_args, Env, Watched};
use keepnet_test_support::closed_port as free_port;

const COMPANY: &str = "Initech";
const COLUMNS: &str = "resourceId,email,firstName,lastName,department,phoneNumber";
/// The columns a modification may touch (the sandbox edits department and phone number).
const EDITABLE: [&str; 2] = ["department", "phoneNumber"];

fn env() -> Env {
    Env::start(Config {
        users_per_company: 40,
        page_cap: 10,
        // Slow enough that a run can be interrupted between two pages.
        latency: Duration::from_millis(40),
        ..Config::default()
    })
}

/// A run exporting `COMPANY` with a state in `state/` and the changes to `changes`.
fn args<'a>(env: &Env, changes: &'a [String], more: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "users",
        "--company",
        COMPANY,
        "--columns",
        COLUMNS,
        "--sink",
        "jsonl:users.jsonl",
        "--state",
        "state",
        "--summary-json",
        "summary.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _ = env;
    for c in changes {
        args.push("--changes".into());
        args.push(c.clone());
    }
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn run(env: &Env, args: &[String]) -> crate::util::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&args)
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn summary_changes(env: &Env) -> Value {
    let text = std::fs::read_to_string(env.path("summary.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["companies"][0]["changes"].clone()
}

fn state_file(env: &Env) -> std::path::PathBuf {
    let id = env.company_id(COMPANY);
    env.path(&format!("state/{id}.state.json"))
}

/// The served, not deleted users by resourceId.
fn served_by_id(env: &Env) -> BTreeMap<String, Value> {
    env.served(&env.company_id(COMPANY))
        .into_iter()
        .map(|u| (u["resourceId"].as_str().unwrap().to_owned(), u))
        .collect()
}

/// `change` -> sorted resourceIds, and resourceId -> changedFields, of change rows.
fn by_change(
    rows: &[BTreeMap<String, String>],
) -> (BTreeMap<String, Vec<String>>, BTreeMap<String, String>) {
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for row in rows {
        let id = row["resourceId"].clone();
        ids.entry(row["change"].clone())
            .or_default()
            .push(id.clone());
        fields.insert(id, row["changedFields"].clone());
    }
    for list in ids.values_mut() {
        list.sort();
    }
    (ids, fields)
}

fn text_rows_of_json(rows: &[Value]) -> Vec<BTreeMap<String, String>> {
    rows.iter()
        .map(|r| {
            r.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .collect()
}

fn text_rows_of_xlsx(path: &Path) -> Vec<BTreeMap<String, String>> {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).unwrap();
    let mut rows = range.rows();
    let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    rows.map(|row| {
        header
            .iter()
            .cloned()
            .zip(row.iter().map(|c| c.to_string()))
            .collect()
    })
    .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_second_run_reports_exactly_who_joined_left_and_changed() {
    let env = env();
    let changes = vec![
        "jsonl:changes.jsonl".to_owned(),
        "xlsx:changes.xlsx".to_owned(),
    ];
    // 1. The baseline: nothing is a change, the state is written owner-only.
    run(&env, &args(&env, &changes, &[])).ok();
    assert_eq!(
        summary_changes(&env),
        serde_json::json!({"joined": 0, "left": 0, "changed": 0, "baseline": true})
    );
    assert!(json_lines(&env.path("changes.jsonl")).is_empty());
    let state = state_file(&env);
    #[cfg(unix)]
    assert_eq!(mode(&state), 0o600, "the state holds personal data");
    let baseline_state = std::fs::read(&state).unwrap();
    let before = served_by_id(&env);

    // 2. Between runs: 7 join, 5 leave (soft-deleted, as the live API does), 3 are edited.
    let id = env.company_id(COMPANY);
    let done = env
        .sandbox
        .change_users(
            &id,
            UserChanges {
                add: 7,
                remove: 5,
                modify: 3,
            },
        )
        .unwrap();
    assert_eq!(
        (done.added.len(), done.removed.len(), done.modified.len()),
        (7, 5, 3)
    );
    let after = served_by_id(&env);

    // 3. A run that fails (its e-mail cannot be delivered) does not advance the state.
    let mut mail = vec!["--sink".to_owned(), "email:it@initech.example".to_owned()];
    mail.extend(plain_smtp_args(free_port(), "reports@mssp.example"));
    let mail: Vec<&str> = mail.iter().map(String::as_str).collect();
    let failing = args(&env, &changes, &mail);
    let failed = run(&env, &failing);
    failed.fails_with(6, &[]);
    assert_eq!(
        std::fs::read(&state).unwrap(),
        baseline_state,
        "failed run: state kept"
    );

    // 4. An interrupted run does not advance it either.
    let mut cmd = env.command_as(&env.sandbox.reseller());
    cmd.args(args(&env, &changes, &["-v"]));
    let mut watched = Watched::spawn(cmd);
    watched.read_until(|line| line.contains("page fetched"));
    let (code, rest) = watched.interrupt();
    assert_eq!(code, Some(130), "{rest}");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        baseline_state,
        "interrupted run: state kept"
    );

    // 5. The next complete run reports exactly the sandbox's changes.
    run(&env, &args(&env, &changes, &[])).ok();
    assert_eq!(
        summary_changes(&env),
        serde_json::json!({"joined": 7, "left": 5, "changed": 3, "baseline": false})
    );
    let want_fields: BTreeMap<String, String> = done
        .modified
        .iter()
        .map(|id| {
            let changed: Vec<&str> = EDITABLE
                .iter()
                .copied()
                .filter(|f| before[id][*f] != after[id][*f])
                .collect();
            assert!(!changed.is_empty(), "the sandbox edited {id}");
            (id.clone(), changed.join(","))
        })
        .collect();
    let from_jsonl = text_rows_of_json(&json_lines(&env.path("changes.jsonl")));
    let from_xlsx = text_rows_of_xlsx(&env.path("changes.xlsx"));
    for (format, rows) in [("jsonl", &from_jsonl), ("xlsx", &from_xlsx)] {
        assert_eq!(rows.len(), 15, "{format}: one row per change");
        let (ids, fields) = by_change(rows);
        assert_eq!(ids["joined"], sorted(done.added.clone()), "{format}");
        assert_eq!(ids["left"], sorted(done.removed.clone()), "{format}");
        assert_eq!(ids["changed"], sorted(done.modified.clone()), "{format}");
        for id in &done.modified {
            assert_eq!(
                fields[id], want_fields[id],
                "{format}: changedFields of {id}"
            );
        }
        for id in done.added.iter().chain(&done.removed) {
            assert_eq!(fields[id], "", "{format}: {id} has no changed fields");
        }
        for row in rows.iter() {
            let id = &row["resourceId"];
            // A joined or changed row carries the user as exported now; a left one what the
            // state kept of them (their e-mail and names).
            let user = match row["change"].as_str() {
                "left" => &before[id],
                _ => &after[id],
            };
            assert_eq!(row["email"], user["email"].as_str().unwrap(), "{format}");
            if row["change"] != "left" {
                assert_eq!(
                    row["department"],
                    user["department"].as_str().unwrap_or(""),
                    "{format}"
                );
            }
        }
    }

    // 6. Nothing changed since: zeros, and --fail-on-changes passes.
    run(&env, &args(&env, &changes, &["--fail-on-changes"])).ok();
    assert_eq!(
        summary_changes(&env),
        serde_json::json!({"joined": 0, "left": 0, "changed": 0, "baseline": false})
    );
    assert!(json_lines(&env.path("changes.jsonl")).is_empty());

    // 7. One more user joins: --fail-on-changes exits 9, yet publishes and advances the state.
    let joined = env
        .sandbox
        .change_users(
            &id,
            UserChanges {
                add: 1,
                remove: 0,
                modify: 0,
            },
        )
        .unwrap();
    let gated = run(&env, &args(&env, &changes, &["--fail-on-changes"]));
    gated.fails_with(9, &["1 joined, 0 left, 0 changed", COMPANY]);
    let rows = json_lines(&env.path("changes.jsonl"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["resourceId"], joined.added[0].as_str());
    run(&env, &args(&env, &changes, &["--fail-on-changes"])).ok();
}

#[test]
fn no_changes_with_mail_skip_unchanged_sends_nothing() {
    let env = env();
    let server = Server::start(&[]);
    let mut mail = vec!["--sink".to_owned(), "email:it@initech.example".to_owned()];
    mail.extend(plain_smtp_args(
        server.port,
        "MSSP Reports <reports@mssp.example>",
    ));
    mail.push("--mail-skip-unchanged".to_owned());
    let mail: Vec<&str> = mail.iter().map(String::as_str).collect();
    // The baseline is mailed: there is no previous report to compare with.
    run(&env, &args(&env, &[], &mail)).ok();
    assert_eq!(server.messages().len(), 1, "the baseline report is sent");
    // Nothing changed: no e-mail, and the run says why.
    let quiet = run(&env, &args(&env, &[], &mail));
    quiet.ok();
    assert_eq!(server.messages().len(), 1, "no e-mail without changes");
    assert_eq!(
        summary_changes(&env),
        serde_json::json!({"joined": 0, "left": 0, "changed": 0, "baseline": false})
    );
    // A change: mailed again.
    let id = env.company_id(COMPANY);
    env.sandbox
        .change_users(
            &id,
            UserChanges {
                add: 0,
                remove: 1,
                modify: 0,
            },
        )
        .unwrap();
    run(&env, &args(&env, &[], &mail)).ok();
    assert_eq!(server.messages().len(), 2, "a change is mailed");
}

#[test]
fn a_state_of_another_company_or_without_state_is_refused() {
    let env = env();
    run(&env, &args(&env, &[], &[])).ok();
    // Another company's state file under this company's name: refused, nothing written.
    let other = env.company_id("Globex Corporation");
    let mine = state_file(&env);
    let theirs = env.path(&format!("state/{other}.state.json"));
    std::fs::copy(&mine, &theirs).unwrap();
    let refused = env.run(&[
        "users",
        "--company",
        "Globex Corporation",
        "--sink",
        "jsonl:globex.jsonl",
        "--state",
        "state",
    ]);
    refused.fails_with(2, &["holds the state of company", "not"]);
    assert!(!env.path("globex.jsonl").exists(), "nothing published");
    // Change settings without a state folder say what they need, in the flags' words.
    let run = env.run(&[
        "users",
        "--company",
        COMPANY,
        "--sink",
        "jsonl:x.jsonl",
        "--changes",
        "csv:changes.csv",
        "--fail-on-changes",
    ]);
    run.fails_with(
        2,
        &[
            "--changes csv:changes.csv: needs --state DIR",
            "--fail-on-changes",
        ],
    );
    // A delivery kind cannot take change rows; a change file cannot be a sink's file.
    let run = env.run(&[
        "users",
        "--company",
        COMPANY,
        "--sink",
        "jsonl:x.jsonl",
        "--state",
        "state",
        "--changes",
        "email:a@b.example",
        "--changes",
        "jsonl:x.jsonl",
    ]);
    run.fails_with(2, &["is a delivery", "also an export sink's"]);
}
