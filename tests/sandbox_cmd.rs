//! `sandbox`: serves the sandbox for people, prints how to use it, stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::util::{bare_command, Env, Run};

/// `sandbox` with `flags`, started: the process, the `export KEY=VALUE` pairs it printed and
/// its URL.
fn serve(flags: &[&str]) -> (std::process::Child, Vec<(String, String)>, Option<String>) {
    let mut child = bare_command()
        .args(["sandbox", "--port", "0"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut exports = Vec::new();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Keepnet sandbox listening on ") {
            url = Some(rest.to_owned());
        }
        if let Some(pair) = line.trim().strip_prefix("export ") {
            let (key, value) = pair.split_once('=').unwrap();
            exports.push((key.to_owned(), value.to_owned()));
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    (child, exports, url)
}

#[test]
fn the_ledger_flags_play_a_server_that_ignores_the_status_filter() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, exports, _) = serve(&[
        "--users",
        "30",
        "--ignore-filter-items",
        "--status-only-deleted",
    ]);
    let mut cmd = bare_command();
    cmd.envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir.path());
    let run = Env::run_cmd(cmd, &["doctor", "--company", "Initech", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(run.ok()).unwrap();
    let answer = |id: &str| {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap()["answer"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(answer("status-filter").starts_with("ignored"), "{doc}");
    assert!(
        answer("deleted-rows").starts_with("status Deleted alone"),
        "{doc}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serves_prints_credentials_that_work_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let (child, exports, url) = serve(&["--users", "7", "--page-cap", "3"]);
    let url = url.expect("the URL is printed");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(exports.len(), 3, "{exports:?}");

    let mut cmd = bare_command();
    cmd.envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir.path());
    let all = Env::run_cmd(cmd, &["users", "--company", "Initech", "--status", "all"]);
    assert_eq!(all.json_lines().len(), 7, "the --users it was started with");
    let mut cmd = bare_command();
    cmd.envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir.path());
    let current = Env::run_cmd(cmd, &["users", "--company", "Initech"]).json_lines();
    let deleted = all
        .json_lines()
        .iter()
        .filter(|u| crate::util::is_deleted(u))
        .count();
    assert_eq!(current.len(), 7 - deleted);

    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let run = Run::from_output(output);
    assert_eq!(run.code, 0, "stops cleanly on SIGINT: {}", run.stderr);
}
