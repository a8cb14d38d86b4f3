//! Hostile server behaviour from `Faults` and `Config`: the middleware every request passes
//! (in-flight counts, latency, jitter, latency spikes, and the 403 of `Faults::ip_restricted`, whose body follows
//! test2-ui `Login.vue`), and the random faults of `Faults::rate`. Guesses unless the crate
//! docs' Fidelity table says otherwise; `Faults::fail_user_pages_from` and `Faults::churn` act
//! inside target-users search (`users`).

use std::sync::PoisonError;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::envelope::{failure, json_response, plain};
use super::scope::{IR_HEADER, KEEPNET_HEADER};
use super::{bump, lock, AppState, Shared};

/// The route whose requests [`crate::Stats::user_searches_in_flight`] counts.
const USER_SEARCH_PATH: &str = "/api/target-users/search";

/// Body of every answer while [`crate::Faults::ip_restricted`] is set (Login.vue).
const IP_RESTRICTED_BODY: &str = r#"{"status":"IP_RESTRICTED","message":"Access from your IP address is not allowed for this client."}"#;

pub(super) async fn every_request(State(st): State<Shared>, req: Request, next: Next) -> Response {
    bump(&st.stats.requests);
    let both = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        };
        matches!((header(KEEPNET_HEADER), header(IR_HEADER)), (Some(a), Some(b)) if a == b)
    };
    if both {
        bump(&st.stats.both_company_headers);
    }
    // Counted from here, before the delays, until the response is produced
    // (the guard drops when this returns, or when hyper drops the future).
    let path = req.uri().path();
    let _in_flight = path.starts_with("/api/").then(|| {
        let search = req.method() == Method::POST && path == USER_SEARCH_PATH;
        st.stats.in_flight(search)
    });
    let mut delay = st.config.latency;
    if !st.config.jitter.is_zero() {
        let u = lock(&st.rng).unit();
        delay += st.config.jitter.mul_f64(u);
    }
    delay += spike(&st, req.uri().path());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if st.with_faults(|f| f.ip_restricted) {
        if req.uri().path() == "/connect/token" {
            bump(&st.stats.token_requests);
        }
        return json_response(StatusCode::FORBIDDEN, IP_RESTRICTED_BODY.to_string());
    }
    next.run(req).await
}

/// The extra delay of a latency spike for this request, if one is drawn.
fn spike(st: &AppState, path: &str) -> Duration {
    let (rate, delay, token_too) = {
        let f = st.faults.read().unwrap_or_else(PoisonError::into_inner);
        (f.spike_rate, f.spike_delay, f.include_token_endpoint)
    };
    if rate <= 0.0 || delay.is_zero() {
        return Duration::ZERO;
    }
    let eligible = path.starts_with("/api/") || (token_too && path == "/connect/token");
    if !eligible || lock(&st.spike_rng).unit() >= rate {
        return Duration::ZERO;
    }
    bump(&st.stats.spikes);
    delay
}

pub(super) fn draw_fault(st: &AppState) -> Option<Response> {
    if st.with_faults(|f| f.rate <= 0.0) {
        return None;
    }
    let faults = st.faults();
    let defaults = [429u16, 500, 502, 503];
    let statuses: &[u16] = if faults.statuses.is_empty() {
        &defaults
    } else {
        &faults.statuses
    };
    let code = {
        let mut rng = lock(&st.rng);
        if rng.unit() >= faults.rate {
            return None;
        }
        *rng.pick(statuses)
    };
    bump(&st.stats.faults_injected);
    let retry_after =
        (!faults.omit_retry_after).then(|| faults.retry_after.unwrap_or(Duration::from_secs(1)));
    Some(fault_response(st, code, retry_after))
}

/// The answer of an injected fault `code`; a 429 carries `Retry-After` with
/// `retry_after`'s whole seconds, or no such header when it is `None`.
pub(super) fn fault_response(st: &AppState, code: u16, retry_after: Option<Duration>) -> Response {
    match code {
        200 => failure(
            st,
            StatusCode::OK,
            "INTERNAL_SERVER_ERROR",
            "Simulated failure",
            &[],
        ),
        429 => {
            let mut r = plain(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain; charset=utf-8",
                "Too Many Requests: rate limit exceeded, retry later.",
            );
            if let Some(d) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(d.as_secs()));
            }
            r
        }
        500 => failure(
            st,
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "Simulated failure",
            &[],
        ),
        502 => plain(
            StatusCode::BAD_GATEWAY,
            "text/html",
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
             <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n",
        ),
        503 => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/html; charset=us-ascii",
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\">\r\n<HTML><HEAD>\
             <TITLE>Service Unavailable</TITLE></HEAD>\r\n<BODY><h2>Service Unavailable</h2>\r\n\
             <hr><p>HTTP Error 503. The service is unavailable.</p>\r\n</BODY></HTML>\r\n",
        ),
        other => {
            let status = StatusCode::from_u16(other).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            plain(status, "text/plain", format!("Simulated HTTP {other}"))
        }
    }
}
