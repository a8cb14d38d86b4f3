//! The end-to-end harness: a sandbox on a free loopback port, and the real binary driven
//! against it with a clean environment.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use keepnet_sandbox::{Config, Credentials, Sandbox};

/// A running sandbox, the runtime serving it, and a scratch folder.
pub struct Env {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    // Declared last: dropped after the sandbox, whose tasks it runs.
    _runtime: tokio::runtime::Runtime,
}

/// What a run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success\nstderr:\n{}", self.stderr);
        &self.stdout
    }

    /// Asserts the exit code and that stderr mentions every needle (case-insensitive).
    #[track_caller]
    pub fn fails_with(&self, code: i32, needles: &[&str]) {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        let lower = self.stderr.to_lowercase();
        for needle in needles {
            assert!(
                lower.contains(&needle.to_lowercase()),
                "stderr should mention {needle:?}:\n{}",
                self.stderr
            );
        }
    }

    /// stdout parsed as JSON Lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.ok()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }
}

impl Env {
    /// Starts a sandbox with `config` on a free port.
    pub fn start(config: Config) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(Sandbox::start(config))
            .expect("sandbox starts");
        Self {
            sandbox,
            dir: tempfile::tempdir().unwrap(),
            _runtime: runtime,
        }
    }

    /// A sandbox with default data but `users` per company and a `page_cap`.
    pub fn small(users: usize, page_cap: u32) -> Self {
        Self::start(Config {
            users_per_company: users,
            page_cap,
            ..Config::default()
        })
    }

    /// The binary with no inherited Keepnet settings and the given credentials.
    pub fn command_as(&self, credentials: &Credentials) -> Command {
        let mut cmd = bare_command();
        cmd.env("KEEPNET_BASE_URL", self.sandbox.base_url())
            .env("KEEPNET_CLIENT_ID", &credentials.client_id)
            .env("KEEPNET_CLIENT_SECRET", &credentials.client_secret)
            .current_dir(self.dir.path());
        cmd
    }

    /// The binary as the sandbox's reseller, started through `sh -c "<setup>; exec binary"` so
    /// the setup (a trap, a ulimit) applies to it.
    pub fn command_after(&self, setup: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{setup}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_keepnet-export"));
        scrub(&mut cmd);
        let reseller = self.sandbox.reseller();
        cmd.env("KEEPNET_BASE_URL", self.sandbox.base_url())
            .env("KEEPNET_CLIENT_ID", reseller.client_id)
            .env("KEEPNET_CLIENT_SECRET", reseller.client_secret)
            .current_dir(self.dir.path());
        cmd
    }

    /// Runs the binary as the sandbox's reseller.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from_output(
            self.command_as(&self.sandbox.reseller())
                .args(args)
                .output()
                .unwrap(),
        )
    }

    /// Runs the binary as the sandbox's reseller with these variables set too.
    pub fn run_with(&self, args: &[String], vars: &[(&str, &str)]) -> Run {
        let mut cmd = self.command_as(&self.sandbox.reseller());
        for (key, value) in vars {
            cmd.env(key, value);
        }
        Run::from_output(cmd.args(args).output().unwrap())
    }

    /// Runs the binary with a custom command.
    pub fn run_cmd(mut cmd: Command, args: &[&str]) -> Run {
        Run::from_output(cmd.args(args).output().unwrap())
    }

    /// The id of the one company with this name.
    pub fn company_id(&self, name: &str) -> String {
        let data = self.sandbox.dataset();
        let found = data.find_by_name(name);
        assert_eq!(found.len(), 1, "exactly one company named {name}");
        found[0].resource_id.clone()
    }

    /// Every user the sandbox serves now for `company_id` (deleted ones included), each as the
    /// API sends it.
    pub fn served_all(&self, company_id: &str) -> Vec<serde_json::Value> {
        self.sandbox.current_users_json(company_id)
    }

    /// What a default export holds: the served users that are not deleted, in order.
    pub fn served(&self, company_id: &str) -> Vec<serde_json::Value> {
        self.served_all(company_id)
            .into_iter()
            .filter(|u| !is_deleted(u))
            .collect()
    }

    /// The served users that are deleted, in order.
    pub fn served_deleted(&self, company_id: &str) -> Vec<serde_json::Value> {
        self.served_all(company_id)
            .into_iter()
            .filter(is_deleted)
            .collect()
    }

    /// A path inside the scratch folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Whether a served user is deleted, the way Keepnet's UI decides: `isDeleted`, or the status
/// `Deleted`.
pub fn is_deleted(user: &serde_json::Value) -> bool {
    user["isDeleted"] == true
        || user["status"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("deleted"))
}

/// The binary with every `KEEPNET_*` and `RUST_LOG` variable removed.
/// An earlier export a failed run must keep: `file` (its folder created) holding `previous`.
pub fn write_previous(file: &Path) {
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, "previous").unwrap();
}

/// After a failed run: `file` still holds `previous`, and its folder holds exactly `names`
/// (no temporary file, nothing new).
pub fn assert_previous_kept(file: &Path, names: &[&str]) {
    assert_eq!(
        std::fs::read(file).unwrap(),
        b"previous",
        "{}",
        file.display()
    );
    assert_eq!(
        crate::sinks::leftovers(file.parent().unwrap()),
        names,
        "no temporary or new file"
    );
}

pub fn bare_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keepnet-export"));
    scrub(&mut cmd);
    cmd
}

/// Removes inherited `KEEPNET_*` and `RUST_LOG` settings.
fn scrub(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("KEEPNET_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
}

/// Runs the binary with no sandbox and no credentials unless given in `args`.
pub fn run_bare(args: &[&str], dir: &Path) -> Run {
    Run::from_output(bare_command().args(args).current_dir(dir).output().unwrap())
}

/// A run of the binary watched through its stderr, to interrupt it at a chosen moment.
pub struct Watched {
    child: Child,
    stderr: BufReader<ChildStderr>,
}

impl Watched {
    /// Starts `cmd` with its stderr piped.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        Self { child, stderr }
    }

    /// Reads stderr line by line until `stop` says so (or it ends).
    pub fn read_until(&mut self, mut stop: impl FnMut(&str) -> bool) {
        let mut line = String::new();
        while self.stderr.read_line(&mut line).unwrap() > 0 {
            if stop(&line) {
                return;
            }
            line.clear();
        }
    }

    /// Sends SIGINT (as Ctrl-C does), reads the rest of stderr and waits: the exit code and
    /// that rest.
    pub fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap().code(), rest)
    }
}

/// The flags that send to a plain (no TLS) test server on loopback `port`, from `from`.
pub fn plain_smtp_args(port: u16, from: &str) -> Vec<String> {
    let port = port.to_string();
    [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port,
        "--smtp-tls",
        "none",
        "--mail-from",
        from,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
