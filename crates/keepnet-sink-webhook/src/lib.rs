//! Webhook delivery for `keepnet-export`: after an export's files are delivered, POST a short
//! summary of them to a URL, as a versioned JSON object, a Microsoft Teams card or a Slack
//! message.
//!
//! [`WebhookDelivery`] implements [`keepnet_sink::Delivery`]. Everything that needs no network
//! (the URL, the header, the timeout) is checked by [`WebhookDelivery::new`] and
//! [`WebhookDelivery::check`], before the export starts.
//!
//! # No personal data
//!
//! The bodies carry the company (name and resource id), counts, the change counts and the
//! delivered files' names, sizes and SHA-256: never a user, never the names of who joined or
//! left ([`Changes::joined_names`](keepnet_sink::Changes::joined_names) is not read).
//!
//! # The JSON object ([`Format::Json`], the default)
//!
//! Sent as `Content-Type: application/json`. Fields are added, never renamed or removed,
//! within one `version`; a receiver should ignore fields it does not know.
//!
//! | Field | Type | Meaning |
//! |---|---|---|
//! | `version` | number | The object's version: `1`. |
//! | `tool` | string | `keepnet-export 0.1.0`: the tool and its version. |
//! | `event` | string | `export.delivered`: the export's files were published and delivered. |
//! | `company.name` | string | The customer company's name. |
//! | `company.resourceId` | string | The company's Keepnet resource id. |
//! | `startedAt` | string | When the export started, ISO 8601 UTC (`2026-03-05T10:15:30.123Z`). |
//! | `rows` | number | Users exported. |
//! | `counts` | object or null | The company's count summary; `null` when it was not read. |
//! | `counts.active` | number or null | Active users (not deleted). |
//! | `counts.inactive` | number or null | Inactive users (not deleted). |
//! | `counts.deleted` | number or null | Deleted users the platform still lists. |
//! | `counts.licenceLimit` | number or null | Users the licence allows; `null` when unlimited or unknown. |
//! | `changes` | object or null | What changed since the previous run; `null` without a state. |
//! | `changes.baseline` | boolean | `true` on the first run with a state: nothing counted as a change. |
//! | `changes.joined` | number | Users who were not in the previous run. |
//! | `changes.left` | number | Users of the previous run who are gone. |
//! | `changes.changed` | number | Users whose exported fields differ. |
//! | `files` | array | The delivered files, in `--sink` order (the encrypted copies with `--encrypt`). |
//! | `files[].name` | string | The file's name, without its folder (`Acme.csv`, `Acme.csv.zip`). |
//! | `files[].mediaType` | string | Its media type (`text/csv`); of the published file when encrypted. |
//! | `files[].bytes` | number | Its size in bytes. |
//! | `files[].rows` | number | Data rows it holds (header excluded). |
//! | `files[].sha256` | string | SHA-256 of its bytes, lower-case hex. |
//! | `files[].encryption` | string or null | `zip-aes` or `age` when the file is an encrypted copy. |
//! | `encryption` | string or null | The same, for the export as a whole. |
//! | `deliveries` | array | The deliveries that ran before this notice (e-mail, S3, SFTP), in order. |
//! | `deliveries[].kind` | string | Its kind: `email`, `s3`, `sftp`. |
//! | `deliveries[].ok` | boolean | Whether it succeeded. |
//! | `deliveries[].line` | string | What it did (`uploaded 2 files …`), or why it failed. |
//! | `outcome` | string | `delivered` when every delivery before this notice succeeded (or there was none), else `failed`. |
//!
//! # Teams and Slack
//!
//! [`Format::Teams`] posts `{"type":"message","attachments":[…]}` with one Adaptive Card 1.4
//! (a title and a fact set), as Teams Workflows ("Post to a channel when a webhook request is
//! received") and incoming webhooks take it. [`Format::Slack`] posts an incoming-webhook
//! message: a fallback `text`, a header block and sections. Text from the export is
//! neutralised for each ([`adaptive_text`], [`slack_text`]): a company name cannot form a link.
//!
//! # Transport
//!
//! HTTPS only; plain `http://` to a loopback host alone. Redirects are never followed (a 3xx
//! fails, naming where it pointed). Each attempt is bounded by the timeout, and at most
//! [`MAX_ANSWER_BYTES`] of an answer are read. Connection errors, timeouts and 408, 429, 500,
//! 502, 503 and 504 are retried by the [`RetryPolicy`], honouring `Retry-After`.
//!
//! The URL is a secret (Slack and Teams URLs embed their token): it is shown as
//! `scheme://host` only, in the log line, in errors and by `Debug`. So is the header's value,
//! which is never shown at all.

mod payload;
mod send;

pub use keepnet_net::retry::RetryPolicy;
pub use payload::{adaptive_text, slack_text, EVENT, PAYLOAD_VERSION};

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use keepnet_net::retry::Jitter;
use keepnet_sink::{Delivery, Report, Setting, SinkError};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

/// The timeout of one attempt used by [`WebhookSettings::new`]: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a server's answer that is read: 4 KiB (the rest is never read).
pub const MAX_ANSWER_BYTES: usize = 4 * 1024;

/// The environment variable a front end reads the header's value from.
pub const TOKEN_ENV: &str = "KEEPNET_WEBHOOK_TOKEN";

/// The header [`AuthHeader::for_token`] uses when none is named.
pub const DEFAULT_HEADER: &str = "Authorization";

/// The `tool` field used by [`WebhookSettings::new`]: `keepnet-export <version>`.
pub const TOOL: &str = concat!("keepnet-export ", env!("CARGO_PKG_VERSION"));

/// Headers the delivery sets itself, which [`AuthHeader`] may not replace.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
];

/// What the webhook body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The versioned JSON object documented in the crate docs (`json`).
    #[default]
    Json,
    /// A Microsoft Teams message with an Adaptive Card (`teams`).
    Teams,
    /// A Slack incoming-webhook message with blocks (`slack`).
    Slack,
}

impl Format {
    /// Every format, as the setting spells it.
    pub const NAMES: [&'static str; 3] = ["json", "teams", "slack"];

    /// How the setting spells it: `json`, `teams`, `slack`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Teams => "teams",
            Format::Slack => "slack",
        }
    }

    /// How the log line names it: `JSON`, `Teams`, `Slack`.
    pub fn label(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Teams => "Teams",
            Format::Slack => "Slack",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = SinkError;

    /// `json`, `teams` or `slack` (any case); anything else is [`SinkError::Invalid`].
    fn from_str(text: &str) -> Result<Self, SinkError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "teams" => Ok(Format::Teams),
            "slack" => Ok(Format::Slack),
            _ => Err(SinkError::Invalid(format!(
                "unknown webhook format {text:?}: use json, teams or slack"
            ))),
        }
    }
}

/// A header sent with each request, for the receiver's authentication. Its value is a
/// secret: `Debug` shows `[redacted]`, errors never show it.
#[derive(Clone)]
pub struct AuthHeader {
    /// The header's name, e.g. `Authorization` or `X-Api-Key`.
    pub name: String,
    /// The header's value, exactly as sent.
    pub value: SecretString,
}

impl AuthHeader {
    /// A header `name: value`.
    pub fn new(name: impl Into<String>, value: SecretString) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }

    /// The header for a token read from [`TOKEN_ENV`]: `name` defaults to [`DEFAULT_HEADER`];
    /// for `Authorization` a bare token (one word) is sent as `Bearer <token>`, a value with a
    /// scheme (`Basic …`, `Bearer …`) as given; any other header gets the token as given.
    pub fn for_token(name: Option<&str>, token: SecretString) -> Self {
        let name = name.unwrap_or(DEFAULT_HEADER).trim().to_owned();
        let raw = token.expose_secret().trim();
        let value = if name.eq_ignore_ascii_case("authorization") && !raw.contains(' ') {
            SecretString::from(format!("Bearer {raw}"))
        } else {
            SecretString::from(raw.to_owned())
        };
        Self { name, value }
    }
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthHeader")
            .field("name", &self.name)
            .field("value", &format_args!("[redacted]"))
            .finish()
    }
}

/// Where and how to post.
#[derive(Clone)]
pub struct WebhookSettings {
    /// The URL to POST to (`https://…`; `http://` to a loopback host only). A secret: shown as
    /// `scheme://host` only.
    pub url: String,
    /// The body's format.
    pub format: Format,
    /// The most one attempt may take: connecting, sending and reading the answer.
    pub timeout: Duration,
    /// A header for the receiver's authentication, e.g. from [`TOKEN_ENV`].
    pub header: Option<AuthHeader>,
    /// When to try again after a transient failure.
    pub retry: RetryPolicy,
    /// The body's `tool` field (JSON format).
    pub tool: String,
}

impl WebhookSettings {
    /// Settings for `url`: [`Format::Json`], [`DEFAULT_TIMEOUT`], no header, the default
    /// [`RetryPolicy`] (8 retries, 120 s in all) and [`TOOL`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            format: Format::Json,
            timeout: DEFAULT_TIMEOUT,
            header: None,
            retry: RetryPolicy::default(),
            tool: TOOL.to_owned(),
        }
    }
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &shown_url(&self.url))
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .field("header", &self.header)
            .field("retry", &self.retry)
            .field("tool", &self.tool)
            .finish()
    }
}

/// A URL as it may be shown: `scheme://host[:port]/…` (`/…` when there is a path or query),
/// or `[unparsable URL]`.
pub fn shown_url(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(parsed) => {
            let origin = origin(&parsed);
            let more = parsed.path() != "/" || parsed.query().is_some();
            if more {
                format!("{origin}/…")
            } else {
                origin
            }
        }
        Err(_) => "[unparsable URL]".to_owned(),
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Why a webhook failed. The URL appears as `scheme://host` only, a header value never.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The settings are unusable (found before any I/O).
    #[error("{0}")]
    Invalid(String),
    /// The server answered with a status that is not success nor a redirect.
    #[error("the webhook at {target} answered {status}{}", answer_suffix(.answer))]
    Status {
        /// `scheme://host[:port]`.
        target: String,
        /// The status, e.g. `400 Bad Request`.
        status: Status,
        /// The start of the server's answer, on one line (empty when it sent none).
        answer: String,
    },
    /// The server answered with a redirect, which is not followed.
    #[error(
        "the webhook at {target} answered {status}, a redirect{}: redirects are not followed, give the final URL",
        location.as_ref().map(|l| format!(" to {l}")).unwrap_or_default()
    )]
    Redirect {
        /// `scheme://host[:port]`.
        target: String,
        /// The status, e.g. `302 Found`.
        status: Status,
        /// Where it pointed, `scheme://host[:port]` only.
        location: Option<String>,
    },
    /// No answer within the timeout.
    #[error("the webhook at {target} did not answer within {}", seconds(*.timeout))]
    Timeout {
        /// `scheme://host[:port]`.
        target: String,
        /// The timeout of one attempt.
        timeout: Duration,
    },
    /// Connecting or sending failed.
    #[error("could not post to the webhook at {target}: {detail}")]
    Connect {
        /// `scheme://host[:port]`.
        target: String,
        /// What failed, from the HTTP stack (no URL in it).
        detail: String,
    },
    /// Transient failures until the retry policy gave up.
    #[error("gave up after {attempts} attempts in {}: {last}", seconds(*.elapsed))]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// The last attempt's failure.
        last: Box<WebhookError>,
    },
    /// Reading a file (for its SHA-256) failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// An HTTP status with its reason: `503 Service Unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u16);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = reqwest::StatusCode::from_u16(self.0)
            .ok()
            .and_then(|s| s.canonical_reason());
        match reason {
            Some(reason) => write!(f, "{} {reason}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

fn answer_suffix(answer: &str) -> String {
    if answer.is_empty() {
        String::new()
    } else {
        format!(": {answer}")
    }
}

/// `30 s`, `1.5 s`, `250 ms`.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl WebhookError {
    /// The status of the last answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            WebhookError::Status { status, .. } | WebhookError::Redirect { status, .. } => {
                Some(status.0)
            }
            WebhookError::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }

    /// Whether the failure ended on the per-attempt timeout.
    pub fn timed_out(&self) -> bool {
        match self {
            WebhookError::Timeout { .. } => true,
            WebhookError::GaveUp { last, .. } => last.timed_out(),
            _ => false,
        }
    }
}

/// The option the timeout error points at.
pub const TIMEOUT_SETTING: Setting = Setting::Option("webhook.timeout");

impl From<WebhookError> for SinkError {
    /// [`WebhookError::Invalid`] → [`SinkError::Invalid`], [`WebhookError::Io`] →
    /// [`SinkError::Io`], a timeout → [`SinkError::Limit`] on [`TIMEOUT_SETTING`], the rest →
    /// [`SinkError::Other`].
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Invalid(message) => SinkError::Invalid(message),
            WebhookError::Io { path, source } => SinkError::io(path, source),
            error if error.timed_out() => SinkError::Limit {
                message: error.to_string(),
                setting: TIMEOUT_SETTING,
            },
            error => SinkError::other(error),
        }
    }
}

/// Posts a summary of an export's delivered files to a webhook.
pub struct WebhookDelivery {
    settings: WebhookSettings,
    url: Url,
    /// `scheme://host[:port]`.
    target: String,
    header: Option<(HeaderName, HeaderValue)>,
    jitter: Jitter,
}

impl fmt::Debug for WebhookDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookDelivery")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What [`WebhookDelivery::check`] read from the settings.
struct Checked {
    url: Url,
    header: Option<(HeaderName, HeaderValue)>,
}

fn invalid(message: impl Into<String>) -> WebhookError {
    WebhookError::Invalid(message.into())
}

fn checked(settings: &WebhookSettings) -> Result<Checked, WebhookError> {
    let text = settings.url.trim();
    if text.is_empty() {
        return Err(invalid(
            "no webhook URL: give it as webhook:https://host/path",
        ));
    }
    let url = Url::parse(text).map_err(|e| {
        invalid(format!(
            "the webhook URL is not a valid URL ({e}): give it as webhook:https://host/path"
        ))
    })?;
    let shown = origin(&url);
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid(format!("the webhook URL {shown} has no host")))?;
    match url.scheme() {
        "https" => {}
        "http" if keepnet_net::is_loopback(host) => {}
        "http" => {
            return Err(invalid(format!(
                "the webhook URL {shown} is plain http to a host that is not this machine: use https (http is allowed to a loopback host only, e.g. 127.0.0.1 or localhost)"
            )))
        }
        other => {
            return Err(invalid(format!(
                "the webhook URL {shown} uses {other}: use https"
            )))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!(
            "the webhook URL {shown} has a user or password in it: give credentials with the header setting (its value from {TOKEN_ENV}) instead"
        )));
    }
    if settings.timeout.is_zero() {
        return Err(invalid("the webhook timeout must be more than 0 s"));
    }
    let header = match &settings.header {
        None => None,
        Some(h) => Some(header(h)?),
    };
    Ok(Checked { url, header })
}

fn header(h: &AuthHeader) -> Result<(HeaderName, HeaderValue), WebhookError> {
    let name = HeaderName::from_bytes(h.name.trim().as_bytes()).map_err(|_| {
        invalid(format!(
            "the webhook header name {:?} is not a valid HTTP header name",
            h.name
        ))
    })?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(invalid(format!(
            "the webhook header {name} is set by the delivery itself: name another header (e.g. Authorization)"
        )));
    }
    let raw = h.value.expose_secret();
    if raw.trim().is_empty() {
        return Err(invalid(format!(
            "the value of the webhook header {name} is empty (is {TOKEN_ENV} set?)"
        )));
    }
    let mut value = HeaderValue::from_str(raw).map_err(|_| {
        invalid(format!(
            "the value of the webhook header {name} has characters a header cannot carry (line breaks, control characters or non-ASCII)"
        ))
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

impl WebhookDelivery {
    /// Checks the settings as [`WebhookDelivery::check`] does and builds the delivery. Fails
    /// with [`SinkError::Invalid`] saying what to change.
    pub fn new(settings: WebhookSettings) -> Result<Self, SinkError> {
        let Checked { url, header } = checked(&settings)?;
        Ok(Self {
            target: origin(&url),
            url,
            header,
            settings,
            jitter: Jitter::from_clock(),
        })
    }

    /// Checks everything that needs no I/O: the URL (https, or http to a loopback host; no
    /// credentials in it), the timeout (more than zero) and the header (a valid name that the
    /// delivery does not set itself, a non-empty value a header can carry).
    pub fn check(settings: &WebhookSettings) -> Result<(), SinkError> {
        checked(settings).map(drop).map_err(SinkError::from)
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// `scheme://host[:port]` of the URL: how the log line and errors name it.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The body [`deliver`](Delivery::deliver) would post for `report`, without posting it
    /// (for a dry run). Reads the files whose artifact has no SHA-256.
    pub fn payload(&self, report: &Report<'_>) -> Result<serde_json::Value, SinkError> {
        Ok(payload::build(
            self.settings.format,
            &self.settings.tool,
            report,
        )?)
    }

    fn post(&mut self, body: Vec<u8>) -> Result<send::Posted, WebhookError> {
        let request = send::Request {
            url: &self.url,
            target: &self.target,
            header: self.header.as_ref(),
            timeout: self.settings.timeout,
            retry: &self.settings.retry,
            body,
        };
        let jitter = &mut self.jitter;
        if tokio::runtime::Handle::try_current().is_ok() {
            // Called from async code: a runtime cannot be driven on a runtime thread.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| send::post_blocking(request, jitter))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            send::post_blocking(request, jitter)
        }
    }
}

impl Delivery for WebhookDelivery {
    /// Builds the body, posts it (retrying transient failures) and returns
    /// `posted the summary to https://host/… (Teams), 200 OK`.
    fn deliver(&mut self, report: &Report<'_>) -> Result<String, SinkError> {
        let body = self.payload(report)?;
        let bytes = serde_json::to_vec(&body).map_err(SinkError::other)?;
        let posted = self.post(bytes)?;
        let retried = if posted.attempts > 1 {
            format!(" after {} attempts", posted.attempts)
        } else {
            String::new()
        };
        Ok(format!(
            "posted the summary to {} ({}), {}{retried}",
            shown_url(self.url.as_str()),
            self.settings.format.label(),
            posted.status,
        ))
    }
}
