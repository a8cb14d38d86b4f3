//! When and how long to wait before sending a failed call again.
//!
//! Modelled on the AWS SDKs' "standard" mode and Google's API guidance: retry what is
//! transient (429, 408, 500, 502, 503, 504, connection failures, resets, truncated bodies,
//! timeouts), wait an exponentially growing, fully jittered time (a uniform draw between zero
//! and the capped exponential), honour the server's `Retry-After` in both its forms (seconds and
//! HTTP-date), and give up after a number of retries or a total time, whichever comes first.
//!
//! What is safe to send twice is the caller's call: the Keepnet client retries only reads (its
//! search POSTs only read); a webhook retries its POST, which receivers take as a notice.

use std::time::{Duration, SystemTime};

/// Retry settings of an HTTP client (the Keepnet API client's, a webhook's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying). Default 8.
    pub max_retries: u32,
    /// The first backoff's upper bound; doubles each retry. Default 250 ms.
    pub initial_backoff: Duration,
    /// Upper bound of any one wait, `Retry-After` included. Default 30 s.
    pub max_backoff: Duration,
    /// Total time one call may spend waiting between attempts. Default 120 s.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0-based): `Retry-After` when the server sent one
    /// (capped at `max_backoff`), else a uniform draw in `[0, min(max_backoff, initial * 2^retry)]`
    /// ("full jitter"). `unit` is a random number in `[0, 1)`.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_backoff);
        }
        let exponential = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
        exponential
            .min(self.max_backoff)
            .mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Whether an HTTP status is worth retrying.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Parses `Retry-After`: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete RFC 850 and asctime forms). A date in
/// the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A small, fast random source for jitter (xorshift64*), seeded per client. Not for secrets.
#[derive(Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// A source seeded with `seed` (repeatable, for tests).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A source seeded from the clock and the process id.
    pub fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self::new(nanos ^ (std::process::id() as u64) << 32)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_grows_exponentially_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.wait(0, None, 0.0), Duration::ZERO);
        assert_eq!(
            p.wait(0, None, 0.999_999),
            Duration::from_millis(250).mul_f64(0.999_999)
        );
        assert_eq!(p.wait(3, None, 0.5), Duration::from_millis(1000));
        assert_eq!(
            p.wait(10, None, 1.0),
            Duration::from_secs(30),
            "capped per wait"
        );
        assert_eq!(
            p.wait(40, None, 1.0),
            Duration::from_secs(30),
            "no overflow"
        );
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.wait(0, Some(Duration::from_secs(3)), 0.1),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.wait(0, Some(Duration::from_secs(600)), 0.1),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn retry_after_both_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:09 GMT", now),
            Some(Duration::from_secs(9)),
            "RFC 850"
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:02 2015", now),
            Some(Duration::from_secs(2)),
            "asctime"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "past"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn jitter_is_uniform_enough() {
        let mut j = Jitter::new(42);
        let draws: Vec<f64> = (0..10_000).map(|_| j.unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s));
        }
        for s in [200, 400, 401, 403, 404, 501] {
            assert!(!retryable_status(s));
        }
    }
}
