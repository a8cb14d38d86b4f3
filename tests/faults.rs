//! The fault-injection suite: the export finishes whenever finishing is possible, produces
//! exactly what the server holds, and fails loudly and cleanly when it cannot.
//!
//! Each test prints one `fault-suite:` line (requests, faults, retries, tokens, rows) so a run
//! with `--nocapture` reports what happened.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use keepnet_sandbox::{Churn, Config, Faults};
use keepnet_sink::safety;
use serde_json::Value;

use crate::paging::logged_number;
use crate::sinks::{col, expected_text, leftovers, read_csv, COLUMNS};
use crate::util::{Env, Run};

const COMPANY: &str = "Initech";

/// Exports `COMPANY` to CSV with `flags` and returns the run and the rows read back.
fn export(env: &Env, flags: &[&str]) -> (Run, Vec<Vec<String>>) {
    let path = env.path("users.csv");
    let sink = format!("csv:{}", path.display());
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["users", "--company", COMPANY, "--sink", &sink]);
    let run = env.run(&args);
    let rows = if run.code == 0 {
        read_csv(&path)
    } else {
        Vec::new()
    };
    (run, rows)
}

/// Asserts the CSV holds exactly `served`, row for row and cell for cell.
#[track_caller]
fn assert_exact(rows: &[Vec<String>], served: &[Value]) {
    assert_eq!(rows.len(), served.len() + 1, "header + every user");
    for (row, user) in rows[1..].iter().zip(served) {
        let want: Vec<String> = COLUMNS
            .iter()
            .map(|k| safety::guard(&expected_text(user, k)).into_owned())
            .collect();
        assert_eq!(row, &want);
    }
}

fn report(name: &str, env: &Env, run: &Run, rows: usize, expected: usize) {
    let stats = env.sandbox.stats();
    eprintln!(
        "fault-suite: {name}: requests={} faults={} spikes={} client_retries={} tokens_issued={} \
         unauthorized={} rows={rows} expected={expected}",
        stats.requests,
        stats.faults_injected,
        stats.spikes,
        logged_number(&run.stderr, "api usage", "retries"),
        stats.tokens_issued,
        stats.unauthorized,
    );
}

#[test]
fn a_twenty_percent_fault_rate_still_yields_the_exact_export() {
    let env = Env::start(Config {
        users_per_company: 300,
        page_cap: 10,
        faults: Faults {
            rate: 0.2,
            statuses: vec![429, 500, 502, 503],
            retry_after: Some(Duration::ZERO),
            include_token_endpoint: true,
            ..Faults::default()
        },
        ..Config::default()
    });
    let (run, rows) = export(
        &env,
        &["-v", "--retries", "12", "--retry-initial-backoff-ms", "5"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let served = env.served(&env.company_id(COMPANY));
    assert_exact(&rows, &served);
    assert!(
        env.sandbox.stats().faults_injected >= 5,
        "faults were really injected"
    );
    assert!(
        logged_number(&run.stderr, "api usage", "retries") >= env.sandbox.stats().faults_injected
    );
    report("20% faults", &env, &run, rows.len() - 1, served.len());
}

#[test]
fn tokens_expiring_every_two_seconds_during_a_long_export() {
    let env = Env::start(Config {
        users_per_company: 400,
        page_cap: 10,
        token_lifetime: Duration::from_secs(2),
        latency: Duration::from_millis(110),
        ..Config::default()
    });
    let started = Instant::now();
    let (run, rows) = export(&env, &["-v", "--concurrency", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        started.elapsed() > Duration::from_secs(4),
        "long enough to outlive two tokens"
    );
    let served = env.served(&env.company_id(COMPANY));
    assert_exact(&rows, &served);
    let stats = env.sandbox.stats();
    assert!(
        stats.tokens_issued >= 3,
        "renewed as they expired: {stats:?}"
    );
    report("2 s tokens", &env, &run, rows.len() - 1, served.len());
}

#[test]
fn latency_spikes_beyond_the_timeout_are_retried() {
    let env = Env::start(Config {
        users_per_company: 300,
        page_cap: 10,
        faults: Faults {
            spike_rate: 0.15,
            spike_delay: Duration::from_secs(3),
            ..Faults::default()
        },
        ..Config::default()
    });
    let (run, rows) = export(
        &env,
        &["-v", "--timeout", "1", "--retry-initial-backoff-ms", "5"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let served = env.served(&env.company_id(COMPANY));
    assert_exact(&rows, &served);
    let stats = env.sandbox.stats();
    assert!(stats.spikes > 0, "spikes happened: {stats:?}");
    assert!(logged_number(&run.stderr, "api usage", "retries") >= stats.spikes);
    report("latency spikes", &env, &run, rows.len() - 1, served.len());
}

fn churning(searches: Option<usize>) -> Config {
    Config {
        users_per_company: 120,
        page_cap: 10,
        faults: Faults {
            churn: Some(Churn {
                inserts_per_search: 2,
                removes_per_search: 1,
                searches,
            }),
            ..Faults::default()
        },
        ..Config::default()
    }
}

#[test]
fn users_changing_during_the_whole_run_fail_it_publishing_nothing_unless_allowed() {
    let env = Env::start(churning(None));
    std::fs::write(env.path("users.csv"), "previous").unwrap();
    let (run, _) = export(&env, &["-v", "--concurrency", "1"]);
    run.fails_with(
        7,
        &[
            "added or removed",
            "each of 3 reads",
            "nothing was published",
            "--allow-incomplete",
        ],
    );
    assert_eq!(std::fs::read(env.path("users.csv")).unwrap(), b"previous");
    let stats = env.sandbox.stats();
    assert!(stats.users_inserted > 0 && stats.users_removed > 0);
    // --strict, kept for old scripts, is the default now.
    let sink = format!("csv:{}", env.path("users.csv").display());
    env.run(&["users", "--company", COMPANY, "--strict", "--sink", &sink])
        .fails_with(7, &["added or removed"]);
    assert_eq!(std::fs::read(env.path("users.csv")).unwrap(), b"previous");

    let env = Env::start(churning(None));
    let (run, rows) = export(&env, &["--concurrency", "1"]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(rows.is_empty());
    let (run, rows) = {
        let path = env.path("users.csv");
        let run = env.run(&[
            "--concurrency",
            "1",
            "users",
            "--company",
            COMPANY,
            "--allow-incomplete",
            "--sink",
            &format!("csv:{}", path.display()),
        ]);
        (run, read_csv(&path))
    };
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("the export is incomplete"),
        "{}",
        run.stderr
    );
    let ids: Vec<&String> = rows[1..].iter().map(|r| &r[col("resourceId")]).collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no user twice");
    report(
        "churn",
        &env,
        &run,
        rows.len() - 1,
        env.served(&env.company_id(COMPANY)).len(),
    );
}

#[test]
fn a_job_file_says_allow_incomplete_as_the_flag_does() {
    let env = Env::start(churning(None));
    for (setting, code) in [("", 7), ("allow_incomplete = true\n", 0)] {
        let file = env.path("job.toml");
        let out = env.path("job.csv");
        std::fs::write(
            &file,
            format!(
                "[[job]]\nname = \"churn\"\ncompanies = [\"{COMPANY}\"]\nsinks = [\"csv:{}\"]\n{setting}",
                out.display()
            ),
        )
        .unwrap();
        let run = env.run(&["run", file.to_str().unwrap()]);
        assert_eq!(run.code, code, "{setting:?}: {}", run.stderr);
        assert_eq!(out.exists(), code == 0, "{setting:?}");
        assert!(run.stderr.contains("added or removed"), "{}", run.stderr);
        // Each front end's message names the setting as its user wrote it.
        let named = match code {
            0 => "published anyway (allow_incomplete = true)",
            _ => "in a job file, allow_incomplete = true",
        };
        assert!(run.stderr.contains(named), "{named}: {}", run.stderr);
        assert!(
            !run.stderr.contains("(--allow-incomplete)"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn users_changing_for_a_while_are_read_again_until_the_read_is_whole() {
    // A burst of changes (an import) during the first of the 13 searches a read takes here.
    let env = Env::start(churning(Some(8)));
    let (run, rows) = export(&env, &["-v", "--concurrency", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("added or removed"), "{}", run.stderr);
    assert!(
        run.stderr.contains("reading every page again (2 of 3)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("incomplete"), "{}", run.stderr);
    let stats = env.sandbox.stats();
    assert_eq!((stats.users_inserted, stats.users_removed), (16, 8));
    // Exactly the users the server holds now, after the changes.
    assert_exact(&rows, &env.served(&env.company_id(COMPANY)));
}

#[test]
fn the_server_going_away_mid_run_fails_cleanly() {
    let env = Env::start(Config {
        users_per_company: 400,
        page_cap: 10,
        latency: Duration::from_millis(30),
        ..Config::default()
    });
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let (csv_path, xlsx_path) = (out.join("users.csv"), out.join("users.xlsx"));
    std::fs::write(&csv_path, "previous").unwrap();
    let mut child = env
        .command_as(&env.sandbox.reseller())
        .args([
            "--concurrency",
            "2",
            "--retries",
            "3",
            "--retry-max-elapsed",
            "2",
            "--retry-initial-backoff-ms",
            "50",
        ])
        .args(["users", "--company", COMPANY])
        .args(["--sink", &format!("csv:{}", csv_path.display())])
        .args(["--sink", &format!("xlsx:{}", xlsx_path.display())])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while env.sandbox.stats().user_search_requests < 6
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    env.sandbox.stop_accepting();
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        stderr.push_str(&line.unwrap());
        stderr.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("network error") && stderr.contains("gave up"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&csv_path).unwrap(),
        b"previous",
        "previous export untouched"
    );
    assert_eq!(
        leftovers(&out),
        ["users.csv"],
        "nothing published, no temp file"
    );
    eprintln!("fault-suite: server gone: {stderr}");
}

#[test]
fn no_secret_appears_at_the_highest_verbosity() {
    let env = Env::small(30, 10);
    let server = crate::smtp::Server::start(&[
        crate::smtp::Opt::StartTls,
        crate::smtp::Opt::Auth("reports:Smtp-S3cret-9"),
    ]);
    let reseller = env.sandbox.reseller();
    let port = server.port.to_string();
    let ca = crate::smtp::cert();
    let out = env.path("u.csv");
    let sink = format!("csv:{}", out.display());
    let mut outputs = Vec::new();
    // A whole export with e-mail, then failures: a 500 mid-run and a refused secret.
    for (faults, secret) in [
        (Faults::default(), reseller.client_secret.clone()),
        (
            Faults {
                fail_user_pages_from: Some(2),
                ..Faults::default()
            },
            reseller.client_secret.clone(),
        ),
        (Faults::default(), "wrong-Secret-77".to_owned()),
    ] {
        env.sandbox.set_faults(faults);
        let mut cmd = env.command_as(&keepnet_sandbox::Credentials {
            client_id: reseller.client_id.clone(),
            client_secret: secret,
        });
        cmd.env("KEEPNET_SMTP_PASSWORD", "Smtp-S3cret-9")
            .env("RUST_LOG", "trace");
        let run = Env::run_cmd(
            cmd,
            &[
                "-vvv",
                "--retries",
                "1",
                "--retry-max-backoff",
                "0",
                "users",
                "--company",
                COMPANY,
                "--sink",
                &sink,
                "--sink",
                "email:it@musteri.example",
                "--smtp-host",
                "localhost",
                "--smtp-port",
                &port,
                "--smtp-user",
                "reports",
                "--smtp-ca-file",
                ca.to_str().unwrap(),
                "--mail-from",
                "reports@mssp.example",
            ],
        );
        outputs.push(run);
    }
    assert_eq!(outputs[0].code, 0, "{}", outputs[0].stderr);
    assert_eq!(outputs[1].code, 5);
    assert_eq!(outputs[2].code, 3);
    assert!(
        outputs[0].stderr.lines().count() > 50,
        "trace logging really was on"
    );
    for run in &outputs {
        let all = format!("{}{}", run.stdout, run.stderr);
        for secret in [
            reseller.client_secret.as_str(),
            "wrong-Secret-77",
            "Smtp-S3cret-9",
        ] {
            assert!(!all.contains(secret), "a secret leaked:\n{all}");
        }
        // The sandbox's access tokens are JWTs: base64url of '{"' starts every one with "eyJ".
        assert!(!all.contains("eyJ"), "a token leaked:\n{all}");
        assert!(
            !all.to_lowercase().contains("bearer "),
            "an authorization header leaked"
        );
    }
}
