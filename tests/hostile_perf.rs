//! Issue 28, points 9, 12 and 13: runs that share a state folder, and work that must not grow
//! faster than its input. Loopback only; every run is bounded in time by a generous guard
//! (a hang or a quadratic regression fails the test, no timing is asserted).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keepnet_sandbox::Config;

use crate::util::{bare_command, Env, Run};

/// Runs `cmd` with `args`, killing it and failing the test if it is still running after
/// `secs`: a guard against a hang or work that grows with the square of its input, not a
/// measurement.
fn within(mut cmd: Command, args: &[&str], secs: u64) -> Run {
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut from: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            bytes
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.join().unwrap()).unwrap(),
        stderr: String::from_utf8(err.join().unwrap()).unwrap(),
    }
}

/// The binary with no credentials, run in `dir`.
fn bare_in(dir: &Path) -> Command {
    let mut cmd = bare_command();
    cmd.current_dir(dir);
    cmd
}

// 12. Work that grows faster than the input ------------------------------------------------------

/// 3 users with 40,000 distinct fields the tool does not know took 70 s of CPU, fields
/// compared with fields for every cell. Now each step is linear, and an export accepts at most
/// 1000 such fields: more fails at once, naming the limit, with nothing published.
#[test]
fn forty_thousand_unknown_fields_fail_at_once_naming_the_limit() {
    let fields = |n: usize| (0..n).map(|i| format!("addedField{i}")).collect::<Vec<_>>();
    let env = Env::start(Config {
        users_per_company: 3,
        extra_user_fields: fields(40_000),
        ..Config::default()
    });
    for args in [
        vec!["users", "--company", "Initech", "--sink", "csv:out/u.csv"],
        vec!["users", "--company", "Initech", "--columns", "email"],
        vec!["users", "--company", "Initech"],
    ] {
        let run = within(env.command_as(&env.sandbox.reseller()), &args, 120);
        run.fails_with(
            5,
            &[
                "more than 1000 distinct fields keepnet-export does not know",
                "at most 1000",
            ],
        );
        assert!(run.stdout.is_empty(), "nothing written: {}", run.stdout);
    }
    assert!(!env.path("out/u.csv").exists(), "nothing published");

    // At the limit, every field is a column, in the order served.
    let env = Env::start(Config {
        users_per_company: 3,
        extra_user_fields: fields(1000 - 1),
        ..Config::default()
    });
    let run = within(
        env.command_as(&env.sandbox.reseller()),
        &["users", "--company", "Initech", "--sink", "csv:u.csv"],
        120,
    );
    run.ok();
    let csv = std::fs::read_to_string(env.path("u.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(header.last(), Some(&"addedField998"), "{}", header.len());
    assert_eq!(csv.lines().count(), 1 + 3);
}

/// `run --check` on a job file with 10,000 jobs took 34 s, and on one with 40,000 errors 37 s
/// (each error's line counted from the start of the file); both now finish in well under a
/// second, and only the first 100 errors are shown.
#[test]
fn run_check_is_linear_in_the_job_file() {
    let dir = tempfile::tempdir().unwrap();
    let jobs: String = (0..10_000)
        .map(|i| {
            format!(
                "[[job]]\nname = \"job-{i}\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:out/{i}.csv\"]\n\n"
            )
        })
        .collect();
    let file = dir.path().join("jobs.toml");
    std::fs::write(&file, jobs).unwrap();
    let run = within(
        bare_in(dir.path()),
        &["run", "--check", file.to_str().unwrap()],
        120,
    );
    let plan = run.ok();
    assert_eq!(
        plan.matches("\nJob job-").count(),
        10_000,
        "{}",
        &plan[..500]
    );
    assert!(plan.contains("Job job-9999 (line 49996)"));

    let mut broken =
        String::from("[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:a.csv\"]\n");
    for i in 0..40_000 {
        broken.push_str(&format!("k{i} = 1\n"));
    }
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, broken).unwrap();
    let run = within(
        bare_in(dir.path()),
        &["run", "--check", file.to_str().unwrap()],
        120,
    );
    run.fails_with(
        2,
        &[
            "40000 error(s) in",
            "broken.toml:104:1: unknown key `k99`",
            "... and 39900 more errors",
        ],
    );
    assert!(!run.stderr.contains("k100"), "the first 100 are shown");
    assert!(Path::new(&file).exists());
}
