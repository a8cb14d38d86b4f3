//! Where a setting's value came from: a default, a flag, an environment variable or a place
//! in a job file; and how a person wrote it there, for messages.

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// Nobody set it: the default.
    #[default]
    Default,
    /// A command-line flag, e.g. `--sink`.
    Flag(String),
    /// An environment variable, e.g. `KEEPNET_SINK`.
    Env(String),
    /// A job-file value.
    File {
        /// The key it is the value of, e.g. `sinks` or `tls`.
        key: String,
        /// Byte offset in the file of the value's first byte (a string's opening quote).
        offset: usize,
        /// Whether the value is a string written without escapes, so that byte `n` of the
        /// value is byte `offset + 1 + n` of the file.
        plain: bool,
    },
}

impl Origin {
    /// How a person wrote `value` here: `--sink csv:a.csv`, `KEEPNET_SINK=csv:a.csv`,
    /// `sinks = "csv:a.csv"`, or the value itself for a default.
    pub fn shown(&self, value: &str) -> String {
        match self {
            Origin::Default => value.to_owned(),
            Origin::Flag(flag) => format!("{flag} {value}"),
            Origin::Env(var) => format!("{var}={value}"),
            Origin::File { key, .. } => format!("{key} = {value:?}"),
        }
    }

    /// How a person turned a switch on here: `--allow-incomplete`,
    /// `KEEPNET_ALLOW_INCOMPLETE=true`, `allow_incomplete = true`; empty for a default.
    pub fn shown_on(&self) -> String {
        match self {
            Origin::Default => String::new(),
            Origin::Flag(flag) => flag.clone(),
            Origin::Env(var) => format!("{var}=true"),
            Origin::File { key, .. } => format!("{key} = true"),
        }
    }

    /// A list of values and one of its items as the user knows them: `--sink arguments` /
    /// `--sink`, `KEEPNET_SINK values` / `KEEPNET_SINK`, or the job file's `list` / `one`.
    pub fn list_names(&self, list: &str, one: &str) -> (String, String) {
        match self {
            Origin::Flag(flag) => (format!("{flag} arguments"), flag.clone()),
            Origin::Env(var) => (format!("{var} values"), var.clone()),
            _ => (list.to_owned(), one.to_owned()),
        }
    }

    /// Byte offset in the job file of byte `at` of the value (`at` 0: the value as a whole),
    /// or `None` when the value did not come from a file.
    pub fn file_offset(&self, at: usize) -> Option<usize> {
        match self {
            Origin::File { offset, plain, .. } => Some(match (at, plain) {
                (0, _) | (_, false) => *offset,
                (inside, true) => offset + 1 + inside,
            }),
            _ => None,
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Sourced<T> {
    /// `value` from `origin`.
    pub fn new(value: T, origin: Origin) -> Self {
        Self { value, origin }
    }
}
