//! Per-company user lists that change between requests
//! ([`crate::Faults::churn`]).
//!
//! A company nobody has churned has no entry here and is served from the
//! immutable [`Dataset`] through the usual fast paths. The first churn
//! copies the company's generated users into a list kept in default order
//! (createTime ascending, resourceId tie-break); every later request of
//! that company, churn on or off, is served from a snapshot of it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::data::{Dataset, User};
use crate::rng::{key, Rng};
use crate::{time, Churn};

struct LiveCompany {
    /// Current users in default order; replaced copy-on-write so readers
    /// keep a consistent snapshot while a mutation runs.
    users: Arc<Vec<User>>,
    rng: Rng,
    /// Creation index of the next generated user (unique emails).
    next_index: usize,
    /// Every resource id this company ever had, so none is reused.
    issued: HashSet<String>,
    active: usize,
    removed: usize,
}

/// Counts of a company whose users have changed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LiveCounts {
    /// Users the search endpoint returns now.
    pub(crate) total: usize,
    /// Of them, those whose status is "Active".
    pub(crate) active: usize,
    /// Users removed so far.
    pub(crate) removed: usize,
}

/// What one churn step did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Churned {
    pub(crate) inserted: usize,
    pub(crate) removed: usize,
}

/// The changed companies of one server, by dataset ordinal.
pub(crate) struct Live {
    seed: u64,
    companies: Vec<Mutex<Option<LiveCompany>>>,
    /// Taken by a churning search for its whole read-then-mutate turn, so
    /// searches of one company are serialised (each sees the changes of
    /// every search answered before it); plain readers never wait on it.
    turns: Vec<Mutex<()>>,
}

fn is_active(u: &User) -> bool {
    u.status.as_deref() == Some("Active")
}

/// Move a generated user to `ms`, shifting its update time along so it
/// stays after the creation time, in the format it had.
fn retime(u: &mut User, ms: i64) {
    let delta = time::parse_ms(&u.create_time).map_or(0, |old| ms - old);
    u.create_time = time::iso_ms(ms);
    if let Some(t) = u.update_time.as_deref() {
        if let Some(v) = time::parse_ms(t) {
            let shifted = if t.contains('T') {
                time::iso_ms(v + delta)
            } else {
                time::dmy(v + delta)
            };
            u.update_time = Some(shifted);
        }
    }
}

impl Live {
    pub(crate) fn new(seed: u64, companies: usize) -> Live {
        Live {
            seed,
            companies: (0..companies).map(|_| Mutex::new(None)).collect(),
            turns: (0..companies).map(|_| Mutex::new(())).collect(),
        }
    }

    /// The exclusive turn of a churning search of company `ord`: hold it
    /// from picking the page until [`Live::churn`] has returned.
    pub(crate) fn turn(&self, ord: usize) -> MutexGuard<'_, ()> {
        self.turns[ord]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn slot(&self, ord: usize) -> MutexGuard<'_, Option<LiveCompany>> {
        self.companies[ord]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Snapshot of a changed company's users; `None` while unchanged.
    pub(crate) fn users(&self, ord: usize) -> Option<Arc<Vec<User>>> {
        self.slot(ord).as_ref().map(|c| c.users.clone())
    }

    /// Counts of a changed company; `None` while unchanged.
    pub(crate) fn counts(&self, ord: usize) -> Option<LiveCounts> {
        self.slot(ord).as_ref().map(|c| LiveCounts {
            total: c.users.len(),
            active: c.active,
            removed: c.removed,
        })
    }

    /// Remove then insert users of one company as `churn` says.
    pub(crate) fn churn(&self, ds: &Dataset, ord: usize, churn: &Churn) -> Churned {
        if churn.inserts_per_search == 0 && churn.removes_per_search == 0 {
            return Churned::default();
        }
        if self.slot(ord).is_none() {
            // Copy the generated users outside the lock (a big tenant takes
            // a while); the first writer to get back in wins.
            let users = ds.users_of(ord).to_vec();
            let mut slot = self.slot(ord);
            if slot.is_none() {
                *slot = Some(LiveCompany {
                    issued: users.iter().map(|u| u.resource_id.clone()).collect(),
                    active: users.iter().filter(|u| is_active(u)).count(),
                    users: Arc::new(users),
                    rng: Rng::new(key(&[self.seed, 0xC4A2, ord as u64])),
                    next_index: ds.user_count_of(ord),
                    removed: 0,
                });
            }
        }
        let mut slot = self.slot(ord);
        let c = slot.as_mut().expect("initialised above");
        c.step(ds, ord, churn)
    }
}

impl LiveCompany {
    fn step(&mut self, ds: &Dataset, ord: usize, churn: &Churn) -> Churned {
        let mut done = Churned::default();
        let users = Arc::make_mut(&mut self.users);
        // The createTime range before this step; new users land inside it.
        let range = match (users.first(), users.last()) {
            (Some(a), Some(b)) => time::parse_ms(&a.create_time)
                .zip(time::parse_ms(&b.create_time))
                .map(|(lo, hi)| (lo.min(hi), lo.max(hi))),
            _ => None,
        };
        for _ in 0..churn.removes_per_search {
            if users.is_empty() {
                break;
            }
            let at = self.rng.below(users.len() as u64) as usize;
            let gone = users.remove(at);
            if is_active(&gone) {
                self.active -= 1;
            }
            self.removed += 1;
            done.removed += 1;
        }
        for _ in 0..churn.inserts_per_search {
            let mut user = loop {
                let u = ds.generate_user(ord, self.next_index);
                self.next_index += 1;
                if self.issued.insert(u.resource_id.clone()) {
                    break u;
                }
            };
            if let Some((lo, hi)) = range {
                let span = (hi - lo) as u64 + 1;
                retime(&mut user, lo + self.rng.below(span) as i64);
            }
            let at = users.partition_point(|x| {
                (x.create_time.as_str(), x.resource_id.as_str())
                    < (user.create_time.as_str(), user.resource_id.as_str())
            });
            if is_active(&user) {
                self.active += 1;
            }
            users.insert(at, user);
            done.inserted += 1;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_keeps_order_and_never_reuses_ids() {
        let ds = Dataset::generate(42, 60);
        let live = Live::new(42, ds.company_count());
        let ord = 6;
        let original = ds.users_of(ord).to_vec();
        let (lo, hi) = (
            original[0].create_time.clone(),
            original.last().unwrap().create_time.clone(),
        );
        let churn = Churn {
            inserts_per_search: 4,
            removes_per_search: 3,
        };
        let mut seen: HashSet<String> = original.iter().map(|u| u.resource_id.clone()).collect();
        for round in 0..10 {
            let done = live.churn(&ds, ord, &churn);
            assert_eq!((done.inserted, done.removed), (4, 3));
            let users = live.users(ord).unwrap();
            assert_eq!(users.len(), 60 + round + 1);
            for w in users.windows(2) {
                assert!(
                    (w[0].create_time.as_str(), w[0].resource_id.as_str())
                        < (w[1].create_time.as_str(), w[1].resource_id.as_str())
                );
            }
            let emails: HashSet<_> = users.iter().map(|u| u.email.clone()).collect();
            assert_eq!(emails.len(), users.len());
            for u in users.iter() {
                assert!(u.create_time >= lo && u.create_time <= hi);
            }
            let counts = live.counts(ord).unwrap();
            assert_eq!(counts.total, users.len());
            assert_eq!(counts.active, users.iter().filter(|u| is_active(u)).count());
            assert_eq!(counts.removed, 3 * (round + 1));
            for u in users.iter() {
                seen.insert(u.resource_id.clone());
            }
        }
        // 60 originals + 40 inserted, all distinct.
        assert_eq!(seen.len(), 100);
        // Deterministic for a seed.
        let again = Live::new(42, ds.company_count());
        for _ in 0..10 {
            again.churn(&ds, ord, &churn);
        }
        assert_eq!(again.users(ord), live.users(ord));
        assert!(live.users(1).is_none());
        // Removing more than exist empties the company; inserting into an
        // empty one keeps the generated times.
        let empty = Churn {
            inserts_per_search: 0,
            removes_per_search: 1000,
        };
        live.churn(&ds, ord, &empty);
        assert!(live.users(ord).unwrap().is_empty());
        let refill = Churn {
            inserts_per_search: 2,
            removes_per_search: 0,
        };
        live.churn(&ds, ord, &refill);
        assert_eq!(live.users(ord).unwrap().len(), 2);
    }
}
