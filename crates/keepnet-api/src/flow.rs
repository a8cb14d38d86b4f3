//! Flow control shared by every request of a client: one budget of requests in flight,
//! adaptive (AIMD), and an optional request-rate cap.
//!
//! The budget belongs to the client, so to the credential: every company a run exports draws
//! on the same `limit` slots, and 200 small companies at once keep at most `limit` requests in
//! flight together, not `limit` each. A slot is held for one HTTP attempt (not during a
//! retry's wait, nor while a token is fetched).
//!
//! On a 429 the limit halves (down to 1); every `limit` successful calls it grows by one
//! again, up to the configured maximum: the same additive-increase / multiplicative-decrease
//! rule TCP uses, so a rate-limited credential settles just under its limit instead of
//! hammering it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

#[derive(Debug)]
pub(crate) struct Flow {
    max: usize,
    limit: AtomicUsize,
    lowest: AtomicUsize,
    credit: Mutex<f64>,
    throttled: AtomicU64,
    interval: Option<Duration>,
    next_slot: tokio::sync::Mutex<Instant>,
    /// Permits in circulation (free and held) equal `limit` plus `debt`.
    slots: Semaphore,
    /// Permits still to be taken out of circulation after the limit fell while they were
    /// held: each is forgotten when released instead of returned.
    debt: Mutex<usize>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// One request slot of the shared budget, returned (or retired, after a 429) on drop.
pub(crate) struct Slot<'a> {
    flow: &'a Flow,
    permit: Option<SemaphorePermit<'a>>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.flow.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut debt = lock(&self.flow.debt);
        if *debt > 0 {
            *debt -= 1;
            permit.forget();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
            slots: Semaphore::new(max),
            debt: Mutex::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        }
    }

    /// Waits for a slot of the budget: at most `limit()` holders at once, across every task
    /// of the client.
    pub(crate) async fn slot(&self) -> Slot<'_> {
        // The semaphore is never closed, so acquiring cannot fail; if it ever did, the request
        // would go out unbudgeted rather than not at all.
        let permit = self.slots.acquire().await.ok();
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        Slot { flow: self, permit }
    }

    /// The most requests that were in flight at once.
    pub(crate) fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::Relaxed)
    }

    /// Takes `n` permits out of circulation: free ones at once, held ones as they return.
    fn retire(&self, n: usize) {
        let mut debt = lock(&self.debt);
        let taken = self.slots.forget_permits(n);
        *debt += n - taken;
    }

    /// Puts one permit back into circulation (cancelling a debt first).
    fn restore_one(&self) {
        let mut debt = lock(&self.debt);
        match *debt {
            0 => self.slots.add_permits(1),
            _ => *debt -= 1,
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
        let mut credit = lock(&self.credit);
        let limit = self.limit();
        let halved = (limit / 2).max(1);
        self.limit.store(halved, Ordering::Relaxed);
        self.lowest.fetch_min(halved, Ordering::Relaxed);
        self.retire(limit - halved);
        *credit = 0.0;
        tracing::debug!(limit = halved, "throttled: concurrency lowered");
    }

    /// A call succeeded: grow the limit by one per `limit` successes.
    pub(crate) fn on_success(&self) {
        if self.limit() >= self.max {
            return;
        }
        // The limit changes under this lock only, so it and the permits agree.
        let mut credit = lock(&self.credit);
        let limit = self.limit();
        if limit >= self.max {
            return;
        }
        *credit += 1.0 / limit as f64;
        if *credit >= 1.0 {
            *credit -= 1.0;
            self.limit.store(limit + 1, Ordering::Relaxed);
            self.restore_one();
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
    async fn the_budget_follows_the_limit_even_while_slots_are_held() {
        let flow = Flow::new(4, None);
        let held: Vec<_> = futures::future::join_all((0..4).map(|_| flow.slot())).await;
        assert_eq!(flow.peak_in_flight(), 4);
        let fifth = tokio::time::timeout(Duration::from_millis(30), flow.slot()).await;
        assert!(fifth.is_err(), "a fifth slot while four are held");
        // A 429 while all four are held: the limit becomes 2, and two of the four slots are
        // retired as they come back.
        flow.on_throttle();
        drop(held);
        let two: Vec<_> = futures::future::join_all((0..2).map(|_| flow.slot())).await;
        let third = tokio::time::timeout(Duration::from_millis(30), flow.slot()).await;
        assert!(third.is_err(), "only two slots after the limit fell to two");
        drop(two);
        // Growth puts permits back: at limit 2, two successes add one.
        flow.on_success();
        flow.on_success();
        assert_eq!(flow.limit(), 3);
        let three: Vec<_> = futures::future::join_all((0..3).map(|_| flow.slot())).await;
        assert_eq!(three.len(), 3);
        assert_eq!(flow.in_flight.load(Ordering::Relaxed), 3);
        drop(three);
        assert_eq!(flow.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(flow.peak_in_flight(), 4);
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
