//! Flow control shared by every request of a client: adaptive concurrency (AIMD) and an
//! optional request-rate cap.
//!
//! On a 429 the allowed number of concurrent page fetches halves (down to 1); every
//! `limit` successful calls it grows by one again, up to the configured maximum: the same
//! additive-increase / multiplicative-decrease rule TCP uses, so a rate-limited credential
//! settles just under its limit instead of hammering it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Flow {
    max: usize,
    limit: AtomicUsize,
    lowest: AtomicUsize,
    credit: Mutex<f64>,
    throttled: AtomicU64,
    interval: Option<Duration>,
    next_slot: tokio::sync::Mutex<Instant>,
}

impl Flow {
    /// `max` concurrent page fetches; `max_rps` requests per second at most, if given.
    pub(crate) fn new(max: usize, max_rps: Option<f64>) -> Self {
        let max = max.max(1);
        Self {
            max,
            limit: AtomicUsize::new(max),
            lowest: AtomicUsize::new(max),
            credit: Mutex::new(0.0),
            throttled: AtomicU64::new(0),
            interval: max_rps
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            next_slot: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Concurrent page fetches allowed now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// The configured maximum.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// The lowest limit reached so far.
    pub(crate) fn lowest(&self) -> usize {
        self.lowest.load(Ordering::Relaxed)
    }

    /// 429 answers seen so far.
    pub(crate) fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The server said 429: halve the limit.
    pub(crate) fn on_throttle(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let halved = (self.limit() / 2).max(1);
        self.limit.store(halved, Ordering::Relaxed);
        self.lowest.fetch_min(halved, Ordering::Relaxed);
        *self
            .credit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = 0.0;
        tracing::debug!(limit = halved, "throttled: concurrency lowered");
    }

    /// A call succeeded: grow the limit by one per `limit` successes.
    pub(crate) fn on_success(&self) {
        let limit = self.limit();
        if limit >= self.max {
            return;
        }
        let mut credit = self
            .credit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *credit += 1.0 / limit as f64;
        if *credit >= 1.0 {
            *credit -= 1.0;
            self.limit
                .store((limit + 1).min(self.max), Ordering::Relaxed);
        }
    }

    /// Waits for the next request slot when a rate cap is set.
    pub(crate) async fn pace(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next_slot.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_throttle_and_recovers_additively() {
        let flow = Flow::new(8, None);
        flow.on_throttle();
        assert_eq!(flow.limit(), 4);
        flow.on_throttle();
        flow.on_throttle();
        flow.on_throttle();
        assert_eq!(flow.limit(), 1, "never below one");
        assert_eq!(flow.lowest(), 1);
        flow.on_success();
        assert_eq!(flow.limit(), 2, "1 success at limit 1 adds one");
        flow.on_success();
        assert_eq!(flow.limit(), 2);
        flow.on_success();
        assert_eq!(flow.limit(), 3, "2 successes at limit 2 add one");
        for _ in 0..100 {
            flow.on_success();
        }
        assert_eq!(flow.limit(), 8, "capped at the maximum");
        assert_eq!(flow.throttled(), 4);
    }

    #[tokio::test]
    async fn pacing_spaces_requests() {
        let flow = Flow::new(1, Some(50.0));
        let start = Instant::now();
        for _ in 0..6 {
            flow.pace().await;
        }
        // Six slots 20 ms apart: the last one is at least 100 ms after the first.
        assert!(
            start.elapsed() >= Duration::from_millis(95),
            "{:?}",
            start.elapsed()
        );
    }
}
