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

// 9. One run at a time per state folder ------------------------------------------------------------

/// A run of the binary in the background, its output going to files.
struct Background {
    child: std::process::Child,
    stderr: std::path::PathBuf,
}

impl Background {
    fn start(mut cmd: Command, args: &[&str], stderr: std::path::PathBuf) -> Self {
        let child = cmd
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Self { child, stderr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `secs`) for it to end: its exit code and stderr.
    fn finish(mut self, secs: u64) -> Run {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("still running after {secs} s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap(),
        }
    }
}

/// A sandbox slow enough that a run holds its state lock for seconds: pages of 25 with
/// 150 ms a request, read one at a time (about 40 pages after the lock is taken).
fn slow() -> Env {
    Env::start(Config {
        users_per_company: 1000,
        page_cap: 25,
        latency: Duration::from_millis(150),
        ..Config::default()
    })
}

/// Waits (at most 60 s) until `path` exists, while `run` has not ended.
fn wait_for(path: &Path, run: &mut Background) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        if let Some(status) = run.child.try_wait().unwrap() {
            panic!(
                "ended ({status}) before {} appeared:\n{}",
                path.display(),
                std::fs::read_to_string(&run.stderr).unwrap()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Two runs on one state folder both reported the same changes and the later-saving one
/// could move the state back. Now the second is refused at once, naming the first (host, pid),
/// having fetched no user and written nothing; one that waits runs after the first.
#[test]
fn a_second_run_on_a_state_folder_is_refused_naming_the_holder() {
    let first_env = slow();
    let second_env = Env::small(30, 50);
    let state = first_env.path("st");
    let state_arg = state.to_str().unwrap();
    let lock = state.join("keepnet-export.lock");
    let mut first = Background::start(
        first_env.command_as(&first_env.sandbox.reseller()),
        &[
            "--concurrency",
            "1",
            "users",
            "--company",
            "Initech",
            "--sink",
            "csv:first.csv",
            "--state",
            state_arg,
        ],
        first_env.path("first.log"),
    );
    wait_for(&lock, &mut first);
    let holder: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    assert_eq!(holder["pid"], first.pid(), "{holder}");
    let host = holder["host"].as_str().unwrap().to_owned();

    let second = within(
        second_env.command_as(&second_env.sandbox.reseller()),
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            "csv:second.csv",
            "--changes",
            "csv:second-changes.csv",
            "--state",
            state_arg,
        ],
        60,
    );
    second.fails_with(
        6,
        &[
            "in use by another keepnet-export run",
            &format!("host {host}, pid {}", first.pid()),
            "keepnet-export.lock",
            "nothing was exported",
        ],
    );
    assert_eq!(second_env.sandbox.stats().user_search_requests, 0);
    assert!(!second_env.path("second.csv").exists());
    assert!(!second_env.path("second-changes.csv").exists());

    // One that waits runs once the first has ended, against the state the first kept.
    let waiting = Background::start(
        second_env.command_as(&second_env.sandbox.reseller()),
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            "csv:waited.csv",
            "--state",
            state_arg,
            "--state-wait",
            "120",
            "--summary-json",
            "waited.json",
        ],
        second_env.path("waited.log"),
    );
    let first = first.finish(120);
    first.ok();
    let waited = waiting.finish(120);
    waited.ok();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(second_env.path("waited.json")).unwrap())
            .unwrap();
    let changes = &summary["companies"][0]["changes"];
    assert_eq!(
        changes["baseline"], false,
        "it compared with the first run's state: {changes}"
    );
    assert!(changes["left"].as_u64().unwrap() > 500, "{changes}");
    assert!(!lock.exists(), "released");
}

/// A run killed while it holds the lock leaves its lock file behind; the next run sees that
/// its process is gone, takes the lock over with a warning naming it, and runs.
#[test]
fn the_lock_of_a_killed_run_is_taken_over() {
    let env = slow();
    let lock = env.path("st/keepnet-export.lock");
    let mut killed = Background::start(
        env.command_as(&env.sandbox.reseller()),
        &[
            "--concurrency",
            "1",
            "users",
            "--company",
            "Initech",
            "--sink",
            "csv:killed.csv",
            "--state",
            "st",
        ],
        env.path("killed.log"),
    );
    wait_for(&lock, &mut killed);
    let pid = killed.pid();
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    assert!(lock.exists(), "a killed run cannot release its lock");
    assert!(!env
        .path("st")
        .join(format!("{}.state.json", env.company_id("Initech")))
        .exists());

    let fast = Env::small(30, 50);
    let state = env.path("st");
    let next = within(
        fast.command_as(&fast.sandbox.reseller()),
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            "csv:next.csv",
            "--state",
            state.to_str().unwrap(),
        ],
        60,
    );
    next.ok();
    assert!(
        next.stderr
            .contains("took over a stale lock on the state folder")
            && next.stderr.contains(&format!("pid {pid}"))
            && next
                .stderr
                .contains(&format!("process {pid} no longer exists")),
        "{}",
        next.stderr
    );
    assert!(state
        .join(format!("{}.state.json", fast.company_id("Initech")))
        .exists());
    assert!(!lock.exists(), "released");
}
