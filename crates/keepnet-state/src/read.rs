//! Reading a state file as a stream: its header, then each user handed over as it is read,
//! so a state of a million users is never held whole (as text, as a JSON tree or as a map).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{Named, FORMAT, MAX_BYTES, VERSION};

/// What a state says of itself.
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub(crate) company_id: String,
    pub(crate) taken_at: String,
    pub(crate) scope: String,
    pub(crate) fields: Vec<String>,
}

/// Why a read stopped, beyond the JSON itself.
#[derive(Debug)]
pub(crate) enum Stop {
    /// `format` is not [`FORMAT`].
    Format,
    /// No `version`, or not a number.
    NoVersion,
    /// A version this build does not read, as written.
    Version(String),
    /// Another company's state.
    Company(String),
    /// A user with another number of fingerprints than fields.
    Hashes {
        id: String,
        found: usize,
        fields: usize,
    },
    /// Taken with another status filter.
    Scope(String),
    /// A key missing or given twice, or a value of the wrong type.
    Shape(String),
    /// The user could not be kept (the working file).
    Keep(io::Error),
}

/// One user's entry as the file writes it.
#[derive(Deserialize)]
struct Entry {
    #[serde(with = "crate::hex")]
    hashes: Vec<u64>,
    name: Named,
}

/// Opens `path` when it is a regular file (after following links) of at most [`MAX_BYTES`],
/// checked again on the open file; `/dev/zero` or a FIFO is refused before it is opened.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let not_regular = |kind: std::fs::FileType| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {}, not a regular file", describe(kind)),
        )
    };
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(not_regular(kind));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(meta.file_type()));
    }
    if meta.len() > MAX_BYTES {
        return Err(too_big());
    }
    Ok(file)
}

fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is larger than {MAX_BYTES} bytes"),
    )
}

/// What a non-regular file is, for the message.
fn describe(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a plain file"
    }
}

/// How a read failed.
#[derive(Debug)]
pub(crate) enum Failed {
    /// The file could not be read.
    Io(io::Error),
    /// Not JSON.
    Syntax(String),
    /// A check on the state.
    Stop(Stop),
}

/// Reads the state in `file` for `company`, taken with `scope`, handing each user to `each`
/// (in the file's order) as it is read; answers the header.
pub(crate) fn read(
    file: File,
    company: &str,
    scope: &str,
    each: &mut dyn FnMut(String, Vec<u64>, Named) -> io::Result<()>,
) -> Result<Header, Failed> {
    let reader = BufReader::with_capacity(64 * 1024, file.take(MAX_BYTES + 1));
    let mut checks = Checks {
        company,
        scope,
        header: Header::default(),
        seen: Seen::default(),
        format_ok: None,
        version: None,
        first: None,
        mismatch: None,
        stop: None,
        each,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let read = (&mut checks).deserialize(&mut de).and_then(|()| de.end());
    if let Some(stop) = checks.stop.take() {
        return Err(Failed::Stop(stop));
    }
    if let Err(e) = read {
        return Err(match e.classify() {
            serde_json::error::Category::Io => Failed::Io(e.into()),
            serde_json::error::Category::Data => Failed::Stop(Stop::Shape(e.to_string())),
            _ => Failed::Syntax(e.to_string()),
        });
    }
    checks.finish().map_err(Failed::Stop)
}

/// The top-level keys read so far.
#[derive(Debug, Default)]
struct Seen {
    company: bool,
    taken_at: bool,
    scope: bool,
    fields: bool,
    users: bool,
}

/// The state's checks, made as early as the keys allow and in the order a reader expects
/// them reported: format, version, shape, company, fingerprints, scope.
struct Checks<'a> {
    company: &'a str,
    scope: &'a str,
    header: Header,
    seen: Seen,
    format_ok: Option<bool>,
    /// The version as written, and whether it is this build's.
    version: Option<Result<(), Stop>>,
    /// The first user, with its fingerprints, when users came before the fields.
    first: Option<(String, usize)>,
    /// The first user whose fingerprints did not match what was expected of them.
    mismatch: Option<(String, usize)>,
    stop: Option<Stop>,
    each: &'a mut dyn FnMut(String, Vec<u64>, Named) -> io::Result<()>,
}

impl Checks<'_> {
    /// Whether the checks reported before `company` passed already.
    fn identified(&self) -> bool {
        self.format_ok == Some(true) && matches!(self.version, Some(Ok(())))
    }

    fn finish(&mut self) -> Result<Header, Stop> {
        if self.format_ok != Some(true) {
            return Err(Stop::Format);
        }
        match self.version.take() {
            None => return Err(Stop::NoVersion),
            Some(Err(stop)) => return Err(stop),
            Some(Ok(())) => {}
        }
        let seen = &self.seen;
        for (present, key) in [
            (seen.company, "companyId"),
            (seen.taken_at, "takenAt"),
            (seen.scope, "scope"),
            (seen.fields, "fields"),
            (seen.users, "users"),
        ] {
            if !present {
                return Err(Stop::Shape(format!("missing field `{key}`")));
            }
        }
        if self.header.company_id != self.company {
            return Err(Stop::Company(self.header.company_id.clone()));
        }
        let fields = self.header.fields.len();
        let first = self.first.take().filter(|(_, found)| *found != fields);
        if let Some((id, found)) = first.or_else(|| self.mismatch.take()) {
            return Err(Stop::Hashes { id, found, fields });
        }
        if self.header.scope != self.scope {
            return Err(Stop::Scope(self.header.scope.clone()));
        }
        Ok(std::mem::take(&mut self.header))
    }

    /// Stops the read with `stop` (answered instead of serde's error).
    fn stop<E: de::Error>(&mut self, stop: Stop) -> E {
        self.stop = Some(stop);
        E::custom("stopped")
    }

    /// Checks and keeps one user.
    fn user(&mut self, id: String, entry: Entry) -> Result<(), Stop> {
        let found = entry.hashes.len();
        let expected = match self.seen.fields {
            true => Some(self.header.fields.len()),
            false => self.first.as_ref().map(|(_, count)| *count),
        };
        match expected {
            // Users before the fields: each is held against the first, the first against
            // the fields at the end.
            None => self.first = Some((id.clone(), found)),
            Some(expected) if found != expected => {
                let company_ok = self.seen.company && self.header.company_id == self.company;
                if self.seen.fields && self.identified() && company_ok {
                    return Err(Stop::Hashes {
                        id,
                        found,
                        fields: expected,
                    });
                }
                self.mismatch.get_or_insert((id.clone(), found));
            }
            Some(_) => {}
        }
        (self.each)(id, entry.hashes, entry.name).map_err(Stop::Keep)
    }
}

impl<'de> DeserializeSeed<'de> for &mut Checks<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Checks<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a keepnet-export state object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let twice = |seen: bool| match seen {
                true => Err(de::Error::custom(format!("duplicate field `{key}`"))),
                false => Ok(()),
            };
            match key.as_str() {
                "format" => {
                    twice(self.format_ok.is_some())?;
                    let value: serde_json::Value = map.next_value()?;
                    let ok = value.as_str() == Some(FORMAT);
                    self.format_ok = Some(ok);
                    if !ok {
                        return Err(self.stop(Stop::Format));
                    }
                }
                "version" => {
                    twice(self.version.is_some())?;
                    let raw: Box<RawValue> = map.next_value()?;
                    let version = version(raw.get());
                    let stop = match &version {
                        Err(Stop::Version(found)) => Some(Stop::Version(found.clone())),
                        Err(_) => Some(Stop::NoVersion),
                        Ok(()) => None,
                    };
                    self.version = Some(version);
                    if let (Some(stop), Some(true)) = (stop, self.format_ok) {
                        return Err(self.stop(stop));
                    }
                }
                "companyId" => {
                    twice(self.seen.company)?;
                    self.seen.company = true;
                    self.header.company_id = map.next_value()?;
                    if self.identified() && self.header.company_id != self.company {
                        let found = self.header.company_id.clone();
                        return Err(self.stop(Stop::Company(found)));
                    }
                }
                "takenAt" => {
                    twice(self.seen.taken_at)?;
                    self.seen.taken_at = true;
                    self.header.taken_at = map.next_value()?;
                }
                "scope" => {
                    twice(self.seen.scope)?;
                    self.seen.scope = true;
                    self.header.scope = map.next_value()?;
                }
                "fields" => {
                    twice(self.seen.fields)?;
                    self.seen.fields = true;
                    self.header.fields = map.next_value()?;
                }
                "users" => {
                    twice(self.seen.users)?;
                    self.seen.users = true;
                    map.next_value_seed(Users(&mut *self))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The version as written: this build's, another one (a number, as written: 20 digits are
/// still a version), or none.
fn version(raw: &str) -> Result<(), Stop> {
    let raw = raw.trim();
    if raw.parse::<u64>().ok() == Some(u64::from(VERSION)) {
        return Ok(());
    }
    let number = raw
        .strip_prefix('-')
        .unwrap_or(raw)
        .starts_with(|c: char| c.is_ascii_digit());
    match number {
        true => Err(Stop::Version(raw.to_owned())),
        false => Err(Stop::NoVersion),
    }
}

/// The `users` object, each entry handed over as it is read.
struct Users<'c, 'a>(&'c mut Checks<'a>);

impl<'de> DeserializeSeed<'de> for Users<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Users<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("users by resourceId")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(id) = map.next_key::<String>()? {
            let entry: Entry = map.next_value()?;
            if let Err(stop) = self.0.user(id, entry) {
                return Err(self.0.stop(stop));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_written() {
        assert!(version("1").is_ok());
        for (raw, shown) in [
            ("2", "2"),
            ("99999999999999999999", "99999999999999999999"),
            ("-1", "-1"),
            ("1.5", "1.5"),
        ] {
            match version(raw) {
                Err(Stop::Version(found)) => assert_eq!(found, shown),
                other => panic!("{raw}: {other:?}"),
            }
        }
        for raw in ["\"1\"", "null", "[1]"] {
            assert!(matches!(version(raw), Err(Stop::NoVersion)), "{raw}");
        }
    }

    #[test]
    fn a_file_over_the_cap_or_not_a_file_is_not_opened_for_reading() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_regular(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a folder, not a regular file"), "{e}");
        let sparse = dir.path().join("big.state.json");
        File::create(&sparse)
            .unwrap()
            .set_len(MAX_BYTES + 1)
            .unwrap();
        let e = open_regular(&sparse).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
    }
}
