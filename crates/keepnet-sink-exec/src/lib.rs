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
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keepnet_sink::{Artifact, Cell, Column, ColumnKind, ExportInfo, HeaderStyle, Sink, SinkError};
use serde::Serialize;

pub use discover::{discover, discover_in, PLUGIN_PREFIX};

/// The protocol version this crate speaks (the header's `version`).
pub const PROTOCOL_VERSION: u32 = 1;

/// The header's `protocol` value.
pub const PROTOCOL_NAME: &str = "keepnet-export/rows";

/// Bytes buffered before they are handed to the plugin's stdin.
const BUFFER: usize = 64 * 1024;

/// How long, by default, a plugin may leave its input unread, or keep running after its input
/// ended, before it is stopped (see [`ExecSink::with_timeout`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The thread writing to the plugin's stdin, so that a plugin that stops reading can block
/// only that thread, never the run: chunks are handed over with a deadline.
struct Pipe {
    chunks: SyncSender<Vec<u8>>,
    /// The write error that ended the thread, if one did.
    outcome: Receiver<io::Error>,
    thread: JoinHandle<()>,
}

impl Pipe {
    fn start(mut stdin: ChildStdin) -> Self {
        let (chunks, queue) = mpsc::sync_channel::<Vec<u8>>(1);
        let (report, outcome) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("keepnet-exec-pipe".into())
            .spawn(move || {
                for chunk in queue {
                    if let Err(e) = stdin.write_all(&chunk).and_then(|()| stdin.flush()) {
                        let _ = report.send(e);
                        return;
                    }
                }
                // The queue closed: dropping stdin here is the plugin's EOF.
            })
            .expect("a thread can be started");
        Self {
            chunks,
            outcome,
            thread,
        }
    }
}

/// Why a hand-over to the plugin did not happen.
enum Stall {
    /// It did not take its input for the whole timeout.
    TimedOut,
    /// The run is being stopped.
    Stopping,
    /// Writing failed (the plugin closed its input, or exited).
    Failed(io::Error),
}

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
    pipe: Option<Pipe>,
    pending: Vec<u8>,
    line: Vec<u8>,
    rows: u64,
    finished: bool,
    timeout: Duration,
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
            pipe: None,
            pending: Vec::with_capacity(BUFFER),
            line: Vec::with_capacity(1024),
            rows: 0,
            finished: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// How long the plugin may leave its input unread, and how long it may keep running after
    /// its input ended, before it is stopped and the run fails (default [`DEFAULT_TIMEOUT`]).
    /// A stop request ([`keepnet_sink::request_stop`]) ends any wait at once.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command this sink runs.
    pub fn command(&self) -> &ExecCommand {
        &self.command
    }

    /// Queues `bytes` for the plugin, handing a chunk over when the buffer is full or
    /// `flush` is asked; a failure or a stall becomes the sink's error.
    fn send(&mut self, bytes: &[u8], flush: bool) -> Result<(), SinkError> {
        if self.pipe.is_none() {
            return Err(SinkError::Invalid(format!(
                "exec `{}` is not running",
                self.command
            )));
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() < BUFFER && !flush {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(BUFFER));
        match self.hand_over(chunk) {
            Ok(()) => Ok(()),
            Err(stall) => Err(self.stalled(stall)),
        }
    }

    /// Hands `chunk` to the writer thread, waiting at most the timeout for it to take it.
    fn hand_over(&mut self, mut chunk: Vec<u8>) -> Result<(), Stall> {
        let pipe = self.pipe.as_ref().expect("checked by send");
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match pipe.chunks.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => {
                    let error = pipe.outcome.try_recv().unwrap_or_else(|_| {
                        io::Error::new(io::ErrorKind::BrokenPipe, "its input was closed")
                    });
                    return Err(Stall::Failed(error));
                }
                Err(TrySendError::Full(back)) => chunk = back,
            }
            if keepnet_sink::stop_requested() {
                return Err(Stall::Stopping);
            }
            if Instant::now() >= deadline {
                return Err(Stall::TimedOut);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Stops the plugin after a hand-over failed, and says why, with how it ended.
    fn stalled(&mut self, stall: Stall) -> SinkError {
        let how = match self.stop() {
            process::Stopped::Exited(status) => describe(status),
            process::Stopped::Killed => "was killed, with every process it started".to_owned(),
            process::Stopped::NotRunning => "was not running".to_owned(),
        };
        let (command, rows, timeout) = (&self.command, self.rows, self.timeout.as_secs_f64());
        match stall {
            Stall::TimedOut => SinkError::Limit {
                message: format!(
                    "exec `{command}` did not read its input for {timeout} s after {rows} rows: \
                     it {how}"
                ),
                setting: keepnet_sink::Setting::PluginTimeout,
            },
            Stall::Stopping => {
                SinkError::other(format!("exec `{command}` stopped with the run: it {how}"))
            }
            Stall::Failed(e) if e.kind() == io::ErrorKind::BrokenPipe => SinkError::other(format!(
                "exec `{command}` stopped reading its input after {rows} rows: it {how}"
            )),
            Stall::Failed(e) => SinkError::other(format!(
                "exec `{command}`: cannot write to its input: {e}; it {how}"
            )),
        }
    }

    /// Closes the plugin's input without the trailer (queued rows are dropped, not sent),
    /// waits up to 2 s for it to exit, then kills it, its process group and its descendants.
    /// Reaps it either way, and ends the writer thread.
    fn stop(&mut self) -> process::Stopped {
        self.pending.clear();
        // Closing the queue first: the writer thread then closes the plugin's input (EOF
        // without the trailer) unless it is stuck writing to a plugin that does not read.
        let thread = self.pipe.take().map(|pipe| pipe.thread);
        let stopped = match self.child.take() {
            Some(child) => process::stop(child),
            None => process::Stopped::NotRunning,
        };
        if let Some(thread) = thread {
            // The plugin is gone: its input is closed, so the thread's write has returned.
            let _ = thread.join();
        }
        stopped
    }

    /// Waits for the plugin to exit after its input ended: at most the timeout, less if the
    /// run is being stopped.
    fn wait_exit(&mut self) -> Result<ExitStatus, SinkError> {
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            let child = self.child.as_mut().expect("running");
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Ok(status);
                }
                Ok(None) => {}
                Err(e) => {
                    let error = SinkError::other(format!(
                        "exec `{}`: cannot wait for it: {}",
                        self.command,
                        process::io_message(&e)
                    ));
                    self.stop();
                    return Err(error);
                }
            }
            let stopping = keepnet_sink::stop_requested();
            if stopping || Instant::now() >= deadline {
                let how = match self.stop() {
                    process::Stopped::Exited(status) => describe(status),
                    _ => "was killed, with every process it started".to_owned(),
                };
                if stopping {
                    return Err(SinkError::other(format!(
                        "exec `{}`: the run was stopped while it was still running; it {how}",
                        self.command
                    )));
                }
                return Err(SinkError::Limit {
                    message: format!(
                        "exec `{}`: it was still running {} s after its input ended; it {how}",
                        self.command,
                        self.timeout.as_secs_f64()
                    ),
                    setting: keepnet_sink::Setting::PluginTimeout,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
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
        // Its own process group: the runner decides when it stops (a terminal's Ctrl-C does
        // not kill it half-way), and the whole group can be ended together.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
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
        self.pipe = Some(Pipe::start(stdin));
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
        // Closing the queue lets the writer thread finish and close the plugin's input.
        if let Some(pipe) = self.pipe.take() {
            drop(pipe.chunks);
            let thread = pipe.thread;
            let outcome = pipe.outcome;
            // The thread ends once the last chunk is written, which the plugin may take its
            // time to read: bounded like every other wait.
            let writer = std::thread::spawn(move || thread.join());
            let deadline = Instant::now() + self.timeout;
            while !writer.is_finished() {
                if keepnet_sink::stop_requested() || Instant::now() >= deadline {
                    return Err(self.stalled(if keepnet_sink::stop_requested() {
                        Stall::Stopping
                    } else {
                        Stall::TimedOut
                    }));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = writer.join();
            if let Ok(error) = outcome.try_recv() {
                return Err(self.stalled(Stall::Failed(error)));
            }
        }
        let status = self.wait_exit()?;
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
        ColumnKind::Number => "number",
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
