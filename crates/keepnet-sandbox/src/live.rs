//! Per-company user lists that change between requests
//! ([`crate::Faults::churn`]).
//!
//! A company nobody has churned has no entry here and is served from the
//! immutable [`Dataset`] through the usual fast paths. The first churn
//! copies the company's generated users into a list kept in default order
//! (creation instant ascending, resourceId tie-break); every later request
//! of that company, churn on or off, is served from a snapshot of it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::data::{month_index, update_bound, Dataset, User, MONTHS};
use crate::rng::{key, Rng};
use crate::time::Style;
use crate::{Churn, DeletedRows};

/// Counts of a company's users as served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LiveCounts {
    /// Users the search endpoint lists (deleted ones included).
    pub(crate) total: usize,
    /// Not deleted, status "Active".
    pub(crate) active: usize,
    /// Not deleted, any other status.
    pub(crate) inactive: usize,
    /// Deleted.
    pub(crate) deleted: usize,
    /// Users created in each month of the series.
    pub(crate) monthly: [usize; MONTHS],
}

impl LiveCounts {
    fn add(&mut self, u: &User, sign: isize) {
        let bump = |n: &mut usize| *n = n.wrapping_add_signed(sign);
        bump(&mut self.total);
        match category(u) {
            Category::Active => bump(&mut self.active),
            Category::Inactive => bump(&mut self.inactive),
            Category::Deleted => bump(&mut self.deleted),
        }
        if let Some(m) = month_index(u.create_ms) {
            bump(&mut self.monthly[m]);
        }
    }

    fn of(users: &[User]) -> LiveCounts {
        let mut c = LiveCounts::default();
        for u in users {
            c.add(u, 1);
        }
        c
    }
}

enum Category {
    Active,
    Inactive,
    Deleted,
}

fn category(u: &User) -> Category {
    if u.is_deleted {
        Category::Deleted
    } else if u.status.as_deref() == Some("Active") {
        Category::Active
    } else {
        Category::Inactive
    }
}

struct LiveCompany {
    /// Current users in default order; replaced copy-on-write so readers
    /// keep a consistent snapshot while a mutation runs.
    users: Arc<Vec<User>>,
    rng: Rng,
    /// Creation index of the next generated user (unique emails).
    next_index: usize,
    /// Every resource id this company ever had, so none is reused.
    issued: HashSet<String>,
    counts: LiveCounts,
    style: Style,
    /// Churn steps taken so far (for [`Churn::searches`]).
    steps: usize,
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

/// Move a generated user to `ms`, shifting its update time along so it
/// stays after the creation time, in the form it had.
fn retime(u: &mut User, ms: i64, style: &Style) {
    let delta = ms - u.create_ms;
    u.create_ms = ms;
    u.create_time = style.create_text(ms);
    if let Some(up) = u.update_ms {
        let odd = u.update_time.as_deref().is_some_and(|t| !t.contains('T'));
        let v = (up + delta).min(update_bound()).max(ms + 1);
        u.update_ms = Some(v);
        u.update_time = Some(style.update_text(v, odd));
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
        self.slot(ord).as_ref().map(|c| c.counts)
    }

    /// Soft-delete then insert users of one company as `churn` says.
    pub(crate) fn churn(&self, ds: &Dataset, ord: usize, churn: &Churn) -> Churned {
        if churn.inserts_per_search == 0 && churn.removes_per_search == 0 {
            return Churned::default();
        }
        let mut slot = self.company(ds, ord);
        let c = slot.as_mut().expect("initialised");
        c.step(ds, ord, churn)
    }

    /// Changes one company between two runs, as [`crate::UserChanges`] says: `add` new
    /// users, soft-delete `remove`, and edit `modify` (department, phone number and
    /// `updateTime`), each picked by the company's own seeded generator, so the same calls
    /// on the same seed change the same users. Returns what changed, by resourceId.
    pub(crate) fn change(
        &self,
        ds: &Dataset,
        ord: usize,
        changes: &crate::UserChanges,
    ) -> crate::ChangedUsers {
        let mut slot = self.company(ds, ord);
        let c = slot.as_mut().expect("initialised");
        c.change(ds, ord, changes)
    }

    /// The company's live list, made from the generated users on first use.
    fn company(&self, ds: &Dataset, ord: usize) -> MutexGuard<'_, Option<LiveCompany>> {
        if self.slot(ord).is_none() {
            // Copy the generated users outside the lock (a big tenant takes
            // a while); the first writer to get back in wins.
            let users = ds.users_of(ord).to_vec();
            let mut slot = self.slot(ord);
            if slot.is_none() {
                *slot = Some(LiveCompany {
                    issued: users.iter().map(|u| u.resource_id.clone()).collect(),
                    counts: LiveCounts::of(&users),
                    users: Arc::new(users),
                    rng: Rng::new(key(&[self.seed, 0xC4A2, ord as u64])),
                    next_index: ds.user_count_of(ord),
                    style: ds.style_of(ord),
                    steps: 0,
                });
            }
        }
        self.slot(ord)
    }
}

/// A generated user of company `ord` whose resourceId was never issued
/// before, with its creation index.
fn fresh_user(
    ds: &Dataset,
    ord: usize,
    next_index: &mut usize,
    issued: &mut HashSet<String>,
) -> (User, usize) {
    loop {
        let i = *next_index;
        let u = ds.generate_user(ord, i);
        *next_index += 1;
        if issued.insert(u.resource_id.clone()) {
            return (u, i);
        }
    }
}

/// Soft delete: the user stays listed, deleted (its status turns "Deleted"
/// under [`DeletedRows::StatusOnly`], else stays); the counts follow.
fn soft_delete(counts: &mut LiveCounts, user: &mut User, rows: DeletedRows) {
    counts.add(user, -1);
    user.is_deleted = true;
    if rows == DeletedRows::StatusOnly {
        user.status = Some("Deleted".to_owned());
    }
    counts.add(user, 1);
}

impl LiveCompany {
    /// The index of the `k`-th user (default order) that is not deleted and not in `skip`.
    fn nth_alive(users: &[User], skip: &HashSet<String>, k: usize) -> Option<usize> {
        users
            .iter()
            .enumerate()
            .filter(|(_, u)| !u.is_deleted && !skip.contains(&u.resource_id))
            .nth(k)
            .map(|(i, _)| i)
    }

    fn change(
        &mut self,
        ds: &Dataset,
        ord: usize,
        changes: &crate::UserChanges,
    ) -> crate::ChangedUsers {
        let mut done = crate::ChangedUsers::default();
        let mut touched: HashSet<String> = HashSet::new();
        let users = Arc::make_mut(&mut self.users);
        for _ in 0..changes.remove {
            let alive = users.len() - self.counts.deleted;
            if alive == 0 {
                break;
            }
            let k = self.rng.below(alive as u64) as usize;
            let Some(at) = Self::nth_alive(users, &touched, k) else {
                break;
            };
            soft_delete(&mut self.counts, &mut users[at], ds.deleted_rows());
            touched.insert(users[at].resource_id.clone());
            done.removed.push(users[at].resource_id.clone());
        }
        let now = update_bound();
        for _ in 0..changes.modify {
            // Not deleted and not modified yet (the removed ones are deleted now).
            let alive = users.len() - self.counts.deleted - done.modified.len();
            if alive == 0 {
                break;
            }
            let k = self.rng.below(alive as u64) as usize;
            let Some(at) = Self::nth_alive(users, &touched, k) else {
                break;
            };
            let u = &mut users[at];
            let departments = ["Legal", "Procurement", "Security Operations", "Facilities"];
            let department = (*self.rng.pick(&departments)).to_owned();
            u.department = Some(match u.department.as_deref() == Some(department.as_str()) {
                true => format!("{department} (moved)"),
                false => department,
            });
            u.phone_number = Some(format!(
                "+90 555 {:03} {:02} {:02}",
                self.rng.below(1000),
                self.rng.below(100),
                self.rng.below(100)
            ));
            u.update_ms = Some(now);
            u.update_time = Some(self.style.update_text(now, false));
            touched.insert(u.resource_id.clone());
            done.modified.push(u.resource_id.clone());
        }
        for _ in 0..changes.add {
            let (mut user, i) = fresh_user(ds, ord, &mut self.next_index, &mut self.issued);
            // A user created between runs is not deleted yet (the generator deletes some of
            // the dataset's users, as the live lists hold deleted ones).
            ds.undelete(ord, i, &mut user);
            // Newest: a user added between runs was created after the last one.
            if let Some(last) = users.last().map(|u| u.create_ms) {
                retime(&mut user, last + 60_000, &self.style);
            }
            self.counts.add(&user, 1);
            done.added.push(user.resource_id.clone());
            users.push(user);
        }
        done
    }

    fn step(&mut self, ds: &Dataset, ord: usize, churn: &Churn) -> Churned {
        let mut done = Churned::default();
        if churn.searches.is_some_and(|n| self.steps >= n) {
            return done;
        }
        self.steps += 1;
        let users = Arc::make_mut(&mut self.users);
        // The creation range before this step; new users land inside it.
        let range = match (users.first(), users.last()) {
            (Some(a), Some(b)) => Some((a.create_ms, b.create_ms)),
            _ => None,
        };
        for _ in 0..churn.removes_per_search {
            // Soft delete: the user stays listed with isDeleted true.
            let alive = users.len() - self.counts.deleted;
            if alive == 0 {
                break;
            }
            let k = self.rng.below(alive as u64) as usize;
            let at = Self::nth_alive(users, &HashSet::new(), k).expect("k-th live user");
            soft_delete(&mut self.counts, &mut users[at], ds.deleted_rows());
            done.removed += 1;
        }
        for _ in 0..churn.inserts_per_search {
            let (mut user, _) = fresh_user(ds, ord, &mut self.next_index, &mut self.issued);
            if let Some((lo, hi)) = range {
                let span = (hi - lo) as u64 + 1;
                retime(&mut user, lo + self.rng.below(span) as i64, &self.style);
            }
            let at = users.partition_point(|x| {
                (x.create_ms, x.resource_id.as_str()) < (user.create_ms, user.resource_id.as_str())
            });
            self.counts.add(&user, 1);
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
        let (lo, hi) = (original[0].create_ms, original.last().unwrap().create_ms);
        let deleted0 = original.iter().filter(|u| u.is_deleted).count();
        let churn = Churn {
            inserts_per_search: 4,
            removes_per_search: 3,
            searches: None,
        };
        let mut seen: HashSet<String> = original.iter().map(|u| u.resource_id.clone()).collect();
        let style = ds.style_of(ord);
        for round in 0..10 {
            let done = live.churn(&ds, ord, &churn);
            assert_eq!((done.inserted, done.removed), (4, 3));
            let users = live.users(ord).unwrap();
            assert_eq!(users.len(), 60 + 4 * (round + 1));
            for w in users.windows(2) {
                assert!(
                    (w[0].create_ms, w[0].resource_id.as_str())
                        < (w[1].create_ms, w[1].resource_id.as_str())
                );
            }
            let emails: HashSet<_> = users.iter().map(|u| u.email.clone()).collect();
            assert_eq!(emails.len(), users.len());
            for u in users.iter() {
                assert!(u.create_ms >= lo && u.create_ms <= hi);
                assert_eq!(u.create_time, style.create_text(u.create_ms));
                if let Some(up) = u.update_ms {
                    assert!(up > u.create_ms && up <= update_bound());
                }
            }
            let counts = live.counts(ord).unwrap();
            assert_eq!(counts, LiveCounts::of(&users));
            assert!(counts.deleted >= deleted0 + 3 * (round + 1));
            for u in users.iter() {
                seen.insert(u.resource_id.clone());
            }
        }
        // Soft-deleted originals are still listed, flagged.
        let users = live.users(ord).unwrap();
        for o in &original {
            let now = users
                .iter()
                .find(|u| u.resource_id == o.resource_id)
                .unwrap();
            assert_eq!(now.status, o.status);
            assert!(now.is_deleted || !o.is_deleted);
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
        // Deleting more than exist deletes everyone; inserting into an
        // empty company keeps the generated times.
        let empty = Churn {
            inserts_per_search: 0,
            removes_per_search: 1000,
            searches: None,
        };
        let done = live.churn(&ds, ord, &empty);
        assert!(done.removed < 1000);
        let counts = live.counts(ord).unwrap();
        assert_eq!((counts.active, counts.inactive), (0, 0));
        assert_eq!(counts.deleted, counts.total);
        let empty_ord = 10;
        assert_eq!(ds.user_count_of(empty_ord), 0);
        let refill = Churn {
            inserts_per_search: 2,
            removes_per_search: 0,
            searches: None,
        };
        live.churn(&ds, empty_ord, &refill);
        assert_eq!(live.users(empty_ord).unwrap().len(), 2);
    }

    #[test]
    fn churn_limited_to_some_searches_then_holds_still() {
        let ds = Dataset::generate(42, 60);
        let live = Live::new(42, ds.company_count());
        let burst = Churn {
            inserts_per_search: 2,
            removes_per_search: 1,
            searches: Some(3),
        };
        let changed: Vec<usize> = (0..6)
            .map(|_| live.churn(&ds, 6, &burst).inserted)
            .collect();
        assert_eq!(changed, [2, 2, 2, 0, 0, 0]);
        assert_eq!(live.users(6).unwrap().len(), 60 + 6);
    }
}
