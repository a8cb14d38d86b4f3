//! One rule, one message: the same sinks given as `--sink` flags, as `KEEPNET_*` variables
//! and as a job file's `sinks` get the same verdict and, when refused, the same text; only
//! where the value came from is shown differently (`--sink TEXT: ...`, `KEEPNET_SINK=TEXT:
//! ...`, `reports.toml:LINE:COL: ...`). And the settings that came with the one engine:
//! `{timestamp}`, every option from the environment.

use crate::util::Env;

/// A job file with one job for `companies` (TOML) writing `sinks`.
fn job_file(env: &Env, companies: &str, sinks: &[&str]) -> std::path::PathBuf {
    let list: Vec<String> = sinks.iter().map(|s| format!("{s:?}")).collect();
    let path = env.path("reports.toml");
    std::fs::write(
        &path,
        format!(
            "[[job]]\nname = \"a\"\ncompanies = {companies}\nsinks = [{}]\n",
            list.join(", ")
        ),
    )
    .unwrap();
    path
}

/// The message of the first error `run --check` printed, without its `file:line:col: `.
fn file_message(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("reports.toml:") && !l.contains("error(s) in"))
        .unwrap_or_else(|| panic!("no located error in {stderr}"));
    let after = &line[line.find("reports.toml:").unwrap() + "reports.toml:".len()..];
    // LINE:COL: message
    let mut parts = after.splitn(3, ':');
    let (_line, _column) = (parts.next(), parts.next());
    parts.next().unwrap().trim_start().to_owned()
}

/// The message of the error about `--sink sink` (or `KEEPNET_SINK=sink`), without that
/// prefix.
fn flag_message(stderr: &str, sink: &str) -> String {
    message_after(stderr, &format!("--sink {sink}: "))
}

/// The rest of the line after `prefix`.
fn message_after(stderr: &str, prefix: &str) -> String {
    let prefix = prefix.to_owned();
    let at = stderr
        .find(&prefix)
        .unwrap_or_else(|| panic!("no error about {prefix:?} in {stderr}"));
    stderr[at + prefix.len()..]
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn flags_and_job_files_give_one_verdict_and_one_message() {
    let env = Env::small(6, 4);
    let companies_all = "\"all\"";
    // (companies as a job file writes them, sinks, the refusal expected or None)
    let cases: [(&str, &[&str], Option<&str>); 6] = [
        (
            companies_all,
            &["csv:all.csv"],
            Some("needs {company} or {company_id}"),
        ),
        (companies_all, &["jsonl:-"], Some("cannot share stdout")),
        (
            companies_all,
            &["csv:out/{day}.csv"],
            Some("unknown placeholder `{day}`"),
        ),
        (companies_all, &["out.csv"], Some("not KIND:TARGET")),
        (
            "[\"Initech\"]",
            &["csv:x/{firm}.csv"],
            Some("unknown placeholder `{firm}`"),
        ),
        // An exec plugin's target is a command, run once per company: allowed for several
        // companies in both front ends (before, job files refused what the flags accepted).
        (companies_all, &["exec:cat >> plugin-input.jsonl"], None),
    ];
    for (companies, sinks, refusal) in cases {
        let mut args = vec!["users".to_owned()];
        let company = if companies == companies_all {
            "all"
        } else {
            "Initech"
        };
        args.extend(["--company".to_owned(), company.to_owned()]);
        for sink in sinks {
            args.extend(["--sink".to_owned(), (*sink).to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // The same through the environment: KEEPNET_COMPANY and KEEPNET_SINK.
        let from_environment = || {
            let mut cmd = env.command_as(&env.sandbox.reseller());
            cmd.env("KEEPNET_COMPANY", company)
                .env("KEEPNET_SINK", sinks[0]);
            Env::run_cmd(cmd, &["users"])
        };
        let file = job_file(&env, companies, sinks);
        let check = env.run(&["run", "--check", file.to_str().unwrap()]);
        match refusal {
            Some(needle) => {
                let before = env.sandbox.stats().requests;
                let flags = env.run(&args);
                assert_eq!(flags.code, 2, "{sinks:?}: {}", flags.stderr);
                assert_eq!(check.code, 2, "{sinks:?}: {}", check.stderr);
                assert_eq!(
                    env.sandbox.stats().requests,
                    before,
                    "refused before any request"
                );
                let (from_flags, from_file) = (
                    flag_message(&flags.stderr, sinks[0]),
                    file_message(&check.stderr),
                );
                let by_env = from_environment();
                assert_eq!(by_env.code, 2, "{sinks:?}: {}", by_env.stderr);
                let from_env =
                    message_after(&by_env.stderr, &format!("KEEPNET_SINK={}: ", sinks[0]));
                assert!(from_flags.contains(needle), "{from_flags}");
                assert_eq!(from_flags, from_file, "{sinks:?}: one rule, one message");
                assert_eq!(from_flags, from_env, "{sinks:?}: from the environment too");
            }
            None => {
                check.ok();
                let input = env.path("plugin-input.jsonl");
                let _ = std::fs::remove_file(&input);
                env.run(&args).ok();
                let from_flags = std::fs::read_to_string(&input).unwrap();
                std::fs::remove_file(&input).unwrap();
                env.run(&["run", file.to_str().unwrap()]).ok();
                let from_file = std::fs::read_to_string(&input).unwrap();
                std::fs::remove_file(&input).unwrap();
                from_environment().ok();
                let from_env = std::fs::read_to_string(&input).unwrap();
                let headers =
                    |text: &str| text.lines().filter(|l| l.contains("\"protocol\"")).count();
                let companies = env.run(&["companies", "--format", "json"]);
                let listed: serde_json::Value = serde_json::from_str(companies.ok()).unwrap();
                let count = listed.as_array().unwrap().len();
                assert_eq!(headers(&from_flags), count, "one plugin run per company");
                assert_eq!(headers(&from_file), count, "the same from the job file");
                assert_eq!(headers(&from_env), count, "the same from the environment");
                assert_eq!(from_flags.lines().count(), from_file.lines().count());
                assert_eq!(from_flags.lines().count(), from_env.lines().count());
            }
        }
    }
}

/// One output rule through the three front ends: flags, their `KEEPNET_*` variables, and a
/// job file's keys.
struct Case {
    /// What the case is about.
    what: &'static str,
    /// `users` flags after `--company Initech`.
    flags: &'static [&'static str],
    /// The same as environment variables.
    env: &'static [(&'static str, &'static str)],
    /// The same as a job file (one job for Initech).
    file: &'static str,
    /// How each front end names the value: (flag, variable, file) prefixes before the shared
    /// message; a message that names the setting itself names it as that front end does.
    shown: (&'static str, &'static str, &'static str),
    /// A piece of the shared message.
    needle: &'static str,
}

const INITECH_JOB: &str = "[[job]]\nname = \"a\"\ncompanies = [\"Initech\"]\n";

#[test]
fn every_rule_gives_one_message_in_every_front_end() {
    let env = Env::small(4, 4);
    let cases = [
        Case {
            what: "a sink option out of its range",
            flags: &[
                "--sink",
                "xlsx:a.xlsx",
                "--sink-option",
                "xlsx.compression=12",
            ],
            env: &[
                ("KEEPNET_SINK", "xlsx:a.xlsx"),
                ("KEEPNET_SINK_OPTION", "xlsx.compression=12"),
            ],
            file: "sinks = [\"xlsx:a.xlsx\"]\n[job.options.xlsx]\ncompression = 12\n",
            shown: (
                "--sink-option xlsx.compression=12: ",
                "KEEPNET_SINK_OPTION=xlsx.compression=12: ",
                "",
            ),
            needle: "xlsx.compression: \"12\" is not a whole number from 1 to 9",
        },
        Case {
            what: "the shorthand flag is the same option",
            flags: &["--sink", "xlsx:a.xlsx", "--xlsx-compression", "12"],
            env: &[
                ("KEEPNET_SINK", "xlsx:a.xlsx"),
                ("KEEPNET_XLSX_COMPRESSION", "12"),
            ],
            file: "sinks = [\"xlsx:a.xlsx\"]\n[job.options.xlsx]\ncompression = 12\n",
            shown: (
                "--xlsx-compression 12: ",
                "KEEPNET_XLSX_COMPRESSION=12: ",
                "",
            ),
            needle: "xlsx.compression: \"12\" is not a whole number from 1 to 9",
        },
        Case {
            what: "a misspelt option",
            flags: &["--sink", "csv:a.csv", "--sink-option", "csv.delimter=;"],
            env: &[
                ("KEEPNET_SINK", "csv:a.csv"),
                ("KEEPNET_SINK_OPTION", "csv.delimter=;"),
            ],
            file: "sinks = [\"csv:a.csv\"]\n[job.options.csv]\ndelimter = \";\"\n",
            shown: (
                "--sink-option csv.delimter=;: ",
                "KEEPNET_SINK_OPTION=csv.delimter=;: ",
                "",
            ),
            needle: "did you mean csv.delimiter?",
        },
        Case {
            what: "a login without TLS",
            flags: &[
                "--sink",
                "email:it@initech.example",
                "--smtp-host",
                "127.0.0.1",
                "--mail-from",
                "r@mssp.example",
                "--smtp-tls",
                "none",
                "--smtp-user",
                "u",
            ],
            env: &[
                ("KEEPNET_SINK", "email:it@initech.example"),
                ("KEEPNET_SMTP_HOST", "127.0.0.1"),
                ("KEEPNET_MAIL_FROM", "r@mssp.example"),
                ("KEEPNET_SMTP_TLS", "none"),
                ("KEEPNET_SMTP_USER", "u"),
            ],
            file:
                "sinks = [\"csv:{company}.csv\"]\n[job.email]\ndefault = [\"it@initech.example\"]\n",
            shown: ("--smtp-tls none", "KEEPNET_SMTP_TLS=none", "tls = \"none\""),
            needle: " would send the user name and password in clear",
        },
        Case {
            what: "an e-mail option is a kind's option like any other",
            flags: &[
                "--sink",
                "csv:a.csv",
                "--sink-option",
                "email.max-attachment-size=lots",
            ],
            env: &[
                ("KEEPNET_SINK", "csv:a.csv"),
                ("KEEPNET_SINK_OPTION", "email.max-attachment-size=lots"),
            ],
            file: "sinks = [\"csv:a.csv\"]\n[job.options.email]\nmax-attachment-size = \"lots\"\n",
            shown: (
                "--sink-option email.max-attachment-size=lots: ",
                "KEEPNET_SINK_OPTION=email.max-attachment-size=lots: ",
                "",
            ),
            needle: "email.max-attachment-size: \"lots\" is not a size like 20MiB or 500KB",
        },
        Case {
            what: "an unknown column",
            flags: &["--sink", "csv:a.csv", "--columns", "email,no pe"],
            env: &[
                ("KEEPNET_SINK", "csv:a.csv"),
                ("KEEPNET_COLUMNS", "email,no pe"),
            ],
            file: "sinks = [\"csv:a.csv\"]\ncolumns = [\"email\", \"no pe\"]\n",
            shown: (
                "--columns email,no pe: ",
                "KEEPNET_COLUMNS=email,no pe: ",
                "",
            ),
            needle: "unknown column \"no pe\"",
        },
        Case {
            what: "an unknown status",
            flags: &["--sink", "csv:a.csv", "--status", "active,current"],
            env: &[
                ("KEEPNET_SINK", "csv:a.csv"),
                ("KEEPNET_STATUS", "active,current"),
            ],
            file: "sinks = [\"csv:a.csv\"]\nstatus = [\"active\", \"current\"]\n",
            shown: (
                "--status active,current: ",
                "KEEPNET_STATUS=active,current: ",
                "",
            ),
            needle: "\"current\" is not a status",
        },
        Case {
            what: "an SMTP port of 0",
            flags: &[
                "--sink",
                "email:it@initech.example",
                "--smtp-host",
                "127.0.0.1",
                "--mail-from",
                "r@mssp.example",
                "--smtp-tls",
                "none",
                "--smtp-port",
                "0",
            ],
            env: &[
                ("KEEPNET_SINK", "email:it@initech.example"),
                ("KEEPNET_SMTP_HOST", "127.0.0.1"),
                ("KEEPNET_MAIL_FROM", "r@mssp.example"),
                ("KEEPNET_SMTP_TLS", "none"),
                ("KEEPNET_SMTP_PORT", "0"),
            ],
            file:
                "sinks = [\"csv:{company}.csv\"]\n[job.email]\ndefault = [\"it@initech.example\"]\n",
            shown: ("--smtp-port 0: ", "KEEPNET_SMTP_PORT=0: ", ""),
            needle: "SMTP port 0 is not a port; give the mail server's port (587 for STARTTLS, 465 for TLS) or leave it unset",
        },
        Case {
            what: "a page size out of range",
            flags: &["--sink", "csv:a.csv", "--page-size", "20000"],
            env: &[
                ("KEEPNET_SINK", "csv:a.csv"),
                ("KEEPNET_PAGE_SIZE", "20000"),
            ],
            file: "sinks = [\"csv:a.csv\"]\npage_size = 20000\n",
            shown: ("--page-size 20000: ", "KEEPNET_PAGE_SIZE=20000: ", ""),
            needle: "a page size is a whole number from 1 to 10000",
        },
        Case {
            what: "two sinks on stdout",
            flags: &["--sink", "csv:-", "--sink", "jsonl:-"],
            env: &[],
            file: "sinks = [\"csv:-\", \"jsonl:-\"]\n",
            // The message names the list item as each front end calls it, like the TLS rule.
            shown: ("--sink jsonl:-: only one --sink", "", "only one sink"),
            needle: " can write to stdout (-)",
        },
    ];
    for case in cases {
        let before = env.sandbox.stats().requests;
        let mut args = vec!["users", "--company", "Initech"];
        args.extend(case.flags);
        let flags = env.run(&args);
        assert_eq!(flags.code, 2, "{}: {}", case.what, flags.stderr);
        let mut cmd = env.command_as(&env.sandbox.reseller());
        cmd.env("KEEPNET_COMPANY", "Initech")
            .env("KEEPNET_SMTP_PASSWORD", "p4ssword");
        for (key, value) in case.env {
            cmd.env(key, value);
        }
        // One variable holds one sink: a case about two has no environment form.
        let by_env = (!case.env.is_empty()).then(|| Env::run_cmd(cmd, &["users"]));
        if let Some(by_env) = &by_env {
            assert_eq!(by_env.code, 2, "{}: {}", case.what, by_env.stderr);
        }
        let smtp = match case.what {
            "a login without TLS" => "[smtp]\nhost = \"127.0.0.1\"\nfrom = \"r@mssp.example\"\ntls = \"none\"\nuser = \"u\"\npassword_env = \"KEEPNET_SMTP_PASSWORD\"\n",
            "an SMTP port of 0" => "[smtp]\nhost = \"127.0.0.1\"\nfrom = \"r@mssp.example\"\ntls = \"none\"\nport = 0\n",
            _ => "",
        };
        let path = env.path("reports.toml");
        std::fs::write(&path, format!("{smtp}{INITECH_JOB}{}", case.file)).unwrap();
        let check = env.run(&["run", "--check", path.to_str().unwrap()]);
        assert_eq!(check.code, 2, "{}: {}", case.what, check.stderr);
        assert_eq!(
            env.sandbox.stats().requests,
            before,
            "{}: refused before any request",
            case.what
        );

        let (flag, var, key) = case.shown;
        let from_flags = message_after(&flags.stderr, flag);
        let from_env = by_env
            .as_ref()
            .map_or_else(|| from_flags.clone(), |run| message_after(&run.stderr, var));
        let from_file = file_message(&check.stderr);
        let from_file = from_file.strip_prefix(key).unwrap_or_else(|| {
            panic!(
                "{}: the file's message names {key:?}: {from_file}",
                case.what
            )
        });
        assert!(
            from_flags.contains(case.needle),
            "{}: {from_flags}",
            case.what
        );
        assert_eq!(
            from_flags, from_file,
            "{}: one rule, one message",
            case.what
        );
        assert_eq!(
            from_flags, from_env,
            "{}: from the environment too",
            case.what
        );
    }
}

/// `--columns` without `--sink` is JSON Lines on stdout: one company's, never several at once.
#[test]
fn several_companies_never_share_stdout_even_without_a_sink() {
    let env = Env::small(3, 4);
    let before = env.sandbox.stats().requests;
    env.run(&["users", "--company", "all", "--columns", "email"])
        .fails_with(2, &["several companies cannot share stdout"]);
    env.run(&["users", "--company", "all"])
        .fails_with(2, &["several companies need outputs"]);
    assert_eq!(
        env.sandbox.stats().requests,
        before,
        "refused before any request"
    );
    let one = env.run(&["users", "--company", "Initech", "--columns", "email"]);
    assert!(!one.json_lines().is_empty(), "one company may stream");
}

/// A sink option set three ways reaches the sink: the same CSV from a flag, the environment
/// and a job file.
#[test]
fn a_sink_option_set_three_ways_writes_the_same_file() {
    let env = Env::small(5, 4);
    let read = |name: &str| std::fs::read_to_string(env.path(name)).unwrap();
    env.run(&[
        "users",
        "--company",
        "Initech",
        "--columns",
        "email,firstName",
        "--sink",
        "csv:flag.csv",
        "--sink-option",
        "csv.delimiter=;",
        "--sink-option",
        "csv.bom=true",
    ])
    .ok();
    let mut cmd = env.command_as(&env.sandbox.reseller());
    cmd.env("KEEPNET_COMPANY", "Initech")
        .env("KEEPNET_COLUMNS", "email,firstName")
        .env("KEEPNET_SINK", "csv:env.csv")
        .env("KEEPNET_CSV_DELIMITER", ";")
        .env("KEEPNET_SINK_OPTION", "csv.bom=true");
    Env::run_cmd(cmd, &["users"]).ok();
    let path = env.path("reports.toml");
    std::fs::write(
        &path,
        format!("{INITECH_JOB}columns = [\"email\", \"firstName\"]\nsinks = [\"csv:file.csv\"]\n[job.options.csv]\ndelimiter = \";\"\nbom = true\n"),
    )
    .unwrap();
    env.run(&["run", path.to_str().unwrap()]).ok();
    let flag = read("flag.csv");
    assert!(flag.starts_with("\u{feff}email;firstName\r\n"), "{flag:?}");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(flag.trim_start_matches('\u{feff}').as_bytes());
    let served = env.served(&env.company_id("Initech")).len();
    assert!(served > 0);
    assert_eq!(reader.records().count(), served, "every user, ;-separated");
    assert_eq!(flag, read("env.csv"), "from the environment");
    assert_eq!(flag, read("file.csv"), "from a job file");
}

#[test]
fn a_timestamp_placeholder_keeps_two_runs_a_day_apart() {
    let env = Env::small(6, 4);
    let stamp_of = |name: &str| -> String {
        // out/<company>-20261202T050234Z.csv
        let stem = name.strip_suffix(".csv").unwrap();
        stem[stem.len() - 16..].to_owned()
    };
    let sink = "csv:out/{company}-{timestamp}.csv";
    let before = keepnet_sink::Timestamp::now().unix_seconds();
    env.run(&["users", "--company", "all", "--sink", sink]).ok();
    let after = keepnet_sink::Timestamp::now().unix_seconds();
    let mut names: Vec<String> = std::fs::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() > 1, "{names:?}");
    let stamps: std::collections::BTreeSet<String> = names.iter().map(|n| stamp_of(n)).collect();
    assert_eq!(stamps.len(), 1, "one run, one timestamp: {names:?}");
    let stamp = stamps.into_iter().next().unwrap();
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    );
    let at = keepnet_sink::Timestamp::parse(&iso)
        .unwrap_or_else(|| panic!("{stamp} is not a UTC timestamp"))
        .unix_seconds();
    assert!((before..=after).contains(&at), "{stamp} outside the run");
    // The next run a second later writes beside it instead of over it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.run(&["users", "--company", "Initech", "--sink", sink])
        .ok();
    let initech = std::fs::read_dir(env.path("out"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("Initech-")
        })
        .count();
    assert_eq!(initech, 2);
    // Job files take it too.
    let file = job_file(&env, "\"all\"", &[sink]);
    env.run(&["run", "--check", file.to_str().unwrap()]).ok();
}

#[test]
fn settings_come_from_the_environment_and_a_flag_wins() {
    let env = Env::small(6, 4);
    let reseller = env.sandbox.reseller();
    // The secret from a file named by KEEPNET_CLIENT_SECRET_FILE; columns, header and status
    // from the environment too.
    let secret = env.path("secret.txt");
    std::fs::write(&secret, format!("{}\n", reseller.client_secret)).unwrap();
    let mut cmd = env.command_as(&reseller);
    cmd.env_remove("KEEPNET_CLIENT_SECRET")
        .env("KEEPNET_CLIENT_SECRET_FILE", &secret)
        .env("KEEPNET_COMPANY", "Initech")
        .env("KEEPNET_COLUMNS", "email,isDeleted")
        .env("KEEPNET_HEADER", "human")
        .env("KEEPNET_STATUS", "deleted")
        .env("KEEPNET_SINK", "csv:env.csv");
    Env::run_cmd(cmd, &["users"]).ok();
    let deleted = env.served_deleted(&env.company_id("Initech"));
    let mut reader = csv::Reader::from_path(env.path("env.csv")).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header.len(), 2);
    assert_ne!(header[0], "email", "the human header: {header:?}");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), deleted.len(), "KEEPNET_STATUS=deleted");
    assert!(rows.iter().all(|r| &r[1] == "true"));

    // A flag wins over its variable.
    let mut cmd = env.command_as(&reseller);
    cmd.env("KEEPNET_COLUMNS", "email,isDeleted")
        .env("KEEPNET_HEADER", "human");
    Env::run_cmd(
        cmd,
        &[
            "users",
            "--company",
            "Initech",
            "--header",
            "api",
            "--sink",
            "csv:flag.csv",
        ],
    )
    .ok();
    let mut reader = csv::Reader::from_path(env.path("flag.csv")).unwrap();
    let header: Vec<&str> = reader.headers().unwrap().iter().collect();
    assert_eq!(header, ["email", "isDeleted"]);

    // A -v flag beats KEEPNET_QUIET; -q and -v on one command line contradict each other.
    let mut cmd = env.command_as(&reseller);
    cmd.env("KEEPNET_QUIET", "true");
    let loud = Env::run_cmd(cmd, &["-v", "companies"]);
    loud.ok();
    assert!(loud.stderr.contains("DEBUG"), "{}", loud.stderr);
    env.run(&["-q", "-v", "companies"])
        .fails_with(2, &["contradict"]);
}

#[test]
fn json_logs_are_one_object_per_line_and_the_error_is_one_too() {
    let env = Env::small(6, 4);
    let reseller = env.sandbox.reseller();
    let parse = |stderr: &str| -> Vec<serde_json::Value> {
        stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    };
    let run = env.run(&[
        "--log-format",
        "json",
        "-vv",
        "users",
        "--company",
        "Initech",
        "--sink",
        "csv:a.csv",
    ]);
    run.ok();
    let events = parse(&run.stderr);
    assert!(events.len() > 3, "{}", run.stderr);
    for event in &events {
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{event}"
        );
        assert!(event["fields"]["message"].is_string(), "{event}");
    }
    let written = events
        .iter()
        .find(|e| e["fields"]["message"] == "file written")
        .expect("a file written event");
    assert_eq!(written["fields"]["path"], "a.csv");
    assert!(!run.stderr.contains(&reseller.client_secret));

    // From the environment, and a failure: the last line is the error with its exit code.
    let mut cmd = env.command_as(&reseller);
    cmd.env("KEEPNET_LOG_FORMAT", "json");
    let failed = Env::run_cmd(cmd, &["users", "--company", "No Such Company"]);
    assert_eq!(failed.code, 4, "{}", failed.stderr);
    let events = parse(&failed.stderr);
    let last = events.last().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["fields"]["exit_code"], 4);
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("No Such Company"),
        "{last}"
    );
}

#[test]
fn users_dry_run_prints_the_plan_run_check_prints_and_touches_nothing() {
    let env = Env::small(6, 4);
    let before = env.sandbox.stats().requests;
    let sink = "csv:out/{company}-{date}.csv";
    let flags = env.run(&[
        "users",
        "--dry-run",
        "--company",
        "all",
        "--status",
        "active,deleted",
        "--columns",
        "email,isDeleted",
        "--sink",
        sink,
        "--fail-fast",
    ]);
    let printed = flags.ok().to_owned();
    assert!(
        printed.starts_with("Dry run: nothing is fetched"),
        "{printed}"
    );
    assert_eq!(env.sandbox.stats().requests, before, "no request");
    assert!(!env.path("out").exists(), "nothing written");
    // The job file saying the same: the job's lines are the same lines.
    let file = env.path("reports.toml");
    std::fs::write(
        &file,
        format!(
            "[[job]]\nname = \"a\"\ncompanies = \"all\"\nstatus = [\"active\", \"deleted\"]\n\
             columns = [\"email\", \"isDeleted\"]\nheader = \"api\"\nsinks = [\"{sink}\"]\n\
             fail_fast = true\n"
        ),
    )
    .unwrap();
    let check = env.run(&["run", "--check", file.to_str().unwrap()]);
    let section = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| !l.starts_with("  companies:"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(section(&printed), section(check.ok()));
    assert!(section(&printed).len() >= 8, "{printed}");

    // No credentials needed, and a refusal is the run's own.
    let dir = tempfile::tempdir().unwrap();
    let bare = crate::util::run_bare(
        &[
            "users",
            "--dry-run",
            "--company",
            "all",
            "--sink",
            "csv:all.csv",
        ],
        dir.path(),
    );
    bare.fails_with(2, &["--sink csv:all.csv: with several companies"]);
    let bare = crate::util::run_bare(
        &[
            "users",
            "--dry-run",
            "--company",
            "Initech",
            "--sink",
            "csv:a.csv",
        ],
        dir.path(),
    );
    assert!(bare.ok().contains("sinks:     csv:a.csv"));
    assert!(!dir.path().join("a.csv").exists());

    // The SMTP password is said to be set, never shown.
    let mut cmd = env.command_as(&env.sandbox.reseller());
    cmd.env("KEEPNET_SMTP_PASSWORD", "hunter2-Correct-Horse");
    let mailed = Env::run_cmd(
        cmd,
        &[
            "users",
            "--dry-run",
            "--company",
            "Initech",
            "--sink",
            "email:it@acme.example",
            "--smtp-host",
            "smtp.example.com",
            "--smtp-user",
            "me",
            "--mail-from",
            "r@mssp.example",
        ],
    );
    let text = mailed.ok();
    assert!(
        text.contains("password: from $KEEPNET_SMTP_PASSWORD (set)"),
        "{text}"
    );
    assert!(text.contains("every company -> it@acme.example"), "{text}");
    assert!(!text.contains("hunter2") && !mailed.stderr.contains("hunter2"));
}

/// A value refused by the command line's own parsing names where it came from: the
/// `KEEPNET_*` variable when the flag was not typed, the flag when it was (the variable is then
/// not read). Exit 2 either way, before any request.
#[test]
fn an_invalid_value_from_the_environment_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        (
            "KEEPNET_CONCURRENCY",
            "0",
            "--concurrency",
            &["0 is not in 1..=256"],
        ),
        (
            "KEEPNET_SMTP_TLS",
            "bogus",
            "--smtp-tls",
            &["possible values: starttls, tls, none"],
        ),
        ("KEEPNET_TIMEOUT", "soon", "--timeout", &["invalid digit"]),
        (
            "KEEPNET_LOG_FORMAT",
            "xml",
            "--log-format",
            &["possible values: text, json"],
        ),
        ("KEEPNET_MAX_RPS", "fast", "--max-rps", &[]),
    ];
    for (var, value, flag, reasons) in cases {
        let base = ["users", "--company", "Acme", "--sink", "csv:out.csv"];
        let run = crate::util::Run::from_output(
            crate::util::bare_command()
                .args(base)
                .env(var, value)
                .current_dir(dir.path())
                .output()
                .unwrap(),
        );
        let mut needles = vec![
            format!("invalid value '{value}' in the environment variable {var} (it sets {flag})"),
            format!("unset {var} or give {flag} on the command line"),
        ];
        needles.extend(reasons.iter().map(|r| (*r).to_owned()));
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        run.fails_with(2, &needles);
        assert!(
            !run.stderr.contains(&format!("for '{flag}")),
            "{var}: the flag the user never typed is not named as the culprit: {}",
            run.stderr
        );

        // Typed on the command line, the flag is the culprit even with the variable set.
        let mut typed: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
        typed.push(format!("{flag}={value}"));
        let run = crate::util::Run::from_output(
            crate::util::bare_command()
                .args(&typed)
                .env(var, value)
                .current_dir(dir.path())
                .output()
                .unwrap(),
        );
        run.fails_with(2, &[&format!("invalid value '{value}' for '{flag}")]);
        assert!(!run.stderr.contains(var), "{}", run.stderr);
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
