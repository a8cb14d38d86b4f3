//! Encrypted copies of published export files, made before deliveries send them.
//!
//! With `--encrypt`, the runner does not hand deliveries (e-mail, S3, SFTP) the published
//! files: it calls [`encrypt`] on each one, into a private temporary folder, and delivers the
//! copies. Two formats:
//!
//! - `zip-aes`: `NAME.zip`, a ZIP archive holding one deflated entry `NAME`, encrypted with
//!   AES-256 (WinZip AE-2) under a password. Opened by 7-Zip, WinZip, Keka, The Unarchiver,
//!   Python's `pyzipper` and most archive tools, after typing the password. (macOS Finder's
//!   built-in Archive Utility and Windows Explorer's "Extract all" do not do AES ZIP.)
//! - `age:RECIPIENT[,RECIPIENT...]`: `NAME.age`, the binary [age](https://age-encryption.org)
//!   format, to every X25519 recipient (`age1…`, made by `age-keygen`). Opened by
//!   `age -d -i KEYFILE` or `rage` with any one recipient's identity.
//!
//! ```no_run
//! # fn demo(published: &keepnet_sink::Artifact, private_dir: &std::path::Path,
//! #         password: Option<secrecy::SecretString>) -> Result<(), keepnet_encrypt::EncryptError> {
//! use keepnet_encrypt::{encrypt, Encryption};
//! let encryption = Encryption::parse("zip-aes", password)?; // checked before any export
//! let copy = encrypt(&encryption, published, private_dir)?;  // private_dir/Acme.csv.zip
//! # Ok(()) }
//! ```
//!
//! Both stream: memory stays bounded whatever the file's size. The copy is written under a
//! temporary name and renamed into place when complete ([`keepnet_sink::AtomicFile`]), so a
//! failure leaves nothing half-written; its SHA-256 is computed as it is written.
//!
//! The password never appears in `Debug` output or in an error message.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use keepnet_sink::{Artifact, AtomicFile, SinkError};
use secrecy::{ExposeSecret, SecretString};

mod age;

pub use age::{AgeRecipient, RecipientError};

/// The environment variable the runner reads the `zip-aes` password from.
pub const PASSWORD_ENV: &str = "KEEPNET_ENCRYPT_PASSWORD";

/// The fewest characters a `zip-aes` password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Media type of a `zip-aes` copy.
pub const ZIP_MEDIA_TYPE: &str = "application/zip";

/// Media type of an age copy: age has no registered one, so plain binary data.
pub const AGE_MEDIA_TYPE: &str = "application/octet-stream";

/// How many bytes are read from the source at a time.
const CHUNK: usize = 64 * 1024;

/// How the copies are encrypted: the parsed `--encrypt` option.
#[derive(Clone)]
pub enum Encryption {
    /// An AES-256 ZIP (WinZip AE-2) under a password.
    ZipAes {
        /// The archive's password (at least [`MIN_PASSWORD_CHARS`] characters).
        password: SecretString,
    },
    /// The age format, to every recipient (at least one).
    Age {
        /// Who can decrypt: each recipient's identity alone opens the file.
        recipients: Vec<AgeRecipient>,
    },
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZipAes { .. } => f
                .debug_struct("ZipAes")
                .field("password", &"[redacted]")
                .finish(),
            Self::Age { recipients } => {
                let shown: Vec<String> = recipients.iter().map(ToString::to_string).collect();
                f.debug_struct("Age").field("recipients", &shown).finish()
            }
        }
    }
}

/// Why a file could not be encrypted, or an `--encrypt` value is unusable. No message holds
/// the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The `--encrypt` value names no known method.
    #[error("unknown encryption {given:?}: use zip-aes or age:RECIPIENT[,RECIPIENT...]")]
    UnknownMethod {
        /// What was given.
        given: String,
    },
    /// `zip-aes` without a password.
    #[error("zip-aes needs a password: set it in the environment variable {PASSWORD_ENV} or give a password file (at least {MIN_PASSWORD_CHARS} characters)")]
    PasswordMissing,
    /// A `zip-aes` password shorter than [`MIN_PASSWORD_CHARS`].
    #[error("the zip-aes password is too short: it needs at least {MIN_PASSWORD_CHARS} characters (set through {PASSWORD_ENV} or a password file)")]
    PasswordTooShort,
    /// A `zip-aes` password with a control character, most often a password file's trailing
    /// line break, which nobody could type when opening the archive.
    #[error("the zip-aes password contains a line break or another control character, which could not be typed to open the archive (a password file's trailing newline?)")]
    PasswordControlCharacter,
    /// `age` or `age:` without recipients.
    #[error(
        "age needs at least one recipient: age:age1...[,age1...] (public keys from age-keygen)"
    )]
    NoRecipients,
    /// A recipient that is not an age X25519 public key.
    #[error("age recipient {given:?} is not usable: {reason}")]
    BadRecipient {
        /// The recipient as given (a public key: not secret).
        given: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The source artifact's path has no file name to name the copy after.
    #[error("{}: not a file path, cannot name its encrypted copy", .path.display())]
    NoFileName {
        /// The source's path.
        path: PathBuf,
    },
    /// The source is not a regular file (a folder, FIFO, device).
    #[error("{}: not a regular file, cannot encrypt it", .path.display())]
    NotRegularFile {
        /// The source's path.
        path: PathBuf,
    },
    /// Opening or reading the source failed.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// The source's path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Creating, writing or publishing the encrypted copy failed.
    #[error("writing {}: {source}", .path.display())]
    Write {
        /// The copy's path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The temporary file for the copy could not be created or renamed into place.
    #[error("publishing {}: {source}", .path.display())]
    Publish {
        /// The copy's path.
        path: PathBuf,
        /// The underlying error.
        source: SinkError,
    },
    /// The source is no longer the file published: no copy was made.
    #[error("{0}")]
    Changed(SinkError),
    /// The ZIP library refused or failed (the message names the file).
    #[error("making {}: {message}", .path.display())]
    Zip {
        /// The copy's path.
        path: PathBuf,
        /// What the ZIP library said.
        message: String,
    },
    /// The age library refused the recipients or failed.
    #[error("making {}: {message}", .path.display())]
    Age {
        /// The copy's path.
        path: PathBuf,
        /// What the age library said.
        message: String,
    },
}

impl Encryption {
    /// Parses the `--encrypt` option's value: `zip-aes` (needs `password`) or
    /// `age:RECIPIENT[,RECIPIENT...]` with `age1…` X25519 public keys (`password` is ignored).
    ///
    /// The password is checked here, before any export runs: present, at least
    /// [`MIN_PASSWORD_CHARS`] characters, no control characters. Duplicate recipients are
    /// kept once.
    pub fn parse(text: &str, password: Option<SecretString>) -> Result<Self, EncryptError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("zip-aes") {
            let password = password.ok_or(EncryptError::PasswordMissing)?;
            check_password(password.expose_secret())?;
            return Ok(Self::ZipAes { password });
        }
        let (method, list) = text.split_once(':').unwrap_or((text, ""));
        if !method.trim().eq_ignore_ascii_case("age") {
            return Err(EncryptError::UnknownMethod {
                given: text.to_owned(),
            });
        }
        let mut recipients: Vec<AgeRecipient> = Vec::new();
        for given in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let recipient = parse_recipient(given)?;
            if !recipients.contains(&recipient) {
                recipients.push(recipient);
            }
        }
        if recipients.is_empty() {
            return Err(EncryptError::NoRecipients);
        }
        Ok(Self::Age { recipients })
    }

    /// The method's name, as deliveries report it: `"zip-aes"` or `"age"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ZipAes { .. } => "zip-aes",
            Self::Age { .. } => "age",
        }
    }

    /// The extension the copy's name gets after the source's own: `"zip"` or `"age"`.
    pub fn extension(&self) -> &'static str {
        match self {
            Self::ZipAes { .. } => "zip",
            Self::Age { .. } => "age",
        }
    }

    /// The media type of the copies: [`ZIP_MEDIA_TYPE`] or [`AGE_MEDIA_TYPE`].
    pub fn media_type(&self) -> &'static str {
        match self {
            Self::ZipAes { .. } => ZIP_MEDIA_TYPE,
            Self::Age { .. } => AGE_MEDIA_TYPE,
        }
    }
}

/// Checks a `zip-aes` password's length and characters.
fn check_password(password: &str) -> Result<(), EncryptError> {
    if password.chars().any(char::is_control) {
        return Err(EncryptError::PasswordControlCharacter);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(EncryptError::PasswordTooShort);
    }
    Ok(())
}

/// One `age1…` recipient, or why not.
fn parse_recipient(given: &str) -> Result<AgeRecipient, EncryptError> {
    let bad = |reason: &str| EncryptError::BadRecipient {
        given: shorten(given),
        reason: reason.to_owned(),
    };
    if given.starts_with("ssh-") {
        return Err(bad(
            "SSH keys are not supported; give an age1... X25519 public key (age-keygen -y KEYFILE prints it)",
        ));
    }
    if given.starts_with("AGE-SECRET-KEY-") {
        // Not echoed: this is a private key.
        return Err(EncryptError::BadRecipient {
            given: "AGE-SECRET-KEY-...".to_owned(),
            reason: "that is a private key; give its public key (age1..., printed by age-keygen -y KEYFILE), and keep the private key secret".to_owned(),
        });
    }
    given.parse::<AgeRecipient>().map_err(|e| {
        if given.starts_with("age1") && given[4..].contains('1') {
            // Bech32 data has no '1': age1NAME1… is a plugin or post-quantum recipient.
            bad(&format!(
                "{e}; only X25519 recipients (age1 followed by 58 characters, from age-keygen) are supported, not plugin or post-quantum ones"
            ))
        } else {
            bad(&format!(
                "{e}; expected an X25519 public key like age1... (from age-keygen)"
            ))
        }
    })
}

/// A recipient as shown in a message: cut short when absurdly long.
fn shorten(given: &str) -> String {
    const MAX: usize = 100;
    if given.chars().count() <= MAX {
        given.to_owned()
    } else {
        let head: String = given.chars().take(MAX).collect();
        format!("{head}...")
    }
}

/// Writes an encrypted copy of `source` into `dir` (created, private, if missing) and says what
/// was written: `dir/NAME.zip` or `dir/NAME.age`, where NAME is the source's file name.
///
/// The returned [`Artifact`] has the copy's path, media type ([`Encryption::media_type`]),
/// size, the source's row count, and the SHA-256 of the bytes written (lower-case hex). An
/// existing file of that name is replaced; on failure nothing is left in `dir`.
pub fn encrypt(
    encryption: &Encryption,
    source: &Artifact,
    dir: &Path,
) -> Result<Artifact, EncryptError> {
    let name = source
        .path
        .file_name()
        .ok_or_else(|| EncryptError::NoFileName {
            path: source.path.clone(),
        })?;
    let mut target_name = name.to_os_string();
    target_name.push(".");
    target_name.push(encryption.extension());
    let target = dir.join(target_name);

    let input = open_source(&source.path)?;
    let file = AtomicFile::create(&target).map_err(|e| publish_error(&target, e))?;
    let output = BufWriter::with_capacity(CHUNK, file);
    let output = match encryption {
        Encryption::ZipAes { password } => {
            let entry = name.to_string_lossy();
            zip_aes(input, output, &entry, password, source, &target)?
        }
        Encryption::Age { recipients } => age_to(input, output, recipients, source, &target)?,
    };
    let file = output.into_inner().map_err(|e| EncryptError::Write {
        path: target.clone(),
        source: e.into_error(),
    })?;
    let published = file.commit().map_err(|e| publish_error(&target, e))?;
    Ok(Artifact {
        path: published.path,
        media_type: encryption.media_type().to_owned(),
        bytes: published.bytes,
        rows: source.rows,
        sha256: Some(published.sha256),
    })
}

/// An [`AtomicFile`] error as this crate's: I/O errors keep their cause.
fn publish_error(target: &Path, error: SinkError) -> EncryptError {
    EncryptError::Publish {
        path: target.to_path_buf(),
        source: error,
    }
}

/// The opened source, with its size and modification time; only a regular file.
struct Source {
    file: File,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn open_source(path: &Path) -> Result<Source, EncryptError> {
    let read_error = |source| EncryptError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Checked before opening: opening a FIFO with no writer would block.
    if !std::fs::metadata(path).map_err(read_error)?.is_file() {
        return Err(EncryptError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(EncryptError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    Ok(Source {
        file,
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// Copies `input` into `output` a chunk at a time, telling read errors from write errors,
/// and fails unless what it read is the file `source` published (a file replaced at its path
/// since is never encrypted in its place).
fn pump(
    input: &mut File,
    output: &mut impl Write,
    source: &Artifact,
    target: &Path,
) -> Result<(), EncryptError> {
    let mut buf = vec![0u8; CHUNK];
    let mut read = keepnet_sink::ReadBack::default();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return source.verify(read).map_err(EncryptError::Changed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(EncryptError::Read {
                    path: source.path.clone(),
                    source: e,
                })
            }
        };
        read.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .map_err(|e| EncryptError::Write {
                path: target.to_path_buf(),
                source: e,
            })?;
    }
}

/// The DOS date and time the ZIP entry gets: the source's modification time in UTC (ZIP
/// stores no zone), or 1980-01-01 when unknown or out of the format's range.
fn zip_time(modified: Option<std::time::SystemTime>) -> zip::DateTime {
    let Some(secs) = modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
    else {
        return zip::DateTime::default();
    };
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rest = secs % 86_400;
    let (year, month, day) = keepnet_sink::civil_from_days(days);
    let fields = (
        u16::try_from(year),
        u8::try_from(rest / 3600),
        u8::try_from(rest % 3600 / 60),
        u8::try_from(rest % 60),
    );
    match fields {
        (Ok(year), Ok(hour), Ok(minute), Ok(second)) => {
            zip::DateTime::from_date_and_time(year, month, day, hour, minute, second)
                .unwrap_or_default()
        }
        _ => zip::DateTime::default(),
    }
}

/// Above this the entry is written with ZIP64 sizes: the compressed size of incompressible
/// data can exceed the source's by a little.
const ZIP64_THRESHOLD: u64 = u32::MAX as u64 - 64 * 1024 * 1024;

/// Writes the AES-256 ZIP of `input` into `output` (streamed, sizes in a data descriptor).
fn zip_aes<W: Write>(
    mut input: Source,
    output: W,
    entry: &str,
    password: &SecretString,
    source: &Artifact,
    target: &Path,
) -> Result<W, EncryptError> {
    let zip_error = |e: zip::result::ZipError| match e {
        zip::result::ZipError::Io(e) => EncryptError::Write {
            path: target.to_path_buf(),
            source: e,
        },
        other => EncryptError::Zip {
            path: target.to_path_buf(),
            message: other.to_string(),
        },
    };
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .with_aes_encryption(zip::AesMode::Aes256, password.expose_secret())
        .last_modified_time(zip_time(input.modified))
        .unix_permissions(0o600)
        .large_file(input.len > ZIP64_THRESHOLD);
    let mut zip = zip::ZipWriter::new_stream(output);
    zip.start_file(entry, options).map_err(zip_error)?;
    pump(&mut input.file, &mut zip, source, target)?;
    let stream = zip.finish().map_err(zip_error)?;
    Ok(stream.into_inner())
}

/// Writes the age encryption of `input` to `recipients` into `output`.
fn age_to<W: Write>(
    mut input: Source,
    output: W,
    recipients: &[AgeRecipient],
    source: &Artifact,
    target: &Path,
) -> Result<W, EncryptError> {
    let write_error = |e| EncryptError::Write {
        path: target.to_path_buf(),
        source: e,
    };
    let mut stream = age::AgeWriter::new(output, recipients).map_err(|e| match e {
        age::StartError::Io(e) => write_error(e),
        age::StartError::Crypto(e) => EncryptError::Age {
            path: target.to_path_buf(),
            message: e.to_string(),
        },
    })?;
    pump(&mut input.file, &mut stream, source, target)?;
    stream.finish().map_err(write_error)
}
