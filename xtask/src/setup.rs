//! `cargo xtask setup [--no-install]`: finds what the tests need and installs what is missing.
//!
//! The tests talk to real servers and open what was sent with real tools. They need:
//! - Debian packages ([`PROGRAMS`]): OpenSSH's server and client (SFTP), 7z and age (encrypted
//!   files), Chromium (`render-email`), and Debian's Python with `venv` (exec plugins, and the
//!   interpreter of the environment below). Installed with `apt-get` when running as root;
//!   otherwise setup stops with the exact `sudo apt-get install` line.
//! - Python packages (aiosmtpd for the SMTP server, moto for S3, pyzipper to open AES ZIPs;
//!   requests and XlsxWriter for the Python peer of `bench`),
//!   pinned in `xtask/test-requirements.txt` and installed into a virtual environment the project
//!   owns, `target/test-python`: nothing goes into the system Python. The tests find it there
//!   (`keepnet_test_support::python`).
//! - The toolchain's `rustfmt` and `clippy` (`rustup component add`).
//!
//! `--no-install` checks and reports only. `ci` runs this first, before compiling anything.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// One program the tests run, and the Debian package that provides it.
struct Program {
    /// An absolute path, or a name looked up on the `PATH`.
    name: &'static str,
    /// The Debian package.
    package: &'static str,
    /// Which tests need it.
    used_by: &'static str,
}

/// Every program the tests or `ci` run.
const PROGRAMS: &[Program] = &[
    Program {
        name: "/usr/bin/python3",
        package: "python3",
        used_by: "exec-plugin tests; the tests' Python environment",
    },
    Program {
        name: "/usr/sbin/sshd",
        package: "openssh-server",
        used_by: "SFTP tests",
    },
    Program {
        name: "/usr/bin/ssh-keygen",
        package: "openssh-client",
        used_by: "SFTP tests",
    },
    Program {
        name: "/usr/bin/ssh-agent",
        package: "openssh-client",
        used_by: "SFTP tests",
    },
    Program {
        name: "/usr/bin/ssh-add",
        package: "openssh-client",
        used_by: "SFTP tests",
    },
    Program {
        name: "/usr/bin/unshare",
        package: "util-linux",
        used_by: "SFTP tests (sshd in its own namespace)",
    },
    Program {
        name: "7z",
        package: "p7zip-full",
        used_by: "encrypted ZIP tests",
    },
    Program {
        name: "age",
        package: "age",
        used_by: "age encryption tests",
    },
    Program {
        name: "age-keygen",
        package: "age",
        used_by: "age encryption tests",
    },
    Program {
        name: "chromium",
        package: "chromium",
        used_by: "render-email",
    },
];

/// The interpreter the tests' environment is made from.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// The pinned Python packages, relative to the workspace root.
const REQUIREMENTS: &str = "xtask/test-requirements.txt";

/// What the tests import from the environment; checked after every install.
const PYTHON_IMPORTS: &str =
    "import aiosmtpd, boto3, flask, moto.server, pyzipper, requests, xlsxwriter";

/// Install what is missing (`true`) or only check and report (`false`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Install,
    Check,
}

/// `cargo xtask setup [--no-install]`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mode = match args {
        [] => Mode::Install,
        [flag] if flag == "--no-install" => Mode::Check,
        _ => bail!("usage: cargo xtask setup [--no-install], got {args:?}"),
    };
    ensure(mode)
}

/// Makes sure every tool the tests need is there, installing what is missing in
/// [`Mode::Install`]; fails with the command that fixes it otherwise.
pub(crate) fn ensure(mode: Mode) -> Result<()> {
    debian_packages(mode)?;
    rust_components(mode)?;
    let python = python_environment(mode)?;
    eprintln!(
        "xtask: setup: {} programs found; Python environment {} ready",
        PROGRAMS.len(),
        python.display()
    );
    Ok(())
}

/// The Debian packages whose programs are missing, each once, in [`PROGRAMS`] order.
fn missing_packages() -> Vec<&'static str> {
    packages_for(|name| find_program(name).is_some(), python_has_venv())
}

/// [`missing_packages`] given which programs are found and whether `python3 -m venv` works.
fn packages_for(found: impl Fn(&str) -> bool, has_venv: bool) -> Vec<&'static str> {
    let mut missing: Vec<&'static str> = Vec::new();
    for program in PROGRAMS {
        if !found(program.name) && !missing.contains(&program.package) {
            missing.push(program.package);
        }
    }
    // Debian splits `venv` (and the `ensurepip` it needs) out of python3.
    if !has_venv {
        missing.push("python3-venv");
    }
    missing
}

/// The command that installs `missing`, as root.
fn install_line(missing: &[&str]) -> String {
    format!("apt-get install -y {}", missing.join(" "))
}

fn python_has_venv() -> bool {
    quiet(Command::new(SYSTEM_PYTHON).args(["-c", "import ensurepip, venv"]))
}

/// Installs the missing Debian packages with apt-get (as root), or stops with the line that
/// does.
fn debian_packages(mode: Mode) -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    let line = install_line(&missing);
    let mut why = String::new();
    for program in PROGRAMS.iter().filter(|p| find_program(p.name).is_none()) {
        let _ = writeln!(
            why,
            "  {:<20} not found: package {}, for {}",
            program.name, program.package, program.used_by
        );
    }
    if !python_has_venv() {
        let _ = writeln!(
            why,
            "  {SYSTEM_PYTHON} -m venv  not available: package python3-venv, for the tests' Python environment"
        );
    }
    if mode == Mode::Check {
        bail!("the tests need Debian packages that are missing:\n{why}install them with:\n  sudo {line}");
    }
    if find_program("apt-get").is_none() {
        bail!(
            "the tests need programs that are missing, and this machine has no apt-get:\n{why}\
             install the equivalent packages with the system's package manager, then run again"
        );
    }
    if !is_root() {
        bail!(
            "the tests need Debian packages that are missing, and installing them needs root:\n{why}\
             run:\n  sudo {line}\nthen run this command again"
        );
    }
    eprintln!("xtask: setup: installing {}", missing.join(" "));
    let apt = |args: &[&str]| -> Result<()> {
        eprintln!("xtask: apt-get {}", args.join(" "));
        // dpkg's progress (thousands of lines) is dropped; apt's errors go to stderr.
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq"];
    install.extend(&missing);
    apt(&install)?;
    let still = missing_packages();
    if !still.is_empty() {
        bail!(
            "apt-get installed {} but these are still missing: {}",
            missing.join(" "),
            still.join(" ")
        );
    }
    Ok(())
}

/// `rustfmt` and `clippy`, which `ci` runs through cargo.
fn rust_components(mode: Mode) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let has = |tool: &str| quiet(Command::new(&cargo).args([tool, "--version"]));
    let missing: Vec<&str> = [("fmt", "rustfmt"), ("clippy", "clippy")]
        .into_iter()
        .filter(|(tool, _)| !has(tool))
        .map(|(_, component)| component)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!("rustup component add {}", missing.join(" "));
    if mode == Mode::Check || find_program("rustup").is_none() {
        bail!(
            "the toolchain lacks {}: run\n  {line}",
            missing.join(" and ")
        );
    }
    eprintln!("xtask: {line}");
    let status = Command::new("rustup")
        .args(["component", "add"])
        .args(&missing)
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!("{line} failed ({status})");
    }
    Ok(())
}

/// The tests' virtual environment, made from Debian's Python, with the pinned packages; its
/// interpreter.
fn python_environment(mode: Mode) -> Result<PathBuf> {
    let root = crate::workspace_root();
    let requirements_path = root.join(REQUIREMENTS);
    let requirements = std::fs::read_to_string(&requirements_path)
        .with_context(|| format!("reading {}", requirements_path.display()))?;
    let env = python_env_dir();
    let python = env.join("bin/python3");
    // What was installed last, so an edited pin list reinstalls.
    let stamp = env.join("keepnet-requirements.txt");
    let current = python.is_file()
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements)
        && quiet(Command::new(&python).args(["-c", PYTHON_IMPORTS]));
    if current {
        return Ok(python);
    }
    if mode == Mode::Check {
        bail!(
            "the tests' Python environment {} is missing or out of date (it must hold {REQUIREMENTS}): run\n  cargo xtask setup",
            env.display()
        );
    }
    if !python.is_file() {
        eprintln!("xtask: {SYSTEM_PYTHON} -m venv {}", env.display());
        let status = Command::new(SYSTEM_PYTHON)
            .args(["-m", "venv", "--clear"])
            .arg(&env)
            .status()
            .with_context(|| format!("cannot run {SYSTEM_PYTHON}"))?;
        if !status.success() {
            bail!(
                "{SYSTEM_PYTHON} -m venv {} failed ({status})",
                env.display()
            );
        }
    }
    eprintln!(
        "xtask: {} -m pip install -r {REQUIREMENTS}",
        python.display()
    );
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            "--require-virtualenv",
            "-r",
        ])
        .arg(&requirements_path)
        .env_remove("PIP_USER")
        .status()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !status.success() {
        bail!(
            "installing {REQUIREMENTS} into {} failed ({status}); PyPI must be reachable",
            env.display()
        );
    }
    if !quiet(Command::new(&python).args(["-c", PYTHON_IMPORTS])) {
        bail!(
            "{} cannot `{PYTHON_IMPORTS}` after installing {REQUIREMENTS}",
            python.display()
        );
    }
    std::fs::write(&stamp, &requirements)
        .with_context(|| format!("writing {}", stamp.display()))?;
    Ok(python)
}

/// `target/test-python`: the tests look for it beside the folder their binaries are in.
pub(crate) fn python_env_dir() -> PathBuf {
    crate::target_dir().join("test-python")
}

/// The program's path: `name` itself when absolute, else the first match on the `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether the command runs and succeeds, its output discarded.
fn quiet(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this process runs as root (effective uid 0), read from `/proc/self/status`; `id -u`
/// where there is no `/proc`.
fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            // Real, effective, saved, filesystem.
            return line.split_whitespace().nth(2) == Some("0");
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_program_names_its_package_once() {
        assert!(packages_for(|_| true, true).is_empty());
        let none = packages_for(|_| false, false);
        assert_eq!(
            none,
            [
                "python3",
                "openssh-server",
                "openssh-client",
                "util-linux",
                "p7zip-full",
                "age",
                "chromium",
                "python3-venv"
            ]
        );
        let no_age = packages_for(|name| !name.starts_with("age"), true);
        assert_eq!(no_age, ["age"]);
        assert_eq!(
            install_line(&["age", "chromium"]),
            "apt-get install -y age chromium"
        );
    }
}
