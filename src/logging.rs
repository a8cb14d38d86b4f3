//! stderr logging from `-q` / `-v` flags (or `RUST_LOG`, which wins when set), as text for
//! people or, with `--log-format json`, one JSON object per line for log shippers.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Logs go to stderr so stdout stays clean for data.
/// With progress bars on a terminal, routine lines stay out of their way (warnings still show).
pub fn init(verbose: u8, quiet: bool, bars: bool, json: bool) {
    let ours = [
        "keepnet_export",
        "keepnet_export_core",
        "keepnet_api",
        "keepnet_jobs",
        "keepnet_sink",
        "keepnet_sandbox",
    ];
    let directives = match (quiet, verbose) {
        (true, _) => "error".to_owned(),
        (false, 0) if bars => "warn".to_owned(),
        (false, 0) => with(&ours, "info", "warn"),
        (false, 1) => with(&ours, "debug", "warn"),
        (false, 2) => with(&ours, "trace", "info"),
        (false, _) => "trace".to_owned(),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        // Shippers want a time, the level, the target and the fields of every event, and
        // no colours.
        builder
            .json()
            .with_ansi(false)
            .with_target(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(verbose > 0)
            .without_time()
            .try_init()
    };
}

fn with(ours: &[&str], level: &str, rest: &str) -> String {
    let mut parts: Vec<String> = ours.iter().map(|c| format!("{c}={level}")).collect();
    parts.push(rest.to_owned());
    parts.join(",")
}
