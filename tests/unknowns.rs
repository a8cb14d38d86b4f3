//! The live API's unknowns (issue 27; docs/api-assumptions.md): whichever way each turns out,
//! the tool's outputs are exact. Mostly differential: the same command against a sandbox that
//! models the likely answer and one that models the other, same seed, outputs compared
//! byte for byte (CSV, JSON Lines, change reports, rollups, the e-mail) or cell for cell
//! (XLSX).

use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx};
use keepnet_sandbox::{Config, DeletedRows, Faults, UserChanges};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;

use crate::fidelity::read_jsonl as jsonl;
use crate::sinks::leftovers;
use crate::smtp::Server;
use crate::util::{plain_smtp_args, Env, Run};

const COMPANY: &str = "Initech";
/// Enough users that the deleted ones (about 10%) are more than the scope guard's margin, so
/// a filter-ignoring server's totals are above the selection's count.
const USERS: usize = 400;

/// The sandbox as the live API most likely is, with deleted rows in `form`.
fn config(form: DeletedRows, ignore_filter_items: bool) -> Config {
    Config {
        users_per_company: USERS,
        page_cap: 100,
        deleted_rows: form,
        faults: Faults {
            ignore_filter_items,
            ..Faults::default()
        },
        ..Config::default()
    }
}

/// Two sandboxes of the same data: one applies the status filter, one ignores it.
fn pair(form: DeletedRows) -> (Env, Env) {
    (
        Env::start(config(form, false)),
        Env::start(config(form, true)),
    )
}

const FORMS: [DeletedRows; 2] = [DeletedRows::Flagged, DeletedRows::StatusOnly];

fn xlsx_cells(path: &Path) -> Vec<Vec<Data>> {
    let mut book: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let mut rows = Vec::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).unwrap();
        rows.extend(range.rows().map(<[Data]>::to_vec));
    }
    rows
}

fn summary(env: &Env, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(env.path(name)).unwrap()).unwrap()
}

fn read(env: &Env, name: &str) -> Vec<u8> {
    std::fs::read(env.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn run(env: &Env, args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&args)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

// 1. The status filter ignored -------------------------------------------------------------------

#[test]
fn a_server_that_ignores_the_status_filter_gives_the_same_files_and_says_so() {
    for form in FORMS {
        let (honest, ignoring) = pair(form);
        let id = honest.company_id(COMPANY);
        let current = honest.served(&id);
        let deleted = honest.served_deleted(&id);
        assert!(
            deleted.len() > 20,
            "more deleted users than the guard's margin ({form:?})"
        );
        let args = strings(&[
            "users",
            "--company",
            COMPANY,
            "--sink",
            "csv:u.csv",
            "--sink",
            "xlsx:u.xlsx",
            "--sink",
            "jsonl:u.jsonl",
            "--summary-json",
            "s.json",
        ]);
        run(&honest, &args).ok();
        let out = run(&ignoring, &args);
        out.ok();
        assert_eq!(read(&honest, "u.csv"), read(&ignoring, "u.csv"), "{form:?}");
        assert_eq!(read(&honest, "u.jsonl"), read(&ignoring, "u.jsonl"));
        assert_eq!(
            xlsx_cells(&honest.path("u.xlsx")),
            xlsx_cells(&ignoring.path("u.xlsx"))
        );
        assert_eq!(
            jsonl(&ignoring.path("u.jsonl")),
            current,
            "exactly the current users"
        );

        // Said once, with the numbers, and recorded.
        let note = format!(
            "the server ignored the status filter: {} deleted users were dropped locally",
            deleted.len()
        );
        assert_eq!(out.stderr.matches(&note).count(), 1, "{}", out.stderr);
        let entry = &summary(&ignoring, "s.json")["companies"][0];
        assert_eq!(entry["rows"], current.len());
        let filter = &entry["statusFilter"];
        assert_eq!(filter["server"], "ignored");
        assert_eq!(filter["served"], current.len() + deleted.len());
        assert_eq!(filter["kept"], current.len());
        assert_eq!(filter["dropped"]["deleted"], deleted.len());
        assert_eq!(filter["dropped"]["active"], 0);
        assert!(entry["warnings"][0].as_str().unwrap().contains(&note));
        let entry = &summary(&honest, "s.json")["companies"][0];
        assert_ne!(entry["statusFilter"]["server"], "ignored");
        assert_eq!(entry["statusFilter"]["served"], current.len());
        assert_eq!(entry["warnings"], serde_json::json!([]));

        // The raw stream, and the other selections, are exact too.
        for status in ["active,inactive", "deleted", "all", "inactive"] {
            let args = ["users", "--company", COMPANY, "--status", status];
            let want = honest.run(&args).json_lines();
            assert_eq!(
                ignoring.run(&args).json_lines(),
                want,
                "{status} ({form:?})"
            );
            let expected = match status {
                "deleted" => deleted.clone(),
                "all" => honest.served_all(&id),
                "active,inactive" => current.clone(),
                _ => current
                    .iter()
                    .filter(|u| u["status"] == "Inactive")
                    .cloned()
                    .collect(),
            };
            assert_eq!(want, expected, "{status}");
        }
    }
}

#[test]
fn every_customer_and_a_change_report_across_two_runs_come_out_the_same() {
    for form in FORMS {
        let (honest, ignoring) = pair(form);
        let args = strings(&[
            "users",
            "--company",
            "all",
            "--columns",
            "resourceId,email,firstName,lastName,department,phoneNumber,status",
            "--sink",
            "jsonl:out/{company_id}.jsonl",
            "--sink",
            "csv:out/{company_id}.csv",
            "--sink",
            "xlsx:out/{company_id}.xlsx",
            "--state",
            "state",
            "--changes",
            "jsonl:changes/{company_id}.jsonl",
            "--rollup",
            "csv:rollup.csv",
        ]);
        for env in [&honest, &ignoring] {
            run(env, &args).ok();
        }
        let id = honest.company_id(COMPANY);
        let changed = [&honest, &ignoring].map(|env| {
            env.sandbox
                .change_users(
                    &id,
                    UserChanges {
                        add: 3,
                        remove: 2,
                        modify: 2,
                    },
                )
                .unwrap()
        });
        assert_eq!(changed[0], changed[1], "the same changes on both");
        for env in [&honest, &ignoring] {
            run(env, &args).ok();
        }
        for company in honest.sandbox.dataset().all_companies() {
            let name = format!("out/{}.jsonl", company.resource_id);
            assert_eq!(read(&honest, &name), read(&ignoring, &name), "{name}");
            let ids: Vec<String> = jsonl(&ignoring.path(&name))
                .iter()
                .map(|u| u["resourceId"].as_str().unwrap().to_owned())
                .collect();
            let current: Vec<String> = honest
                .served(&company.resource_id)
                .iter()
                .map(|u| u["resourceId"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(ids, current, "{name}: exactly the current users");
            let name = format!("out/{}.csv", company.resource_id);
            assert_eq!(read(&honest, &name), read(&ignoring, &name), "{name}");
            let name = format!("out/{}.xlsx", company.resource_id);
            assert_eq!(
                xlsx_cells(&honest.path(&name)),
                xlsx_cells(&ignoring.path(&name)),
                "{name}"
            );
            let name = format!("changes/{}.jsonl", company.resource_id);
            assert_eq!(read(&honest, &name), read(&ignoring, &name), "{name}");
        }
        let report = jsonl(&ignoring.path(&format!("changes/{id}.jsonl")));
        let count = |what: &str| report.iter().filter(|r| r["change"] == what).count();
        assert_eq!(
            (count("joined"), count("left"), count("changed")),
            (3, 2, 2),
            "{form:?}: {report:?}"
        );
        assert_eq!(read(&honest, "rollup.csv"), read(&ignoring, "rollup.csv"));
    }
}

/// `reports.toml` mailing `COMPANY`'s current users as CSV to a real SMTP server.
fn mailing_job(env: &Env, smtp_port: u16) -> PathBuf {
    let file = env.path("reports.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "MSSP Reports <reports@mssp.example>"

[[job]]
name = "monthly"
companies = ["{COMPANY}"]
sinks = ["csv:mail/{{company}}.csv", "email:it@initech.example"]
"#
        ),
    )
    .unwrap();
    file
}

/// A message's text part and its attachments, with the lines that name the run's time (when it
/// ran, how long it took) left out.
fn message_parts(raw: &[u8]) -> (String, Vec<(String, Vec<u8>)>) {
    let message = MessageParser::default().parse(raw).unwrap();
    let text: String = message
        .body_text(0)
        .unwrap()
        .lines()
        .filter(|l| {
            !l.chars().any(|c| c.is_ascii_digit() && l.contains(':')) || l.contains("users")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let files = message
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_owned(),
                a.contents().to_vec(),
            )
        })
        .collect();
    (text, files)
}

#[test]
fn a_job_mails_the_same_message_and_files_whatever_the_server_does_with_the_filter() {
    for form in FORMS {
        let (honest, ignoring) = pair(form);
        let mut got = Vec::new();
        for env in [&honest, &ignoring] {
            let server = Server::start(&[]);
            let file = mailing_job(env, server.port);
            env.run(&["run", file.to_str().unwrap()]).ok();
            got.push((
                message_parts(&server.single().raw),
                read(env, "mail/Initech.csv"),
            ));
        }
        let ((honest_mail, honest_csv), (ignoring_mail, ignoring_csv)) =
            (got[0].clone(), got[1].clone());
        assert_eq!(honest_csv, ignoring_csv, "{form:?}");
        assert_eq!(honest_mail.1, ignoring_mail.1, "the attachments");
        assert_eq!(
            honest_mail.1[0].1, honest_csv,
            "the attachment is the published file"
        );
        assert_eq!(honest_mail.0, ignoring_mail.0, "the text");
        let id = honest.company_id(COMPANY);
        let rows = csv::Reader::from_reader(honest_csv.as_slice())
            .records()
            .count();
        assert_eq!(rows, honest.served(&id).len());
    }
}

#[test]
fn a_stripped_header_on_a_filter_ignoring_server_still_fails_with_nothing_published() {
    for form in FORMS {
        let env = Env::start(Config {
            faults: Faults {
                ignore_filter_items: true,
                strip_company_header: true,
                ..Faults::default()
            },
            ..config(form, true)
        });
        let server = Server::start(&[]);
        std::fs::create_dir_all(env.path("out")).unwrap();
        std::fs::write(env.path("out/u.csv"), "previous").unwrap();
        let mut args = strings(&[
            "users",
            "--company",
            COMPANY,
            "--sink",
            "csv:out/u.csv",
            "--sink",
            "email:it@initech.example",
        ]);
        args.extend(plain_smtp_args(server.port, "reports@mssp.example"));
        run(&env, &args).fails_with(
            8,
            &[
                "scope guard",
                "users of every state",
                "other customers",
                "nothing was published or sent",
            ],
        );
        assert_eq!(read(&env, "out/u.csv"), b"previous");
        assert_eq!(leftovers(&env.path("out")), ["u.csv"]);
        assert!(server.messages().is_empty());
        let raw = env.run(&["users", "--company", COMPANY]);
        raw.fails_with(8, &["other customers", "nothing was written"]);
        assert_eq!(raw.stdout, "");
        env.run(&["users", "--company", COMPANY, "--status", "deleted"])
            .fails_with(8, &["other customers"]);
    }
}

#[test]
fn the_server_built_file_is_exact_or_refused_with_the_reason() {
    // Deleted users marked by their status alone: the rows outside the selection are dropped.
    let (honest, ignoring) = pair(DeletedRows::StatusOnly);
    for (kind, name) in [("csv", "server.csv"), ("excel", "server.xlsx")] {
        let args = [
            "export",
            "--company",
            COMPANY,
            "--type",
            kind,
            "--out",
            name,
        ];
        honest.run(&args).ok();
        let out = ignoring.run(&args);
        out.ok();
        assert!(
            out.stderr.contains("the server ignored the status filter")
                && out
                    .stderr
                    .contains("deleted users were dropped from its file"),
            "{}",
            out.stderr
        );
        match kind {
            "csv" => assert_eq!(read(&honest, name), read(&ignoring, name)),
            _ => assert_eq!(
                xlsx_cells(&honest.path(name)),
                xlsx_cells(&ignoring.path(name))
            ),
        }
    }
    let id = honest.company_id(COMPANY);
    let rows = csv::Reader::from_path(honest.path("server.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(rows, honest.served(&id).len());

    // Deleted users flagged apart, their status still Active: the file cannot say who is
    // deleted, so nothing is saved and the message says what to do.
    let (honest, ignoring) = pair(DeletedRows::Flagged);
    std::fs::write(ignoring.path("server.csv"), "previous").unwrap();
    let args = [
        "export",
        "--company",
        COMPANY,
        "--type",
        "csv",
        "--out",
        "server.csv",
    ];
    ignoring.run(&args).fails_with(
        5,
        &[
            "ignored the status filter",
            "no IsDeleted column",
            "nothing was saved",
            "--status all",
            "--sink csv:PATH",
        ],
    );
    assert_eq!(read(&ignoring, "server.csv"), b"previous");
    assert_eq!(leftovers(ignoring.dir.path()), ["server.csv"]);
    honest.run(&args).ok();
    // Every state needs no filter: both servers give the same file.
    let all = [
        "export",
        "--company",
        COMPANY,
        "--type",
        "csv",
        "--status",
        "all",
        "--out",
        "all.csv",
    ];
    honest.run(&all).ok();
    ignoring.run(&all).ok();
    assert_eq!(read(&honest, "all.csv"), read(&ignoring, "all.csv"));
}

// 4. Outputs without --sink ----------------------------------------------------------------------

#[test]
fn a_change_report_alone_and_a_rollup_alone_are_outputs() {
    let env = Env::start(Config {
        users_per_company: 30,
        page_cap: 10,
        ..Config::default()
    });
    let id = env.company_id(COMPANY);
    let changes = strings(&[
        "users",
        "--company",
        COMPANY,
        "--state",
        "state",
        "--changes",
        "jsonl:changes.jsonl",
        "--summary-json",
        "s.json",
    ]);
    let first = run(&env, &changes);
    assert_eq!(first.ok(), "", "nothing streams to stdout");
    assert_eq!(
        read(&env, "changes.jsonl"),
        b"",
        "the baseline run changes nothing"
    );
    env.sandbox
        .change_users(
            &id,
            UserChanges {
                add: 2,
                remove: 1,
                modify: 0,
            },
        )
        .unwrap();
    assert_eq!(run(&env, &changes).ok(), "");
    let report = jsonl(&env.path("changes.jsonl"));
    assert_eq!(report.len(), 3, "{report:?}");
    let entry = &summary(&env, "s.json")["companies"][0];
    assert_eq!(entry["changes"]["joined"], 2);
    assert_eq!(entry["changes"]["left"], 1);
    let files = entry["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("changes.jsonl"));
    assert_eq!(files[0]["rows"], 3);

    let rollup = strings(&[
        "users",
        "--company",
        "all",
        "--rollup",
        "csv:rollup.csv",
        "--summary-json",
        "all.json",
    ]);
    assert_eq!(run(&env, &rollup).ok(), "");
    let companies = env.sandbox.dataset().all_companies().len();
    let rows = csv::Reader::from_path(env.path("rollup.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(rows, companies, "one row per company");
    let doc = summary(&env, "all.json");
    assert_eq!(doc["totals"]["companies"], companies);
    assert_eq!(doc["totals"]["succeeded"], companies);
    // A job file may name only a rollup too.
    std::fs::write(
        env.path("reports.toml"),
        "[[job]]\nname = \"rollup\"\ncompanies = \"all\"\nrollup = [\"csv:job-rollup.csv\"]\n",
    )
    .unwrap();
    assert_eq!(
        env.run(&["run", "reports.toml", "--summary-json", "job.json"])
            .ok(),
        ""
    );
    assert_eq!(read(&env, "job-rollup.csv"), read(&env, "rollup.csv"));
    assert_eq!(summary(&env, "job.json")["totals"]["companies"], companies);
    for name in ["reports.toml", "job-rollup.csv", "job.json"] {
        std::fs::remove_file(env.path(name)).unwrap();
    }
    assert!(leftovers(env.dir.path()).iter().all(|f| [
        "state",
        "changes.jsonl",
        "s.json",
        "rollup.csv",
        "all.json"
    ]
    .contains(&f.as_str())));
}

// 5. doctor --------------------------------------------------------------------------------------

/// A small sandbox with `change` applied.
fn knob(change: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config {
        users_per_company: 40,
        page_cap: 50,
        ..Config::default()
    };
    change(&mut config);
    config
}

/// `doctor --format json` against `config`: its findings by id, and everything it printed.
fn doctor(config: Config) -> (Env, std::collections::BTreeMap<String, Value>, String) {
    let env = Env::start(config);
    let run = env.run(&[
        "--retry-initial-backoff-ms",
        "1",
        "doctor",
        "--company",
        COMPANY,
        "--format",
        "json",
    ]);
    let doc: Value = serde_json::from_str(run.ok()).unwrap();
    let findings = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    let printed = format!("{}{}", run.stdout, run.stderr);
    (env, findings, printed)
}

/// Fails when `printed` holds any of the company's people's data.
fn assert_no_personal_data(env: &Env, printed: &str) {
    for company in env.sandbox.dataset().all_companies() {
        for user in env.sandbox.current_users_json(&company.resource_id) {
            let text = |key: &str| user[key].as_str().unwrap_or("").to_owned();
            let full = format!("{} {}", text("firstName"), text("lastName"));
            for value in [text("email"), text("phoneNumber"), full, text("resourceId")] {
                if value.trim().chars().count() >= 6 {
                    assert!(
                        !printed.contains(value.trim()),
                        "doctor printed {value:?}:\n{printed}"
                    );
                }
            }
        }
    }
}

#[test]
fn doctor_answers_each_ledger_row_the_way_each_knob_sets_it() {
    use keepnet_sandbox::{
        CompanyKeys, CountSummaryShape, DateStyle, EnvelopeStyle, LanguageField, OversizePages,
        TargetUserCount,
    };
    use std::time::Duration;
    let throttled = |c: &mut Config| {
        c.faults.rate = 0.5;
        c.faults.statuses = vec![429];
        c.faults.retry_after = Some(Duration::ZERO);
    };
    type Case = (
        &'static str,
        Box<dyn FnOnce(&mut Config)>,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        ("default", Box::new(|_| {}), "status-filter", "honoured"),
        (
            "filter ignored",
            Box::new(|c| c.faults.ignore_filter_items = true),
            "status-filter",
            "ignored",
        ),
        (
            "flagged",
            Box::new(|_| {}),
            "deleted-rows",
            "an isDeleted flag",
        ),
        (
            "status only",
            Box::new(|c| c.deleted_rows = DeletedRows::StatusOnly),
            "deleted-rows",
            "status Deleted alone",
        ),
        (
            "iso",
            Box::new(|c| c.date_style = Some(DateStyle::Iso)),
            "dates",
            "ISO 8601; createTime: ",
        ),
        (
            "company format",
            Box::new(|c| c.date_style = Some(DateStyle::CompanyFormat)),
            "dates",
            "the company's format; createTime: 0 ISO",
        ),
        (
            "spec keys",
            Box::new(|_| {}),
            "company-id-key",
            "companyResourceId",
        ),
        (
            "prose keys",
            Box::new(|c| c.company_keys = CompanyKeys::Prose),
            "company-id-key",
            "resourceId",
        ),
        (
            "header ignored by search",
            Box::new(|c| {
                c.faults.ignore_company_header_on = vec!["/api/target-users/search".into()]
            }),
            "header-search",
            "ignored",
        ),
        (
            "header honoured",
            Box::new(|_| {}),
            "header-search",
            "honoured",
        ),
        (
            "header ignored by summary",
            Box::new(|c| {
                c.faults.ignore_company_header_on = vec!["/api/target-users/count-summary".into()]
            }),
            "header-count-summary",
            "ignored",
        ),
        (
            "pages capped",
            Box::new(|_| {}),
            "page-size",
            "asked 1000: serves 50",
        ),
        (
            "pages of a thousand served whole",
            Box::new(|c| c.page_cap = 5000),
            "page-size",
            "asked 1000: serves 1000; asked 99999: serves 5000",
        ),
        (
            "pages refused",
            Box::new(|c| c.oversize_pages = OversizePages::Refuse),
            "page-size",
            "refuses 1000",
        ),
        (
            "spec envelope",
            Box::new(|_| {}),
            "envelope",
            "(the spec's)",
        ),
        (
            "quickstart envelope",
            Box::new(|c| c.envelope = EnvelopeStyle::Quickstart),
            "envelope",
            "(the quickstart's)",
        ),
        (
            "pascal envelope",
            Box::new(|c| c.envelope = EnvelopeStyle::Pascal),
            "envelope",
            "(PascalCase)",
        ),
        ("ui summary", Box::new(|_| {}), "count-summary", "the UI's"),
        (
            "flat summary",
            Box::new(|c| c.count_summary = CountSummaryShape::Flat),
            "count-summary",
            "another: keys activeUserCount",
        ),
        (
            "retry-after sent",
            Box::new(throttled),
            "retry-after",
            "sent: every one",
        ),
        (
            "retry-after omitted",
            Box::new(move |c| {
                throttled(c);
                c.faults.omit_retry_after = true;
            }),
            "retry-after",
            "not sent",
        ),
        (
            "language",
            Box::new(|_| {}),
            "language-field",
            "preferredLanguage",
        ),
        (
            "language type name",
            Box::new(|c| c.language_field = LanguageField::LanguageTypeName),
            "language-field",
            "languageTypeName",
        ),
        ("order honoured", Box::new(|_| {}), "order-by", "honoured"),
        (
            "order ignored",
            Box::new(|c| c.ignore_order = true),
            "order-by",
            "ignored",
        ),
        (
            "count active",
            Box::new(|_| {}),
            "target-user-count",
            "active users only",
        ),
        (
            "count current",
            Box::new(|c| c.target_user_count = TargetUserCount::Current),
            "target-user-count",
            "active and inactive users",
        ),
        (
            "count every",
            Box::new(|c| c.target_user_count = TargetUserCount::Every),
            "target-user-count",
            "every user",
        ),
    ];
    for (name, change, row, want) in cases {
        let (env, findings, printed) = doctor(knob(change));
        let finding = &findings[row];
        let answer = finding["answer"].as_str().unwrap();
        assert!(
            answer.contains(want),
            "{name}: {row} answered {answer:?}, want {want:?}"
        );
        assert_eq!(finding["tested"], true, "{name}: {finding}");
        assert_no_personal_data(&env, &printed);
        if name == "header ignored by search" {
            // Rows are read only from a scoped search.
            assert_eq!(findings["status-filter"]["tested"], false);
            assert!(findings["language-field"]["answer"]
                .as_str()
                .unwrap()
                .contains("known to be scoped"));
        }
        if name == "prose keys" {
            assert_eq!(answer, "resourceId");
        }
    }
    // The table for people says the same, and holds no personal data either.
    let env = Env::start(knob(|c| c.faults.ignore_filter_items = true));
    let table = env.run(&["doctor", "--company", COMPANY]);
    let text = table.ok();
    assert!(text.contains("status-filter: Does target-users/search apply the status filter"));
    assert!(text.contains("  ignored: an answer held users of states"));
    assert_no_personal_data(&env, &format!("{text}{}", table.stderr));
}

// 3. The other rows of the ledger: the tool under each answer --------------------------------------

#[test]
fn dates_in_either_style_become_the_true_instants_or_stay_as_served() {
    use keepnet_sandbox::DateStyle;
    for style in [DateStyle::Iso, DateStyle::CompanyFormat] {
        let env = Env::start(knob(|c| c.date_style = Some(style)));
        for company in env.sandbox.dataset().all_companies() {
            if company.user_count == 0 {
                continue;
            }
            // Every cell is the true instant, or (text that reads two ways, such as a 24-hour
            // time in a 12-hour company) the text exactly as served: never a wrong date.
            let (dates, _) = crate::fidelity::check_dates(&env, &company.resource_id, true);
            assert!(dates > 0, "{style:?} {}", company.name);
        }
    }
}

#[test]
fn a_count_summary_of_another_shape_leaves_the_figures_out_and_nothing_else() {
    use keepnet_sandbox::CountSummaryShape;
    let env = Env::start(knob(|c| c.count_summary = CountSummaryShape::Flat));
    let id = env.company_id(COMPANY);
    let server = Server::start(&[]);
    let mut args = strings(&[
        "users",
        "--company",
        COMPANY,
        "--sink",
        "csv:u.csv",
        "--sink",
        "email:it@initech.example",
        "--rollup",
        "csv:rollup.csv",
    ]);
    args.extend(plain_smtp_args(server.port, "reports@mssp.example"));
    let out = run(&env, &args);
    out.ok();
    assert!(
        out.stderr.contains("scope guard off for the count summary"),
        "{}",
        out.stderr
    );
    let rows = csv::Reader::from_path(env.path("u.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(rows, env.served(&id).len());
    let mail = String::from_utf8_lossy(&server.single().raw).into_owned();
    assert!(!mail.contains("Active users"), "no figures it cannot read");
    // `count` shows what came back, as key and value lines.
    let count = env.run(&["count", "--company", COMPANY]);
    let text = count.ok();
    for key in ["activeUserCount", "inactiveUserCount", "deletedUserCount"] {
        assert!(text.contains(key), "{text}");
    }
}

#[test]
fn without_retry_after_a_throttled_export_is_still_exact() {
    let env = Env::start(knob(|c| {
        c.faults.rate = 0.3;
        c.faults.statuses = vec![429];
        c.faults.omit_retry_after = true;
    }));
    let id = env.company_id(COMPANY);
    let out = env.run(&[
        "--retry-initial-backoff-ms",
        "5",
        "users",
        "--company",
        COMPANY,
        "--page-size",
        "10",
    ]);
    assert_eq!(out.json_lines(), env.served(&id));
    assert!(env.sandbox.stats().faults_injected > 0, "it was throttled");
}

#[test]
fn whatever_target_user_count_counts_no_false_alarm_and_a_leak_is_still_caught() {
    use keepnet_sandbox::TargetUserCount;
    for meaning in [
        TargetUserCount::Active,
        TargetUserCount::Current,
        TargetUserCount::Every,
    ] {
        let env = Env::start(knob(|c| c.target_user_count = meaning));
        let id = env.company_id(COMPANY);
        for status in ["active,inactive", "active", "deleted", "all"] {
            let got = env
                .run(&["users", "--company", COMPANY, "--status", status])
                .json_lines();
            let want = env
                .run(&["users", "--company", &id, "--status", status])
                .json_lines();
            assert_eq!(got, want);
            assert!(!got.is_empty() || status == "deleted");
        }
        assert_eq!(
            env.run(&["users", "--company", COMPANY]).json_lines(),
            env.served(&id),
            "{meaning:?}"
        );
        env.sandbox.set_faults(Faults {
            strip_company_header: true,
            ..Faults::default()
        });
        env.run(&["users", "--company", COMPANY])
            .fails_with(8, &["other customers"]);
    }
}

#[test]
fn an_order_the_server_ignores_still_exports_every_user_once() {
    let env = Env::start(knob(|c| c.ignore_order = true));
    let id = env.company_id(COMPANY);
    let by_email = env
        .run(&[
            "users",
            "--company",
            COMPANY,
            "--order-by",
            "Email",
            "--page-size",
            "7",
        ])
        .json_lines();
    // The server's order, not the one asked for; every user exactly once.
    assert_eq!(by_email, env.served(&id));
    let default = env.run(&["users", "--company", COMPANY]).json_lines();
    assert_eq!(
        default,
        env.served(&id),
        "the default order is the one it keeps"
    );
}

#[test]
fn the_language_under_any_of_its_names_fills_one_column() {
    use keepnet_sandbox::LanguageField;
    let columns = |field: LanguageField| {
        let env = Env::start(knob(|c| c.language_field = field));
        env.run(&["users", "--company", COMPANY, "--sink", "csv:u.csv"])
            .ok();
        let rows = crate::sinks::read_csv(&env.path("u.csv"));
        let served = env.served(&env.company_id(COMPANY));
        (rows, served)
    };
    let (want, _) = columns(LanguageField::PreferredLanguage);
    for field in [
        LanguageField::PreferredLanguageName,
        LanguageField::LanguageTypeName,
    ] {
        let (got, served) = columns(field);
        assert_eq!(got, want, "{field:?}: the same file");
        assert!(served.iter().any(|u| u[field.key()].is_string()));
    }
}
