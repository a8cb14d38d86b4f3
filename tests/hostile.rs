//! The hostile-server suite (issue 11): the real binary against a deliberately misbehaving
//! Keepnet stand-in on loopback (`tests/support/hostile.rs`), one misbehaviour per mode.

use std::path::Path;

use crate::sinks::leftovers;
use crate::standin::{Hostile, Mode, CLIENT_ID, CLIENT_SECRET, COMPANY_NAME};
use crate::util::{bare_command, Env, Run};

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
            ],
        );
        assert!(!run.stderr.contains(CLIENT_SECRET));
    }
    // A redirected user search: no file, no request to the other host with the token.
    let server = Hostile::start(Mode::RedirectSearch { to: host.clone() });
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let csv = out.join("u.csv");
    std::fs::write(&csv, "previous").unwrap();
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
        &["target-users/search", "redirect (HTTP 307)", "not followed"],
    );
    assert_eq!(std::fs::read(&csv).unwrap(), b"previous");
    assert_eq!(leftovers(&out), ["u.csv"]);
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
