//! `cargo xtask bench`: the release binary against the sandbox running as a separate process,
//! over loopback HTTP. Every scenario is reported against a bound taken in the same run, since
//! machines differ (the same commit measured 2.8x slower CPU-bound on one machine than on
//! another):
//!
//! - the **floor**: the same binary making the same page requests (`bench-floor`) with every
//!   body only checked to be well-formed JSON, no row built, nothing written;
//! - the **ideal bound** of a latency-bound run: its API requests x the latency / the
//!   request budget;
//! - the **Python peer**: the script a user would write (`peer.rs`).
//!
//! Prints a Markdown table (median wall time, rows/s, the client's peak RSS), then every
//! target with its ratio and whether it was met, then the machine.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::sandbox::Sandbox;
use crate::timed::timed;
use crate::{cargo, peer};

/// Options of `bench`.
struct Options {
    runs: usize,
    quick: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        runs: 3,
        quick: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => {
                options.runs = it
                    .next()
                    .context("--runs needs a number")?
                    .parse()
                    .context("--runs needs a number")?;
            }
            "--quick" => options.quick = true,
            other => bail!("unknown bench option {other:?} (options: --runs N, --quick)"),
        }
    }
    if options.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(options)
}

/// The sum of `key=N` over the client's log lines that contain `marker`.
fn logged_sum(log: &str, marker: &str, key: &str) -> Option<u64> {
    let needle = format!("{key}=");
    let values: Vec<u64> = log
        .lines()
        .filter(|l| l.contains(marker))
        .filter_map(|l| {
            let at = l.find(&needle)? + needle.len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Medians of several runs of one scenario.
struct Row {
    name: String,
    users: u64,
    wall: Duration,
    rows_per_s: f64,
    peak_rss_mib: f64,
    /// API requests of one run, tokens excluded (from the client's "api usage" line).
    requests: u64,
}

impl Row {
    fn secs(&self) -> f64 {
        self.wall.as_secs_f64()
    }
}

fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    values[values.len() / 2]
}

/// What every scenario shares: the binary, a scratch folder, how many runs.
struct Bench {
    binary: PathBuf,
    out: PathBuf,
    runs: usize,
}

/// Which rows a run must have written.
#[derive(Clone, Copy)]
enum Expect {
    /// Exactly this many.
    Exactly(u64),
    /// The current users of this many: about nine in ten (the rest are deleted).
    CurrentOf(u64),
}

impl Bench {
    /// Runs the binary with `args` `runs` times against `sandbox` and takes medians.
    fn measure(
        &self,
        sandbox: &Sandbox,
        name: &str,
        args: &[String],
        expect: Expect,
    ) -> Result<Row> {
        self.measure_each(sandbox, name, args, expect, &|| Ok(()))
    }

    /// [`Bench::measure`], calling `before` before each run.
    fn measure_each(
        &self,
        sandbox: &Sandbox,
        name: &str,
        args: &[String],
        expect: Expect,
        before: &dyn Fn() -> Result<()>,
    ) -> Result<Row> {
        let mut samples = Vec::new();
        for _ in 0..self.runs {
            before()?;
            let mut command = Command::new(&self.binary);
            command
                .args(args)
                .envs(sandbox.env())
                .env_remove("RUST_LOG");
            let run = timed(command, name)?;
            let rows = logged_sum(&run.stderr, "users exported", "users")
                .or_else(|| logged_sum(&run.stderr, "pages validated", "users"))
                .with_context(|| format!("{name}: no users count in the log:\n{}", run.stderr))?;
            let plausible = match expect {
                Expect::Exactly(users) => rows == users,
                Expect::CurrentOf(users) => rows < users && rows > users * 8 / 10,
            };
            if !plausible {
                bail!("{name}: {rows} users read, not what the sandbox holds");
            }
            let requests = logged_sum(&run.stderr, "api usage", "requests").unwrap_or(0)
                - logged_sum(&run.stderr, "api usage", "tokens").unwrap_or(0);
            samples.push((run, rows, requests));
        }
        let wall = median(samples.iter().map(|s| s.0.wall).collect());
        let rows = samples[0].1;
        let row = Row {
            name: name.to_owned(),
            users: rows,
            wall,
            rows_per_s: rows as f64 / wall.as_secs_f64(),
            peak_rss_mib: median(samples.iter().map(|s| s.0.peak_rss_kib).collect()) as f64
                / 1024.0,
            requests: samples[0].2,
        };
        eprintln!(
            "xtask bench: {name}: {:.2} s, {:.0} rows/s, {:.1} MiB, {} requests",
            row.secs(),
            row.rows_per_s,
            row.peak_rss_mib,
            row.requests
        );
        Ok(row)
    }

    /// Initech's users into `sinks` (every user, `--status all`, unless `status` says), with
    /// the global flags `global`.
    fn export(
        &self,
        sandbox: &Sandbox,
        name: &str,
        users: u64,
        global: &[&str],
        sinks: &[&str],
        status: Option<&str>,
    ) -> Result<Row> {
        let mut args = strings(global);
        args.extend(strings(&["users", "--company", "Initech"]));
        args.extend(strings(&["--status", status.unwrap_or("all")]));
        for sink in sinks {
            args.push("--sink".into());
            args.push(format!(
                "{sink}:{}",
                self.out.join(format!("bench.{sink}")).display()
            ));
        }
        let expect = match status {
            None => Expect::Exactly(users),
            Some(_) => Expect::CurrentOf(users),
        };
        self.measure(sandbox, name, &args, expect)
    }

    /// The floor of an export of Initech's users with the global flags `global`.
    fn floor(&self, sandbox: &Sandbox, name: &str, users: u64, global: &[&str]) -> Result<Row> {
        let mut args = strings(global);
        args.extend(strings(&[
            "bench-floor",
            "--company",
            "Initech",
            "--status",
            "all",
        ]));
        self.measure(sandbox, name, &args, Expect::Exactly(users))
    }

    /// A change report of Initech's `users` (`--state`, `--changes`, every user to CSV): a
    /// baseline (the state folder emptied before each run), then a second run comparing
    /// against the state the last one kept.
    fn state(&self, sandbox: &Sandbox, users: u64) -> Result<(Row, Row)> {
        let state = self.out.join("state");
        let mut args = strings(&["users", "--company", "Initech", "--status", "all"]);
        for (flag, file) in [
            ("--sink", "bench-state.csv"),
            ("--changes", "bench-changes.csv"),
        ] {
            args.push(flag.into());
            args.push(format!("csv:{}", self.out.join(file).display()));
        }
        args.push("--state".into());
        args.push(state.display().to_string());
        let empty = || {
            match std::fs::remove_dir_all(&state) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
            Ok(())
        };
        let baseline = self.measure_each(
            sandbox,
            &format!("--state, {users} users: the baseline run"),
            &args,
            Expect::Exactly(users),
            &empty,
        )?;
        let second = self.measure(
            sandbox,
            &format!("--state, {users} users: a run comparing with it"),
            &args,
            Expect::Exactly(users),
        )?;
        Ok((baseline, second))
    }

    /// Every company of the sandbox to a CSV file each, `companies` of them at once.
    fn fleet(&self, sandbox: &Sandbox, name: &str, users: u64, companies: u32) -> Result<Row> {
        let mut args = strings(&["--concurrency", "8", "users", "--company", "all"]);
        args.extend(["--company-concurrency".into(), companies.to_string()]);
        args.extend(strings(&["--status", "all", "--sink"]));
        args.push(format!("csv:{}/fleet/{{company}}.csv", self.out.display()));
        self.measure(sandbox, name, &args, Expect::Exactly(users))
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// One target: a measured ratio that must be at most its bound.
struct Target {
    what: String,
    ratio: f64,
    bound: f64,
}

impl Target {
    fn at_most(what: impl Into<String>, ratio: f64, bound: f64) -> Self {
        Self {
            what: what.into(),
            ratio,
            bound,
        }
    }

    fn line(&self) -> String {
        let verdict = if self.ratio <= self.bound {
            "met"
        } else {
            "MISSED"
        };
        format!(
            "{}: **{:.2}x** (target <= {}x): {verdict}",
            self.what, self.ratio, self.bound
        )
    }
}

/// Runs every scenario and prints the table, the targets and the machine.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    // The Python peer runs after minutes of scenarios: say now if it cannot.
    peer::available()?;
    cargo(&["build", "--release", "--bin", "keepnet-export"])?;
    let binary = crate::target_dir().join("release/keepnet-export");
    let scratch = tempfile_dir()?;
    let bench = Bench {
        binary: binary.clone(),
        out: scratch.clone(),
        runs: options.runs,
    };
    let scale = if options.quick { 10 } else { 1 };
    let (net_users, cpu_users) = (100_000 / scale, 1_000_000 / scale);
    let (fleet_companies, fleet_users_each) = (200 / scale, 500);
    let latency_ms = 20;
    let conc8 = ["--concurrency", "8"];
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    let mut notes = Vec::new();

    // Network-bound: 20 ms per request, the server capping pages at 100 (the client asks for
    // 1000 and follows).
    let sandbox = Sandbox::start(&binary, net_users, 100, latency_ms, &[])?;
    let net_floor = bench.floor(&sandbox, "network-bound, cap 100: floor", net_users, &conc8)?;
    let net = bench.export(
        &sandbox,
        "network-bound, cap 100, concurrency 8, csv+xlsx",
        net_users,
        &conc8,
        &["csv", "xlsx"],
        None,
    )?;
    let serial = bench.export(
        &sandbox,
        "network-bound, cap 100, concurrency 1, csv+xlsx",
        net_users,
        &["--concurrency", "1"],
        &["csv", "xlsx"],
        None,
    )?;
    let peer_net = peer::pair(&sandbox, net_users, &scratch)?;
    drop(sandbox);
    let ideal = |row: &Row| Duration::from_millis(row.requests * latency_ms) / 8;
    targets.push(Target::at_most(
        format!(
            "network-bound ({net_users} users, {latency_ms} ms, cap 100, concurrency 8) wall / \
             ideal bound ({} requests x {latency_ms} ms / 8 = {:.2} s)",
            net.requests,
            ideal(&net).as_secs_f64()
        ),
        net.secs() / ideal(&net).as_secs_f64(),
        1.3,
    ));
    notes.push(format!(
        "network-bound floor / ideal bound: {:.2}x; concurrency 1 / concurrency 8: {:.2}x",
        net_floor.secs() / ideal(&net_floor).as_secs_f64(),
        serial.secs() / net.secs()
    ));
    notes.extend(peer_net.ratios("network-bound, cap 100", net.wall, net.peak_rss_mib));

    // The same export where the server serves pages of 1000: ten times fewer round trips.
    let sandbox = Sandbox::start(&binary, net_users, 1000, latency_ms, &[])?;
    let big_floor = bench.floor(
        &sandbox,
        "network-bound, cap 1000: floor",
        net_users,
        &conc8,
    )?;
    let big = bench.export(
        &sandbox,
        "network-bound, cap 1000, concurrency 8, csv+xlsx",
        net_users,
        &conc8,
        &["csv", "xlsx"],
        None,
    )?;
    drop(sandbox);
    // A server that refuses pages over 100: the client falls back once.
    let sandbox = Sandbox::start(
        &binary,
        net_users,
        100,
        latency_ms,
        &["--refuse-oversize-pages"],
    )?;
    let refused = bench.export(
        &sandbox,
        "network-bound, pages over 100 refused, concurrency 8, csv+xlsx",
        net_users,
        &conc8,
        &["csv", "xlsx"],
        None,
    )?;
    drop(sandbox);
    notes.push(format!(
        "pages of 1000 (cap 1000) / pages of 100 (cap 100): {:.2}x the wall, {} / {} requests; \
         cap 1000 wall / ideal bound ({:.2} s): {:.2}x; its floor {:.2} s",
        big.secs() / net.secs(),
        big.requests,
        net.requests,
        ideal(&big).as_secs_f64(),
        big.secs() / ideal(&big).as_secs_f64(),
        big_floor.secs()
    ));
    notes.push(format!(
        "pages over 100 refused (one fallback) / capped at 100: {:.2}x the wall, {} / {} requests",
        refused.secs() / net.secs(),
        refused.requests,
        net.requests
    ));

    // CPU-bound: no latency, pages of 1000.
    let sandbox = Sandbox::start(&binary, cpu_users, 1000, 0, &[])?;
    let floor = bench.floor(&sandbox, "cpu-bound: floor", cpu_users, &[])?;
    let jsonl = bench.export(
        &sandbox,
        "cpu-bound, jsonl",
        cpu_users,
        &[],
        &["jsonl"],
        None,
    )?;
    let csv = bench.export(&sandbox, "cpu-bound, csv", cpu_users, &[], &["csv"], None)?;
    let current = bench.export(
        &sandbox,
        "cpu-bound, csv, current users only (default --status)",
        cpu_users,
        &[],
        &["csv"],
        Some("active,inactive"),
    )?;
    let xlsx = bench.export(&sandbox, "cpu-bound, xlsx", cpu_users, &[], &["xlsx"], None)?;
    let both = bench.export(
        &sandbox,
        "cpu-bound, csv+xlsx",
        cpu_users,
        &[],
        &["csv", "xlsx"],
        None,
    )?;
    drop(sandbox);
    for (row, bound) in [(&jsonl, 1.6), (&csv, 1.6), (&xlsx, 3.0)] {
        targets.push(Target::at_most(
            format!("{} / floor ({:.2} s)", row.name, floor.secs()),
            row.secs() / floor.secs(),
            bound,
        ));
    }
    targets.push(Target::at_most(
        "cpu-bound, csv+xlsx / xlsx alone",
        both.secs() / xlsx.secs(),
        1.1,
    ));
    notes.push(format!(
        "current users only (server-side filter, every row checked) / all users, CSV: {:.0}% of the rows/s",
        100.0 * current.rows_per_s / csv.rows_per_s
    ));

    // Memory: the same csv+xlsx export at a tenth of the size.
    let sandbox = Sandbox::start(&binary, cpu_users / 10, 1000, 0, &[])?;
    let small = bench.export(
        &sandbox,
        "memory, csv+xlsx at a tenth",
        cpu_users / 10,
        &[],
        &["csv", "xlsx"],
        None,
    )?;
    let peer_small = peer::pair(&sandbox, cpu_users / 10, &scratch)?;
    drop(sandbox);
    targets.push(Target::at_most(
        format!("peak RSS at {cpu_users} users, csv+xlsx / 64 MiB"),
        both.peak_rss_mib / 64.0,
        1.0,
    ));
    targets.push(Target::at_most(
        format!("peak RSS at {cpu_users} users / at {}", cpu_users / 10),
        both.peak_rss_mib / small.peak_rss_mib,
        1.5,
    ));
    let tenth = format!("csv+xlsx at a tenth ({} users, no latency)", cpu_users / 10);
    notes.extend(peer_small.ratios(&tenth, small.wall, small.peak_rss_mib));

    // A change report's memory: the comparison must stay within the export's bound.
    let state_users = 200_000 / scale;
    let sandbox = Sandbox::start(&binary, state_users, 1000, 0, &[])?;
    let alone = bench.export(
        &sandbox,
        &format!("--state, {state_users} users: the csv export alone"),
        state_users,
        &[],
        &["csv"],
        None,
    )?;
    let (baseline, compared) = bench.state(&sandbox, state_users)?;
    drop(sandbox);
    targets.push(Target::at_most(
        format!("peak RSS of a --state run comparing {state_users} users / 64 MiB"),
        compared.peak_rss_mib / 64.0,
        1.0,
    ));
    notes.push(format!(
        "--state at {state_users} users, peak RSS / the export alone ({:.1} MiB): baseline \
         {:.2}x, comparing {:.2}x; wall / the export alone: baseline {:.2}x, comparing {:.2}x",
        alone.peak_rss_mib,
        baseline.peak_rss_mib / alone.peak_rss_mib,
        compared.peak_rss_mib / alone.peak_rss_mib,
        baseline.secs() / alone.secs(),
        compared.secs() / alone.secs()
    ));

    // Many small customers: every company of a reseller, 20 ms per request, pages of 100.
    let extra = fleet_companies.to_string();
    let sandbox = Sandbox::start(
        &binary,
        fleet_users_each,
        100,
        latency_ms,
        &["--extra-companies", &extra],
    )?;
    let fleet_users = sandbox.total_users()?;
    let fleet = bench.fleet(
        &sandbox,
        &format!(
            "every company ({fleet_companies} + the built-in ones) x {fleet_users_each} users, \
             {latency_ms} ms, 8 requests in flight, 8 companies at once, csv each"
        ),
        fleet_users,
        8,
    )?;
    let wide = bench.fleet(&sandbox, "the same, 32 companies at once", fleet_users, 32)?;
    drop(sandbox);
    for row in [&fleet, &wide] {
        notes.push(format!(
            "{}: wall / ideal bound ({} requests x {latency_ms} ms / 8 = {:.2} s): {:.2}x",
            row.name,
            row.requests,
            ideal(row).as_secs_f64(),
            row.secs() / ideal(row).as_secs_f64()
        ));
    }

    rows.extend([net_floor, net, serial, big_floor, big, refused]);
    rows.extend([floor, jsonl, csv, current, xlsx, both, small]);
    rows.extend([alone, baseline, compared, fleet, wide]);
    println!(
        "| scenario | users | wall (median of {}) | rows/s | client peak RSS | API requests |",
        options.runs
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {} | {:.2} s | {:.0} | {:.1} MiB | {} |",
            row.name,
            row.users,
            row.secs(),
            row.rows_per_s,
            row.peak_rss_mib,
            row.requests
        );
    }
    println!();
    println!("Targets:");
    println!();
    for target in &targets {
        println!("- {}", target.line());
    }
    println!();
    println!("Other ratios:");
    println!();
    for note in notes {
        println!("- {note}");
    }
    println!();
    println!("machine: {}", machine());
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("keepnet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// CPU model, core count and memory, for the record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem}")
}
