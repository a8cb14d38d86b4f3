//! `cargo xtask bench`: the release binary against the sandbox running as a separate process,
//! over loopback HTTP, in the scenarios of the performance issue. Prints a Markdown table:
//! median wall time, rows/s and the client's peak RSS per scenario, and the ratios that the
//! targets are about, each computed within this one run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::sandbox::Sandbox;
use crate::{cargo, peer, workspace_root};

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

/// One timed client run.
struct Sample {
    wall: Duration,
    rows: u64,
    peak_rss_kib: u64,
}

/// Runs the client once; polls its peak RSS (VmHWM) from /proc while it runs.
fn run_client(binary: &Path, sandbox: &Sandbox, args: &[String]) -> Result<Sample> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .envs(sandbox.env())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the client")?;
    let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
    let stderr = child.stderr.take().context("client stderr")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = read_hwm(&status_path) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let log = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("client failed ({status}):\n{log}");
    }
    let rows = log
        .lines()
        .find(|l| l.contains("users exported"))
        .and_then(|l| l.split("users=").nth(1))
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .context("no \"users exported\" line in the client's log")?;
    Ok(Sample {
        wall,
        rows,
        peak_rss_kib: peak,
    })
}

pub(crate) fn read_hwm(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Medians of several runs.
struct Row {
    name: String,
    users: u64,
    wall: Duration,
    rows_per_s: f64,
    peak_rss_mib: f64,
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

impl Bench {
    /// Runs one scenario `runs` times and takes medians. Every scenario exports all of the
    /// company's users (`--status all`), so each run's rows are known and runs compare across
    /// versions, except those that pass their own `--status`.
    fn scenario(
        &self,
        sandbox: &Sandbox,
        name: &str,
        users: u64,
        client_args: &[&str],
        sinks: &[&str],
    ) -> Result<Row> {
        let (bench, binary, out) = (self, &self.binary, &self.out);
        let mut samples = Vec::new();
        for _ in 0..bench.runs {
            // Global flags first, then `users` and its own flags; `--status all` unless the
            // scenario chose one.
            let (status, global): (Vec<&str>, Vec<&str>) =
                match client_args.iter().position(|a| *a == "--status") {
                    Some(at) => (
                        client_args[at..=at + 1].to_vec(),
                        [&client_args[..at], &client_args[at + 2..]].concat(),
                    ),
                    None => (vec!["--status", "all"], client_args.to_vec()),
                };
            let current_only = status[1] != "all";
            let mut args: Vec<String> = global.iter().map(|s| s.to_string()).collect();
            args.extend(["users", "--company", "Initech", "--page-size"].map(String::from));
            args.push(sandbox.page_cap().to_string());
            args.extend(status.iter().map(|s| s.to_string()));
            for sink in sinks {
                args.push("--sink".into());
                args.push(format!(
                    "{sink}:{}",
                    out.join(format!("bench.{sink}")).display()
                ));
            }
            let sample = run_client(binary, sandbox, &args)?;
            // The current users: about nine in ten of the sandbox's (the rest are deleted).
            let plausible = match current_only {
                true => sample.rows < users && sample.rows > users * 8 / 10,
                false => sample.rows == users,
            };
            if !plausible {
                bail!("{name}: exported {} users of {users}", sample.rows);
            }
            samples.push(sample);
        }
        let wall = median(samples.iter().map(|s| s.wall).collect());
        let rows = samples[0].rows;
        let row = Row {
            name: name.to_owned(),
            users: rows,
            wall,
            rows_per_s: rows as f64 / wall.as_secs_f64(),
            peak_rss_mib: median(samples.iter().map(|s| s.peak_rss_kib).collect()) as f64 / 1024.0,
        };
        eprintln!(
            "xtask bench: {name}: {:.2} s, {:.0} rows/s, {:.1} MiB",
            row.wall.as_secs_f64(),
            row.rows_per_s,
            row.peak_rss_mib
        );
        Ok(row)
    }
}

/// Runs every scenario and prints the table.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    // The Python peer runs after minutes of scenarios: say now if it cannot.
    peer::available()?;
    cargo(&["build", "--release", "--bin", "keepnet-export"])?;
    let binary = workspace_root().join("target/release/keepnet-export");
    let scratch = tempfile_dir()?;
    let bench = Bench {
        binary: binary.clone(),
        out: scratch.clone(),
        runs: options.runs,
    };
    let (net_users, cpu_users) = if options.quick {
        (20_000, 100_000)
    } else {
        (100_000, 1_000_000)
    };
    let runs = options.runs;
    let mut rows = Vec::new();

    // Network-bound: 20 ms per request, 100 users per page.
    let latency_ms = 20;
    let page_cap = 100;
    let sandbox = Sandbox::start(&binary, net_users, page_cap, latency_ms)?;
    let concurrent = bench.scenario(
        &sandbox,
        "network-bound, concurrency 8, csv+xlsx",
        net_users,
        &["--concurrency", "8"],
        &["csv", "xlsx"],
    )?;
    let serial = bench.scenario(
        &sandbox,
        "network-bound, concurrency 1, csv+xlsx",
        net_users,
        &["--concurrency", "1"],
        &["csv", "xlsx"],
    )?;
    // Python peer (peer.rs): the script a user would write, on the same sandbox.
    let peer_net = peer::pair(&sandbox, net_users, &scratch)?;
    drop(sandbox);
    let pages = net_users.div_ceil(u64::from(page_cap));
    let ideal = Duration::from_millis(pages * latency_ms) / 8;

    // CPU-bound: no latency, large pages.
    let sandbox = Sandbox::start(&binary, cpu_users, 1000, 0)?;
    let jsonl = bench.scenario(&sandbox, "cpu-bound, jsonl", cpu_users, &[], &["jsonl"])?;
    let csv = bench.scenario(&sandbox, "cpu-bound, csv", cpu_users, &[], &["csv"])?;
    // The default selection: deleted users left out by the server's filter, every row checked.
    let current = bench.scenario(
        &sandbox,
        "cpu-bound, csv, current users only (default --status)",
        cpu_users,
        &["--status", "active,inactive"],
        &["csv"],
    )?;
    let xlsx = bench.scenario(&sandbox, "cpu-bound, xlsx", cpu_users, &[], &["xlsx"])?;
    let both = bench.scenario(
        &sandbox,
        "cpu-bound, csv+xlsx",
        cpu_users,
        &[],
        &["csv", "xlsx"],
    )?;
    drop(sandbox);
    // Memory: the same csv+xlsx export at a tenth of the size.
    let sandbox = Sandbox::start(&binary, cpu_users / 10, 1000, 0)?;
    let small = bench.scenario(
        &sandbox,
        "memory, csv+xlsx at a tenth",
        cpu_users / 10,
        &[],
        &["csv", "xlsx"],
    )?;
    // Python peer (peer.rs) again, without latency.
    let peer_small = peer::pair(&sandbox, cpu_users / 10, &scratch)?;
    drop(sandbox);

    let mut ratios = vec![
        format!(
            "network-bound wall / ideal bound ({} pages x {latency_ms} ms / 8 = {:.2} s): {:.2}x",
            pages,
            ideal.as_secs_f64(),
            concurrent.wall.as_secs_f64() / ideal.as_secs_f64()
        ),
        format!(
            "concurrency 1 / concurrency 8: {:.2}x faster",
            serial.wall.as_secs_f64() / concurrent.wall.as_secs_f64()
        ),
        format!(
            "csv+xlsx rate / xlsx-only rate: {:.0}%",
            100.0 * both.rows_per_s / xlsx.rows_per_s
        ),
        format!(
            "current users only (server-side filter, rows checked) / all users, CSV: {:.0}% of the rows/s",
            100.0 * current.rows_per_s / csv.rows_per_s
        ),
        format!(
            "peak RSS {} users / {} users: {:.2}x",
            cpu_users,
            cpu_users / 10,
            both.peak_rss_mib / small.peak_rss_mib
        ),
    ];
    // Python peer (peer.rs): both modes against keepnet-export's default (concurrency 8).
    ratios.extend(peer_net.ratios("network-bound", concurrent.wall, concurrent.peak_rss_mib));
    let tenth = format!("csv+xlsx at a tenth ({} users, no latency)", cpu_users / 10);
    ratios.extend(peer_small.ratios(&tenth, small.wall, small.peak_rss_mib));
    rows.extend([concurrent, serial, jsonl, csv, current, xlsx, both, small]);
    println!("| scenario | users | wall (median of {runs}) | rows/s | client peak RSS |");
    println!("|---|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {} | {:.2} s | {:.0} | {:.1} MiB |",
            row.name,
            row.users,
            row.wall.as_secs_f64(),
            row.rows_per_s,
            row.peak_rss_mib
        );
    }
    println!();
    for ratio in ratios {
        println!("- {ratio}");
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
