//! `users`: every user of one company, exactly once, as JSON Lines with the API's field names.

use std::collections::HashSet;

use keepnet_sandbox::{CompanyKeys, Config, EnvelopeStyle};
use serde_json::Value;

use crate::util::{bare_command, Env, Run};

/// Asserts `got` holds exactly the current (not deleted) users the sandbox serves for
/// `company_id`, in creation order (the default order is CreateTime ascending), field for field
/// and with every field the API sends.
#[track_caller]
fn assert_all_users(env: &Env, company_id: &str, got: &[Value]) {
    let want = env.served(company_id);
    assert!(!want.is_empty());
    let ids: HashSet<&str> = got
        .iter()
        .map(|u| u["resourceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), got.len(), "no user twice");
    assert_eq!(got.len(), want.len(), "every user");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "user as served");
    }
}

#[test]
fn every_user_exactly_once_when_the_server_caps_pages_below_the_request() {
    // 23 users (some deleted), server cap 4, client asks 10: the client must follow the pages
    // the server reports, not the ones it would expect from its own page size (then asks the
    // total once more).
    let env = Env::small(23, 4);
    let id = env.company_id("Globex Corporation");
    let current = env.served(&id).len();
    assert!(
        current < 23 && current > 12,
        "some users are deleted: {current}"
    );
    let before = env.sandbox.stats().user_search_requests;
    let run = env.run(&[
        "users",
        "--company",
        "Globex Corporation",
        "--page-size",
        "10",
    ]);
    assert_all_users(&env, &id, &run.json_lines());
    assert_eq!(
        env.sandbox.stats().user_search_requests - before,
        current.div_ceil(4) as u64 + 1
    );
    assert!(run.stderr.contains("users exported"), "{}", run.stderr);
}

#[test]
fn company_by_id_nested_name_and_any_case() {
    let env = Env::small(12, 5);
    let id = env.company_id("Acme Europe Support");
    let by_id = env.run(&["users", "--company", &id]).json_lines();
    assert_all_users(&env, &id, &by_id);
    let by_name = env
        .run(&["users", "--company", "acme EUROPE support"])
        .json_lines();
    assert_eq!(by_id, by_name);
    let turkish = env.company_id("Müşteri A.Ş.");
    assert_all_users(
        &env,
        &turkish,
        &env.run(&["users", "--company", "Müşteri A.Ş."])
            .json_lines(),
    );
}

#[test]
fn search_order_and_direction_are_sent_to_the_server() {
    let env = Env::small(40, 7);
    let id = env.company_id("Initech");
    let users = env.served(&id);

    let by_email = env
        .run(&[
            "users",
            "--company",
            &id,
            "--order-by",
            "Email",
            "--descending",
        ])
        .json_lines();
    let mut emails: Vec<String> = users
        .iter()
        .filter_map(|u| u["email"].as_str().map(str::to_owned))
        .collect();
    emails.sort_by_key(|e| std::cmp::Reverse(e.to_lowercase()));
    let got: Vec<String> = by_email
        .iter()
        .filter_map(|u| u["email"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(got.len(), emails.len());
    assert_eq!(
        got.iter().map(|e| e.to_lowercase()).collect::<Vec<_>>(),
        emails.iter().map(|e| e.to_lowercase()).collect::<Vec<_>>()
    );

    // Search for one user's e-mail address: exactly that user comes back.
    let target = users.iter().find(|u| u["email"].is_string()).unwrap();
    let email = target["email"].as_str().unwrap();
    let found = env
        .run(&["users", "--company", &id, "--search", email])
        .json_lines();
    assert_eq!(found, vec![target.clone()]);
}

#[test]
fn empty_company_prints_nothing_and_succeeds() {
    let env = Env::small(5, 5);
    let run = env.run(&["users", "--company", "Umbrella Empty"]);
    assert_eq!(run.ok(), "");
}

#[test]
fn other_envelope_and_company_key_shapes_work_the_same() {
    for (envelope, keys) in [
        (EnvelopeStyle::Quickstart, CompanyKeys::Prose),
        (EnvelopeStyle::Pascal, CompanyKeys::Spec),
    ] {
        let env = Env::start(Config {
            users_per_company: 9,
            page_cap: 4,
            envelope,
            company_keys: keys,
            ..Config::default()
        });
        let id = env.company_id("Acme Türkiye");
        assert_all_users(
            &env,
            &id,
            &env.run(&["users", "--company", "Acme Türkiye"])
                .json_lines(),
        );
        let count = env.run(&["count", "--company", &id, "--format", "json"]);
        let summary: Value = serde_json::from_str(count.ok()).unwrap();
        assert!(summary.is_object(), "{envelope:?}: {summary}");
    }
}

#[test]
fn count_shows_labelled_figures_and_the_data_as_returned() {
    let env = Env::small(30, 50);
    let id = env.company_id("Globex Corporation");
    let users = env.served_all(&id);
    let state = |u: &Value| {
        if crate::util::is_deleted(u) {
            "deleted"
        } else if u["status"] == "Active" {
            "active"
        } else {
            "inactive"
        }
    };
    let counted = |which: &str| users.iter().filter(|u| state(u) == which).count() as u64;
    let json: Value = serde_json::from_str(
        env.run(&["count", "--company", &id, "--format", "json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(json["totalNumberOfActiveUsers"], counted("active"));
    assert_eq!(json["totalNumberOfInActiveUsers"], counted("inactive"));
    assert_eq!(json["totalNumberOfDeletedUsers"], counted("deleted"));
    let months = json["monthlyActiveUsers"]
        .as_array()
        .expect("the monthly series");
    let added: u64 = months.iter().map(|m| m["count"].as_u64().unwrap()).sum();
    assert!(added <= users.len() as u64);
    let table = env.run(&["count", "--company", "globex corporation"]);
    let table = table.ok();
    assert!(
        table.starts_with(&format!("Globex Corporation ({id})")),
        "{table}"
    );
    for (label, n) in [
        ("Active users", counted("active")),
        ("Inactive users", counted("inactive")),
        ("Deleted users", counted("deleted")),
    ] {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("{label} in\n{table}"));
        assert_eq!(
            line.split_whitespace().last(),
            Some(n.to_string().as_str()),
            "{line}"
        );
    }
    // The monthly series, labelled, latest month first; never a raw JSON array.
    let latest = months.last().unwrap();
    let first_month = table
        .lines()
        .find(|l| l.contains("Users added in"))
        .expect("the monthly series");
    assert!(
        first_month.contains(latest["period"].as_str().unwrap()),
        "latest first: {first_month}"
    );
    assert_eq!(
        first_month.split_whitespace().last(),
        Some(latest["count"].to_string().as_str())
    );
    assert_eq!(table.matches("Users added in").count(), months.len());
    assert!(!table.contains('['), "{table}");
}

#[test]
fn sandbox_flag_runs_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let run = Run::from_output(
        bare_command()
            .args(["--sandbox", "users", "--company", "Acme Holdings"])
            .current_dir(dir.path())
            .output()
            .unwrap(),
    );
    let users = run.json_lines();
    let sandbox_users = keepnet_sandbox::Config::default().users_per_company;
    assert!(
        users.len() < sandbox_users && users.len() > sandbox_users * 3 / 4,
        "the current users of the default sandbox, deleted ones left out: {}",
        users.len()
    );
    assert!(users.iter().all(|u| u["resourceId"].is_string()));
    assert!(users.iter().all(|u| u["isDeleted"] == false));
}
