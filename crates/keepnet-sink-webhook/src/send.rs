//! The POST itself: one small runtime, bounded attempts, retries by the policy.

use std::error::Error as _;
use std::time::{Duration, Instant, SystemTime};

use keepnet_net::retry::{parse_retry_after, retryable_status, Jitter, RetryPolicy};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION, RETRY_AFTER, USER_AGENT};
use reqwest::Url;

use crate::{origin, Status, WebhookError, MAX_ANSWER_BYTES};

/// One webhook call.
pub(crate) struct Request<'a> {
    pub url: &'a Url,
    pub target: &'a str,
    pub header: Option<&'a (HeaderName, HeaderValue)>,
    pub timeout: Duration,
    pub retry: &'a RetryPolicy,
    pub body: Vec<u8>,
}

/// A successful call.
pub(crate) struct Posted {
    pub status: Status,
    pub attempts: u32,
}

/// One failed attempt, and whether (and when) to try again.
struct Failed {
    error: WebhookError,
    /// `None`: not transient. `Some(wait)`: transient, with the server's `Retry-After`.
    retry: Option<Option<Duration>>,
}

/// Posts on a current-thread runtime of its own. Must not be called on a runtime thread.
pub(crate) fn post_blocking(
    request: Request<'_>,
    jitter: &mut Jitter,
) -> Result<Posted, WebhookError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WebhookError::Connect {
            target: request.target.to_owned(),
            detail: format!("could not start the HTTP runtime: {e}"),
        })?;
    runtime.block_on(post(request, jitter))
}

async fn post(request: Request<'_>, jitter: &mut Jitter) -> Result<Posted, WebhookError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(request.timeout)
        .connect_timeout(request.timeout)
        .https_only(request.url.scheme() == "https")
        .build()
        .map_err(|e| WebhookError::Connect {
            target: request.target.to_owned(),
            detail: format!("could not set up the HTTP client: {}", detail(&e)),
        })?;
    let policy = request.retry;
    let started = Instant::now();
    let mut retries = 0u32;
    // `retry-time` bounds the waiting between attempts, not the attempts themselves: a slow
    // answer must not use up the retries the setting asked for.
    let mut waited = std::time::Duration::ZERO;
    loop {
        let failed = match attempt(&client, &request).await {
            Ok(status) => {
                return Ok(Posted {
                    status,
                    attempts: retries + 1,
                })
            }
            Err(failed) => failed,
        };
        let Some(retry_after) = failed.retry else {
            return Err(gave_up(failed.error, retries, started));
        };
        let wait = policy.wait(retries, retry_after, jitter.unit());
        if retries >= policy.max_retries || waited + wait > policy.max_elapsed {
            return Err(gave_up(failed.error, retries, started));
        }
        waited += wait;
        retries += 1;
        tokio::time::sleep(wait).await;
    }
}

/// The error after `retries` retries: the last one itself on the first attempt.
fn gave_up(error: WebhookError, retries: u32, started: Instant) -> WebhookError {
    if retries == 0 {
        error
    } else {
        WebhookError::GaveUp {
            attempts: retries + 1,
            elapsed: started.elapsed(),
            last: Box::new(error),
        }
    }
}

async fn attempt(client: &reqwest::Client, request: &Request<'_>) -> Result<Status, Failed> {
    let target = request.target.to_owned();
    let mut builder = client
        .post(request.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(
            USER_AGENT,
            concat!("keepnet-export/", env!("CARGO_PKG_VERSION")),
        )
        .body(request.body.clone());
    if let Some((name, value)) = request.header {
        builder = builder.header(name.clone(), value.clone());
    }
    let response = builder
        .send()
        .await
        .map_err(|e| transport(e, &target, request.timeout))?;
    let status = Status(response.status().as_u16());
    if response.status().is_success() {
        return Ok(status);
    }
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| request.url.join(l).ok())
            .map(|l| origin(&l));
        return Err(Failed {
            error: WebhookError::Redirect {
                target,
                status,
                location,
            },
            retry: None,
        });
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let answer = short_answer(response).await;
    Err(Failed {
        error: WebhookError::Status {
            target,
            status,
            answer,
        },
        retry: retryable_status(status.0).then_some(retry_after),
    })
}

/// The start of an answer's body, on one line: at most [`MAX_ANSWER_BYTES`] are read (within
/// the attempt's timeout), at most 200 characters shown.
async fn short_answer(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ANSWER_BYTES - bytes.len();
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    drop(response);
    let text = String::from_utf8_lossy(&bytes);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let one_line: String = one_line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > 200 {
        let mut cut: String = one_line.chars().take(199).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

/// A failure before any answer: timeouts and connection errors are transient.
fn transport(error: reqwest::Error, target: &str, timeout: Duration) -> Failed {
    let error = error.without_url();
    let error = if error.is_timeout() {
        WebhookError::Timeout {
            target: target.to_owned(),
            timeout,
        }
    } else {
        WebhookError::Connect {
            target: target.to_owned(),
            detail: detail(&error),
        }
    };
    Failed {
        error,
        retry: Some(None),
    }
}

/// An error's message and its causes', joined by `: `, repeats left out.
fn detail(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    parts.join(": ")
}
