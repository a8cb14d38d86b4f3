//! The delivery's errors, how object_store's are described, and how secrets are kept out.

use keepnet_sink::{Setting, SinkError};
use secrecy::ExposeSecret;

use crate::credentials::Credentials;
use crate::Resolved;

/// Why an S3 delivery failed. Messages name the bucket, key and endpoint and what the server
/// answered, and never hold a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// No credentials anywhere (maps to [`SinkError::Unset`] for `s3.profile`).
    #[error("{0}")]
    NoCredentials(String),
    /// The credentials found are unusable: half-set variables, a broken or missing credentials
    /// file or profile (maps to [`SinkError::Invalid`]).
    #[error("{0}")]
    Credentials(String),
    /// object_store refused the configuration (maps to [`SinkError::Invalid`]).
    #[error("S3 client settings for {target}: {reason}")]
    Client {
        /// The `s3://` target.
        target: String,
        /// What was refused.
        reason: String,
    },
    /// An upload failed.
    #[error("uploading {file} to {url} via {endpoint} failed: {reason}{done}")]
    Upload {
        /// The local file.
        file: String,
        /// `s3://bucket/key`.
        url: String,
        /// The endpoint used.
        endpoint: String,
        /// What happened, with the server's answer.
        reason: String,
        /// Which files were uploaded before, if any (`; 1 of 2 files was uploaded before: ...`).
        done: String,
    },
}

impl S3Error {
    /// The [`SinkError`] the runner gets.
    pub fn into_sink_error(self) -> SinkError {
        match self {
            S3Error::NoCredentials(message) => SinkError::Unset {
                message,
                setting: Setting::Option("s3.profile"),
            },
            S3Error::Credentials(_) | S3Error::Client { .. } => {
                SinkError::Invalid(self.to_string())
            }
            S3Error::Upload { .. } => SinkError::other(self),
        }
    }
}

impl From<S3Error> for SinkError {
    fn from(e: S3Error) -> Self {
        e.into_sink_error()
    }
}

impl Resolved {
    /// Replaces every secret in `text` by `[redacted]`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Credentials::Static(c) = &self.credentials {
            let mut secrets = vec![c.secret.expose_secret()];
            if let Some(token) = &c.token {
                secrets.push(token.expose_secret());
            }
            for secret in secrets {
                if !secret.is_empty() {
                    text = text.replace(secret, "[redacted]");
                }
            }
        }
        text
    }

    /// The error as a [`SinkError`], with secrets scrubbed from its message.
    pub(crate) fn scrub_error(&self, e: S3Error) -> SinkError {
        let e = match e {
            S3Error::NoCredentials(m) => S3Error::NoCredentials(self.scrub(&m)),
            S3Error::Credentials(m) => S3Error::Credentials(self.scrub(&m)),
            S3Error::Client { target, reason } => S3Error::Client {
                target,
                reason: self.scrub(&reason),
            },
            S3Error::Upload {
                file,
                url,
                endpoint,
                reason,
                done,
            } => S3Error::Upload {
                file,
                url,
                endpoint,
                reason: self.scrub(&reason),
                done,
            },
        };
        e.into_sink_error()
    }
}

/// Describes a failed object_store call: the server's status, S3 error code and message, or
/// the connection failure. The raw response body is not shown (an S3 `SignatureDoesNotMatch`
/// answer echoes the signed request, session token included).
pub(crate) fn describe(error: &object_store::Error, resolved: &Resolved, key: &str) -> String {
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = vec![error];
    while let Some(next) = chain.last().and_then(|e| e.source()) {
        chain.push(next);
    }
    let endpoint = resolved.endpoint_label();
    let bucket = &resolved.target.bucket;
    let retries = match resolved.retries {
        0 => "no retry".to_owned(),
        1 => "1 retry".to_owned(),
        n => format!("{n} retries"),
    };
    let text = error.to_string();
    // object_store's HttpError is shown transparently: recognise it by its text, and take the
    // cause from the innermost error (`Connection refused (os error 111)`).
    if text.contains("HTTP error") && !text.contains("Server returned") {
        let cause = chain.last().map(|e| e.to_string()).unwrap_or_default();
        let timed_out = chain.iter().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
                || e.to_string().contains("timed out")
        });
        let connect = chain.iter().any(|e| {
            e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::NotConnected
                        | std::io::ErrorKind::AddrNotAvailable
                )
            }) || e.to_string().contains("connect")
        });
        return if timed_out {
            format!(
                "no answer from {endpoint} within the timeout of {:?} (gave up after {retries})",
                resolved.timeout
            )
        } else if connect {
            format!("could not connect to {endpoint} ({cause}; gave up after {retries})")
        } else {
            format!("the request to {endpoint} failed ({cause}; gave up after {retries})")
        };
    }
    let answer = [
        "Server returned non-2xx status code: ",
        "Server returned error response: ",
    ]
    .iter()
    .find_map(|marker| text.find(marker).map(|at| &text[at + marker.len()..]));
    let Some(answer) = answer else {
        return text;
    };
    let status = answer
        .split_once(": ")
        .map(|(s, _)| s)
        .unwrap_or(answer)
        .trim();
    let status = if status.starts_with(|c: char| c.is_ascii_digit()) && status.len() < 40 {
        status
    } else {
        "an error"
    };
    let code = xml_field(answer, "Code");
    let message = xml_field(answer, "Message");
    let mut out = format!("{endpoint} answered {status}");
    if let Some(code) = &code {
        out.push_str(&format!(", {code}"));
    }
    if let Some(message) = &message {
        out.push_str(&format!(": {message}"));
    }
    let origin = resolved.credentials.origin();
    let hint = match code.as_deref().unwrap_or("") {
        "NoSuchBucket" => format!(
            "bucket {bucket:?} does not exist at {endpoint}: create it, or check the name, \
             region ({}) and endpoint",
            resolved.region
        ),
        "AccessDenied" => format!(
            "the credentials from {origin} may not write {key:?} in bucket {bucket:?} \
             (s3:PutObject is needed)"
        ),
        "InvalidAccessKeyId" => {
            format!("the access key id from {origin} is not known to {endpoint}")
        }
        "SignatureDoesNotMatch" => format!(
            "the secret access key from {origin} does not match its access key id (or the \
             region {} is wrong)",
            resolved.region
        ),
        "ExpiredToken" | "InvalidToken" => {
            format!("the session token from {origin} is expired or invalid")
        }
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => {
            format!(
                "bucket {bucket:?} is not in region {}: set s3.region",
                resolved.region
            )
        }
        "InvalidStorageClass" => "the storage class is not supported by this store".to_owned(),
        _ => String::new(),
    };
    if !hint.is_empty() {
        out.push_str(&format!(" ({hint})"));
    }
    out
}

/// The text of the first `<name>...</name>` in `xml`, unescaped, bounded to 300 characters.
fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    let value = xml[start..start + len]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    let value: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    (!value.trim().is_empty()).then(|| value.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::xml_field;

    #[test]
    fn xml_fields() {
        let xml = "404 Not Found: <?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>\
                   <Message>The &quot;bucket&quot; does not exist</Message></Error>";
        assert_eq!(xml_field(xml, "Code").unwrap(), "NoSuchBucket");
        assert_eq!(
            xml_field(xml, "Message").unwrap(),
            "The \"bucket\" does not exist"
        );
        assert_eq!(xml_field(xml, "Missing"), None);
        assert_eq!(xml_field("<Code></Code>", "Code"), None);
    }
}
