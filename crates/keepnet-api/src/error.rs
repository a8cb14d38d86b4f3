//! The one error type of the crate. Every variant says what happened and what to do next.

use std::time::Duration;

use crate::resolve::ResolveError;

/// Broad class of an [`Error`], for callers that map failures to exit codes or retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's configuration is unusable (bad base URL, bad company id).
    Usage,
    /// The credentials were refused.
    Authentication,
    /// Not permitted (403), or the company does not exist, is not managed by this credential,
    /// or is ambiguous.
    Company,
    /// The API answered with an error, or the network failed.
    Api,
    /// A company-scoped answer holds more users than the company has: it likely covers other
    /// customers ([`Error::OutOfScope`]).
    Scope,
}

/// Errors of the Keepnet client.
///
/// Messages never contain the client secret or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The base URL or another client setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A company id given by the caller is not a valid id.
    #[error(transparent)]
    InvalidCompanyId(#[from] crate::InvalidCompanyId),

    /// `/connect/token` refused the client id or secret.
    #[error(
        "authentication failed: the token endpoint rejected the client credentials ({detail}); \
         check KEEPNET_CLIENT_ID and KEEPNET_CLIENT_SECRET, and whether the credential is \
         IP-restricted in Keepnet (Company Settings > REST API)"
    )]
    InvalidCredentials {
        /// The server's error code or message, e.g. `invalid_client`.
        detail: String,
    },

    /// A call was answered 401 even with a freshly issued token.
    #[error(
        "the API rejected a freshly issued token (401 Unauthorized); the credential may be \
         IP-restricted or disabled in Keepnet (Company Settings > REST API)"
    )]
    Unauthorized,

    /// 403: the credential is not a Reseller, or the company is not one it manages.
    #[error("{}", forbidden_message(.company.as_deref(), .message.as_deref()))]
    Forbidden {
        /// The company the call was scoped to, if any.
        company: Option<String>,
        /// The server's message, if it gave one.
        message: Option<String>,
    },

    /// 403 `IP_RESTRICTED`: the credential may only be used from allowed IP addresses.
    #[error(
        "access denied (HTTP 403, IP_RESTRICTED): this API credential is IP-restricted and the \
         address this runs from is not allowed; add the runner's public IP address to the \
         credential's allowed addresses in Keepnet (Company > Company Settings > REST API), or \
         run from an allowed network{}",
        .message.as_deref().map(|m| format!(" (server said: {m})")).unwrap_or_default()
    )]
    IpRestricted {
        /// The server's message, if it gave one.
        message: Option<String>,
    },

    /// 403 `PRIVACY_ERROR`: the customer's privacy settings forbid access to its data.
    #[error(
        "access denied (HTTP 403, PRIVACY_ERROR): the privacy settings of company {company} do not \
         allow its data to be read with this credential; the customer (or its administrator) \
         must allow reseller access in its privacy settings{}",
        .message.as_deref().map(|m| format!(" (server said: {m})")).unwrap_or_default()
    )]
    PrivacyRestricted {
        /// The company the call was scoped to.
        company: String,
        /// The server's message, if it gave one.
        message: Option<String>,
    },

    /// A company-scoped answer holds more users than that company's own counts allow; the
    /// message names the cause the figures point to ([`crate::scope::ScopeCause`]).
    #[error("{0}")]
    OutOfScope(Box<crate::scope::Breach>),

    /// 404 (or a 400 about the company id): the company id is unknown to the server.
    #[error(
        "company {company} was not found by the API (HTTP {status}){}; list the companies you \
         manage with `keepnet-export companies`",
        .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
    )]
    CompanyNotFound {
        /// The company id that was sent.
        company: String,
        /// The HTTP status (404 or 400).
        status: u16,
        /// The server's message, if it gave one.
        message: Option<String>,
    },

    /// The company argument matched no company, or several.
    #[error(transparent)]
    Resolve(#[from] ResolveError),

    /// 400 for a reason other than the company id.
    #[error("the API refused the request as invalid (HTTP 400): {message}")]
    BadRequest {
        /// The server's messages, joined.
        message: String,
    },

    /// 429: too many requests.
    #[error(
        "rate limited by the API (HTTP 429){}; wait and run again, or lower the request rate",
        .retry_after.map(|d| format!(", server asked to retry after {}s", d.as_secs())).unwrap_or_default()
    )]
    RateLimited {
        /// The delay the server asked for in `Retry-After`, if any.
        retry_after: Option<Duration>,
    },

    /// A 5xx or other unexpected HTTP status.
    #[error("the API failed with HTTP {status} on {endpoint}: {message}")]
    Server {
        /// HTTP status code.
        status: u16,
        /// The endpoint path that failed.
        endpoint: String,
        /// The server's message, or a short excerpt of the body.
        message: String,
        /// The delay the server asked for in `Retry-After` (503 often carries one), if any.
        retry_after: Option<Duration>,
    },

    /// HTTP 200 whose envelope reports failure.
    #[error("the API reported failure on {endpoint} (status {status}): {message}")]
    Envelope {
        /// The endpoint path.
        endpoint: String,
        /// The envelope's status text, e.g. `INTERNAL_SERVER_ERROR`.
        status: String,
        /// The server's messages, joined.
        message: String,
    },

    /// The network failed: connection refused, reset, DNS or timeout.
    #[error("network error talking to the Keepnet API at {url}: {detail}")]
    Network {
        /// The URL without query string.
        url: String,
        /// What went wrong, with the cause chain.
        detail: String,
        /// Whether the request timed out.
        timeout: bool,
    },

    /// A transient failure that persisted through every retry.
    #[error("{last} (gave up after {attempts} attempts in {:.1}s)", .elapsed.as_secs_f64())]
    GaveUp {
        /// Attempts made, the first included.
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// The last attempt's error (shown in the message, so not also chained as a source).
        last: Box<Error>,
    },

    /// A 3xx answer. Never followed: every call carries a credential.
    #[error(
        "the API answered {endpoint} with a redirect (HTTP {status}) to {target}; not followed: \
         the client secret and tokens are only ever sent to the base URL; check the base URL \
         and any proxy in between"
    )]
    Redirected {
        /// The endpoint path that answered.
        endpoint: String,
        /// The 3xx status.
        status: u16,
        /// Where it pointed: scheme, host and port.
        target: String,
    },

    /// The response could not be understood.
    #[error("malformed response from {endpoint}: {problem}; the body began with: {excerpt:?}")]
    Malformed {
        /// The endpoint path.
        endpoint: String,
        /// What was wrong with it.
        problem: String,
        /// The first bytes of the body, lossily decoded.
        excerpt: String,
    },
}

fn forbidden_message(company: Option<&str>, message: Option<&str>) -> String {
    let what = match company {
        Some(id) => format!(
            "access denied (HTTP 403): the credential is not a Reseller, or company {id} is not \
             one it manages"
        ),
        None => "access denied (HTTP 403): the credential lacks permission for this call; \
                 resellers need a credential with Client Role = Reseller"
            .to_owned(),
    };
    match message {
        Some(m) if !m.is_empty() => format!("{what} (server said: {m})"),
        _ => what,
    }
}

impl Error {
    /// Whether this is the server refusing the page size asked: HTTP 400, or `INPUT_ERROR`
    /// inside a 200, with a message that names the page size (`PageSize`, `page size`,
    /// `page_size`, any case).
    pub fn refuses_page_size(&self) -> bool {
        let message = match self {
            Error::BadRequest { message } => message,
            Error::Envelope {
                status, message, ..
            } if status.eq_ignore_ascii_case("INPUT_ERROR") => message,
            _ => return false,
        };
        let squashed: String = message
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        squashed.contains("pagesize")
    }

    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::GaveUp { last, .. } => last.kind(),
            Error::Config(_) | Error::InvalidCompanyId(_) => ErrorKind::Usage,
            Error::InvalidCredentials { .. } | Error::Unauthorized => ErrorKind::Authentication,
            Error::Forbidden { .. }
            | Error::IpRestricted { .. }
            | Error::PrivacyRestricted { .. }
            | Error::CompanyNotFound { .. }
            | Error::Resolve(_) => ErrorKind::Company,
            Error::OutOfScope(breach) => match breach.cause {
                crate::scope::ScopeCause::StatusFilter => ErrorKind::Api,
                _ => ErrorKind::Scope,
            },
            Error::BadRequest { .. }
            | Error::RateLimited { .. }
            | Error::Server { .. }
            | Error::Envelope { .. }
            | Error::Network { .. }
            | Error::Redirected { .. }
            | Error::Malformed { .. } => ErrorKind::Api,
        }
    }
}

impl Error {
    /// Whether the base URL setting is the place to look (a redirect, also after retries):
    /// the front end then names it as its user sets it (`--base-url`, `KEEPNET_BASE_URL`).
    pub fn about_base_url(&self) -> bool {
        match self {
            Error::Redirected { .. } => true,
            Error::GaveUp { last, .. } => last.about_base_url(),
            _ => false,
        }
    }

    /// `Some(retry_after)` when the failure is transient and worth retrying: network failures,
    /// 408, 429, 500, 502, 503, 504, each with the server's `Retry-After` delay, if it sent one.
    pub(crate) fn transient(&self) -> Option<Option<Duration>> {
        match self {
            Error::Network { .. } => Some(None),
            Error::RateLimited { retry_after } => Some(*retry_after),
            Error::Server {
                status,
                retry_after,
                ..
            } if keepnet_net::retry::retryable_status(*status) => Some(*retry_after),
            _ => None,
        }
    }
}

/// A short, printable excerpt of a response body for error messages, with what could be
/// personal data taken out: the body of an API answer is full of names and e-mail addresses,
/// and an error message ends up on terminals, in CI logs and in `--summary-json`.
///
/// Keeps the structure: JSON keys and punctuation stay, every JSON string value becomes
/// `"…"`, and outside strings e-mail addresses and runs of six or more digits are masked. The
/// body's size is said too. Markup error pages (`<html>502 Bad Gateway`) stay readable.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 160;
    if body.is_empty() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX * 4)]);
    let shown: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    let mut out = mask_outside_strings(&mask_string_values(&shown));
    if text.chars().count() > MAX || body.len() > MAX * 4 {
        out.push('…');
    }
    format!("{out} ({} bytes)", body.len())
}

/// Replaces the content of every quoted string that is not an object key with `…`.
fn mask_string_values(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '"' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A quoted string: find its end (an unescaped quote), or the end of the excerpt.
        let mut end = i + 1;
        while end < chars.len() && chars[end] != '"' {
            end += if chars[end] == '\\' { 2 } else { 1 };
        }
        let closed = end < chars.len();
        let next = chars[(end + 1).min(chars.len())..]
            .iter()
            .find(|c| !c.is_whitespace());
        let is_key = closed && next == Some(&':');
        if is_key {
            out.extend(&chars[i..=end]);
        } else {
            out.push_str(if closed { "\"…\"" } else { "\"…" });
        }
        i = end + 1;
    }
    out
}

/// Masks e-mail addresses and runs of six or more digits (phone and employee numbers).
fn mask_outside_strings(text: &str) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            if word.contains('@') && word.contains('.') {
                "[e-mail]".to_owned()
            } else {
                word.to_owned()
            }
        })
        .collect();
    let joined = words.join(" ");
    let mut out = String::with_capacity(joined.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 6 {
            out.push_str("[number]");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in joined.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn excerpts_keep_structure_not_personal_data() {
        let body = br#"{"data":{"results":[{"email":"victim@corp.example","phoneNumber":"+90 532 111 22 33","firstName":"Ay\"se"}"#;
        let shown = excerpt(body);
        for secret in ["victim", "corp.example", "532", "Ay"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains(r#"{"data":{"results":[{"email":"…","phoneNumber":"…""#),
            "{shown}"
        );
        assert!(
            shown.ends_with(&format!("({} bytes)", body.len())),
            "{shown}"
        );
        let html = excerpt(b"<html><title>502 Bad Gateway</title></html>");
        assert!(html.contains("502 Bad Gateway"), "{html}");
        let loose = excerpt(b"user victim@corp.example id 1234567 not found");
        assert_eq!(loose, "user [e-mail] id [number] not found (45 bytes)");
        let cut = excerpt(br#"{"email":"unterminated victim@x.example"#);
        assert!(!cut.contains("victim"), "{cut}");
        assert_eq!(excerpt(b""), "");
    }
}
