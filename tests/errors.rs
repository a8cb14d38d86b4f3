//! Every error the issue names: its exit code and a message that says what to do.

use std::io::{Read, Write};
use std::net::TcpListener;

use keepnet_sandbox::{Config, Credentials, Faults};

use crate::util::{run_bare, Env};

#[test]
fn wrong_secret_is_an_authentication_error() {
    let env = Env::small(3, 50);
    let wrong = Credentials {
        client_id: env.sandbox.reseller().client_id,
        client_secret: "not-the-secret".into(),
    };
    let run = Env::run_cmd(env.command_as(&wrong), &["companies"]);
    run.fails_with(
        3,
        &["invalid_client", "KEEPNET_CLIENT_SECRET", "IP-restricted"],
    );
    assert!(
        !run.stderr.contains("not-the-secret"),
        "the secret is never printed"
    );
}

#[test]
fn unknown_company_suggests_close_names() {
    let env = Env::small(3, 50);
    env.run(&["users", "--company", "Acme Holding"])
        .fails_with(4, &["Acme Holding", "did you mean", "\"Acme Holdings\""]);
    env.run(&["count", "--company", "Nothing Like It At All"])
        .fails_with(4, &["keepnet-export companies"]);
}

#[test]
fn ambiguous_name_lists_each_candidate() {
    let env = Env::small(3, 50);
    let ids: Vec<String> = env
        .sandbox
        .dataset()
        .find_by_name("Support")
        .iter()
        .map(|c| c.resource_id.clone())
        .collect();
    assert_eq!(ids.len(), 2);
    env.run(&["users", "--company", "support"])
        .fails_with(4, &["2 companies", &ids[0], &ids[1], "pass the id"]);
}

#[test]
fn company_admin_credential_is_not_a_reseller() {
    let env = Env::small(3, 50);
    let run = Env::run_cmd(env.command_as(&env.sandbox.company_admin()), &["companies"]);
    run.fails_with(4, &["403", "Reseller"]);
}

#[test]
fn header_breaking_company_text_is_never_sent() {
    let env = Env::small(3, 50);
    // Text that could break a header is refused before anything is sent.
    let before = env.sandbox.stats().requests;
    env.run(&["users", "--company", "a\r\nX-Evil: 1"])
        .fails_with(2, &["neither a company id nor a name"]);
    assert_eq!(env.sandbox.stats().requests, before);
}

#[test]
fn rate_limit_and_server_errors_are_api_failures() {
    let env = Env::small(3, 50);
    for (status, needle) in [
        (429, "rate limited"),
        (500, "HTTP 500"),
        (503, "HTTP 503"),
        (200, "Simulated failure"),
    ] {
        env.sandbox.set_faults(Faults {
            rate: 1.0,
            statuses: vec![status],
            ..Faults::default()
        });
        let before = env.sandbox.stats().requests;
        let run = env.run(&["--retries", "2", "--retry-max-backoff", "0", "companies"]);
        run.fails_with(5, &[needle]);
        let sent = env.sandbox.stats().requests - before;
        if status == 200 {
            // A failure reported inside a 200 is not transient: no retry.
            assert_eq!(sent, 2, "token + one call");
        } else {
            run.fails_with(5, &["gave up after 3 attempts"]);
            assert_eq!(sent, 4, "token + three attempts");
        }
    }
}

#[test]
fn failure_on_a_later_page_fails_the_run() {
    let env = Env::start(Config {
        users_per_company: 30,
        page_cap: 10,
        faults: Faults {
            fail_user_pages_from: Some(2),
            ..Faults::default()
        },
        ..Config::default()
    });
    let run = env.run(&[
        "--retries",
        "1",
        "--retry-max-backoff",
        "0",
        "users",
        "--company",
        "Initech",
    ]);
    run.fails_with(
        5,
        &[
            "HTTP 500",
            "/api/target-users/search",
            "gave up after 2 attempts",
        ],
    );
    assert_eq!(
        run.stdout.lines().count(),
        10,
        "the first page was streamed before the failure"
    );
}

#[test]
fn unreachable_server_is_a_network_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    run_bare(
        &[
            "--base-url",
            &url,
            "--client-id",
            "x",
            "--client-secret-file",
            empty.to_str().unwrap(),
            "companies",
        ],
        dir.path(),
    )
    .fails_with(2, &["secret file", "empty"]);
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s\n").unwrap();
    run_bare(
        &[
            "--base-url",
            &url,
            "--client-id",
            "x",
            "--client-secret-file",
            secret.to_str().unwrap(),
            "--retries",
            "1",
            "--retry-max-backoff",
            "0",
            "companies",
        ],
        dir.path(),
    )
    .fails_with(5, &["network error", &url, "gave up after 2 attempts"]);
}

#[test]
fn non_json_answer_is_malformed_with_an_excerpt() {
    // A web server that answers every request with an HTML page, like a captive portal.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = "<html><body>Welcome to the portal</body></html>";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = crate::util::bare_command();
    cmd.env("KEEPNET_CLIENT_SECRET", "s")
        .current_dir(dir.path());
    let run = Env::run_cmd(cmd, &["--base-url", &url, "--client-id", "x", "companies"]);
    run.fails_with(5, &["malformed response", "/connect/token"]);
}

#[test]
fn a_huge_answer_is_refused_without_reading_it() {
    // A server that announces a 3 GB JSON body: the client must not try to hold it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3000000000\r\n\r\n{{\"access_token\":\""
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = crate::util::bare_command();
    cmd.env("KEEPNET_CLIENT_SECRET", "s")
        .current_dir(dir.path());
    let run = Env::run_cmd(cmd, &["--base-url", &url, "--client-id", "x", "companies"]);
    run.fails_with(5, &["larger than the 64 MiB limit", "/connect/token"]);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    run_bare(&["companies"], dir.path()).fails_with(2, &["KEEPNET_CLIENT_ID", "--sandbox"]);
    run_bare(&["--client-id", "x", "companies"], dir.path())
        .fails_with(2, &["KEEPNET_CLIENT_SECRET"]);
    let mut cmd = crate::util::bare_command();
    cmd.env("KEEPNET_CLIENT_SECRET", "s")
        .current_dir(dir.path());
    Env::run_cmd(
        cmd,
        &[
            "--base-url",
            "http://api.keepnetlabs.com",
            "--client-id",
            "x",
            "companies",
        ],
    )
    .fails_with(2, &["plain http", "https://"]);
    run_bare(
        &["--sandbox", "users", "--company", "x", "--page-size", "0"],
        dir.path(),
    )
    .fails_with(2, &["page-size"]);
    run_bare(&["frobnicate"], dir.path()).fails_with(2, &["unrecognized subcommand"]);
}

#[test]
fn secret_on_the_command_line_is_warned_against() {
    let env = Env::small(3, 50);
    let reseller = env.sandbox.reseller();
    let mut cmd = crate::util::bare_command();
    cmd.env("KEEPNET_BASE_URL", env.sandbox.base_url())
        .current_dir(env.dir.path());
    let run = Env::run_cmd(
        cmd,
        &[
            "--client-id",
            &reseller.client_id,
            "--client-secret",
            &reseller.client_secret,
            "companies",
        ],
    );
    run.ok();
    assert!(run.stderr.contains("process list"), "{}", run.stderr);
    assert!(!run.stderr.contains(&reseller.client_secret));
}

#[test]
fn help_documents_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let help = run_bare(&["--help"], dir.path());
    let out = help.ok();
    for line in [
        "0  success",
        "2  usage",
        "3  authentication",
        "4  company",
        "5  API",
        "6  output",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
}
