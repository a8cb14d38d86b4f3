//! Fidelity to the live Keepnet API (issue 10): deleted users in the list, fields beyond the
//! spec, the real count summary, per-company date formats, the scope guard against
//! cross-customer leaks, and the errors Keepnet's UI knows.

use std::collections::HashSet;
use std::path::Path;

use calamine::Data;
use keepnet_sandbox::{Config, Faults};
use serde_json::Value;

use crate::sinks::{
    assert_same_instant, col, leftovers, read_csv, read_xlsx, true_instants, COLUMNS,
};
use crate::smtp::Server;
use crate::util::{is_deleted, plain_smtp_args, Env};

pub(crate) fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Exports `company` with `extra` flags to CSV, XLSX and JSON Lines; the three read back.
fn export_three(
    env: &Env,
    company: &str,
    extra: &[&str],
) -> (Vec<Vec<String>>, Vec<Vec<Data>>, Vec<Value>) {
    let (csv, xlsx, jsonl) = (env.path("u.csv"), env.path("u.xlsx"), env.path("u.jsonl"));
    let sinks = [
        format!("csv:{}", csv.display()),
        format!("xlsx:{}", xlsx.display()),
        format!("jsonl:{}", jsonl.display()),
    ];
    let mut args = vec!["users", "--company", company];
    args.extend_from_slice(extra);
    for s in &sinks {
        args.extend(["--sink", s.as_str()]);
    }
    env.run(&args).ok();
    (read_csv(&csv), read_xlsx(&xlsx), read_jsonl(&jsonl))
}

fn ids_of(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|u| u["resourceId"].as_str().unwrap().to_owned())
        .collect()
}

// 1. Deleted users -----------------------------------------------------------------------------

#[test]
fn the_default_export_is_the_current_users_and_status_selects_the_deleted_ones() {
    let env = Env::small(60, 10);
    let id = env.company_id("Initech");
    let current = env.served(&id);
    let deleted = env.served_deleted(&id);
    assert!(
        deleted.iter().any(|u| u["status"] == "Active"),
        "the sandbox has deleted users whose status still says Active"
    );
    assert!(!current.is_empty() && !deleted.is_empty());

    for (flags, want, flag) in [
        (&[][..], &current, false),
        (&["--status", "deleted"][..], &deleted, true),
    ] {
        let (csv, xlsx, jsonl) = export_three(&env, "Initech", flags);
        let want_ids = ids_of(want);
        let csv_ids: Vec<String> = csv[1..]
            .iter()
            .map(|r| r[col("resourceId")].clone())
            .collect();
        assert_eq!(
            csv_ids, want_ids,
            "CSV holds exactly the selection, in order ({flags:?})"
        );
        assert!(csv[1..]
            .iter()
            .all(|r| r[col("isDeleted")] == flag.to_string()));
        assert_eq!(xlsx.len(), want.len() + 1);
        assert!(xlsx[1..]
            .iter()
            .all(|r| r[col("isDeleted")] == Data::Bool(flag)));
        assert_eq!(xlsx[0][col("isDeleted")], Data::String("isDeleted".into()));
        assert_eq!(&jsonl, want, "JSON Lines: the users exactly as served");
        assert!(jsonl.iter().all(|u| u["isDeleted"] == flag));
    }

    // All of them, and the raw stream on stdout follows the same selection.
    let all = env
        .run(&["users", "--company", "Initech", "--status", "all"])
        .json_lines();
    assert_eq!(all, env.served_all(&id));
    let raw = env.run(&["users", "--company", "Initech"]).json_lines();
    assert_eq!(raw, current);
    let inactive = env
        .run(&["users", "--company", "Initech", "--status", "inactive"])
        .json_lines();
    assert!(!inactive.is_empty());
    assert!(inactive
        .iter()
        .all(|u| !is_deleted(u) && u["status"] == "Inactive"));
}

#[test]
fn every_customer_in_one_run_follows_the_selection() {
    let env = Env::small(25, 10);
    let out = env.path("out");
    env.run(&[
        "users",
        "--company",
        "all",
        "--status",
        "deleted",
        "--sink",
        &format!("jsonl:{}/{{company_id}}.jsonl", out.display()),
    ])
    .ok();
    let data = env.sandbox.dataset();
    let mut seen = 0;
    for company in data.all_companies() {
        let got = read_jsonl(&out.join(format!("{}.jsonl", company.resource_id)));
        assert_eq!(
            got,
            env.served_deleted(&company.resource_id),
            "{}",
            company.name
        );
        seen += got.len();
    }
    assert!(seen > 0);
}

/// Until issue 27 this test expected exit 5 and nothing published: one unverified guess (that
/// the public API applies the UI's filter items) decided whether the tool worked at all. Every
/// row says its state, so the rows outside the selection are dropped and counted instead, and
/// the export is exactly the selection (tests/unknowns.rs compares every output with a server
/// that applies the filter).
#[test]
fn a_server_that_ignores_the_selection_exports_exactly_the_selection() {
    let env = Env::start(Config {
        users_per_company: 40,
        page_cap: 10,
        faults: Faults {
            ignore_filter_items: true,
            ..Faults::default()
        },
        ..Config::default()
    });
    let id = env.company_id("Initech");
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let csv = out.join("u.csv");
    std::fs::write(&csv, "previous").unwrap();
    let run = env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        &format!("csv:{}", csv.display()),
    ]);
    run.ok();
    let deleted = env.served_deleted(&id).len();
    assert!(deleted > 0);
    assert!(
        run.stderr.contains(&format!(
            "the server ignored the status filter: {deleted} deleted users were dropped locally"
        )),
        "{}",
        run.stderr
    );
    let ids: Vec<String> = read_csv(&csv)[1..]
        .iter()
        .map(|r| r[col("resourceId")].clone())
        .collect();
    assert_eq!(
        ids,
        ids_of(&env.served(&id)),
        "exactly the current users, in order"
    );
    assert_eq!(leftovers(&out), ["u.csv"]);
    // On stdout too, and asking for everyone needs no filter.
    let raw = env.run(&["users", "--company", "Initech"]).json_lines();
    assert_eq!(raw, env.served(&id));
    assert!(raw.iter().all(|u| !is_deleted(u)));
    let all = env
        .run(&["users", "--company", "Initech", "--status", "all"])
        .json_lines();
    assert_eq!(all, env.served_all(&id));
}

// 2. Fields beyond the spec --------------------------------------------------------------------

#[test]
fn fields_the_client_does_not_know_arrive_untouched_and_as_named_columns() {
    let env = Env::start(Config {
        users_per_company: 24,
        page_cap: 10,
        extra_user_fields: vec!["badgeLevel".into(), "riskScore".into()],
        ..Config::default()
    });
    let id = env.company_id("Müşteri A.Ş.");
    let served = env.served(&id);
    assert!(served.iter().any(|u| u["badgeLevel"].is_object()));
    assert!(served.iter().any(|u| u["riskScore"].is_number()));
    assert!(served.iter().any(|u| u["managerEmail"].is_string()));

    let (csv, xlsx, jsonl) = export_three(&env, "Müşteri A.Ş.", &[]);
    assert_eq!(
        jsonl, served,
        "JSON Lines holds every field exactly as served"
    );
    let header = &csv[0];
    assert_eq!(
        &header[..COLUMNS.len()],
        COLUMNS,
        "the known columns, manager fields included"
    );
    assert_eq!(
        &header[COLUMNS.len()..],
        ["badgeLevel", "riskScore"],
        "then every other served field"
    );
    let (badge, risk) = (COLUMNS.len(), COLUMNS.len() + 1);
    for (i, user) in served.iter().enumerate() {
        let text = |v: &Value| match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(csv[i + 1][badge], text(&user["badgeLevel"]), "row {i}");
        assert_eq!(csv[i + 1][risk], text(&user["riskScore"]), "row {i}");
        assert_eq!(csv[i + 1][col("managerEmail")], text(&user["managerEmail"]));
        let cell = &xlsx[i + 1][badge];
        match &user["badgeLevel"] {
            Value::Null => assert_eq!(cell, &Data::Empty),
            other => assert_eq!(cell, &Data::String(text(other)), "row {i}"),
        }
    }
    assert_eq!(xlsx[0][badge], Data::String("badgeLevel".into()));

    // Selectable by API name (any case); the raw stream keeps every field too.
    let picked = env
        .run(&[
            "users",
            "--company",
            &id,
            "--columns",
            "email,RISKSCORE,managerFullName",
        ])
        .json_lines();
    assert_eq!(picked.len(), served.len());
    for (row, user) in picked.iter().zip(&served) {
        assert_eq!(row.as_object().unwrap().len(), 3);
        assert_eq!(row["riskScore"], user["riskScore"], "numbers stay numbers");
        assert_eq!(row["managerFullName"], user["managerFullName"]);
    }
    assert_eq!(env.run(&["users", "--company", &id]).json_lines(), served);
}

#[test]
fn a_column_the_server_does_not_send_fails_with_nothing_written() {
    let env = Env::small(12, 5);
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let csv = out.join("u.csv");
    std::fs::write(&csv, "previous").unwrap();
    let run = env.run(&[
        "users",
        "--company",
        "Initech",
        "--columns",
        "email,badgeLevel",
        "--sink",
        &format!("csv:{}", csv.display()),
    ]);
    run.fails_with(2, &["unknown column \"badgeLevel\"", "managerEmail"]);
    assert_eq!(std::fs::read(&csv).unwrap(), b"previous");
    assert_eq!(leftovers(&out), ["u.csv"]);
}

// 3. Count summary: covered in users.rs (count table and JSON) and email.rs (labelled figures).

// 4. Dates -------------------------------------------------------------------------------------

/// Checks every createTime/updateTime cell of `company`'s XLSX export: a date-time equal to the
/// true instant, or (only where allowed) the served text exactly.
pub(crate) fn check_dates(env: &Env, company_id: &str, text_allowed: bool) -> (usize, usize) {
    let path = env.path(&format!("{company_id}.xlsx"));
    env.run(&[
        "users",
        "--company",
        company_id,
        "--sink",
        &format!("xlsx:{}", path.display()),
    ])
    .ok();
    let rows = read_xlsx(&path);
    let served = env.served(company_id);
    let truth = true_instants(env, company_id);
    let (mut dates, mut texts) = (0, 0);
    for (user, row) in served.iter().zip(&rows[1..]) {
        let id = user["resourceId"].as_str().unwrap();
        for key in ["createTime", "updateTime"] {
            let Some(text) = user[key].as_str() else {
                continue;
            };
            match &row[col(key)] {
                Data::DateTime(dt) => {
                    let at = truth[id][key].unwrap();
                    assert_same_instant(dt.as_f64(), at, text, &format!("{id} {key}"));
                    dates += 1;
                }
                Data::String(s) if text_allowed => {
                    assert_eq!(s, text, "ambiguous text stays text exactly as served");
                    texts += 1;
                }
                other => panic!("{id} {key} {text:?}: {other:?}"),
            }
        }
    }
    (dates, texts)
}

#[test]
fn xlsx_dates_of_month_first_and_twelve_hour_companies_are_the_true_instants() {
    let env = Env::small(40, 10);
    let data = env.sandbox.dataset();
    let globex = data.find_by_name("Globex Corporation")[0];
    assert_eq!(
        (globex.date_format.as_str(), globex.time_format.as_str()),
        ("MM/DD/YYYY", "12h")
    );
    let served = env.served(&globex.resource_id);
    assert!(
        served
            .iter()
            .any(|u| u["createTime"].as_str().is_some_and(|t| t.ends_with(" PM"))),
        "dates come in the company's 12-hour format"
    );
    let (dates, _) = check_dates(&env, &globex.resource_id, false);
    assert!(
        dates >= served.len(),
        "every createTime is a real date-time"
    );
    // Day first with a 12-hour clock, and month first with a 24-hour clock.
    for company in data.all_companies() {
        if company.dates == keepnet_sandbox::DateStyle::CompanyFormat && company.user_count > 0 {
            let (dates, _) = check_dates(&env, &company.resource_id, false);
            assert!(dates > 0, "{}", company.name);
        }
    }
}

#[test]
fn without_the_company_format_ambiguous_dates_stay_text() {
    let env = Env::start(Config {
        users_per_company: 40,
        page_cap: 10,
        faults: Faults {
            hide_company_formats: true,
            ..Faults::default()
        },
        ..Config::default()
    });
    let id = env.company_id("Globex Corporation");
    let (dates, texts) = check_dates(&env, &id, true);
    assert!(
        texts > 0,
        "03/04-style text cannot be read without the company's format"
    );
    assert!(
        dates > 0,
        "text with one possible reading still becomes a date"
    );
}

// 5. Scope guard -------------------------------------------------------------------------------

/// A run into `out/u.csv` (holding "previous"), mailing a real SMTP server.
fn mailing_run(env: &Env, server: &Server, out: &Path, extra: &[&str]) -> crate::util::Run {
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("u.csv"), "previous").unwrap();
    let sink = format!("csv:{}", out.join("u.csv").display());
    let smtp = plain_smtp_args(server.port, "reports@mssp.example");
    let mut args = vec![
        "users",
        "--company",
        "Initech",
        "--sink",
        &sink,
        "--sink",
        "email:it@initech.example",
    ];
    args.extend(smtp.iter().map(String::as_str));
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn a_stripped_company_header_fails_before_anything_is_published_or_sent() {
    let env = Env::small(30, 10);
    let server = Server::start(&[]);
    // Healthy first: both headers are sent on every scoped call.
    let out = env.path("ok");
    mailing_run(&env, &server, &out, &[]).ok();
    assert_eq!(server.messages().len(), 1);
    assert!(env.sandbox.stats().both_company_headers > 0);

    env.sandbox.set_faults(Faults {
        strip_company_header: true,
        ..Faults::default()
    });
    let out = env.path("stripped");
    let run = mailing_run(&env, &server, &out, &[]);
    let id = env.company_id("Initech");
    let company = env.sandbox.dataset().find_company(&id).unwrap().clone();
    let every =
        (company.active_user_count + company.inactive_user_count + company.deleted_user_count)
            .to_string();
    run.fails_with(
        8,
        &[
            "scope guard",
            &format!("{every} users of every state"),
            "other customers",
            "X-KEEPNET-Company-Id",
            "nothing was published or sent",
        ],
    );
    assert_eq!(
        std::fs::read(out.join("u.csv")).unwrap(),
        b"previous",
        "the earlier file is untouched"
    );
    assert_eq!(leftovers(&out), ["u.csv"]);
    assert_eq!(server.messages().len(), 1, "no second e-mail");

    // The raw stream writes nothing: the first page is checked before any row.
    let raw = env.run(&["users", "--company", "Initech"]);
    raw.fails_with(8, &["scope guard", "nothing was written"]);
    assert_eq!(raw.stdout, "");
    // `count` refuses every customer's figures.
    env.run(&["count", "--company", "Initech"])
        .fails_with(8, &["count-summary"]);
}

#[test]
fn an_endpoint_that_ignores_the_header_is_caught_too() {
    let env = Env::small(30, 10);
    let server = Server::start(&[]);
    // The server-side export ignores it: the file is counted and refused, the earlier one kept.
    env.sandbox.set_faults(Faults {
        ignore_company_header_on: vec!["/api/target-users/search/export".into()],
        ..Faults::default()
    });
    let path = env.path("server.csv");
    std::fs::write(&path, "previous").unwrap();
    env.run(&[
        "export",
        "--company",
        "Initech",
        "--type",
        "csv",
        "--out",
        path.to_str().unwrap(),
    ])
    .fails_with(8, &["scope guard", "search/export", "nothing was saved"]);
    assert_eq!(std::fs::read(&path).unwrap(), b"previous");
    // The search ignores it: same as a stripped header.
    env.sandbox.set_faults(Faults {
        ignore_company_header_on: vec!["/api/target-users/search".into()],
        ..Faults::default()
    });
    let out = env.path("search");
    mailing_run(&env, &server, &out, &[]).fails_with(8, &["target-users/search"]);
    assert_eq!(std::fs::read(out.join("u.csv")).unwrap(), b"previous");
    assert!(server.messages().is_empty(), "no e-mail was sent");
    // The count summary ignores it: its figures are every customer's, so they are left out of
    // the e-mail, with a warning; the users, checked on their own, are exported and sent.
    env.sandbox.set_faults(Faults {
        ignore_company_header_on: vec!["/api/target-users/count-summary".into()],
        ..Faults::default()
    });
    let out = env.path("summary");
    let run = mailing_run(&env, &server, &out, &[]);
    run.ok();
    assert!(
        run.stderr
            .contains("the count summary was left out of the report")
            && run.stderr.contains("count-summary"),
        "{}",
        run.stderr
    );
    let id = env.company_id("Initech");
    let rows = crate::sinks::read_csv(&out.join("u.csv"));
    assert_eq!(rows.len() - 1, env.served(&id).len());
    let sent = server.single();
    let text = String::from_utf8_lossy(&sent.raw).into_owned();
    assert!(!text.contains("Active users"), "no figures in the e-mail");
    // `count` shows nothing but those figures: it refuses them.
    env.run(&["count", "--company", "Initech"])
        .fails_with(8, &["count-summary", "other customers"]);
    // A margin wide enough to hold every customer lets the figures through: the tolerance is
    // the rule.
    let out = env.path("wide");
    mailing_run(&env, &server, &out, &["--scope-tolerance", "1000"]).ok();
    assert_eq!(server.messages().len(), 2);
    let wide = String::from_utf8_lossy(&server.messages()[1].raw).into_owned();
    assert!(wide.contains("Active users"), "the figures are back");
}

// 6. Errors the UI knows, and companies listed twice ----------------------------------------------

#[test]
fn ip_restricted_and_privacy_errors_say_what_to_do() {
    let env = Env::small(8, 5);
    env.sandbox.set_faults(Faults {
        ip_restricted: true,
        ..Faults::default()
    });
    env.run(&["users", "--company", "Initech"]).fails_with(
        4,
        &["403", "IP_RESTRICTED", "IP-restricted", "allowed addresses"],
    );
    let id = env.company_id("Initech");
    env.sandbox.set_faults(Faults {
        privacy_error_companies: vec![id.clone()],
        ..Faults::default()
    });
    env.run(&["users", "--company", "Initech"])
        .fails_with(4, &["403", "PRIVACY_ERROR", "privacy settings", &id]);
    // Other customers are unaffected.
    let globex = env.company_id("Globex Corporation");
    let users = env.run(&["users", "--company", &globex]).json_lines();
    assert_eq!(users, env.served(&globex));
    let unique: HashSet<&str> = users.iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), users.len());
}
