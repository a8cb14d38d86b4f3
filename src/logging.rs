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
        .with_writer(|| Escaping(std::io::stderr()));
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

/// stderr, with the bidirectional controls in log text escaped as `\u{202e}`: a company name
/// in a log line cannot reorder the line around it (`Evil\u{202e}xcod.csv` showing as
/// `Evilvsc.docx`). Control characters are escaped by the formatter itself.
struct Escaping(std::io::Stderr);

/// The UTF-8 form of a bidirectional control (U+202A-U+202E, U+2066-U+2069), as the char.
fn bidi_at(bytes: &[u8]) -> Option<char> {
    match bytes {
        [0xE2, 0x80, 0xAA..=0xAE, ..] | [0xE2, 0x81, 0xA6..=0xA9, ..] => {
            std::str::from_utf8(&bytes[..3]).ok()?.chars().next()
        }
        _ => None,
    }
}

impl std::io::Write for Escaping {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !(0..buf.len()).any(|i| bidi_at(&buf[i..]).is_some()) {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        let mut i = 0;
        while i < buf.len() {
            match bidi_at(&buf[i..]) {
                Some(c) => {
                    out.extend_from_slice(format!("\\u{{{:x}}}", u32::from(c)).as_bytes());
                    i += 3;
                }
                None => {
                    out.push(buf[i]);
                    i += 1;
                }
            }
        }
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
