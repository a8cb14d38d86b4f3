//! Exit codes, named once, and the engine's error type that carries one.
//!
//! Every failure maps to exactly one code here, so scripts can rely on them (see `--help`);
//! the summary document records the same codes per company.

use std::fmt;

use keepnet_api::ErrorKind;

/// The run did everything it was asked.
pub const SUCCESS: u8 = 0;
/// An unexpected internal error (a bug): please report it.
pub const INTERNAL: u8 = 1;
/// The command line or configuration is wrong.
pub const USAGE: u8 = 2;
/// The credentials were refused.
pub const AUTHENTICATION: u8 = 3;
/// The company was not found, is ambiguous, or is not permitted for this credential.
pub const COMPANY: u8 = 4;
/// The API failed or the network did.
pub const API: u8 = 5;
/// Writing an output or delivering it failed.
pub const OUTPUT: u8 = 6;

/// Every read of the users disagreed with the server's own figures (users changing during the
/// run, or a server whose pages contradict its totals): nothing was published
/// (`--allow-incomplete` publishes instead).
pub const INCOMPLETE: u8 = 7;

/// The scope guard: an answer scoped to one company held more users than that company has,
/// so it likely holds other customers' people; nothing was published or sent.
pub const SCOPE: u8 = 8;

/// `--fail-on-changes`: the run succeeded and its users joined, left or changed since the
/// previous run; everything was published and the state advanced (a CI gate's signal).
pub const CHANGES: u8 = 9;

/// Interrupted by Ctrl-C (SIGINT): 128 + 2, as shells report it.
pub const INTERRUPTED: u8 = 130;

/// Stopped by SIGTERM: 128 + 15.
pub const TERMINATED: u8 = 143;

/// Stopped by SIGHUP (the terminal went away): 128 + 1.
pub const HUNG_UP: u8 = 129;

/// Whether `code` says a stop signal ended the run.
pub fn is_stop(code: u8) -> bool {
    matches!(code, INTERRUPTED | TERMINATED | HUNG_UP)
}

/// The exit-code table as shown in `--help`.
pub const HELP: &str = "\
Exit codes:
  0  success
  2  usage: bad flags, configuration or company id
  3  authentication: the client id or secret was refused
  4  company not found, ambiguous, or not permitted for this credential
  5  API or network failure
  6  output or delivery failure (file, stdout, email)
  7  incomplete: every read of the users (up to 3) disagreed with the server's
     own figures; nothing was published (--allow-incomplete publishes)
  8  scope guard: an answer held more users than the company has (likely other
     customers' too); nothing was published or sent
  9  changes (--fail-on-changes): users joined, left or changed since the
     previous run; everything was published and the state advanced
  129  hung up (SIGHUP): nothing was published
  130  interrupted (Ctrl-C): nothing was published
  143  terminated (SIGTERM): nothing was published";

/// A failed run, or one company's failed export: the message to show and the exit code it
/// means. The message is the whole cause chain, flattened once (`context: cause: cause`).
#[derive(Clone, PartialEq, Eq)]
pub struct Failure {
    code: u8,
    message: String,
    /// The setting the failure points at, for the front end to name as its user sets it.
    setting: Option<keepnet_sink::Setting>,
}

/// An error and its sources, joined by `: ` (as `anyhow` shows a chain with `{:#}`); a cause
/// its error already shows at the end of its own message (`path: {source}`) is not repeated.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl Failure {
    /// A failure with an explicit code, from an error (its whole source chain is kept).
    pub fn new(code: u8, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let error = error.into();
        Self {
            code,
            message: chain(error.as_ref()),
            setting: None,
        }
    }

    /// A failure with an explicit code and a message.
    pub fn msg(code: u8, message: impl fmt::Display) -> Self {
        Self {
            code,
            message: message.to_string(),
            setting: None,
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl fmt::Display) -> Self {
        Self::msg(USAGE, message)
    }

    /// An output failure (exit 6) with what was being written.
    pub fn output(
        context: impl fmt::Display,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::new(OUTPUT, error).context_msg(context)
    }

    /// A sink's failure (exit 6) with what was being written, keeping the setting it points
    /// at ([`Failure::setting`]).
    pub fn sink(context: impl fmt::Display, error: keepnet_sink::SinkError) -> Self {
        let setting = error.setting();
        Self {
            setting,
            ..Self::output(context, error)
        }
    }

    /// The setting this failure points at (a limit it hit), if any: the front end names it as
    /// its user sets it (`--plugin-timeout`, `KEEPNET_PLUGIN_TIMEOUT`).
    pub fn setting(&self) -> Option<keepnet_sink::Setting> {
        self.setting
    }

    /// The same failure, pointing at `setting`.
    pub fn with_setting(self, setting: Option<keepnet_sink::Setting>) -> Self {
        Self { setting, ..self }
    }

    /// Adds a line of context in front of the message, keeping the code.
    pub fn context_msg(self, context: impl fmt::Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    /// Adds a note after the message (`error; note`), keeping the code.
    pub fn with_note(self, note: impl fmt::Display) -> Self {
        Self {
            message: format!("{}; {note}", self.message),
            ..self
        }
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Failure({}, {})", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

impl From<keepnet_api::Error> for Failure {
    fn from(error: keepnet_api::Error) -> Self {
        let code = match error.kind() {
            ErrorKind::Usage => USAGE,
            ErrorKind::Authentication => AUTHENTICATION,
            ErrorKind::Company => COMPANY,
            ErrorKind::Scope => SCOPE,
            _ => API,
        };
        let setting = error
            .about_base_url()
            .then_some(keepnet_sink::Setting::BaseUrl);
        Self::new(code, error).with_setting(setting)
    }
}

impl From<keepnet_api::InvalidCompanyId> for Failure {
    fn from(error: keepnet_api::InvalidCompanyId) -> Self {
        Self::new(USAGE, error)
    }
}

#[cfg(test)]
mod tests {
    use super::{Failure, OUTPUT};

    #[test]
    fn messages_keep_the_whole_chain_context_first_notes_last() {
        let io = std::io::Error::other("disk full");
        let failure = Failure::output("cannot write a.csv", io).with_note("nothing published");
        assert_eq!(failure.code(), OUTPUT);
        assert_eq!(
            failure.to_string(),
            "cannot write a.csv: disk full; nothing published"
        );
        // A sink's I/O error shows its source itself: the chain does not say it twice.
        let sink = keepnet_sink::SinkError::io("out/a.csv", std::io::Error::other("disk full"));
        assert_eq!(
            Failure::sink("--sink csv:out/a.csv", sink).to_string(),
            "--sink csv:out/a.csv: out/a.csv: disk full"
        );
    }
}
