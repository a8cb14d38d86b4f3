//! The hostile-server suite (issue 11): the real binary against a deliberately misbehaving
//! Keepnet stand-in on loopback (`tests/standin.rs`), one misbehaviour per mode.

use std::path::Path;

use crate::sinks::leftovers;
use crate::standin::{
    Hostile, Lie, Mode, CLIENT_ID, CLIENT_SECRET, COMPANY_ID, COMPANY_NAME, LYING_USERS,
};
use crate::util::{assert_previous_kept, bare_command, write_previous, Env, Run};
use keepnet_test_support::sha256_hex;

/// Runs the binary against `server` with its credential, in `dir`.
fn run_against(server: &Hostile, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = bare_command();
    cmd.env("KEEPNET_BASE_URL", &server.url)
        .env("KEEPNET_CLIENT_ID", CLIENT_ID)
        .env("KEEPNET_CLIENT_SECRET", CLIENT_SECRET)
        .current_dir(dir);
    Env::run_cmd(cmd, args)
}

// 1. Redirects -----------------------------------------------------------------------------------

#[test]
fn a_redirect_never_carries_the_secret_or_a_token_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = Hostile::start(Mode::Honest { users: 5, page: 10 });
    let host = elsewhere.url.clone();
    for status in [301, 302, 307, 308] {
        let server = Hostile::start(Mode::RedirectToken {
            status,
            to: host.clone(),
        });
        let run = run_against(&server, dir.path(), &["users", "--company", COMPANY_NAME]);
        run.fails_with(
            5,
            &[
                &format!("redirect (HTTP {status}) to {host}"),
                "not followed",
                "/connect/token",
                "(the base URL is --base-url URL, or KEEPNET_BASE_URL)",
            ],
        );
        assert!(!run.stderr.contains(CLIENT_SECRET));
    }
    // A redirected user search: no file, no request to the other host with the token.
    let server = Hostile::start(Mode::RedirectSearch { to: host.clone() });
    let csv = dir.path().join("out/u.csv");
    write_previous(&csv);
    run_against(
        &server,
        dir.path(),
        &[
            "users",
            "--company",
            COMPANY_NAME,
            "--sink",
            &format!("csv:{}", csv.display()),
        ],
    )
    .fails_with(
        5,
        &[
            "target-users/search",
            "redirect (HTTP 307)",
            "not followed",
            "--base-url URL",
        ],
    );
    assert_previous_kept(&csv, &["u.csv"]);
    assert!(
        elsewhere.requests().is_empty(),
        "the other host never heard from the client: {:?}",
        elsewhere.requests()
    );
    // To a plain-http host off loopback: named, not attempted.
    let server = Hostile::start(Mode::RedirectToken {
        status: 307,
        to: "http://keepnet.example.invalid".into(),
    });
    run_against(&server, dir.path(), &["users", "--company", COMPANY_NAME])
        .fails_with(5, &["to http://keepnet.example.invalid", "not followed"]);
}

// 13. No input makes the binary panic -------------------------------------------------------------

#[test]
fn an_absurd_token_lifetime_is_clamped_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(Mode::HugeExpiry);
    let run = run_against(&server, dir.path(), &["users", "--company", COMPANY_NAME]);
    assert_eq!(run.json_lines().len(), 3, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

// 14. Retry-After on every retried status -----------------------------------------------------------

#[test]
fn retry_after_on_a_503_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(Mode::Unavailable {
        times: 1,
        seconds: 2,
    });
    let run = run_against(
        &server,
        dir.path(),
        &[
            "--retry-initial-backoff-ms",
            "1",
            "users",
            "--company",
            COMPANY_NAME,
        ],
    );
    assert_eq!(run.json_lines().len(), 3, "{}", run.stderr);
    let searches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/target-users/search"))
        .collect();
    let gap = searches[1].at - searches[0].at;
    assert!(
        gap >= std::time::Duration::from_millis(1900),
        "the retry came {gap:?} after the 503 that asked for 2 s"
    );
}

#[test]
fn a_full_disk_under_the_excel_writer_is_an_error_not_a_panic() {
    let env = crate::sinks::small_env();
    let xlsx = env.path("out/users.xlsx");
    write_previous(&xlsx);
    // Writes past 4 KiB fail with EFBIG, as on a full disk; the Excel writer panics inside.
    let cmd = env.command_after("trap '' XFSZ; ulimit -f 8");
    let run = Env::run_cmd(
        cmd,
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            &format!("xlsx:{}", xlsx.display()),
        ],
    );
    run.fails_with(6, &["--sink", "users.xlsx", "Excel writer failed"]);
    assert!(
        !run.stderr.contains("panicked"),
        "no panic report: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("RUST_BACKTRACE"), "{}", run.stderr);
    assert_previous_kept(&xlsx, &["users.xlsx"]);
}

// 15. Small things a hostile environment gets wrong ----------------------------------------------

#[test]
fn terminal_control_sequences_from_the_server_are_shown_not_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(Mode::Escapes);
    let table = run_against(&server, dir.path(), &["companies"]);
    let listed = table.ok();
    assert!(listed.contains("Evil\\u{1b}[2J"), "{listed}");
    let failed = run_against(
        &server,
        dir.path(),
        &["-v", "users", "--company", COMPANY_ID],
    );
    failed.fails_with(5, &["bad Evil\\u{1b}[2J"]);
    for output in [&table.stdout, &table.stderr, &failed.stdout, &failed.stderr] {
        assert!(
            !output.contains('\u{1b}') && !output.contains('\u{7}'),
            "a raw control character reached the terminal: {output:?}"
        );
    }
}

#[test]
fn bad_rates_and_summary_targets_are_usage_errors_before_any_request() {
    let env = crate::sinks::small_env();
    let before = env.sandbox.stats().requests;
    for rate in ["0", "NaN", "1e-300", "-5", "inf"] {
        env.run(&[
            &format!("--max-rps={rate}"),
            "users",
            "--company",
            "Initech",
        ])
        .fails_with(2, &["request rate"]);
    }
    env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        "csv:-",
        "--summary-json",
        "-",
    ])
    .fails_with(2, &["both write to stdout"]);
    assert_eq!(
        env.sandbox.stats().requests,
        before,
        "refused before any request"
    );
}

#[test]
fn a_secret_with_a_trailing_newline_is_trimmed() {
    let env = crate::sinks::small_env();
    let reseller = env.sandbox.reseller();
    let mut cmd = env.command_as(&reseller);
    cmd.env(
        "KEEPNET_CLIENT_SECRET",
        format!("{}\n", reseller.client_secret),
    );
    let run = Env::run_cmd(cmd, &["users", "--company", "Initech"]);
    assert_eq!(
        run.json_lines().len(),
        env.served(&env.company_id("Initech")).len()
    );
    assert!(run.stderr.contains("trimmed"), "{}", run.stderr);
    assert!(!run.stderr.contains(&reseller.client_secret));
}

#[test]
fn a_server_file_name_too_long_for_the_file_system_is_shortened() {
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(Mode::LongExportName);
    let out = dir.path().join("exports");
    std::fs::create_dir(&out).unwrap();
    run_against(
        &server,
        dir.path(),
        &[
            "export",
            "--company",
            COMPANY_ID,
            "--type",
            "csv",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .ok();
    let names = leftovers(&out);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].len() <= 200 && names[0].ends_with(".csv"),
        "{names:?}"
    );
    assert!(names[0].starts_with("TargetUsers_Çok uzun"), "{names:?}");
}

// 12. The failing sink's own error wins -----------------------------------------------------------

#[test]
fn a_later_sink_failing_mid_stream_reports_its_own_error() {
    // Enough users that the CSV's buffer is written (and fails) while pages still arrive.
    let env = Env::small(6000, 50);
    let csv = env.path("out/users.csv");
    write_previous(&csv);
    // The first sink streams to stdout (a pipe: no file-size limit); the second, a file, hits
    // the 4 KiB limit as on a full disk.
    let cmd = env.command_after("trap '' XFSZ; ulimit -f 8");
    let run = Env::run_cmd(
        cmd,
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            "jsonl:-",
            "--sink",
            &format!("csv:{}", csv.display()),
        ],
    );
    run.fails_with(6, &["--sink csv:", "users.csv", "file too large"]);
    assert!(!run.stderr.contains("the fetch stopped"), "{}", run.stderr);
    assert_previous_kept(&csv, &["users.csv"]);
}

// 5. Local files read with a size cap, never a device or a FIFO ----------------------------------

/// Runs `cmd` with `args`, killing it (and failing) if it takes longer than `secs`.
fn run_within(mut cmd: std::process::Command, args: &[&str], secs: u64) -> Run {
    use std::process::Stdio;
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {secs} s: it hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Run::from_output(child.wait_with_output().unwrap())
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}

#[test]
fn secret_job_and_ca_files_are_read_with_a_cap_and_never_block() {
    let env = crate::sinks::small_env();
    let fifo = env.path("fifo");
    mkfifo(&fifo);
    let big = env.path("big");
    std::fs::write(&big, vec![b'x'; 2 << 20]).unwrap();
    let fifo_arg = fifo.to_str().unwrap();
    let big_arg = big.to_str().unwrap();
    for (file, needle) in [(fifo_arg, "FIFO"), (big_arg, "larger than")] {
        let cmd = env.command_as(&env.sandbox.reseller());
        run_within(
            cmd,
            &[
                "--client-secret-file",
                file,
                "users",
                "--company",
                "Initech",
            ],
            20,
        )
        .fails_with(2, &["secret file", needle]);
        let cmd = env.command_as(&env.sandbox.reseller());
        run_within(cmd, &["run", "--check", file], 20).fails_with(2, &["job file", needle]);
        let cmd = env.command_as(&env.sandbox.reseller());
        run_within(
            cmd,
            &[
                "users",
                "--company",
                "Initech",
                "--sink",
                "email:it@example.com",
                "--smtp-host",
                "127.0.0.1",
                "--smtp-tls",
                "none",
                "--mail-from",
                "me@example.com",
                "--smtp-ca-file",
                file,
            ],
            20,
        )
        .fails_with(2, &["CA file", needle]);
        let cmd = env.command_as(&env.sandbox.reseller());
        run_within(
            cmd,
            &[
                "users",
                "--company",
                "Initech",
                "--sink",
                "email:it@example.com",
                "--smtp-host",
                "127.0.0.1",
                "--smtp-tls",
                "none",
                "--mail-from",
                "me@example.com",
                "--smtp-password-file",
                file,
            ],
            20,
        )
        .fails_with(2, &["secret file", needle]);
    }
}

// 2. A secret value in a job file is never shown ------------------------------------------------

#[test]
fn run_check_never_shows_a_password_written_in_the_job_file() {
    let env = crate::sinks::small_env();
    let password = "hunter2-Correct-Horse";
    for line in [
        format!("password = \"{password}\""),
        format!("password_env = \"{password} pasted by mistake\""),
        format!("password_env = {{ value = \"{password}\" }}"),
    ] {
        let file = env.path("reports.toml");
        std::fs::write(
            &file,
            format!(
                "[smtp]\nhost = \"smtp.example.com\"\nuser = \"me\"\n{line}\nfrom = \"me@example.com\"\n\n[[job]]\nname = \"a\"\ncompanies = \"all\"\nsinks = [\"csv:{{company}}.csv\"]\n"
            ),
        )
        .unwrap();
        let run = env.run(&["run", "--check", file.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{line}: {}", run.stderr);
        assert!(run.stderr.contains("reports.toml:4:"), "{}", run.stderr);
        assert!(run.stderr.contains("[redacted]"), "{}", run.stderr);
        for output in [&run.stdout, &run.stderr] {
            assert!(
                !output.contains("hunter2"),
                "{line}: the password was shown: {output}"
            );
        }
    }
}

// 3. Error excerpts carry no personal data ----------------------------------------------------------

#[test]
fn a_malformed_answer_is_described_without_the_people_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(Mode::Truncated);
    let summary = dir.path().join("summary.json");
    let run = run_against(
        &server,
        dir.path(),
        &[
            "users",
            "--company",
            COMPANY_ID,
            "--sink",
            &format!("csv:{}", dir.path().join("u.csv").display()),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    run.fails_with(5, &["malformed response", "bytes"]);
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.contains("malformed"), "{written}");
    for output in [&run.stdout, &run.stderr, &written] {
        for personal in ["victim", "secret-corp", "532 111", "\"Ay"] {
            assert!(!output.contains(personal), "{personal} in {output}");
        }
    }
}

// 8. Page counts that lie ---------------------------------------------------------------------------

#[test]
fn a_page_count_of_a_billion_is_not_followed_past_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(Mode::EndlessPages);
    let run = run_within_args(&server, dir.path(), &["users", "--company", COMPANY_ID], 30);
    assert_eq!(run.json_lines().len(), 25, "{}", run.stderr);
    let searches = server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/target-users/search"))
        .count();
    assert!(
        searches <= 5,
        "{searches} searches for 25 users in pages of 10"
    );

    let server = Hostile::start(Mode::EndlessCompanies);
    let run = run_within_args(&server, dir.path(), &["companies", "--format", "json"], 30);
    let listed: serde_json::Value = serde_json::from_str(run.ok()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let listings = server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/companies/search"))
        .count();
    assert!(listings <= 2, "{listings} company pages for one company");
}

// 9. Sweeps that disagree with the server's own totals ----------------------------------------------

/// Reads of every page the stand-in saw begin.
fn sweeps_seen(server: &Hostile) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            r.path == "/api/target-users/search"
                && body["pageNumber"] == 1
                && body["pageSize"].as_u64().is_some_and(|n| n > 1)
        })
        .count()
}

/// Each lie, and the words the failure must use to name it.
const LIES: [(Lie, &str); 3] = [
    (Lie::EmptyPage, "page 2 came back empty"),
    (
        Lie::ShortPageCount,
        "announced 2 page(s) where its record count needs 3",
    ),
    (Lie::RepeatedPage, "100 user(s) were served twice"),
];

/// `users --company ... --sink csv:users.csv EXTRA...` against a stand-in lying as `lie` for
/// `sweeps` reads, in a fresh folder holding a previous `users.csv`.
fn lying_run(lie: Lie, sweeps: usize, extra: &[&str]) -> (Hostile, tempfile::TempDir, Run) {
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(Mode::Lying { lie, sweeps });
    std::fs::write(dir.path().join("users.csv"), "previous").unwrap();
    let mut args = vec![
        "users",
        "--company",
        COMPANY_NAME,
        "--sink",
        "csv:users.csv",
    ];
    args.extend(extra);
    let run = run_within_args(&server, dir.path(), &args, 60);
    (server, dir, run)
}

/// The one company's entry of `summary.json` in `dir`.
fn summary_entry(dir: &Path) -> serde_json::Value {
    let text = std::fs::read(dir.join("summary.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
    doc["companies"][0].clone()
}

#[test]
fn a_read_that_keeps_contradicting_the_totals_fails_after_three_sweeps_and_keeps_the_old_file() {
    for (lie, named) in LIES {
        let (server, dir, run) = lying_run(lie, usize::MAX, &[]);
        run.fails_with(
            7,
            &[
                named,
                "each of 3 reads",
                "nothing was published",
                "--allow-incomplete",
            ],
        );
        // The totals never changed: the server is not excused as "users changed".
        assert!(!run.stderr.contains("added or removed"), "{}", run.stderr);
        assert_eq!(sweeps_seen(&server), 3, "{lie:?}: bounded sweeps");
        let csv = dir.path().join("users.csv");
        assert_eq!(std::fs::read(csv).unwrap(), b"previous", "{lie:?}");
        assert_eq!(leftovers(dir.path()), ["users.csv"], "{lie:?}");
    }
}

#[test]
fn a_read_that_lied_once_is_read_again_and_published_whole() {
    for (lie, named) in LIES {
        let (server, dir, run) = lying_run(lie, 1, &["--summary-json", "summary.json"]);
        run.ok();
        assert!(run.stderr.contains(named), "{lie:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("reading every page again (2 of 3)"),
            "{}",
            run.stderr
        );
        let rows = crate::sinks::read_csv(&dir.path().join("users.csv"));
        let ids: std::collections::BTreeSet<&str> =
            rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            (rows.len() - 1, ids.len()),
            (LYING_USERS, LYING_USERS),
            "{lie:?}"
        );
        assert_eq!(sweeps_seen(&server), 2);
        let entry = summary_entry(dir.path());
        assert_eq!(
            (&entry["sweeps"], &entry["incomplete"]),
            (&2.into(), &false.into())
        );
        assert_eq!(entry["rows"], LYING_USERS);
    }
}

#[test]
fn allow_incomplete_publishes_the_last_read_marked_incomplete() {
    let extra = ["--allow-incomplete", "--summary-json", "summary.json"];
    let (_server, dir, run) = lying_run(Lie::RepeatedPage, usize::MAX, &extra);
    run.ok();
    assert!(
        run.stderr.contains("the export is incomplete"),
        "{}",
        run.stderr
    );
    let rows = crate::sinks::read_csv(&dir.path().join("users.csv"));
    assert_eq!(rows.len() - 1, 200, "what was read: pages 1 and 2");
    let entry = summary_entry(dir.path());
    assert_eq!(
        (&entry["sweeps"], &entry["incomplete"]),
        (&3.into(), &true.into())
    );
    assert_eq!(entry["rows"], 200);
    let warning = entry["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("served twice") && warning.contains("--allow-incomplete"),
        "{warning}"
    );
}

#[test]
fn a_stream_is_not_read_twice_and_an_inconsistent_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[
            "users",
            "--company",
            COMPANY_NAME,
            "--sink",
            "csv:-",
            "--sink",
            "xlsx:u.xlsx",
        ][..],
        &["users", "--company", COMPANY_NAME][..],
    ] {
        let server = Hostile::start(Mode::Lying {
            lie: Lie::EmptyPage,
            sweeps: usize::MAX,
        });
        let run = run_within_args(&server, dir.path(), args, 60);
        run.fails_with(7, &["page 2 came back empty", "cannot be taken back"]);
        assert_eq!(sweeps_seen(&server), 1, "{args:?}");
        assert!(!dir.path().join("u.xlsx").exists());
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }
}

/// [`run_against`], killed (and failing) after `secs`.
fn run_within_args(server: &Hostile, dir: &Path, args: &[&str], secs: u64) -> Run {
    let mut cmd = bare_command();
    cmd.env("KEEPNET_BASE_URL", &server.url)
        .env("KEEPNET_CLIENT_ID", CLIENT_ID)
        .env("KEEPNET_CLIENT_SECRET", CLIENT_SECRET)
        .current_dir(dir);
    run_within(cmd, args, secs)
}

// 6. One file under two names; private folders -------------------------------------------------------

#[cfg(unix)]
#[test]
fn two_names_for_one_file_are_refused_and_new_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = crate::sinks::small_env();
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&out, env.path("link")).unwrap();
    std::fs::create_dir(env.path("sub")).unwrap();
    let before = env.sandbox.stats().requests;
    for (a, b) in [
        ("out/a.csv", "link/a.csv"),
        ("a.csv", "sub/../a.csv"),
        ("./a.csv", "a.csv"),
        ("nothere/../a.csv", "a.csv"),
    ] {
        env.run(&[
            "users",
            "--company",
            "Initech",
            "--sink",
            &format!("csv:{a}"),
            "--sink",
            &format!("jsonl:{b}"),
        ])
        .fails_with(2, &["two --sink arguments write"]);
    }
    assert_eq!(
        env.sandbox.stats().requests,
        before,
        "refused before any request"
    );

    let cmd = env.command_after("umask 022");
    Env::run_cmd(
        cmd,
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            "csv:new/deeper/a.csv",
        ],
    )
    .ok();
    for folder in ["new", "new/deeper"] {
        let mode = std::fs::metadata(env.path(folder))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{folder} is private");
    }
}

// 7. The summary attests the bytes written, not whatever is at the path later ----------------------

/// A minimal SMTP server on loopback that accepts one message and runs `on_data` after the
/// message arrived and before it answers 250: the moment between a file's publication and
/// the end of the run.
fn smtp_once(on_data: impl FnOnce() + Send + 'static) -> (u16, std::thread::JoinHandle<()>) {
    smtp_sessions(1, on_data)
}

/// [`smtp_once`] for `sessions` connections one after the other (one message each); `on_data`
/// runs after the first message arrived.
pub(crate) fn smtp_sessions(
    sessions: usize,
    on_data: impl FnOnce() + Send + 'static,
) -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut on_data = Some(on_data);
        for _ in 0..sessions {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            smtp_session(stream, &mut on_data);
        }
    });
    (port, handle)
}

/// One SMTP conversation on `stream`, running `on_data` (once) after a message arrived.
fn smtp_session(stream: std::net::TcpStream, on_data: &mut Option<impl FnOnce()>) {
    use std::io::{BufRead, BufReader, Write};
    {
        let mut out = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream);
        writeln!(out, "220 localhost ESMTP\r").unwrap();
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            let command = line.trim_end().to_ascii_uppercase();
            let reply = if command.starts_with("EHLO") || command.starts_with("HELO") {
                "250 localhost"
            } else if command.starts_with("DATA") {
                writeln!(out, "354 go ahead\r").unwrap();
                let mut body = String::new();
                while lines.read_line(&mut body).unwrap_or(0) > 0 && body != ".\r\n" {
                    body.clear();
                }
                if let Some(f) = on_data.take() {
                    f();
                }
                "250 queued"
            } else if command.starts_with("QUIT") {
                writeln!(out, "221 bye\r").unwrap();
                break;
            } else {
                "250 ok"
            };
            writeln!(out, "{reply}\r").unwrap();
            line.clear();
        }
    }
}

#[test]
fn the_summary_hash_is_of_the_bytes_written() {
    let env = crate::sinks::small_env();
    let csv = env.path("users.csv");
    let summary = env.path("summary.json");
    // While the e-mail is being sent (after the CSV is published), another process replaces
    // the file at the same path.
    let replaced = csv.clone();
    let (port, smtp) = smtp_once(move || std::fs::write(&replaced, "someone else's file").unwrap());
    let sink = format!("csv:{}", csv.display());
    let mut args = vec!["users", "--company", "Initech", "--sink", &sink];
    args.extend(["--sink", "email:it@example.com"]);
    let smtp_args = crate::util::plain_smtp_args(port, "me@example.com");
    args.extend(smtp_args.iter().map(String::as_str));
    args.extend(["--summary-json", summary.to_str().unwrap()]);
    env.run(&args).ok();
    smtp.join().unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let file = &doc["companies"][0]["files"][0];
    // The hash the summary gives is the exported CSV's: header plus every current user.
    let reported = file["sha256"].as_str().unwrap();
    let replaced_hash = sha256_hex(b"someone else's file");
    assert_ne!(
        reported, replaced_hash,
        "the summary attests the file it wrote"
    );
    // The same export again, undisturbed: the bytes it writes are the ones attested.
    let again = env.path("again.csv");
    env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        &format!("csv:{}", again.display()),
    ])
    .ok();
    assert_eq!(reported, sha256_hex(&std::fs::read(&again).unwrap()));
    assert_eq!(file["rows"], env.served(&env.company_id("Initech")).len());
}

// 4. A FIFO, device or socket target is a stream, never renamed over --------------------------------

#[cfg(unix)]
#[test]
fn a_fifo_target_is_written_as_a_stream_and_stays_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let env = crate::sinks::small_env();
    let dir = env.path("d");
    std::fs::create_dir(&dir).unwrap();
    let fifo = dir.join("pipe");
    mkfifo(&fifo);
    std::os::unix::fs::symlink(&fifo, dir.join("link")).unwrap();
    let current = env.served(&env.company_id("Initech")).len();
    for target in ["pipe", "link"] {
        // A reader on the FIFO, as a downstream program would be (a process, so that it can be
        // killed if the FIFO were replaced and it never got a writer).
        let mut reader = std::process::Command::new("cat")
            .arg(&fifo)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let run = env.run(&[
            "users",
            "--company",
            "Initech",
            "--sink",
            &format!("csv:{}", dir.join(target).display()),
        ]);
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        if !kind.is_fifo() {
            let _ = reader.kill();
            let _ = reader.wait();
            panic!("{target}: the FIFO was replaced by a file ({})", run.stderr);
        }
        run.ok();
        let received = reader.wait_with_output().unwrap().stdout;
        let rows = csv::Reader::from_reader(&received[..]).records().count();
        assert_eq!(rows, current, "{target}: every user went down the pipe");
        assert_eq!(leftovers(&dir), ["link", "pipe"], "no temporary file");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn stdout_by_any_name_is_one_stdout() {
    // /proc/self/fd/1 is the process's stdout, like /dev/stdout (never pointed at here: an old
    // build would rename a file over it).
    let env = crate::sinks::small_env();
    let before = env.sandbox.stats().requests;
    env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        "csv:-",
        "--sink",
        "jsonl:/proc/self/fd/1",
    ])
    .fails_with(2, &["only one --sink can write to stdout"]);
    assert_eq!(env.sandbox.stats().requests, before);
    let run = env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        "csv:/proc/self/fd/1",
    ]);
    let rows = csv::Reader::from_reader(run.ok().as_bytes())
        .records()
        .count();
    assert_eq!(rows, env.served(&env.company_id("Initech")).len());
}

// 11. SIGTERM and SIGHUP stop a run like Ctrl-C; SIGXFSZ is a disk error ------------------------

/// Starts an export of a slow sandbox into `out/users.csv` (holding "previous"), waits until
/// its temporary files exist, sends `signal`, and returns the exit code and stderr.
fn signal_mid_run(signal: &str) -> (Option<i32>, String, Env) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let env = Env::start(keepnet_sandbox::Config {
        users_per_company: 200,
        page_cap: 5,
        latency: std::time::Duration::from_millis(40),
        ..keepnet_sandbox::Config::default()
    });
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let csv = out.join("users.csv");
    std::fs::write(&csv, "previous").unwrap();
    let summary = env.path("summary.json");
    let mut child = env
        .command_as(&env.sandbox.reseller())
        .args(["-v", "users", "--company", "Initech"])
        .args(["--sink", &format!("csv:{}", csv.display())])
        .args([
            "--sink",
            &format!("xlsx:{}", out.join("users.xlsx").display()),
        ])
        .args(["--summary-json", summary.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("page fetched") {
        line.clear();
    }
    let started = std::time::Instant::now();
    while out.read_dir().unwrap().count() < 3 && started.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        out.read_dir().unwrap().count(),
        3,
        "temporary files exist mid-run"
    );
    std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let code = child.wait().unwrap().code();
    (code, rest, env)
}

#[test]
fn sigterm_and_sighup_publish_nothing_and_leave_no_temporary_file() {
    for (signal, code, word) in [("TERM", 143, "SIGTERM"), ("HUP", 129, "SIGHUP")] {
        let (got, stderr, env) = signal_mid_run(signal);
        let (out, summary) = (env.path("out"), env.path("summary.json"));
        assert_eq!(got, Some(code), "{signal}: {stderr}");
        assert!(
            stderr.contains(word) && stderr.contains("nothing was published"),
            "{stderr}"
        );
        assert_eq!(std::fs::read(out.join("users.csv")).unwrap(), b"previous");
        assert_eq!(
            leftovers(&out),
            ["users.csv"],
            "{signal}: no temporary file"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        assert_eq!(
            doc["companies"][0]["exitCode"], code,
            "the summary is written"
        );
    }
}

#[test]
fn a_file_size_limit_is_a_disk_error_not_a_kill() {
    let env = crate::sinks::small_env();
    let (out, csv) = (env.path("out"), env.path("out/users.csv"));
    write_previous(&csv);
    // No `trap '' XFSZ` this time: the tool itself must not die of the signal.
    let cmd = env.command_after("ulimit -f 8");
    let run = Env::run_cmd(
        cmd,
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            &format!("csv:{}", csv.display()),
            "--sink",
            &format!("jsonl:{}", out.join("users.jsonl").display()),
        ],
    );
    run.fails_with(6, &["file too large"]);
    assert_previous_kept(&csv, &["users.csv"]);
}

// 10. Plugins that hang: bounded, stoppable, and ended with everything they started -------------

/// Whether a process whose command line holds `marker` is still alive (Linux: from /proc).
fn alive(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().any(|entry| {
        let path = entry.unwrap().path().join("cmdline");
        std::fs::read(path)
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(marker)
            })
            .unwrap_or(false)
    })
}

/// A `sleep` duration (seconds) that only this test process uses, as a marker in `/proc`.
fn unique_marker(seconds: u32) -> String {
    format!("{seconds}.{}", std::process::id())
}

/// The plugin timeout is the exec kind's own option, `exec.timeout`, declared like any kind's:
/// `--plugin-timeout` is a shorthand for it, and `--sink-option` or a job file's
/// `[job.options.exec]` set it the same way.
#[cfg(target_os = "linux")]
#[test]
fn the_plugin_timeout_is_the_exec_kinds_option_in_every_front_end() {
    let env = Env::small(2500, 100);
    let marker = unique_marker(3603);
    let sink = format!("exec:sleep {marker}");
    let flags = run_within(
        env.command_as(&env.sandbox.reseller()),
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            &sink,
            "--sink-option",
            "exec.timeout=1.5",
        ],
        30,
    );
    flags.fails_with(6, &["did not read its input for 1.5 s", "killed"]);
    let file = env.path("reports.toml");
    std::fs::write(
        &file,
        format!(
            "[[job]]\nname = \"a\"\ncompanies = [\"Initech\"]\nsinks = [{sink:?}]\n\
             [job.options.exec]\ntimeout = 1\n"
        ),
    )
    .unwrap();
    let job = run_within(
        env.command_as(&env.sandbox.reseller()),
        &["run", file.to_str().unwrap()],
        30,
    );
    job.fails_with(6, &["did not read its input for 1 s", "killed"]);
    let bad = env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        &sink,
        "--sink-option",
        "exec.timeout=0",
    ]);
    bad.fails_with(2, &["exec.timeout", "not a number of seconds above 0"]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!alive(&marker), "no plugin left behind");
}

#[cfg(target_os = "linux")]
#[test]
fn a_plugin_that_never_reads_or_never_ends_is_stopped_with_its_children() {
    let env = Env::small(2500, 100);
    // Markers unique to this test process: a plugin left behind by another run (an older
    // build, a killed test) cannot make this one pass or fail.
    let (never_reads, never_ends) = (unique_marker(3601), unique_marker(3602));
    for (command, marker, needle) in [
        (
            format!("sleep {never_reads}"),
            never_reads.as_str(),
            "did not read its input for 2 s",
        ),
        (
            format!("cat > /dev/null; sleep {never_ends}"),
            never_ends.as_str(),
            "still running 2 s after its input ended",
        ),
    ] {
        let started = std::time::Instant::now();
        let cmd = env.command_as(&env.sandbox.reseller());
        let sink = format!("exec:{command}");
        let run = run_within(
            cmd,
            &[
                "--plugin-timeout",
                "2",
                "users",
                "--company",
                "Initech",
                "--sink",
                &sink,
            ],
            30,
        );
        // The limit is named as this front end sets it (the sink's error only says which).
        run.fails_with(6, &[needle, "killed", "the limit is --plugin-timeout SECS"]);
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !alive(marker),
            "{command}: no process of the plugin is left behind"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_works_while_a_plugin_hangs() {
    use std::process::Stdio;
    let env = Env::small(2500, 100);
    let marker = unique_marker(3603);
    let sink = format!("exec:sleep {marker}");
    let mut child = env
        .command_as(&env.sandbox.reseller())
        .args(["users", "--company", "Initech", "--sink", &sink])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !alive(&marker) && started.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Let the pipe fill, so the run is stuck writing to a plugin that does not read.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let interrupted = std::time::Instant::now();
    let deadline = interrupted + std::time::Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("Ctrl-C was ignored while the plugin hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!alive(&marker), "the plugin was stopped with the run");
}
