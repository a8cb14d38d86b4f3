//! Parsing, validation, error rendering, recipients and the plan of job files.

use std::path::PathBuf;

use keepnet_jobs::{parse, plan_summary, render_error, Companies, Header, JobError, Located, Tls};

/// The ```toml example of the crate documentation, so the documented file stays valid.
fn documented_example() -> String {
    let source = include_str!("../src/lib.rs");
    let mut out = String::new();
    let mut inside = false;
    for line in source.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if inside && doc == "```" {
            return out;
        }
        if inside {
            out.push_str(doc);
            out.push('\n');
        }
        if doc == "```toml" {
            inside = true;
        }
    }
    panic!("no ```toml block in the crate docs");
}

/// A job that is valid on its own, to which a test adds what it checks.
const JOB: &str = "[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:a.csv\"]\n";

const SMTP: &str = "[smtp]\nhost = \"smtp.example\"\nfrom = \"r@mssp.example\"\n";

fn errors(text: &str) -> Vec<JobError> {
    match parse(text) {
        Ok(file) => panic!("expected errors, parsed {file:#?}\n--- from ---\n{text}"),
        Err(errors) => errors,
    }
}

/// Asserts exactly one error, at `line`:`column`, whose message contains every `needle`.
fn only_error(text: &str, line: usize, column: usize, needles: &[&str]) -> JobError {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}\n--- from ---\n{text}");
    let error = errors.into_iter().next().unwrap();
    assert_eq!(
        (error.line, error.column),
        (line, column),
        "{error}\n--- from ---\n{text}"
    );
    for needle in needles {
        assert!(error.message.contains(needle), "{error} lacks {needle:?}");
    }
    error
}

fn at<T>(value: T, line: usize, column: usize) -> Located<T> {
    Located {
        value,
        line,
        column,
    }
}

#[test]
fn the_documented_example_parses_to_the_expected_values() {
    let file = parse(&documented_example()).unwrap_or_else(|e| panic!("{e:#?}"));

    let smtp = file.smtp.expect("smtp");
    assert_eq!(smtp.host, "smtp.mssp.example");
    assert_eq!(smtp.port, Some(587));
    assert_eq!(smtp.tls, Tls::StartTls);
    assert_eq!(smtp.user.as_deref(), Some("reports@mssp.example"));
    assert_eq!(smtp.password_env.as_deref(), Some("KEEPNET_SMTP_PASSWORD"));
    assert_eq!(smtp.from, "MSSP Reports <reports@mssp.example>");
    assert_eq!(smtp.ca_file, Some(PathBuf::from("/etc/ssl/mssp-ca.pem")));
    assert_eq!(smtp.line, 2);

    assert_eq!(file.jobs.len(), 2);
    let job = &file.jobs[0];
    assert_eq!(job.name, "monthly-all");
    assert_eq!(job.line, 11);
    assert_eq!(job.companies, Companies::All);
    assert_eq!(job.search, None, "an empty search is no search");
    assert_eq!(
        job.status,
        Some(vec![
            at("active".to_owned(), 15, 11),
            at("inactive".to_owned(), 15, 21),
        ])
    );
    assert_eq!(
        job.columns,
        Some(vec![
            at("email".to_owned(), 16, 12),
            at("firstName".to_owned(), 16, 21),
            at("custom:Employee Number".to_owned(), 16, 34),
        ])
    );
    assert_eq!(job.header, Some(Header::Human));
    assert_eq!(
        job.sinks,
        vec![
            at("xlsx:out/{company}-{date}.xlsx".to_owned(), 18, 10),
            at("csv:out/{company}-{date}.csv".to_owned(), 18, 44),
        ]
    );
    assert!(!job.allow_incomplete && !job.fail_fast);

    let email = job.email.as_ref().expect("email");
    assert_eq!(email.line, 22);
    assert_eq!(
        email.subject.as_deref(),
        Some("Keepnet users of {company} ({date})")
    );
    assert_eq!(email.cc, ["am@mssp.example"]);
    assert!(email.bcc.is_empty());
    assert_eq!(email.default, ["security@mssp.example"]);
    assert_eq!(
        email.to,
        vec![
            (
                at("Acme Holdings".to_owned(), 28, 1),
                vec!["it@acme.example".to_owned(), "ciso@acme.example".to_owned()]
            ),
            (
                at("Müşteri A.Ş.".to_owned(), 29, 1),
                vec!["bt@musteri.example".to_owned()]
            ),
        ]
    );

    let weekly = &file.jobs[1];
    assert_eq!(weekly.name, "weekly-acme");
    assert_eq!(weekly.line, 31);
    assert_eq!(
        weekly.companies,
        Companies::List(vec![at("Acme Holdings".to_owned(), 33, 14)])
    );
    assert_eq!(weekly.columns, None);
    assert_eq!(weekly.status, None);
    assert_eq!(weekly.header, None);
    assert_eq!(weekly.email, None);
}

#[test]
fn minimal_file_and_defaults() {
    let file = parse(JOB).unwrap();
    assert_eq!(file.smtp, None);
    let job = &file.jobs[0];
    assert_eq!(job.line, 1);
    assert_eq!(
        job.companies,
        Companies::List(vec![at("Acme".to_owned(), 3, 14)])
    );
    assert_eq!(job.sinks, vec![at("csv:a.csv".to_owned(), 4, 10)]);
    assert_eq!(
        (
            job.search.as_deref(),
            job.header,
            job.allow_incomplete,
            job.fail_fast
        ),
        (None, None, false, false)
    );

    let text = format!("{SMTP}tls = \"tls\"\nport = 465\n{JOB}");
    let smtp = parse(&text).unwrap().smtp.unwrap();
    assert_eq!(
        (smtp.tls, smtp.port, smtp.user, smtp.password_env),
        (Tls::Tls, Some(465), None, None)
    );
    let smtp = parse(&format!("{SMTP}{JOB}")).unwrap().smtp.unwrap();
    assert_eq!((smtp.tls, smtp.port), (Tls::StartTls, None));
}

#[test]
fn inline_tables_work_too() {
    let text = format!(
        "job = [{{ name = \"x\", companies = \"all\", sinks = [\"csv:{{company_id}}.csv\"], \
         email = {{ default = [\"a@b.example\"], to = {{ \"A\" = [] }} }} }}]\n{SMTP}"
    );
    let file = parse(&text).unwrap_or_else(|e| panic!("{e:#?}"));
    let job = &file.jobs[0];
    assert_eq!(job.line, 1);
    let email = job.email.as_ref().unwrap();
    assert_eq!(email.line, 1);
    assert_eq!(file.smtp.unwrap().line, 2);
    assert_eq!(email.to[0].1, Vec::<String>::new());
    assert_eq!(email.default, ["a@b.example"]);
}

#[test]
fn toml_syntax_errors_keep_the_toml_location() {
    // The string on line 2 is never closed.
    only_error(
        "[[job]]\nname = \"a\ncompanies = \"all\"\n",
        2,
        10,
        &["TOML syntax error"],
    );
    // A missing comma between two array elements: at the second element.
    let text =
        "[[job]]\nname = \"a\"\ncompanies = \"all\"\nsinks = [\"csv:{company}.csv\" \"x\"]\n";
    only_error(text, 4, 30, &["TOML syntax error", "comma"]);
    // A key written twice.
    let text = format!("{JOB}name = \"b\"\n");
    only_error(&text, 5, 1, &["duplicate key `name`"]);
}

#[test]
fn unknown_keys_are_errors_with_the_closest_known_key() {
    let e = only_error(
        &format!("{JOB}fail-fast = true\n"),
        5,
        1,
        &["unknown key `fail-fast` in [[job]]"],
    );
    assert!(e.message.ends_with("did you mean `fail_fast`?"), "{e}");

    // `sink` instead of `sinks`: one error, not also "no sinks".
    let text = "[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\nsink = [\"csv:a.csv\"]\n";
    only_error(text, 4, 1, &["did you mean `sinks`?"]);

    // Nothing close: the known keys are listed.
    let e = only_error(
        &format!("{JOB}colour = \"red\"\n"),
        5,
        1,
        &["unknown key `colour`"],
    );
    assert!(
        e.message.contains("known keys: name, companies, search"),
        "{e}"
    );

    only_error(
        &format!("{SMTP}hots = \"x\"\n{JOB}"),
        4,
        1,
        &["in [smtp]: did you mean `host`?"],
    );
    only_error(
        &format!("{SMTP}{JOB}[job.email]\nsubjet = \"x\"\ndefault = [\"a@b.example\"]\n"),
        9,
        1,
        &["in [job.email]: did you mean `subject`?"],
    );
    only_error(
        &format!("{JOB}[[jobs]]\n"),
        5,
        3,
        &["in the file: did you mean `job`?"],
    );
    // A top-level key written after [smtp] lands in [smtp]: say so.
    let e = errors(&format!("{SMTP}job = []\n"));
    assert!(
        e.iter()
            .any(|e| (e.line, e.column) == (4, 1) && e.message.contains("belongs to [smtp]")),
        "{e:#?}"
    );
}

#[test]
fn wrong_types_say_what_is_expected() {
    only_error(
        &format!("{JOB}strict = \"yes\"\n"),
        5,
        10,
        &["`strict` must be true or false, found a string"],
    );
    only_error(
        &format!("{JOB}allow_incomplete = true\nstrict = true\n"),
        6,
        10,
        &["strict = true contradicts allow_incomplete = true"],
    );
    let allowed = parse(&format!("{JOB}allow_incomplete = true\nstrict = false\n")).unwrap();
    assert!(allowed.jobs[0].allow_incomplete);
    only_error(
        &format!("{SMTP}port = \"587\"\n{JOB}"),
        4,
        8,
        &["`port` must be an integer", "found a string"],
    );
    only_error(
        &format!("{SMTP}port = 70000\n{JOB}"),
        4,
        8,
        &["between 1 and 65535"],
    );
    let e = only_error(
        "[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\nsinks = \"csv:a.csv\"\n",
        4,
        9,
        &["`sinks` must be an array of strings, found a string"],
    );
    assert!(e.message.contains("write sinks = [\"csv:a.csv\"]"), "{e}");
    only_error(
        "[[job]]\nname = \"a\"\ncompanies = [\"Acme\", 7]\nsinks = [\"csv:a.csv\"]\n",
        3,
        22,
        &["found an integer"],
    );
    only_error(
        &format!("{JOB}header = \"Human\"\n"),
        5,
        10,
        &["\"api\" or \"human\""],
    );
    only_error(
        &format!("{SMTP}tls = \"ssl\"\n{JOB}"),
        4,
        7,
        &["\"starttls\", \"tls\" or \"none\""],
    );
    only_error(
        "[[job]]\nname = \"a\"\ncompanies = \"some\"\nsinks = [\"csv:a.csv\"]\n",
        3,
        13,
        &["companies = [\"some\"]"],
    );
    only_error(
        &format!("{JOB}columns = []\n"),
        5,
        11,
        &["`columns` is empty"],
    );
}

#[test]
fn required_keys() {
    only_error(
        "[[job]]\ncompanies = [\"Acme\"]\nsinks = [\"csv:a.csv\"]\n",
        1,
        1,
        &["[[job]] has no `name`"],
    );
    only_error(
        "\n[[job]]\nname = \"a\"\nsinks = [\"csv:a.csv\"]\n",
        2,
        1,
        &["[[job]] has no `companies`", "\"all\""],
    );
    only_error(
        "[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\n",
        1,
        1,
        &["[[job]] has no outputs", "sinks = ", "changes", "rollup"],
    );
    // A change report or a rollup alone is an output.
    let only_rollup = "[[job]]\nname = \"a\"\ncompanies = \"all\"\nrollup = [\"csv:r.csv\"]\n";
    let job = &parse(only_rollup).unwrap().jobs[0];
    assert!(job.sinks.is_empty());
    assert_eq!(job.settings.report.rollup.len(), 1);
    let only_changes = "[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\nstate = \"st\"\nchanges = [\"jsonl:c.jsonl\"]\n";
    assert!(parse(only_changes).unwrap().jobs[0].sinks.is_empty());
    only_error(
        &format!("{JOB}[smtp]\nfrom = \"r@mssp.example\"\n"),
        5,
        1,
        &["[smtp] has no `host`"],
    );
    only_error(
        &format!("[smtp]\nhost = \"smtp.example\"\n{JOB}"),
        1,
        1,
        &["[smtp] has no `from`"],
    );
}

#[test]
fn at_least_one_job() {
    only_error("", 1, 1, &["no jobs"]);
    only_error(SMTP, 1, 1, &["no jobs", "[[job]]"]);
    only_error(
        "[job]\nname = \"a\"\n",
        1,
        1,
        &["[[job]] (double brackets)"],
    );
}

#[test]
fn job_names_are_checked_and_unique() {
    let text = format!(
        "{JOB}\n[[job]]\nname = \"a\"\ncompanies = \"all\"\nsinks = [\"csv:{{company}}.csv\"]\n"
    );
    only_error(
        &text,
        7,
        8,
        &["duplicate job name \"a\" (first used on line 2)"],
    );
    let e = only_error(
        "[[job]]\nname = \"Monthly All\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:a.csv\"]\n",
        2,
        8,
        &["lowercase letters, digits, - and _"],
    );
    assert!(e.message.ends_with("e.g. name = \"monthly-all\""), "{e}");
    only_error(
        "[[job]]\nname = \"\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:a.csv\"]\n",
        2,
        8,
        &["job name \"\""],
    );
}

#[test]
fn companies_lists() {
    only_error(
        "[[job]]\nname = \"a\"\ncompanies = []\nsinks = [\"csv:a.csv\"]\n",
        3,
        13,
        &["`companies` is empty"],
    );
    // Columns count characters: the empty name comes after a non-ASCII one.
    only_error(
        "[[job]]\nname = \"a\"\ncompanies = [\"Müşteri\", \"\"]\nsinks = [\"csv:{company}.csv\"]\n",
        3,
        25,
        &["non-empty id or name"],
    );
    only_error(
        "[[job]]\nname = \"a\"\ncompanies = [\"Acme\",\n  \"Acme\"]\nsinks = [\"csv:{company}.csv\"]\n",
        4,
        3,
        &["listed twice (first on line 3)"],
    );
}

#[test]
fn sinks_are_checked() {
    let job =
        |sinks: &str| format!("[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\nsinks = {sinks}\n");
    only_error(&job("[]"), 4, 9, &["`sinks` is empty"]);
    only_error(&job("[\"out.csv\"]"), 4, 10, &["not KIND:TARGET"]);
    only_error(&job("[\"csv:\"]"), 4, 10, &["not KIND:TARGET"]);
    only_error(
        &job("[\"csv:a.csv\", \"out/x:y.csv\"]"),
        4,
        23,
        &["not KIND:TARGET"],
    );
    // Placeholders: the column of the `{`, inside the string.
    only_error(
        &job("[\"csv:out/{day}.csv\"]"),
        4,
        19,
        &[
            "unknown placeholder `{day}`",
            "{company}, {company_id}, {date}",
        ],
    );
    only_error(
        &job("[\"csv:out/{company.csv\"]"),
        4,
        19,
        &["without a closing"],
    );
    // Escapes in the string: the error falls back to the string's start.
    only_error(
        &job("[\"csv:out/\\u0041{day}.csv\"]"),
        4,
        10,
        &["unknown placeholder `{day}`"],
    );
    // One company: a fixed file name and stdout are fine.
    parse(&job("[\"csv:a.csv\", \"jsonl:-\"]")).unwrap();
    only_error(
        &job("[\"csv:a.csv\", \"xlsx:a.csv\"]"),
        4,
        23,
        &["two sinks write \"a.csv\""],
    );
}

#[test]
fn several_companies_need_one_file_each() {
    let job = |companies: &str, sinks: &str| {
        format!("[[job]]\nname = \"a\"\ncompanies = {companies}\nsinks = {sinks}\n")
    };
    let e = only_error(
        &job("\"all\"", "[\"csv:out/users.csv\"]"),
        4,
        10,
        &["{company} or {company_id}"],
    );
    assert!(
        e.message.contains("e.g. \"csv:out/{company}-{date}.csv\""),
        "{e}"
    );
    only_error(
        &job(
            "[\"A\", \"B\"]",
            "[\"csv:out/{company}.csv\", \"xlsx:{date}.xlsx\"]",
        ),
        4,
        35,
        &["{company} or {company_id}"],
    );
    only_error(
        &job("\"all\"", "[\"jsonl:-\"]"),
        4,
        10,
        &["cannot share stdout"],
    );
    parse(&job("\"all\"", "[\"csv:out/{company_id}/{date}.csv\"]")).unwrap();
    parse(&job("[\"A\", \"B\"]", "[\"xlsx:{company}.xlsx\"]")).unwrap();
    // `email:` is a delivery, not a file.
    parse(&job(
        "\"all\"",
        "[\"csv:{company}.csv\", \"email:it@acme.example\"]",
    ))
    .unwrap();
}

#[test]
fn smtp_rules() {
    let e = only_error(
        &format!("{SMTP}password = \"hunter2\"\n{JOB}"),
        4,
        1,
        &["literal `password`", "password_env"],
    );
    assert!(!e.message.contains("hunter2"));

    let text = format!("{SMTP}tls = \"none\"\nuser = \"u\"\npassword_env = \"P\"\n{JOB}");
    only_error(&text, 4, 7, &["tls = \"none\"", "in clear"]);
    // No credentials: plain SMTP is allowed (the runner may still limit it to loopback).
    assert_eq!(
        parse(&format!("{SMTP}tls = \"none\"\n{JOB}"))
            .unwrap()
            .smtp
            .unwrap()
            .tls,
        Tls::None
    );

    only_error(
        &format!("{SMTP}user = \"u\"\n{JOB}"),
        4,
        1,
        &["`user` needs a password"],
    );
    only_error(
        &format!("{SMTP}password_env = \"P\"\n{JOB}"),
        4,
        1,
        &["`password_env` needs a `user`"],
    );
    let e = only_error(
        &format!("{SMTP}user = \"u\"\npassword_env = \"s3cr3t pa55!\"\n{JOB}"),
        5,
        16,
        &["NAME of an environment variable"],
    );
    assert!(
        !e.message.contains("s3cr3t"),
        "never echo what may be a password: {e}"
    );
    only_error(
        &format!("[smtp]\nhost = \"smtp.example:587\"\nfrom = \"r@mssp.example\"\n{JOB}"),
        2,
        8,
        &["port = 587"],
    );
    only_error(
        &format!("[smtp]\nhost = \"smtp.example\"\nfrom = \"reports\"\n{JOB}"),
        3,
        8,
        &["`from`", "no `@`"],
    );
}

#[test]
fn email_rules() {
    let email = |body: &str| format!("{SMTP}{JOB}[job.email]\n{body}");
    // Lines: 1-3 smtp, 4-7 job, 8 [job.email], 9.. body.
    only_error(
        &email("cc = [\"am mssp.example\"]\ndefault = [\"a@b.example\"]\n"),
        9,
        7,
        &["not an e-mail address"],
    );
    only_error(
        &email("default = [\"a@b.example, c@d.example\"]\n"),
        9,
        12,
        &["one address per string"],
    );
    only_error(
        &email("bcc = \"x@y.example\"\ndefault = [\"a@b.example\"]\n"),
        9,
        7,
        &["write bcc = [\"x@y.example\"]"],
    );
    only_error(
        &email("[job.email.to]\n\"Acme\" = [\"it@acme\", \"ciso.acme.example\"]\n"),
        10,
        22,
        &["no `@`"],
    );
    only_error(
        &email("[job.email.to]\n\"Acme\" = \"it@acme.example\"\n"),
        10,
        10,
        &["write \"Acme\" = [\"it@acme.example\"]"],
    );
    only_error(
        &email("subject = \"Users of {firm}\"\ndefault = [\"a@b.example\"]\n"),
        9,
        21,
        &["unknown placeholder `{firm}`"],
    );
    parse(&email(
        "subject = \"{rows} users of {company} {{x}}\"\ndefault = [\"a@b.example\"]\n",
    ))
    .unwrap();
    only_error(&email("cc = [\"a@b.example\"]\n"), 8, 1, &["no recipients"]);
    only_error(
        &email("[job.email.to]\n\"Acme\" = [\"a@b.example\"]\n\"ACME\" = [\"c@d.example\"]\n"),
        11,
        1,
        &["name the same company when case is ignored"],
    );
    // Reported even when the first entry has its own error.
    let e = errors(&email(
        "[job.email.to]\n\"Acme\" = [\"a b\"]\n\"ACME\" = [\"c@d.example\"]\n",
    ));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[1].message.contains("\"ACME\" and \"Acme\" (line 10)"),
        "{e:#?}"
    );
    // Without [smtp].
    let text = format!("{JOB}\n[job.email]\ndefault = [\"a@b.example\"]\n");
    only_error(&text, 6, 1, &["[job.email] needs an [smtp] section"]);
    let text = format!("{JOB}email = {{ default = [\"a@b.example\"] }}\n");
    only_error(&text, 5, 1, &["needs an [smtp] section"]);
}

#[test]
fn all_errors_are_reported_at_once_in_file_order() {
    let text = "\
[smtp]
host = \"smtp.example\"
password = \"x\"

[[job]]
name = \"Bad Name\"
companies = \"all\"
sinks = [\"csv:out.csv\"]
strickt = true

[[job]]
name = \"b\"
companies = [\"Acme\"]
";
    let shown: Vec<String> = errors(text)
        .iter()
        .map(|e| format!("{}:{}", e.line, e.column))
        .collect();
    assert_eq!(
        shown,
        ["1:1", "3:1", "6:8", "8:10", "9:1", "11:1"],
        "{:#?}",
        errors(text)
    );
    let messages: Vec<String> = errors(text).into_iter().map(|e| e.message).collect();
    assert!(messages[0].contains("no `from`"));
    assert!(messages[1].contains("literal `password`"));
    assert!(messages[2].contains("lowercase"));
    assert!(messages[3].contains("{company}"));
    assert!(messages[4].contains("did you mean `strict`?"));
    assert!(messages[5].contains("no outputs"));
}

#[test]
fn errors_display_and_render_like_rustc() {
    let text = "[[job]]\nname = \"a\"\ncompanies = \"all\"\nsinks = [\"csv:out/{day}.csv\"]\n";
    let e = only_error(text, 4, 19, &[]);
    assert_eq!(e.to_string(), format!("4:19: {}", e.message));
    assert_eq!(
        render_error("reports.toml", text, &e),
        format!(
            "reports.toml:4:19: {}\n  |\n4 | sinks = [\"csv:out/{{day}}.csv\"]\n  |                   ^",
            e.message
        )
    );

    // Two-digit line numbers widen the gutter; tabs are kept so the caret lines up.
    let text = format!("{}\t\"Acme\" = \"x\"\n", "\n".repeat(11));
    let e = JobError {
        line: 12,
        column: 2,
        message: "m".to_owned(),
    };
    assert_eq!(
        render_error("r.toml", &text, &e),
        "r.toml:12:2: m\n   |\n12 | \t\"Acme\" = \"x\"\n   | \t^"
    );

    // A position past the text (e.g. end of file) shows the first line only.
    let e = JobError {
        line: 9,
        column: 1,
        message: "m".to_owned(),
    };
    assert_eq!(render_error("r.toml", "a = 1\n", &e), "r.toml:9:1: m");
}

#[test]
fn render_error_on_a_non_ascii_line() {
    let text =
        format!("{SMTP}{JOB}[job.email]\n[job.email.to]\n\"Müşteri A.Ş.\" = [\"bt musteri\"]\n");
    let e = only_error(&text, 10, 19, &["not an e-mail address"]);
    let rendered = render_error("reports.toml", &text, &e);
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines[2], "10 | \"Müşteri A.Ş.\" = [\"bt musteri\"]");
    // The caret sits under the address's opening quote, 18 characters in.
    assert_eq!(lines[3], format!("   | {}^", " ".repeat(18)));
}

#[test]
fn plan_summary_describes_the_run_without_secrets() {
    let var = "KEEPNET_JOBS_TEST_PLAN_PASSWORD";
    let text = documented_example().replace("KEEPNET_SMTP_PASSWORD", var);
    let file = parse(&text).unwrap();

    std::env::remove_var(var);
    let plan = plan_summary(&file);
    assert!(
        plan.contains(&format!("password: from ${var} (NOT SET)")),
        "{plan}"
    );

    let secret = "correct horse battery staple";
    std::env::set_var(var, secret);
    let plan = plan_summary(&file);
    std::env::remove_var(var);
    assert!(!plan.contains(secret), "{plan}");
    assert!(!plan.contains("horse"), "{plan}");

    for expected in [
        "2 jobs, run in this order.",
        "relay:    smtp.mssp.example, port 587, STARTTLS",
        "from:     MSSP Reports <reports@mssp.example>",
        "user:     reports@mssp.example",
        &format!("password: from ${var} (set)"),
        "CA file:  /etc/ssl/mssp-ca.pem",
        "Job monthly-all (line 11)",
        "companies: all companies",
        "users:     active, inactive",
        "columns:   email, firstName, custom:Employee Number",
        "header:    human",
        "sinks:     xlsx:out/{company}-{date}.xlsx",
        "           csv:out/{company}-{date}.csv",
        "failure:   export the other companies, then report",
        "incomplete: fail, publish nothing",
        "subject: Keepnet users of {company} ({date})",
        "Acme Holdings -> it@acme.example, ciso@acme.example",
        "Müşteri A.Ş. -> bt@musteri.example",
        "other companies -> security@mssp.example",
        "cc: am@mssp.example",
        "Job weekly-acme (line 31)",
        "users:     active, inactive (default; deleted users left out)",
        "companies: Acme Holdings",
        "columns:   default",
        "e-mail:    none",
    ] {
        assert!(plan.contains(expected), "missing {expected:?} in\n{plan}");
    }
}

#[test]
fn plan_summary_without_smtp_or_login() {
    let plan = plan_summary(&parse(JOB).unwrap());
    assert!(plan.starts_with("1 job, run in this order.\n"), "{plan}");
    assert!(plan.contains("SMTP: none"), "{plan}");
    let plan = plan_summary(&parse(&format!("{SMTP}tls = \"tls\"\n{JOB}")).unwrap());
    assert!(plan.contains("port 465 (default), implicit TLS"), "{plan}");
    assert!(plan.contains("login:    none"), "{plan}");
}

#[test]
fn a_secret_target_is_hidden_in_every_snippet_by_what_it_is() {
    let text = "sinks = [\"webhook:https://hooks.example/x?sig=Zx9Qk7\", \"cvs:out.csv\"]\n";
    let e = JobError {
        line: 1,
        column: 57,
        message: "unknown sink kind `cvs`".into(),
    };
    let cut = |value: &str| match value.strip_prefix("webhook:https://hooks.example") {
        Some(_) => "webhook:https://hooks.example/…".to_owned(),
        None => value.to_owned(),
    };
    let shown = keepnet_jobs::render_error_with("r.toml", text, &e, &cut);
    assert!(!shown.contains("Zx9Qk7"), "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(
        lines[2],
        "1 | sinks = [\"webhook:https://hooks.example/…\", \"cvs:out.csv\"]"
    );
    // The caret still points at the value in error, after the shortened one.
    // Characters, not bytes: "…" is one character of three bytes.
    let at = |line: &str, caret: usize, n: usize| -> String {
        line.chars().skip(4 + caret).take(n).collect()
    };
    let caret = lines[3].find('^').unwrap() - "  | ".len();
    assert_eq!(at(lines[2], caret, 4), "cvs:");
    // Pointing inside the hidden value: at its start.
    let inside = JobError { column: 30, ..e };
    let shown = keepnet_jobs::render_error_with("r.toml", text, &inside, &cut);
    assert!(!shown.contains("Zx9Qk7"), "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    let caret = lines[3].find('^').unwrap() - "  | ".len();
    assert_eq!(at(lines[2], caret, 8), "webhook:");
}
