//! Where credentials come from: the environment and the shared credentials file.
//!
//! Credentials are never taken from options. In order:
//! 1. with the `profile` setting: that section of the shared credentials file, and nothing else;
//! 2. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 3. the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`),
//!    section `AWS_PROFILE`, else `default`; a missing file is skipped unless a profile was named;
//! 4. what `object_store` finds itself: web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` +
//!    `AWS_ROLE_ARN`, read by object_store from the process environment), container credentials
//!    (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, or `AWS_CONTAINER_CREDENTIALS_FULL_URI` +
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`), else the EC2 instance metadata service (IMDSv2),
//!    unless `AWS_EC2_METADATA_DISABLED=true`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;

use crate::S3Error;

/// The largest shared credentials file read: 64 KiB.
pub const MAX_CREDENTIALS_FILE_BYTES: u64 = 64 * 1024;

/// How environment variables are read: the process environment, or a lookup given by a test.
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

/// A function from a variable's name to its value.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Every variable this crate reads from the process environment.
const READ: [&str; 15] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "HOME",
    "USERPROFILE",
];

impl Env {
    /// The process environment. A variable this crate reads that is set but not UTF-8 is an
    /// error naming it, never "unset" (a secret key would otherwise be silently passed over
    /// for another source of credentials).
    pub fn process() -> Result<Self, S3Error> {
        if let Some(name) = READ
            .iter()
            .find(|name| matches!(std::env::var(name), Err(std::env::VarError::NotUnicode(_))))
        {
            return Err(S3Error::Credentials(format!(
                "the environment variable {name} is set but is not UTF-8 text: set it as text, \
                 or unset it"
            )));
        }
        Ok(Env(Arc::new(|name| std::env::var(name).ok())))
    }

    /// Variables answered by `lookup`.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Env(Arc::new(lookup))
    }

    /// Exactly these variables, nothing from the process.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env(Arc::new(move |name| map.get(name).cloned()))
    }

    /// The variable's value; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env(..)")
    }
}

/// Static credentials and where they were found.
#[derive(Clone)]
pub(crate) struct StaticCredentials {
    pub key_id: String,
    pub secret: SecretString,
    pub token: Option<SecretString>,
    /// `the environment (AWS_ACCESS_KEY_ID)` or `profile "x" of /home/me/.aws/credentials`.
    pub origin: String,
}

/// What the delivery signs with.
#[derive(Clone)]
pub(crate) enum Credentials {
    Static(StaticCredentials),
    /// Left to object_store (web identity, container, instance); the variables it needs.
    Ambient {
        container: Vec<(&'static str, String)>,
        metadata_endpoint: Option<String>,
    },
}

impl fmt::Debug for Credentials {
    /// Where they came from, never the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials(from {})", self.origin())
    }
}

impl Credentials {
    pub fn origin(&self) -> &str {
        match self {
            Credentials::Static(s) => &s.origin,
            Credentials::Ambient { container, .. } if !container.is_empty() => {
                "the container credentials endpoint"
            }
            Credentials::Ambient { .. } => "web identity or the instance metadata service",
        }
    }
}

/// Finds credentials as the module documentation says.
pub(crate) fn resolve(profile: Option<&str>, env: &Env) -> Result<Credentials, S3Error> {
    if let Some(profile) = profile {
        return from_file(profile, true, env).and_then(|found| {
            found
                .map(Credentials::Static)
                .ok_or_else(|| unreachable_missing(profile))
        });
    }
    match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(key_id), Some(secret)) => {
            return Ok(Credentials::Static(StaticCredentials {
                key_id,
                secret: secret.into(),
                token: env.get("AWS_SESSION_TOKEN").map(SecretString::from),
                origin: "the environment (AWS_ACCESS_KEY_ID)".into(),
            }))
        }
        (Some(_), None) => {
            return Err(S3Error::Credentials(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither"
                    .into(),
            ))
        }
        (None, Some(_)) => {
            return Err(S3Error::Credentials(
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or neither"
                    .into(),
            ))
        }
        (None, None) => {}
    }
    let named = env.get("AWS_PROFILE");
    let profile = named.as_deref().unwrap_or("default");
    if let Some(found) = from_file(profile, named.is_some(), env)? {
        return Ok(Credentials::Static(found));
    }
    let mut container = Vec::new();
    for name in [
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ] {
        if let Some(value) = env.get(name) {
            container.push((name, value));
        }
    }
    let web_identity =
        env.get("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() && env.get("AWS_ROLE_ARN").is_some();
    let metadata_disabled = env
        .get("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if container.is_empty() && !web_identity && metadata_disabled {
        return Err(S3Error::NoCredentials(format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put them in \
             {} (profile {profile:?}), or choose a profile with s3.profile \
             (the instance metadata service is disabled by AWS_EC2_METADATA_DISABLED)",
            credentials_file(env)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.aws/credentials".into())
        )));
    }
    Ok(Credentials::Ambient {
        container,
        metadata_endpoint: env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
    })
}

fn unreachable_missing(profile: &str) -> S3Error {
    S3Error::Credentials(format!("profile {profile:?} not found"))
}

/// `AWS_SHARED_CREDENTIALS_FILE`, else `$HOME/.aws/credentials` (`USERPROFILE` on Windows).
pub(crate) fn credentials_file(env: &Env) -> Option<PathBuf> {
    if let Some(file) = env.get("AWS_SHARED_CREDENTIALS_FILE") {
        return Some(PathBuf::from(file));
    }
    let home = env.get("HOME").or_else(|| env.get("USERPROFILE"))?;
    Some(Path::new(&home).join(".aws").join("credentials"))
}

/// The profile's credentials from the shared file. `required`: a missing file or profile is an
/// error rather than `None`.
fn from_file(
    profile: &str,
    required: bool,
    env: &Env,
) -> Result<Option<StaticCredentials>, S3Error> {
    let Some(path) = credentials_file(env) else {
        return if required {
            Err(S3Error::Credentials(format!(
                "profile {profile:?} was asked for, but there is no credentials file: \
                 neither AWS_SHARED_CREDENTIALS_FILE nor HOME is set"
            )))
        } else {
            Ok(None)
        };
    };
    let text = match read_bounded(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(S3Error::Credentials(format!(
                "reading the AWS credentials file {} (profile {profile:?}): {e}",
                path.display()
            )))
        }
    };
    let file = parse_ini(&text).map_err(|e| {
        S3Error::Credentials(format!("AWS credentials file {}: {e}", path.display()))
    })?;
    let Some(section) = file.get(profile) else {
        return if required {
            Err(S3Error::Credentials(format!(
                "profile {profile:?} is not in the AWS credentials file {} (it has: {})",
                path.display(),
                names(&file)
            )))
        } else {
            Ok(None)
        };
    };
    let get = |key: &str| section.get(key).filter(|v| !v.is_empty()).cloned();
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(key_id), Some(secret)) => Ok(Some(StaticCredentials {
            key_id,
            secret: secret.into(),
            token: get("aws_session_token").map(SecretString::from),
            origin: format!("profile {profile:?} of {}", path.display()),
        })),
        (key_id, _) => Err(S3Error::Credentials(format!(
            "profile {profile:?} in the AWS credentials file {} lacks {} (only static keys are \
             read from this file)",
            path.display(),
            if key_id.is_none() {
                "aws_access_key_id"
            } else {
                "aws_secret_access_key"
            }
        ))),
    }
}

fn names(file: &Ini) -> String {
    if file.is_empty() {
        return "no profile".into();
    }
    file.keys()
        .map(|k| format!("{k:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CREDENTIALS_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CREDENTIALS_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            MAX_CREDENTIALS_FILE_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("not UTF-8 text"))
}

/// A parsed INI file: section name to keys and values.
pub type Ini = BTreeMap<String, BTreeMap<String, String>>;

/// A line of an INI file that could not be read. Names the line, never shows its content (it
/// may hold a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct IniError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Reads the shared credentials file format strictly: `[section]` headers, `key = value`
/// lines inside a section, blank lines and full-line `#` or `;` comments. Refused: a key before
/// any section, an indented (continuation) line, a line without `=`, an empty key or section
/// name, a section or key given twice. Keys and values are trimmed; values are taken verbatim
/// (no quotes or inline comments are stripped).
pub fn parse_ini(text: &str) -> Result<Ini, IniError> {
    let mut ini = Ini::new();
    let mut current: Option<String> = None;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, raw) in text.lines().enumerate() {
        let fail = |reason| IniError {
            line: n + 1,
            reason,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            return Err(fail("indented line (continuation lines are not supported)"));
        }
        if let Some(header) = line.strip_prefix('[') {
            let name = header
                .strip_suffix(']')
                .ok_or_else(|| fail("section header without closing ']'"))?
                .trim();
            if name.is_empty() || name.contains(['[', ']']) {
                return Err(fail("invalid section name"));
            }
            if ini.contains_key(name) {
                return Err(fail("section given twice"));
            }
            ini.insert(name.to_owned(), BTreeMap::new());
            current = Some(name.to_owned());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| fail("neither a [section] nor key = value"))?;
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(fail("invalid key name"));
        }
        let section = current
            .as_ref()
            .ok_or_else(|| fail("key = value before any [section]"))?;
        let keys = ini.get_mut(section).expect("section inserted");
        if keys
            .insert(key.to_ascii_lowercase(), value.trim().to_owned())
            .is_some()
        {
            return Err(fail("key given twice in its section"));
        }
    }
    Ok(ini)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn ini_reads_sections() {
        let ini = parse_ini(
            "\u{feff}# comment\n[default]\naws_access_key_id = AKIA1\n\
             aws_secret_access_key=s3cr=et\n\n; other\n[work]\nAWS_SESSION_TOKEN = tok \n",
        )
        .unwrap();
        assert_eq!(ini["default"]["aws_access_key_id"], "AKIA1");
        assert_eq!(ini["default"]["aws_secret_access_key"], "s3cr=et");
        assert_eq!(ini["work"]["aws_session_token"], "tok");
        assert!(parse_ini("").unwrap().is_empty());
    }

    #[test]
    fn ini_is_strict_and_never_shows_content() {
        for (text, line, reason) in [
            ("key = v\n", 1, "before any [section]"),
            ("[a]\nsecretvalue\n", 2, "neither"),
            ("[a]\n  k = v\n", 2, "indented"),
            ("[a\n", 1, "closing"),
            ("[]\n", 1, "invalid section"),
            ("[a]\n[a]\n", 2, "twice"),
            ("[a]\nk = 1\nK = 2\n", 3, "twice"),
            ("[a]\n= v\n", 2, "invalid key"),
            ("[a]\nmy key = v\n", 2, "invalid key"),
        ] {
            let err = parse_ini(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}");
            assert!(err.reason.contains(reason), "{text:?}: {err}");
            assert!(!err.to_string().contains("secretvalue"));
        }
    }

    fn file_env(dir: &Path, text: &str, extra: &[(&str, &str)]) -> Env {
        let path = dir.join("credentials");
        std::fs::write(&path, text).unwrap();
        let mut pairs: Vec<(String, String)> = vec![(
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            path.display().to_string(),
        )];
        pairs.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        Env::from_fn(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn key_of(c: Credentials) -> (String, String, String) {
        match c {
            Credentials::Static(s) => (s.key_id, s.secret.expose_secret().to_owned(), s.origin),
            Credentials::Ambient { .. } => panic!("ambient"),
        }
    }

    #[test]
    fn order_of_sources() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[default]\naws_access_key_id=FILEKEY\naws_secret_access_key=FILESECRET\n\
                    [other]\naws_access_key_id=OTHERKEY\naws_secret_access_key=OTHERSECRET\n";
        // Environment first.
        let env = file_env(
            dir.path(),
            text,
            &[
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "ENVSECRET"),
            ],
        );
        assert_eq!(key_of(resolve(None, &env).unwrap()).0, "ENVKEY");
        // The profile setting beats the environment.
        assert_eq!(key_of(resolve(Some("other"), &env).unwrap()).0, "OTHERKEY");
        // Then the file, AWS_PROFILE or default.
        let env = file_env(dir.path(), text, &[]);
        let (id, secret, origin) = key_of(resolve(None, &env).unwrap());
        assert_eq!((id.as_str(), secret.as_str()), ("FILEKEY", "FILESECRET"));
        assert!(origin.contains("profile \"default\""), "{origin}");
        let env = file_env(dir.path(), text, &[("AWS_PROFILE", "other")]);
        assert_eq!(key_of(resolve(None, &env).unwrap()).0, "OTHERKEY");
    }

    #[test]
    fn missing_and_broken_sources() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[default]\naws_access_key_id=K\naws_secret_access_key=HIDDEN\n";
        let env = file_env(dir.path(), text, &[("AWS_PROFILE", "nope")]);
        let err = resolve(None, &env).unwrap_err().to_string();
        assert!(
            err.contains("\"nope\" is not in") && err.contains("\"default\""),
            "{err}"
        );
        assert!(!err.contains("HIDDEN"));
        let env = Env::from_pairs(&[("AWS_ACCESS_KEY_ID", "K")]);
        assert!(resolve(None, &env)
            .unwrap_err()
            .to_string()
            .contains("AWS_SECRET_ACCESS_KEY is not"));
        let env = file_env(dir.path(), "[default]\naws_secret_access_key=HIDDEN\n", &[]);
        let err = resolve(None, &env).unwrap_err().to_string();
        assert!(
            err.contains("lacks aws_access_key_id") && !err.contains("HIDDEN"),
            "{err}"
        );
        let env = file_env(dir.path(), "[default]\nHIDDEN\n", &[]);
        let err = resolve(None, &env).unwrap_err().to_string();
        assert!(err.contains("line 2") && !err.contains("HIDDEN"), "{err}");
        // No file and a named profile.
        let env = Env::from_pairs(&[("HOME", dir.path().join("none").to_str().unwrap())]);
        let err = resolve(Some("work"), &env).unwrap_err().to_string();
        assert!(
            err.contains("credentials file") && err.contains("\"work\""),
            "{err}"
        );
        // Nothing at all, metadata disabled.
        let env = Env::from_pairs(&[
            ("HOME", dir.path().join("none").to_str().unwrap()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let err = resolve(None, &env).unwrap_err();
        assert!(matches!(err, S3Error::NoCredentials(_)), "{err}");
        // Nothing, metadata allowed: left to object_store.
        let env = Env::from_pairs(&[("HOME", dir.path().join("none").to_str().unwrap())]);
        assert!(matches!(
            resolve(None, &env).unwrap(),
            Credentials::Ambient { .. }
        ));
        // Too large.
        let big = format!("[default]\n# {}\n", "x".repeat(70 * 1024));
        let env = file_env(dir.path(), &big, &[]);
        assert!(resolve(None, &env)
            .unwrap_err()
            .to_string()
            .contains("64 KiB"));
    }
}
