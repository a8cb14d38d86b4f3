//! The second hostile pass (issue 28): what an attacker or a careless operator does with job
//! files, path templates, change state, previews and deliveries. Loopback only, bounded in
//! time, no real device touched. One section per point of the issue.

use keepnet_sandbox::Config;
use mail_parser::MessageParser;
use serde_json::Value;

use crate::smtp::Server;
use crate::util::Env;

/// A job file's `[smtp]` for a plain server on loopback.
fn smtp(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"reports@mssp.example\"\n"
    )
}

fn summary(env: &Env, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(env.path(name)).unwrap()).unwrap()
}

// 1. Recipient keys resolve exactly as --company does ----------------------------------------------

#[test]
fn a_recipient_key_two_customers_share_fails_the_job_and_mails_nobody() {
    let env = Env::small(6, 10);
    let server = Server::start(&[]);
    let supports = env.sandbox.dataset().find_by_name("Support").len();
    assert_eq!(supports, 2, "the sandbox has two customers named Support");
    let file = env.path("reports.toml");
    std::fs::write(
        &file,
        format!(
            "{}[[job]]\nname = \"support\"\ncompanies = \"all\"\nsinks = [\"csv:out/{{company_id}}.csv\"]\n\n[job.email.to]\n\"Support\" = [\"it@customer-a.example\"]\n",
            smtp(server.port)
        ),
    )
    .unwrap();
    // `run --check` says how keys are resolved.
    let check = env.run(&["run", file.to_str().unwrap(), "--check"]);
    assert!(check
        .ok()
        .contains("a key two companies share fails the job"));
    let run = env.run(&["run", file.to_str().unwrap(), "--summary-json", "s.json"]);
    let ids: Vec<String> = env
        .sandbox
        .dataset()
        .find_by_name("Support")
        .iter()
        .map(|c| c.resource_id.clone())
        .collect();
    run.fails_with(2, &["\"Support\"", &ids[0], &ids[1], "key it by id"]);
    assert!(server.messages().is_empty(), "nobody was mailed");
    let doc = summary(&env, "s.json");
    assert_eq!(doc["failedJobs"][0]["job"], "support");
    assert_eq!(doc["failedJobs"][0]["exitCode"], 2);

    // Keyed by id, each customer gets its own people only.
    std::fs::write(
        &file,
        format!(
            "{}[[job]]\nname = \"support\"\ncompanies = {:?}\nsinks = [\"csv:out/{{company_id}}.csv\"]\n\n[job.email.to]\n{:?} = [\"it@customer-a.example\"]\n\"No Such Customer\" = [\"x@nowhere.example\"]\n",
            smtp(server.port),
            ids,
            ids[0]
        ),
    )
    .unwrap();
    let run = env.run(&["run", file.to_str().unwrap()]);
    run.ok();
    assert!(
        run.stderr
            .contains("\"No Such Customer\" names no managed company"),
        "{}",
        run.stderr
    );
    let sent = server.single();
    assert_eq!(sent.rcpt_tos(), ["it@customer-a.example"]);
    let message = MessageParser::default().parse(&sent.raw).unwrap();
    let attachment = message.attachments().next().unwrap();
    let rows = csv::Reader::from_reader(attachment.contents())
        .records()
        .count();
    assert_eq!(rows, env.served(&ids[0]).len(), "customer A's people only");
}

// 10. A job that cannot start does not stop the others ---------------------------------------------

#[test]
fn a_job_whose_company_is_gone_fails_alone_and_the_summary_is_written() {
    let env = Env::small(6, 10);
    let file = env.path("reports.toml");
    std::fs::write(
        &file,
        "[[job]]\nname = \"offboarded\"\ncompanies = [\"Gone Ltd\"]\nsinks = [\"csv:gone.csv\"]\n\n\
         [[job]]\nname = \"current\"\ncompanies = [\"Initech\"]\nsinks = [\"csv:initech.csv\"]\n",
    )
    .unwrap();
    let run = env.run(&["run", file.to_str().unwrap(), "--summary-json", "s.json"]);
    run.fails_with(
        4,
        &["job offboarded", "Gone Ltd", "1 job(s) could not start"],
    );
    let id = env.company_id("Initech");
    let rows = csv::Reader::from_path(env.path("initech.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(rows, env.served(&id).len(), "the next job ran");
    let doc = summary(&env, "s.json");
    assert_eq!(doc["failedJobs"][0]["job"], "offboarded");
    assert_eq!(doc["failedJobs"][0]["exitCode"], 4);
    assert_eq!(doc["totals"]["succeeded"], 1);
}

// 11. Names match across normal forms and Turkish case ---------------------------------------------

#[test]
fn company_names_match_in_nfd_and_in_turkish_case() {
    let env = Env::start(Config {
        users_per_company: 4,
        page_cap: 10,
        extra_companies: vec![
            "İSTANBUL Sigorta".into(),
            "IŞIK Ltd".into(),
            // As macOS stores it: decomposed.
            "Mu\u{308}s\u{327}teri Dan\u{131}s\u{327}manl\u{131}k".into(),
        ],
        ..Config::default()
    });
    for (typed, name) in [
        ("istanbul sigorta", "İSTANBUL Sigorta"),
        ("ışık ltd", "IŞIK Ltd"),
        ("Işık  LTD", "IŞIK Ltd"),
        (
            "Müşteri Danışmanlık",
            "Mu\u{308}s\u{327}teri Dan\u{131}s\u{327}manl\u{131}k",
        ),
    ] {
        let id = env.company_id(name);
        let users = env.run(&["users", "--company", typed]).json_lines();
        assert_eq!(users, env.served(&id), "{typed}");
    }
}

// 2. Two customers' files never meet at one path ---------------------------------------------------

/// Every file below `dir` (recursively), by path relative to it.
fn files_below(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn names_that_look_like_placeholders_or_suffixes_get_files_of_their_own() {
    // First learn the ids the sandbox gives, then add companies named after them.
    let named = |extra: Vec<String>| {
        Env::start(Config {
            users_per_company: 3,
            page_cap: 10,
            extra_companies: extra,
            ..Config::default()
        })
    };
    let probe = named(vec!["{company_id}".into(), "Acme".into(), "ACME".into()]);
    let id_of = |name: &str| probe.company_id(name);
    let (placeholder, acme) = (id_of("{company_id}"), id_of("Acme"));
    let env = named(vec![
        "{company_id}".into(),
        "Acme".into(),
        "ACME".into(),
        placeholder.clone(),
        format!("Acme-{acme}"),
        "{date}".into(),
    ]);
    env.run(&[
        "users",
        "--company",
        "all",
        "--sink",
        "jsonl:out/{company}.jsonl",
        "--summary-json",
        "s.json",
    ])
    .ok();
    let doc = summary(&env, "s.json");
    let companies = doc["companies"].as_array().unwrap();
    assert_eq!(
        files_below(&env.path("out")).len(),
        companies.len(),
        "one file each"
    );
    for entry in companies {
        let id = entry["company"]["resourceId"].as_str().unwrap();
        let path = entry["files"][0]["path"].as_str().unwrap();
        let ids: Vec<String> = std::fs::read_to_string(env.path(path))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["resourceId"].to_string())
            .collect();
        let want: Vec<String> = env
            .served(id)
            .iter()
            .map(|u| u["resourceId"].to_string())
            .collect();
        assert_eq!(ids, want, "{path} holds its own company's people only");
    }
    assert!(
        env.path("out/{company_id}.jsonl").exists(),
        "a name is not expanded again"
    );
    assert!(env.path("out/{date}.jsonl").exists());
}

#[test]
fn a_change_report_a_sink_and_a_rollup_on_one_file_are_refused_before_any_export() {
    let env = Env::start(Config {
        users_per_company: 3,
        page_cap: 10,
        extra_companies: vec!["Acme".into(), "Acme-changes".into(), "rollup".into()],
        ..Config::default()
    });
    let run = env.run(&[
        "users",
        "--company",
        "all",
        "--sink",
        "csv:reports/{company}.csv",
        "--state",
        "state",
        "--changes",
        "csv:reports/{company}-changes.csv",
        "--rollup",
        "csv:reports/rollup.csv",
    ]);
    run.fails_with(
        2,
        &[
            "--sink csv:reports/Acme-changes.csv for Acme-changes",
            "--changes csv:reports/Acme-changes.csv for Acme",
            "write one file",
            "nothing was exported",
        ],
    );
    assert_eq!(
        env.sandbox.stats().user_search_requests,
        0,
        "no user was fetched"
    );
    assert!(files_below(&env.dir.path().join("reports")).is_empty());
}

// 3. Two outputs of different kinds on one file -----------------------------------------------------

#[test]
fn outputs_of_different_kinds_on_one_file_are_refused_before_any_request() {
    let env = Env::small(3, 10);
    for (args, needles) in [
        (
            vec!["--sink", "jsonl:s.json", "--summary-json", "s.json"],
            vec!["--sink jsonl:s.json", "--summary-json s.json"],
        ),
        (
            vec![
                "--sink",
                "csv:u.csv",
                "--state",
                "st",
                "--changes",
                "csv:r.csv",
                "--rollup",
                "csv:r.csv",
            ],
            vec!["--changes csv:r.csv", "--rollup csv:r.csv"],
        ),
    ] {
        let mut all = vec!["users", "--company", "Initech"];
        all.extend(&args);
        let mut want = vec!["write one file"];
        want.extend(&needles);
        env.run(&all).fails_with(2, &want);
        // The dry run says the same.
        all.push("--dry-run");
        env.run(&all).fails_with(2, &want);
    }
    assert_eq!(env.sandbox.stats().requests, 0, "not one request");

    // A state file, known once the company's id is: refused before its users are fetched.
    let id = env.company_id("Initech");
    let state = format!("st/{id}.state.json");
    for args in [
        vec!["--sink", "csv:u.csv", "--summary-json", state.as_str()],
        vec!["--sink", "jsonl:st/{company_id}.state.json"],
    ] {
        let mut all = vec!["users", "--company", "Initech", "--state", "st"];
        all.extend(&args);
        env.run(&all)
            .fails_with(2, &["the state of Initech", "--state st", "write one file"]);
    }
    assert_eq!(env.sandbox.stats().user_search_requests, 0);
    assert!(!env.path("st").exists() || files_below(&env.path("st")).is_empty());
}

// 2. Every delivery sends only the bytes that were published --------------------------------------

#[test]
fn an_email_sends_nothing_of_a_file_replaced_since_it_was_published() {
    let env = Env::small(5, 10);
    let csv = env.path("out/u.csv");
    let replaced = csv.clone();
    // After the first e-mail, another process changes the file at the path, keeping its size.
    let (port, smtp) = crate::hostile::smtp_sessions(2, move || {
        let mut bytes = std::fs::read(&replaced).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        std::fs::write(&replaced, bytes).unwrap();
    });
    let sink = format!("csv:{}", csv.display());
    let mut args = vec![
        "users",
        "--company",
        "Initech",
        "--sink",
        sink.as_str(),
        "--sink",
        "email:first@initech.example",
        "--sink",
        "email:second@initech.example",
    ];
    let smtp_args = crate::util::plain_smtp_args(port, "reports@mssp.example");
    args.extend(smtp_args.iter().map(String::as_str));
    env.run(&args).fails_with(
        6,
        &[
            "u.csv",
            "SHA-256",
            "where",
            "was published",
            "it was not sent",
        ],
    );
    drop(smtp);
}

// 4. A secret target is hidden in every snippet ------------------------------------------------------

#[test]
fn a_job_file_error_never_shows_a_webhook_urls_token() {
    let env = Env::small(3, 10);
    let file = env.path("reports.toml");
    std::fs::write(
        &file,
        "[[job]]\nname = \"a\"\ncompanies = [\"Initech\"]\n\
         sinks = [\"webhook:https://hooks.example.com/services/T0/B0/Zx9Qk7tail\", \"cvs:out.csv\"]\n",
    )
    .unwrap();
    for args in [
        vec!["run", "reports.toml", "--check"],
        vec!["run", "reports.toml"],
    ] {
        let run = env.run(&args);
        run.fails_with(2, &["cvs", "webhook:https://hooks.example.com/…"]);
        assert!(!run.stderr.contains("Zx9Qk7"), "{}", run.stderr);
    }
}

// 5. A preview sends, uploads, posts and runs nothing ---------------------------------------------

#[test]
fn a_preview_runs_no_delivery_and_no_plugin() {
    let env = Env::small(4, 10);
    let receiver = crate::webhook::Receiver::start(vec![crate::webhook::Answer::ok()]);
    let marker = env.path("plugin-ran");
    let exec = format!("exec:touch {}", marker.display());
    let hook = format!("webhook:{}", receiver.url("/hook"));
    let run = env.run(&[
        "preview-email",
        "--out",
        "preview/sub",
        "--company",
        "Initech",
        "--sink",
        "csv:u.csv",
        "--sink",
        "s3:s3://nowhere-bucket/prefix/",
        "--sink",
        "sftp:nobody@127.0.0.1:/upload/",
        "--sink",
        &hook,
        "--sink",
        &exec,
    ]);
    run.ok();
    for left_out in [
        "--sink s3:",
        "--sink sftp:",
        "--sink webhook:",
        "--sink exec:",
    ] {
        assert!(
            run.stderr.contains(&format!(
                "preview-email runs no delivery and no plugin: {left_out}"
            )),
            "{left_out}: {}",
            run.stderr
        );
    }
    assert!(receiver.requests().is_empty(), "nothing was posted");
    assert!(!marker.exists(), "no plugin ran");
    assert!(env.path("preview/sub/Initech.eml").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for folder in ["preview", "preview/sub"] {
            let mode = std::fs::metadata(env.path(folder))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{folder} is the owner's only");
        }
    }
}

// 6. A preview's files are named as {company} is -----------------------------------------------------

#[test]
fn a_company_with_an_empty_or_dots_only_name_gets_a_visible_preview_of_its_own() {
    let env = Env::start(Config {
        users_per_company: 3,
        page_cap: 10,
        extra_companies: vec!["...".into(), ". .".into()],
        ..Config::default()
    });
    let data = env.sandbox.dataset();
    for name in ["...", ". ."] {
        let id = data.find_by_name(name)[0].resource_id.clone();
        env.run(&["preview-email", "--out", "p", "--company", &id])
            .ok();
        assert!(env.path(&format!("p/{id}.eml")).exists(), "{name}");
    }
    let hidden: Vec<String> = std::fs::read_dir(env.path("p"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

// 7. A secret set but not UTF-8 stops the run ---------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_secret_variable_that_is_not_utf8_stops_the_run_with_its_name() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::small(3, 10);
    let receiver = crate::webhook::Receiver::start(vec![crate::webhook::Answer::ok()]);
    let hook = format!("webhook:{}", receiver.url("/hook"));
    let not_utf8 = std::ffi::OsStr::from_bytes(b"tok\xffen");
    for (var, extra) in [
        ("KEEPNET_WEBHOOK_TOKEN", vec!["--sink", hook.as_str()]),
        (
            "KEEPNET_ENCRYPT_PASSWORD",
            vec![
                "--sink",
                "email:it@initech.example",
                "--encrypt",
                "zip-aes",
                "--smtp-host",
                "127.0.0.1",
                "--smtp-tls",
                "none",
                "--mail-from",
                "r@mssp.example",
            ],
        ),
        (
            "KEEPNET_SMTP_PASSWORD",
            vec![
                "--sink",
                "email:it@initech.example",
                "--smtp-host",
                "127.0.0.1",
                "--mail-from",
                "r@mssp.example",
            ],
        ),
    ] {
        let mut cmd = env.command_as(&env.sandbox.reseller());
        cmd.env(var, not_utf8);
        let mut args = vec!["users", "--company", "Initech", "--sink", "csv:u.csv"];
        args.extend(extra);
        Env::run_cmd(cmd, &args).fails_with(2, &[var, "is set but is not UTF-8"]);
    }
    assert!(
        receiver.requests().is_empty(),
        "nothing was posted without its token"
    );
    // The S3 credentials too: never passed over for another source.
    let mut cmd = env.command_as(&env.sandbox.reseller());
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", not_utf8);
    Env::run_cmd(
        cmd,
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            "csv:u.csv",
            "--sink",
            "s3:s3://bucket/p/",
        ],
    )
    .fails_with(2, &["AWS_SECRET_ACCESS_KEY", "is set but is not UTF-8"]);
    assert_eq!(env.sandbox.stats().user_search_requests, 0);
}

// 8. Bidirectional controls never reach a terminal, a file name or an attachment name ------------

#[test]
fn bidi_controls_in_a_company_name_are_escaped_and_kept_out_of_names() {
    use mail_parser::MimeHeaders;
    let evil = "Evil\u{202e}xcod.\u{2066}csv";
    let env = Env::start(Config {
        users_per_company: 3,
        page_cap: 10,
        extra_companies: vec![evil.into()],
        ..Config::default()
    });
    let id = env.company_id(evil);
    let run = env.run(&[
        "preview-email",
        "--out",
        "p",
        "--company",
        &id,
        "--sink",
        "csv:out/{company}.csv",
    ]);
    run.ok();
    let bidi = |text: &str| {
        text.chars()
            .any(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    };
    assert!(!bidi(&run.stderr), "{}", run.stderr);
    assert!(
        run.stderr.contains("\\u{202e}"),
        "shown escaped: {}",
        run.stderr
    );
    let names = files_below(env.dir.path());
    assert!(names.iter().all(|n| !bidi(n)), "{names:?}");
    assert!(
        names.contains(&"out/Evil_xcod._csv.csv".to_owned()),
        "{names:?}"
    );
    let eml = std::fs::read(env.path(&format!("p/{}.eml", "Evil_xcod._csv"))).unwrap();
    let message = MessageParser::default().parse(&eml).unwrap();
    for attachment in message.attachments() {
        let name = attachment.attachment_name().unwrap_or_default();
        assert!(!bidi(name), "{name:?}");
    }
    // `companies` shows it escaped too.
    let listed = env.run(&["companies"]);
    assert!(!bidi(listed.ok()) && !bidi(&listed.stderr));
}

// Minor: what the settings say is what happens --------------------------------------------------------

#[test]
fn webhook_retries_are_retries_after_the_first_attempt() {
    let env = Env::small(3, 10);
    let receiver = crate::webhook::Receiver::start(vec![
        crate::webhook::Answer::status(503),
        crate::webhook::Answer::status(503),
        crate::webhook::Answer::status(503),
        crate::webhook::Answer::status(503),
    ]);
    let hook = format!("webhook:{}", receiver.url("/hook"));
    let run = env.run(&[
        "--retry-initial-backoff-ms",
        "1",
        "users",
        "--company",
        "Initech",
        "--sink",
        "csv:u.csv",
        "--sink",
        &hook,
        "--sink-option",
        "webhook.retries=2",
    ]);
    run.fails_with(6, &["gave up after 3 attempts"]);
    assert_eq!(
        receiver.requests().len(),
        3,
        "the first attempt and 2 retries"
    );
    // The same when each attempt times out: the attempts' own time is not waiting time.
    let silent = crate::webhook::Receiver::start(vec![crate::webhook::Answer::hang(); 4]);
    let hook = format!("webhook:{}", silent.url("/hook"));
    let run = env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        "csv:u.csv",
        "--sink",
        &hook,
        "--sink-option",
        "webhook.retries=2",
        "--sink-option",
        "webhook.timeout=1",
        "--sink-option",
        "webhook.retry-time=1",
    ]);
    run.fails_with(6, &["gave up after 3 attempts"]);
    assert_eq!(
        silent.requests().len(),
        3,
        "the first attempt and 2 retries"
    );
}

#[test]
fn export_into_a_folder_named_with_a_slash_creates_it() {
    let env = Env::small(3, 10);
    env.run(&[
        "export",
        "--company",
        "Initech",
        "--type",
        "csv",
        "--out",
        "new/sub/",
    ])
    .ok();
    let files = files_below(&env.path("new/sub"));
    assert_eq!(files.len(), 1, "{files:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("new/sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn an_smtp_server_silent_after_ehlo_is_not_said_to_refuse_the_sender() {
    use std::io::{BufRead, BufReader, Write};
    let env = Env::small(3, 10);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut out = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream);
        writeln!(out, "220 localhost ESMTP\r").unwrap();
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        writeln!(out, "250 localhost\r").unwrap();
        // Then silence, until the client gives up and closes.
        while lines.read_line(&mut line).unwrap_or(0) > 0 {}
    });
    let mut args = vec![
        "users".to_owned(),
        "--company".to_owned(),
        "Initech".to_owned(),
        "--sink".to_owned(),
        "email:it@initech.example".to_owned(),
        "--sink-option".to_owned(),
        "email.smtp-timeout=1".to_owned(),
    ];
    args.extend(crate::util::plain_smtp_args(port, "reports@mssp.example"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = env.run(&args);
    run.fails_with(
        6,
        &[
            "gave no answer to the sender",
            "MAIL FROM",
            "no answer within",
        ],
    );
    assert!(!run.stderr.contains("refused the sender"), "{}", run.stderr);
    server.join().unwrap();
}

#[test]
fn two_jobs_writing_one_file_are_refused_before_any_request() {
    let env = Env::small(3, 10);
    std::fs::write(
        env.path("reports.toml"),
        "[[job]]\nname = \"first\"\ncompanies = [\"Initech\"]\nsinks = [\"csv:out/a.csv\"]\nrollup = [\"csv:rollup.csv\"]\n\n\
         [[job]]\nname = \"second\"\ncompanies = [\"Globex Corporation\"]\nsinks = [\"csv:out/b.csv\"]\nrollup = [\"csv:rollup.csv\"]\n",
    )
    .unwrap();
    for args in [
        vec!["run", "reports.toml"],
        vec!["run", "reports.toml", "--check"],
    ] {
        env.run(&args).fails_with(
            2,
            &["job first:", "job second:", "rollup.csv", "write one file"],
        );
    }
    assert_eq!(env.sandbox.stats().requests, 0, "not one request");
    assert!(files_below(env.dir.path())
        .iter()
        .all(|f| f == "reports.toml"));
}
