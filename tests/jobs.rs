//! `run reports.toml`: recurring reports from a file, with per-customer e-mail to a real SMTP
//! server; `run --check` validates and prints the plan without calling the API.

use mail_parser::MessageParser;

use crate::sinks::leftovers;
use crate::smtp::Server;
use crate::util::Env;

fn job_file(env: &Env, smtp_port: u16) -> String {
    let out = env.path("monthly");
    let all = env.path("all");
    format!(
        r#"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "MSSP Reports <reports@mssp.example>"

[[job]]
name = "monthly"
companies = ["Initech", "Globex Corporation"]
columns = ["email", "firstName", "custom:Employee Number"]
header = "human"
sinks = ["csv:{out}/{{company}}-{{date}}.csv", "xlsx:{out}/{{company}}.xlsx"]

[job.email]
subject = "Users of {{company}}"
cc = ["am@mssp.example"]
[job.email.to]
"Initech" = ["it@initech.example"]
"globex corporation" = ["sec@globex.example", "ciso@globex.example"]

[[job]]
name = "archive"
companies = "all"
sinks = ["jsonl:{all}/{{company_id}}.jsonl"]
"#,
        out = out.display(),
        all = all.display(),
    )
}

#[test]
fn a_two_job_file_exports_and_mails_each_customer() {
    let env = Env::small(7, 5);
    let server = Server::start(&[]);
    let file = env.path("reports.toml");
    std::fs::write(&file, job_file(&env, server.port)).unwrap();
    let summary = env.path("summary.json");
    env.run(&[
        "run",
        file.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ])
    .ok();

    let monthly = leftovers(&env.path("monthly"));
    assert_eq!(
        monthly.len(),
        4,
        "csv + xlsx for two companies: {monthly:?}"
    );
    let archive = leftovers(&env.path("all"));
    assert_eq!(archive.len(), env.sandbox.dataset().all_companies().len());

    let mut messages: Vec<(String, Vec<String>)> = server
        .messages()
        .into_iter()
        .map(|m| {
            let parsed = MessageParser::default().parse(&m.raw).unwrap();
            let mut to = m.rcpt_tos();
            to.sort();
            assert_eq!(
                parsed.attachments().count(),
                2,
                "csv and xlsx of that company"
            );
            (parsed.subject().unwrap().to_owned(), to)
        })
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            (
                "Users of Globex Corporation".to_owned(),
                vec![
                    "am@mssp.example".to_owned(),
                    "ciso@globex.example".to_owned(),
                    "sec@globex.example".to_owned()
                ]
            ),
            (
                "Users of Initech".to_owned(),
                vec![
                    "am@mssp.example".to_owned(),
                    "it@initech.example".to_owned()
                ]
            ),
        ]
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    let companies = 2 + env.sandbox.dataset().all_companies().len();
    assert_eq!(summary["totals"]["companies"], companies);
    assert_eq!(summary["totals"]["succeeded"], companies);
}

/// `[smtp]` and `[job.email]` are the e-mail kind's options like `[job.options.email]`, which
/// wins: the plan says so, and the delivered message is built from it.
#[test]
fn a_jobs_own_e_mail_options_win_in_the_plan_and_the_message() {
    let env = Env::small(3, 5);
    let server = Server::start(&[]);
    let file = env.path("reports.toml");
    let out = env.path("out");
    std::fs::write(
        &file,
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"r@mssp.example\"\n\
             [[job]]\nname = \"a\"\ncompanies = [\"Initech\"]\nsinks = [\"csv:{}/{{company}}.csv\"]\n\
             [job.email]\nsubject = \"From [job.email]\"\ndefault = [\"it@initech.example\"]\n\
             [job.options.email]\nsubject = \"Users of {{company}}, from the options\"\n\
             bcc = \"audit@mssp.example\"\n",
            server.port,
            out.display()
        ),
    )
    .unwrap();
    let plan = env.run(&["run", "--check", file.to_str().unwrap()]);
    let text = plan.ok();
    assert!(
        text.contains("subject: Users of {company}, from the options"),
        "{text}"
    );
    assert!(text.contains("bcc: audit@mssp.example"), "{text}");
    env.run(&["run", file.to_str().unwrap()]).ok();
    let message = server.single();
    let parsed = MessageParser::default().parse(&message.raw).unwrap();
    assert_eq!(parsed.subject(), Some("Users of Initech, from the options"));
    let mut to = message.rcpt_tos();
    to.sort();
    assert_eq!(to, ["audit@mssp.example", "it@initech.example"]);
    assert!(parsed.header("Bcc").is_none(), "Bcc stays in the envelope");
}

#[test]
fn check_prints_the_change_report_and_the_rollup() {
    let env = Env::small(3, 5);
    let file = env.path("monthly.toml");
    std::fs::write(
        &file,
        "[[job]]\nname = \"m\"\ncompanies = \"all\"\nsinks = [\"csv:out/{company}.csv\"]\n\
         state = \"state\"\nchanges = [\"csv:out/{company}-changes.csv\"]\n\
         rollup = [\"xlsx:out/rollup-{date}.xlsx\"]\nfail_on_changes = true\n",
    )
    .unwrap();
    let before = env.sandbox.stats().requests;
    let plan = env.run(&["run", "--check", file.to_str().unwrap()]);
    let text = plan.ok();
    for line in [
        "  state:     state (",
        "  changes:   csv:out/{company}-changes.csv\n",
        "  rollup:    xlsx:out/rollup-{date}.xlsx\n",
        "  on change: exit 9",
    ] {
        assert!(text.contains(line), "{line:?}:\n{text}");
    }
    assert_eq!(env.sandbox.stats().requests, before, "no API call");
    // A rollup is one file for the whole job.
    std::fs::write(
        &file,
        "[[job]]\nname = \"m\"\ncompanies = \"all\"\nsinks = [\"csv:out/{company}.csv\"]\n\
         rollup = [\"csv:out/{company}-rollup.csv\"]\n",
    )
    .unwrap();
    env.run(&["run", "--check", file.to_str().unwrap()])
        .fails_with(2, &["monthly.toml:5:", "one file for the whole run"]);
}

#[test]
fn check_prints_the_plan_without_calling_the_api() {
    let env = Env::small(3, 5);
    let file = env.path("reports.toml");
    std::fs::write(&file, job_file(&env, 2525)).unwrap();
    let before = env.sandbox.stats().requests;
    let plan = env.run(&["run", "--check", file.to_str().unwrap()]);
    let text = plan.ok();
    assert!(
        text.contains("monthly") && text.contains("archive"),
        "{text}"
    );
    assert!(text.contains("it@initech.example"), "{text}");
    assert_eq!(env.sandbox.stats().requests, before, "no API call");
}

#[test]
fn check_errors_point_at_the_line() {
    let env = Env::small(3, 5);
    let file = env.path("bad.toml");
    std::fs::write(
        &file,
        "[[job]]\nname = \"x\"\ncompanies = \"all\"\nsink = [\"csv:a.csv\"]\n\n[[job]]\nname = \"y\"\ncompanies = [\"Initech\"]\ncolumns = [\"email\", \"nope\"]\nsinks = [\"pdf:x.pdf\"]\n",
    )
    .unwrap();
    let run = env.run(&["run", "--check", file.to_str().unwrap()]);
    run.fails_with(2, &["bad.toml:4:1", "sinks"]);
    // The file-level errors come first; once fixed, the runner's own checks point at lines too.
    std::fs::write(
        &file,
        "[[job]]\nname = \"y\"\ncompanies = [\"Initech\"]\nstatus = [\"active\", \"current\"]\ncolumns = [\"email\", \"no pe\", \"badgeLevel\"]\nsinks = [\"pdf:x.pdf\"]\n",
    )
    .unwrap();
    let run = env.run(&["run", "--check", file.to_str().unwrap()]);
    run.fails_with(
        2,
        &[
            "bad.toml:4:21",
            "\"current\" is not a status",
            "bad.toml:5:",
            "unknown column",
            "bad.toml:6:",
            "unknown sink kind",
        ],
    );
    // A field keepnet-export does not know is not an error: the run checks it against what
    // the API sends; --check says so.
    assert!(
        run.stderr.contains("\"badgeLevel\" is not a field"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_job_exports_the_users_its_status_names_and_its_mail_says_so() {
    let env = Env::small(30, 10);
    let server = Server::start(&[]);
    let out = env.path("deleted");
    let file = env.path("deleted.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "reports@mssp.example"

[[job]]
name = "audit"
companies = ["Initech"]
status = ["deleted"]
sinks = ["csv:{out}/{{company}}.csv"]

[job.email]
default = ["audit@mssp.example"]
"#,
            port = server.port,
            out = out.display()
        ),
    )
    .unwrap();
    env.run(&["run", file.to_str().unwrap()]).ok();
    let id = env.company_id("Initech");
    let rows = crate::sinks::read_csv(&out.join("Initech.csv"));
    let mut got: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r[crate::sinks::col("resourceId")].as_str())
        .collect();
    let deleted = env.served_deleted(&id);
    let mut want: Vec<&str> = deleted
        .iter()
        .map(|u| u["resourceId"].as_str().unwrap())
        .collect();
    got.sort_unstable();
    want.sort_unstable();
    assert!(!want.is_empty());
    assert_eq!(got, want, "the deleted users, and only them");
    assert!(rows[1..]
        .iter()
        .all(|r| r[crate::sinks::col("isDeleted")] == "true"));
    let message = server.single();
    let parsed = MessageParser::default().parse(&message.raw).unwrap();
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains("Exported: deleted users"), "{text}");
    assert!(
        text.contains(&format!("Users exported: {}", want.len())),
        "{text}"
    );
}
