//! Options a sink kind declares for itself: a name, a type, a default, a help line and,
//! when the type is not enough, a validator. Built-in kinds declare theirs exactly as a
//! team's own kind does ([`Registry::register_option`](crate::sinks::Registry::register_option)),
//! and every front end sets them the same way: `--sink-option KIND.NAME=VALUE` (or
//! `KEEPNET_SINK_OPTION`), a job file's `[job.options.KIND]` table, or a built-in flag that
//! is a shorthand for one (`--csv-delimiter` is `csv.delimiter`).

use std::collections::BTreeMap;

use keepnet_sink::{HeaderStyle, SinkError};

/// The type of an option's value: how its text is read and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    /// `true` or `false`.
    Bool,
    /// A whole number in `min..=max`.
    Integer {
        /// Smallest value allowed.
        min: i64,
        /// Largest value allowed.
        max: i64,
    },
    /// A TCP port number, 0 to 65535, read as an [`OptionValue::Integer`]; whether 0 means
    /// anything is the kind's to say (its validator).
    Port,
    /// One ASCII character that is not a quote or a line break, or `tab`.
    Char,
    /// Any text.
    Text,
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
    /// A comma-separated list of items (each trimmed, empty ones dropped).
    List,
    /// A duration in seconds, more than 0 and at most a day: `30`, `0.5`.
    Seconds,
    /// A size in bytes, at least 1, with an optional unit: `20MiB`, `500 KB`, `1048576`.
    Size,
}

/// A value of an option, read from its text by its [`OptionType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// A [`OptionType::Bool`].
    Bool(bool),
    /// An [`OptionType::Integer`].
    Integer(i64),
    /// An [`OptionType::Char`], as its byte.
    Char(u8),
    /// An [`OptionType::Text`] or [`OptionType::Choice`].
    Text(String),
    /// An [`OptionType::List`].
    List(Vec<String>),
    /// An [`OptionType::Seconds`].
    Seconds(std::time::Duration),
    /// An [`OptionType::Size`], in bytes.
    Size(u64),
}

/// A rule a kind's options follow together, checked with the settings alone (nothing is
/// read): `Err((name, message))` names the option it is about. `shown(name)` is how that
/// option was written (`--smtp-tls none`, `tls = "none"`), for a message that names it.
pub type OptionRule =
    fn(&Options, shown: &dyn Fn(&str) -> String) -> Result<(), (&'static str, String)>;

/// A check beyond the type: `Err` says what is wrong with the value.
pub type Validator = fn(&OptionValue) -> Result<(), String>;

/// One option of one sink kind.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The name after the kind: `delimiter` in `csv.delimiter`.
    pub name: &'static str,
    /// How the value is read.
    pub kind: OptionType,
    /// The value when nobody sets it, as text of [`OptionSpec::kind`]; empty for a number,
    /// character or choice: unset (the kind decides what that means).
    pub default: &'static str,
    /// One line for `--help` and errors.
    pub help: &'static str,
    /// A further check, if any.
    pub validator: Option<Validator>,
}

impl OptionSpec {
    /// An option of `kind` with no further check.
    pub const fn new(
        name: &'static str,
        kind: OptionType,
        default: &'static str,
        help: &'static str,
    ) -> Self {
        Self {
            name,
            kind,
            default,
            help,
            validator: None,
        }
    }

    /// The same option, also checked by `validator`.
    pub const fn validated(mut self, validator: Validator) -> Self {
        self.validator = Some(validator);
        self
    }

    /// Reads `text` as this option's value: its type, then its validator. The error says
    /// what is wrong, without naming the option (the caller knows how it was written).
    pub fn read(&self, text: &str) -> Result<OptionValue, String> {
        let value = match self.kind {
            OptionType::Bool => match text {
                "true" => OptionValue::Bool(true),
                "false" => OptionValue::Bool(false),
                _ => return Err(format!("{text:?} is not true or false")),
            },
            OptionType::Integer { min, max } => match text.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => OptionValue::Integer(n),
                _ => {
                    return Err(format!(
                        "{text:?} is not a whole number from {min} to {max}"
                    ))
                }
            },
            OptionType::Port => match text.parse::<u16>() {
                Ok(port) => OptionValue::Integer(i64::from(port)),
                Err(_) => {
                    return Err(format!(
                        "{text:?} is not a port: a port is a whole number between 1 and 65535, e.g. 587"
                    ))
                }
            },
            OptionType::Char => match text {
                "tab" | "\\t" | "\t" => OptionValue::Char(b'\t'),
                t if t.len() == 1 && t.is_ascii() && !matches!(t, "\"" | "\r" | "\n") => {
                    OptionValue::Char(t.as_bytes()[0])
                }
                _ => {
                    return Err(format!(
                        "{text:?} must be one ASCII character (not a quote or newline), or `tab`"
                    ))
                }
            },
            OptionType::Text => OptionValue::Text(text.to_owned()),
            OptionType::Choice(words) => match words.contains(&text) {
                true => OptionValue::Text(text.to_owned()),
                false => return Err(format!("{text:?} is not one of {}", one_of(words))),
            },
            OptionType::List => OptionValue::List(
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            OptionType::Seconds => OptionValue::Seconds(read_seconds(text)?),
            OptionType::Size => OptionValue::Size(read_size(text)?),
        };
        if let Some(check) = self.validator {
            check(&value)?;
        }
        Ok(value)
    }
}

/// The options of one sink kind, every declared one with its value (set or default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    values: BTreeMap<&'static str, OptionValue>,
}

impl Options {
    /// No options.
    pub(crate) const fn none() -> Self {
        Self {
            values: BTreeMap::new(),
        }
    }

    /// Every declared option at its default (an empty default of a type that cannot be empty
    /// leaves the option unset).
    pub(crate) fn defaults(specs: &[OptionSpec]) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        for spec in specs {
            let unset = spec.default.is_empty()
                && !matches!(spec.kind, OptionType::Text | OptionType::List);
            if unset {
                continue;
            }
            let value = spec
                .read(spec.default)
                .map_err(|e| format!("the default of {}: {e}", spec.name))?;
            values.insert(spec.name, value);
        }
        Ok(Self { values })
    }

    pub(crate) fn set(&mut self, name: &'static str, value: OptionValue) {
        self.values.insert(name, value);
    }

    /// The value of a declared option, or `None` for a name the kind never declared.
    pub fn get(&self, name: &str) -> Option<&OptionValue> {
        self.values.get(name)
    }

    fn typed<'a, T>(
        &'a self,
        name: &str,
        want: &str,
        pick: impl Fn(&'a OptionValue) -> Option<T>,
    ) -> Result<T, SinkError> {
        self.get(name).and_then(pick).ok_or_else(|| {
            SinkError::Invalid(format!(
                "the sink reads option {name:?} as {want}, but its kind declares no such option"
            ))
        })
    }

    /// A [`OptionType::Bool`] option.
    pub fn bool(&self, name: &str) -> Result<bool, SinkError> {
        self.typed(name, "true or false", |v| match v {
            OptionValue::Bool(b) => Some(*b),
            _ => None,
        })
    }

    /// An [`OptionType::Integer`] option.
    pub fn integer(&self, name: &str) -> Result<i64, SinkError> {
        self.typed(name, "a number", |v| match v {
            OptionValue::Integer(n) => Some(*n),
            _ => None,
        })
    }

    /// An [`OptionType::Char`] option.
    pub fn char(&self, name: &str) -> Result<u8, SinkError> {
        self.typed(name, "a character", |v| match v {
            OptionValue::Char(c) => Some(*c),
            _ => None,
        })
    }

    /// An [`OptionType::Text`] or [`OptionType::Choice`] option.
    pub fn text(&self, name: &str) -> Result<&str, SinkError> {
        self.typed(name, "text", |v| match v {
            OptionValue::Text(t) => Some(t.as_str()),
            _ => None,
        })
    }

    /// An [`OptionType::Text`] option, `None` when empty.
    pub fn nonempty(&self, name: &str) -> Result<Option<&str>, SinkError> {
        Ok(Some(self.text(name)?).filter(|t| !t.is_empty()))
    }

    /// An [`OptionType::Integer`] option with an empty default: `None` while unset.
    pub fn optional_integer(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(OptionValue::Integer(n)) => Some(*n),
            _ => None,
        }
    }

    /// An [`OptionType::List`] option.
    pub fn list(&self, name: &str) -> Result<&[String], SinkError> {
        self.typed(name, "a list", |v| match v {
            OptionValue::List(items) => Some(items.as_slice()),
            _ => None,
        })
    }

    /// An [`OptionType::Size`] option, in bytes.
    pub fn size(&self, name: &str) -> Result<u64, SinkError> {
        self.typed(name, "a size", |v| match v {
            OptionValue::Size(n) => Some(*n),
            _ => None,
        })
    }

    /// An [`OptionType::Seconds`] option.
    pub fn seconds(&self, name: &str) -> Result<std::time::Duration, SinkError> {
        self.typed(name, "seconds", |v| match v {
            OptionValue::Seconds(d) => Some(*d),
            _ => None,
        })
    }
}

/// `"a", "b" or "c"`: the words of a choice as a message lists them.
fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// Reads an [`OptionType::Seconds`] value: more than 0 and at most 86400 (a day).
pub fn read_seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(std::time::Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "{text:?} is not a number of seconds above 0 and at most 86400"
        )),
    }
}

/// Reads an [`OptionType::Size`] value: `20MiB`, `500 KB`, `1048576` (bytes), at least 1 byte.
pub fn read_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 20MiB or 500KB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KB, KiB, MB, MiB, GB or GiB"
            ))
        }
    };
    let bytes = number * factor as f64;
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("{text:?} must be at least 1 byte"));
    }
    Ok(bytes as u64)
}

/// Secret values a kind reads, by `KIND.NAME` (the SMTP password is `email.smtp-password`):
/// kept apart from [`Options`] so that no plan, log or `Debug` output shows them.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, secrecy::SecretString>,
}

impl Secrets {
    /// Sets (or replaces) the secret `key`.
    pub fn set(&mut self, key: &str, value: secrecy::SecretString) {
        self.values.insert(key.to_owned(), value);
    }

    /// The secret `key`, if set.
    pub fn get(&self, key: &str) -> Option<&secrecy::SecretString> {
        self.values.get(key)
    }
}

/// Shows which secrets are set, never their values.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// What every sink factory can read: the settings shared by all kinds, and each kind's own
/// options, checked and with their defaults filled in.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// Header labels.
    pub header: HeaderStyle,
    /// Each kind's options, by kind.
    pub options: BTreeMap<String, Options>,
    /// Secrets some kinds read (`email.smtp-password`).
    pub secrets: Secrets,
}

impl SinkSettings {
    /// The options of `kind` (none for a kind that declares none).
    pub fn options(&self, kind: &str) -> &Options {
        static NONE: Options = Options::none();
        self.options
            .get(&kind.to_ascii_lowercase())
            .unwrap_or(&NONE)
    }
}

/// Splits `KIND.NAME` (the kind lower-cased).
pub fn split_key(key: &str) -> Option<(String, &str)> {
    let (kind, name) = key.split_once('.')?;
    (!kind.is_empty() && !name.is_empty()).then(|| (kind.to_ascii_lowercase(), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_read_and_refuse_with_the_reason() {
        let int = OptionSpec::new("level", OptionType::Integer { min: 1, max: 9 }, "2", "");
        assert_eq!(int.read("9"), Ok(OptionValue::Integer(9)));
        assert!(int.read("10").unwrap_err().contains("from 1 to 9"));
        let c = OptionSpec::new("delimiter", OptionType::Char, ",", "");
        assert_eq!(c.read("tab"), Ok(OptionValue::Char(b'\t')));
        for bad in ["", ";;", "\"", "é", "\n"] {
            assert!(
                c.read(bad).unwrap_err().contains("one ASCII character"),
                "{bad:?}"
            );
        }
        let b = OptionSpec::new("bom", OptionType::Bool, "false", "");
        assert!(b.read("yes").unwrap_err().contains("true or false"));
        let even = OptionSpec::new("n", OptionType::Integer { min: 0, max: 10 }, "0", "")
            .validated(|v| match v {
                OptionValue::Integer(n) if n % 2 == 1 => Err("must be even".into()),
                _ => Ok(()),
            });
        assert_eq!(even.read("3").unwrap_err(), "must be even");
        let options = Options::defaults(&[b, c]).unwrap();
        assert!(!options.bool("bom").unwrap());
        assert_eq!(options.char("delimiter").unwrap(), b',');
        assert!(
            options.integer("bom").is_err(),
            "a type mix-up is an error, not a panic"
        );
    }

    #[test]
    fn choices_lists_seconds_and_unset_numbers() {
        let tls = OptionSpec::new("tls", OptionType::Choice(&["tls", "none"]), "tls", "");
        assert_eq!(
            tls.read("ssl").unwrap_err(),
            "\"ssl\" is not one of \"tls\" or \"none\""
        );
        let three = OptionSpec::new("t", OptionType::Choice(&["a", "b", "c"]), "a", "");
        assert!(three
            .read("d")
            .unwrap_err()
            .ends_with("one of \"a\", \"b\" or \"c\""));
        let cc = OptionSpec::new("cc", OptionType::List, "", "");
        assert_eq!(
            cc.read(" a@x.example, ,b@x.example"),
            Ok(OptionValue::List(vec![
                "a@x.example".into(),
                "b@x.example".into()
            ]))
        );
        let timeout = OptionSpec::new("timeout", OptionType::Seconds, "60", "");
        assert_eq!(
            timeout.read("0.5"),
            Ok(OptionValue::Seconds(std::time::Duration::from_millis(500)))
        );
        for bad in ["0", "-1", "x", "86401"] {
            assert!(timeout.read(bad).is_err(), "{bad}");
        }
        let port = OptionSpec::new("port", OptionType::Integer { min: 0, max: 9 }, "", "");
        let options = Options::defaults(&[tls, cc, timeout, port]).unwrap();
        assert_eq!(
            options.optional_integer("port"),
            None,
            "an empty default: unset"
        );
        assert!(options.list("cc").unwrap().is_empty());
    }
}
