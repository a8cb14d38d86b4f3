//! Output plugins in any language: the rows of an export, streamed as JSON Lines to a child
//! process's stdin.
//!
//! `--sink exec:COMMAND` runs `sh -c COMMAND` ([`ExecCommand::Shell`]); `--sink NAME:ARG` runs
//! an executable `keepnet-export-sink-NAME` found on `PATH` ([`discover`]) with the argument
//! `ARG` ([`ExecCommand::Program`]). Either way the child reads protocol v1 on its stdin:
//!
//! ```text
//! {"protocol":"keepnet-export/rows","version":1,"export":{...},"columns":[...],"keys":"api"}
//! {"email":"ayse@example.com","firstName":"Ayşe",...}      one line per user
//! {"end":true,"rows":1}                                     only when the run succeeded
//! ```
//!
//! then EOF. EOF without the trailer means the run was aborted: the plugin must publish
//! nothing. Its exit status decides: 0 is success, anything else fails the whole run. The full
//! specification is `docs/exec-protocol.md`.
//!
//! The plugin publishes its own outputs, so [`Sink::commit`] returns no artifact: for this sink,
//! a successful [`Sink::finish`] (trailer sent, exit status 0) is the point of no return.

mod discover;
mod process;

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

use keepnet_sink::{Artifact, Cell, Column, ColumnKind, ExportInfo, HeaderStyle, Sink, SinkError};
use serde::Serialize;

pub use discover::{discover, discover_in, PLUGIN_PREFIX};

/// The protocol version this crate speaks (the header's `version`).
pub const PROTOCOL_VERSION: u32 = 1;

/// The header's `protocol` value.
pub const PROTOCOL_NAME: &str = "keepnet-export/rows";

/// Bytes buffered before they are written to the plugin's stdin.
const BUFFER: usize = 64 * 1024;

/// The program a plugin runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecCommand {
    /// `--sink exec:COMMAND`: run through `sh -c COMMAND` (so pipes and arguments work).
    Shell(String),
    /// A discovered plugin `keepnet-export-sink-NAME` run directly with its arguments
    /// (`--sink NAME:ARG` -> args `[ARG]`).
    Program {
        /// The executable, e.g. from [`discover`].
        path: PathBuf,
        /// Its arguments.
        args: Vec<String>,
    },
}

impl ExecCommand {
    fn command(&self) -> Command {
        match self {
            ExecCommand::Shell(line) => {
                let mut command = Command::new(if cfg!(unix) { "/bin/sh" } else { "sh" });
                command.arg("-c").arg(line);
                command
            }
            ExecCommand::Program { path, args } => {
                let mut command = Command::new(path);
                command.args(args);
                command
            }
        }
    }
}

impl fmt::Display for ExecCommand {
    /// The command as error messages show it: the shell line, or the program and its arguments.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecCommand::Shell(line) => f.write_str(line),
            ExecCommand::Program { path, args } => {
                write!(f, "{}", path.display())?;
                for arg in args {
                    write!(f, " {arg}")?;
                }
                Ok(())
            }
        }
    }
}

/// A sink that runs a plugin and streams it the rows (protocol v1).
///
/// Nothing runs until [`Sink::begin`]. Dropping a sink that was begun but not finished is the
/// same as [`Sink::abort`]: the plugin sees EOF without the trailer, and is killed (with its
/// descendants) if it has not exited 2 s later.
pub struct ExecSink {
    command: ExecCommand,
    header: HeaderStyle,
    keys: Vec<String>,
    child: Option<Child>,
    stdin: Option<BufWriter<ChildStdin>>,
    line: Vec<u8>,
    rows: u64,
    finished: bool,
}

impl ExecSink {
    /// A sink that will run `command`, keying rows by column key ([`HeaderStyle::Api`]) or
    /// label ([`HeaderStyle::Human`]). Starts nothing.
    pub fn new(command: ExecCommand, header: HeaderStyle) -> Self {
        Self {
            command,
            header,
            keys: Vec::new(),
            child: None,
            stdin: None,
            line: Vec::with_capacity(1024),
            rows: 0,
            finished: false,
        }
    }

    /// The command this sink runs.
    pub fn command(&self) -> &ExecCommand {
        &self.command
    }

    /// Writes `bytes` to the plugin's stdin, turning a failure into the sink's error.
    fn send(&mut self, bytes: &[u8], flush: bool) -> Result<(), SinkError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| SinkError::Invalid(format!("exec `{}` is not running", self.command)))?;
        let mut result = stdin.write_all(bytes);
        if flush && result.is_ok() {
            result = stdin.flush();
        }
        result.map_err(|e| self.write_failed(e))
    }

    /// Stops the plugin after a write to it failed, and says why, with its exit status.
    fn write_failed(&mut self, error: io::Error) -> SinkError {
        let how = match self.stop() {
            process::Stopped::Exited(status) => describe(status),
            process::Stopped::Killed => "was killed: it kept running without reading".to_owned(),
            process::Stopped::NotRunning => "was not running".to_owned(),
        };
        let message = if error.kind() == io::ErrorKind::BrokenPipe {
            format!(
                "exec `{}` stopped reading its input after {} rows: it {how}",
                self.command, self.rows
            )
        } else {
            format!(
                "exec `{}`: cannot write to its input: {error}; it {how}",
                self.command
            )
        };
        SinkError::other(message)
    }

    /// Closes stdin without the trailer (buffered rows are dropped, not sent), waits up to 2 s
    /// for the plugin to exit, then kills it and its descendants. Reaps it either way.
    fn stop(&mut self) -> process::Stopped {
        if let Some(stdin) = self.stdin.take() {
            // `into_parts` hands the buffer back instead of flushing it: a plugin that stopped
            // reading must not block us here.
            drop(stdin.into_parts());
        }
        match self.child.take() {
            Some(child) => process::stop(child),
            None => process::Stopped::NotRunning,
        }
    }
}

impl Sink for ExecSink {
    fn begin(&mut self, export: &ExportInfo, columns: &[Column]) -> Result<(), SinkError> {
        if self.child.is_some() || self.finished {
            return Err(SinkError::Invalid(format!(
                "exec `{}` was already started",
                self.command
            )));
        }
        self.keys = columns
            .iter()
            .map(|c| c.header(self.header).to_owned())
            .collect();
        let mut command = self.command.command();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        // The runner's own settings (API and SMTP credentials) are not the plugin's business.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KEEPNET_") {
                command.env_remove(name);
            }
        }
        command
            .env("KEEPNET_EXPORT_PROTOCOL", PROTOCOL_VERSION.to_string())
            .env("KEEPNET_EXPORT_COMPANY", &export.company_name)
            .env("KEEPNET_EXPORT_COMPANY_ID", &export.company_id);
        let mut child = command.spawn().map_err(|e| {
            SinkError::Invalid(format!(
                "exec: cannot start `{}`: {}",
                self.command,
                process::io_message(&e)
            ))
        })?;
        let stdin = child.stdin.take();
        self.child = Some(child);
        let Some(stdin) = stdin else {
            self.stop();
            return Err(SinkError::Invalid(format!(
                "exec: `{}` has no stdin",
                self.command
            )));
        };
        self.stdin = Some(BufWriter::with_capacity(BUFFER, stdin));
        let mut line = header_line(export, columns, self.header);
        line.push(b'\n');
        // Sent at once, so a plugin can check the header before the first page arrives.
        self.send(&line, true)
    }

    fn write_row(&mut self, row: &[Cell<'_>]) -> Result<(), SinkError> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let result = keepnet_sink_jsonl::encode_row(&mut line, &self.keys, row).and_then(|()| {
            line.push(b'\n');
            self.send(&line, false)
        });
        self.line = line;
        result?;
        self.rows += 1;
        Ok(())
    }

    /// The plugin publishes when its input ends: finish it after every other sink.
    fn finish_last(&self) -> bool {
        true
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if self.child.is_none() {
            return Err(SinkError::Invalid(format!(
                "exec `{}` finished but not running",
                self.command
            )));
        }
        let trailer = format!("{{\"end\":true,\"rows\":{}}}\n", self.rows);
        self.send(trailer.as_bytes(), true)?;
        if let Some(stdin) = self.stdin.take() {
            drop(stdin.into_parts()); // flushed above: this closes the pipe
        }
        let mut child = self.child.take().expect("checked above");
        let status = child.wait().map_err(|e| {
            let error = SinkError::other(format!(
                "exec `{}`: cannot wait for it: {}",
                self.command,
                process::io_message(&e)
            ));
            let _ = process::stop(child);
            error
        })?;
        if status.success() {
            self.finished = true;
            Ok(())
        } else {
            Err(SinkError::other(format!(
                "exec `{}` {}",
                self.command,
                describe(status)
            )))
        }
    }

    fn commit(&mut self) -> Result<Vec<Artifact>, SinkError> {
        if self.finished {
            Ok(Vec::new())
        } else {
            Err(SinkError::Invalid(format!(
                "exec `{}` committed before it finished",
                self.command
            )))
        }
    }

    fn abort(&mut self) {
        self.stop();
    }
}

impl Drop for ExecSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a process ended, for messages: `exited with status 3`, `was killed by signal 9
/// (SIGKILL)`.
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                3 => " (SIGQUIT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                13 => " (SIGPIPE)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("was killed by signal {signal}{name}");
        }
    }
    format!("ended abnormally ({status})")
}

/// The header line (without its newline) a plugin receives first: the export, the columns, and
/// whether rows are keyed by column key (`"keys":"api"`) or label (`"keys":"human"`).
///
/// ```
/// use keepnet_sink::{Column, ColumnKind, ExportInfo, HeaderStyle, Timestamp};
///
/// let export = ExportInfo {
///     company_name: "Acme".into(),
///     company_id: "xC5kfGz7w2Nz".into(),
///     started_at: Timestamp::from_unix(1_709_633_730, 0),
///     expected_rows: None,
/// };
/// let columns = [Column::new("email", "Email", ColumnKind::Text)];
/// let line = keepnet_sink_exec::header_line(&export, &columns, HeaderStyle::Api);
/// assert_eq!(
///     String::from_utf8(line).unwrap(),
///     r#"{"protocol":"keepnet-export/rows","version":1,"export":{"company":{"name":"Acme","resourceId":"xC5kfGz7w2Nz"},"startedAt":"2024-03-05T10:15:30.000Z","expectedRows":null},"columns":[{"key":"email","label":"Email","kind":"text"}],"keys":"api"}"#
/// );
/// ```
pub fn header_line(export: &ExportInfo, columns: &[Column], header: HeaderStyle) -> Vec<u8> {
    let header = Header {
        protocol: PROTOCOL_NAME,
        version: PROTOCOL_VERSION,
        export: HeaderExport {
            company: HeaderCompany {
                name: &export.company_name,
                resource_id: &export.company_id,
            },
            started_at: export.started_at.to_string(),
            expected_rows: export.expected_rows,
        },
        columns: columns
            .iter()
            .map(|c| HeaderColumn {
                key: &c.key,
                label: &c.label,
                kind: kind_name(c.kind),
            })
            .collect(),
        keys: match header {
            HeaderStyle::Api => "api",
            HeaderStyle::Human => "human",
        },
    };
    serde_json::to_vec(&header).expect("strings and numbers always serialize")
}

/// A column kind's name in the header.
fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Identifier => "identifier",
        ColumnKind::DateTime => "dateTime",
        ColumnKind::Bool => "bool",
        ColumnKind::Fields => "fields",
        ColumnKind::Json => "json",
        ColumnKind::Record => "record",
        // Text, and kinds added later: their cells are strings or null.
        _ => "text",
    }
}

#[derive(Serialize)]
struct Header<'a> {
    protocol: &'static str,
    version: u32,
    export: HeaderExport<'a>,
    columns: Vec<HeaderColumn<'a>>,
    keys: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeaderExport<'a> {
    company: HeaderCompany<'a>,
    started_at: String,
    expected_rows: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeaderCompany<'a> {
    name: &'a str,
    resource_id: &'a str,
}

#[derive(Serialize)]
struct HeaderColumn<'a> {
    key: &'a str,
    label: &'a str,
    kind: &'static str,
}
