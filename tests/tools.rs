//! `whoami`, `completions` and `man`.

use serde_json::Value;

use crate::util::{run_bare, Env};

#[test]
fn whoami_shows_a_reseller_that_can_export() {
    let env = Env::small(3, 10);
    let out = env.run(&["whoami"]);
    let text = out.ok();
    assert!(text.contains("role:            Reseller"), "{text}");
    assert!(text.contains("Northwind MSSP"), "{text}");
    assert_eq!(text.matches("ok ").count(), 4, "{text}");
    let json: Value = serde_json::from_str(env.run(&["whoami", "--format", "json"]).ok()).unwrap();
    assert_eq!(json["canExport"], true);
    assert_eq!(json["permissions"].as_array().unwrap().len(), 4);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !all.contains(&env.sandbox.reseller().client_secret) && !all.contains("eyJ"),
        "no secret, no token"
    );
}

#[test]
fn whoami_fails_precisely_for_a_company_admin() {
    let env = Env::small(3, 10);
    let run = Env::run_cmd(env.command_as(&env.sandbox.company_admin()), &["whoami"]);
    run.fails_with(
        4,
        &["Company Admin", "not a Reseller", "Client Role = Reseller"],
    );
    assert!(run.stdout.contains("Globex Corporation"), "{}", run.stdout);
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = run_bare(&["completions", shell], dir.path());
        let script = run.ok();
        for word in ["keepnet-export", "users", "company", "sink", "whoami"] {
            assert!(script.contains(word), "{shell} completion mentions {word}");
        }
    }
    let man = run_bare(&["man"], dir.path());
    let page = man.ok();
    assert!(
        page.starts_with(".ie") || page.contains(".TH keepnet-export 1"),
        "{page}"
    );
    assert!(page.contains("keepnet\\-export\\-users") || page.contains("users"));
    run_bare(&["completions", "tcsh"], dir.path()).fails_with(2, &["invalid value"]);
}

fn slow_env() -> Env {
    Env::start(keepnet_sandbox::Config {
        users_per_company: 120,
        page_cap: 10,
        latency: std::time::Duration::from_millis(40),
        ..keepnet_sandbox::Config::default()
    })
}

#[test]
fn progress_lines_when_not_a_terminal_and_silence_with_q() {
    let env = slow_env();
    let out = env.path("u.csv");
    let sink = format!("csv:{}", out.display());
    let run = env.run(&[
        "--concurrency",
        "1",
        "--progress-interval",
        "0.1",
        "users",
        "--company",
        "Initech",
        "--sink",
        &sink,
    ]);
    run.ok();
    let of = format!("of={}", env.served(&env.company_id("Initech")).len());
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("progress"))
        .collect();
    assert!(lines.len() >= 2, "periodic progress lines:\n{}", run.stderr);
    assert!(
        lines
            .iter()
            .all(|l| l.contains("company=Initech") && l.contains(&of) && l.contains("eta=")),
        "{lines:?}"
    );
    let quiet = env.run(&[
        "-q",
        "--progress-interval",
        "0.1",
        "users",
        "--company",
        "Initech",
        "--sink",
        &sink,
    ]);
    quiet.ok();
    assert_eq!(quiet.stderr, "", "-q prints nothing on success");
}

#[test]
fn a_progress_bar_on_a_terminal() {
    let env = slow_env();
    let out = env.path("u.csv");
    let binary = env!("CARGO_BIN_EXE_keepnet-export");
    // `script` runs the command under a pseudo-terminal, as a person at a terminal would.
    let command = format!(
        "{binary} --concurrency 1 users --company Initech --sink csv:{}",
        out.display()
    );
    let cmd = env.command_as(&env.sandbox.reseller());
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{screen}");
    let current = env.served(&env.company_id("Initech")).len();
    assert!(
        screen.contains("Initech") && screen.contains(&format!("{current}/{current} users")),
        "a bar with counts:\n{screen}"
    );
    assert!(
        screen.contains("=>") || screen.contains("=="),
        "a drawn bar:\n{screen}"
    );
    assert!(
        !screen.contains("INFO"),
        "routine log lines stay out of the bar's way:\n{screen}"
    );
}
