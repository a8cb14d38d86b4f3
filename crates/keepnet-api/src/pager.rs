//! All of a company's users, page after page: concurrently, in order, without duplicates, and
//! with an account of whether the set may be incomplete.
//!
//! Page 1 tells how many pages there are; pages 2..N are then fetched with up to the client's
//! (adaptive) concurrency, in a sliding window, and handed out strictly in page order, so a
//! slow page delays only its own turn while the others keep downloading. Each page is fetched
//! and parsed on a task of its own, so it finishes (and frees its slot of the client's
//! request budget, shared with every other company) while the caller is still writing the
//! page before. Memory is bounded by the window, never by the tenant.
//!
//! Page size: the live API's maximum is undocumented (Keepnet's UI asks up to 100, its agent
//! up to 1000), so page 1 asks for the size the query names (by default
//! [`DEFAULT_PAGE_SIZE`](crate::DEFAULT_PAGE_SIZE)) and the later pages ask for the size the
//! server served, when it served fewer. A server that refuses the size instead (HTTP 400, or
//! `INPUT_ERROR` inside a 200, naming the page size) gets page 1 asked once more at
//! [`FALLBACK_PAGE_SIZE`](crate::FALLBACK_PAGE_SIZE), with a log line; the client remembers
//! the refusal for every later company and read. Until a size has been answered once, one
//! page 1 at a time asks for it, so many companies starting together meet a refusal once.
//!
//! Offset paging drifts when users are added or removed during a run: a user can be served
//! twice or not at all. The pager drops repeated users (by resourceId), keeps reading while the
//! server reports more pages than first announced, and at the end asks the server for the total
//! once more. [`PagingReport::inconsistencies`] then says whether, and why, what was read can
//! differ from what the server holds: a total that changed, users served twice, an empty page
//! before the records ran out, a page count too low for the records. The pager reports; the
//! caller decides whether to read the set again.
//!
//! Every row says its state (`isDeleted`, or `status` "Deleted"; else Active or Inactive). Rows
//! outside the selection mean the server ignored the status filter (whether the live API
//! applies it is a guess, API-NOTES Addendum 2): they are dropped and counted by state
//! ([`PagingReport::dropped`]), so the users handed out are exactly the selection whichever
//! way the server behaves, and completeness is judged on every row served.
//!
//! With a [`ScopeLimit`] every figure is held against the company's own counts before the page
//! is handed out ([`Error::OutOfScope`]): the users handed out against the selection's count,
//! the rows served and the server's totals against the count of every state (a server that
//! ignores the filter counts every state). A total above the selection, before any row showed
//! the filter ignored, is settled by asking for the users outside the selection
//! ([`crate::probe`]): a server that answers those alone applied the filter, so its total is
//! held against the selection.

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{self, FuturesOrdered, Stream, StreamExt, TryStreamExt};
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::client::{Answered, Client, UserQuery};
use crate::models::{Page, TargetUser};
use crate::probe::{probe_status_filter, StatusFilter};
use crate::seen::Fingerprints;
use crate::{CompanyId, Error, ScopeLimit, StateCounts};

/// What the guard names as the source of a total.
const SEARCH: &str = "target-users/search";

/// What a finished paging run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagingReport {
    /// `totalNumberOfRecords` on page 1.
    pub first_total: u64,
    /// `totalNumberOfRecords` asked again after the last page.
    pub last_total: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Users handed out: those in the selection, duplicates excluded.
    pub users: u64,
    /// Distinct users the server sent, those outside the selection included: what the
    /// server's totals count.
    pub served: u64,
    /// Users the server sent outside the selection, dropped, by state.
    pub dropped: StateCounts,
    /// What the server did with the status filter, as far as the rows and totals showed.
    pub status_filter: StatusFilter,
    /// Users the server sent more than once, dropped.
    pub duplicates: u64,
    /// Page requests that had to be retried (429, 5xx, network).
    pub retries: u64,
    /// The first page past page 1 that came back empty while fewer users than the total had
    /// been read.
    pub empty_page: Option<u64>,
    /// The first page whose `totalNumberOfPages` was below what its `totalNumberOfRecords` need
    /// at its page size: (pages announced, pages needed).
    pub short_page_count: Option<(u64, u64)>,
}

impl PagingReport {
    /// For people, when the server ignored the status filter: how many rows were dropped
    /// and kept (`None` when none was dropped).
    pub fn filter_note(&self) -> Option<String> {
        self.dropped.filter_note("locally", self.served, self.users)
    }

    /// True when the users read may not be exactly the users the server holds.
    pub fn may_be_incomplete(&self) -> bool {
        !self.inconsistencies().is_empty()
    }

    /// Every way the users read disagree with the server's own figures; empty when the read is
    /// self-consistent. Judged on the rows served (kept or dropped), which is what the
    /// server's totals count. An empty page or a short page count is named only when the count
    /// read falls short because of it.
    pub fn inconsistencies(&self) -> Vec<Inconsistency> {
        let mut found = Vec::new();
        if self.first_total != self.last_total {
            found.push(Inconsistency::TotalChanged {
                first: self.first_total,
                last: self.last_total,
            });
        }
        if self.duplicates > 0 {
            found.push(Inconsistency::ServedTwice(self.duplicates));
        }
        if self.served != self.last_total {
            if let Some(page) = self.empty_page {
                found.push(Inconsistency::EmptyPage { page });
            }
            if let Some((announced, needed)) = self.short_page_count {
                found.push(Inconsistency::ShortPageCount { announced, needed });
            }
            found.push(Inconsistency::CountDiffers {
                read: self.served,
                total: self.last_total,
            });
        }
        found
    }
}

/// One way a sweep over the pages disagrees with the server's own figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inconsistency {
    /// `totalNumberOfRecords` was `first` on page 1 and `last` when asked again at the end:
    /// users were added or removed during the sweep.
    TotalChanged {
        /// The total on page 1.
        first: u64,
        /// The total asked again after the last page.
        last: u64,
    },
    /// This many users came twice (a page served again, or users shifted between pages).
    ServedTwice(u64),
    /// Page `page` came back empty before the records ran out.
    EmptyPage {
        /// The page number.
        page: u64,
    },
    /// The page count announced is below what the record count needs.
    ShortPageCount {
        /// `totalNumberOfPages` as served.
        announced: u64,
        /// Pages `totalNumberOfRecords` needs at the page size served.
        needed: u64,
    },
    /// The users read (duplicates excluded, those outside the selection included) are not the
    /// server's total.
    CountDiffers {
        /// Users read.
        read: u64,
        /// The server's total at the end.
        total: u64,
    },
}

impl std::fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Inconsistency::TotalChanged { first, last } => write!(
                f,
                "the server's total changed from {first} to {last} users during the read (users \
                 were added or removed)"
            ),
            Inconsistency::ServedTwice(n) => write!(
                f,
                "{n} user(s) were served twice (a page repeated, or users moved between pages)"
            ),
            Inconsistency::EmptyPage { page } => {
                write!(f, "page {page} came back empty before the records ran out")
            }
            Inconsistency::ShortPageCount { announced, needed } => write!(
                f,
                "the server announced {announced} page(s) where its record count needs {needed}"
            ),
            Inconsistency::CountDiffers { read, total } => {
                write!(f, "{read} users were read where the server reports {total}")
            }
        }
    }
}

/// A page and how many retries it took.
type Fetched<T> = Result<Answered<Page<T>>, Error>;

/// A page fetch running as a task of its own: it completes, and frees its request slot, even
/// while nobody polls it. Aborted when dropped.
struct Spawned<T>(tokio::task::JoinHandle<Fetched<T>>);

impl<T> Future for Spawned<T> {
    type Output = Fetched<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fetched<T>> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(fetched) => fetched,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::Network {
                url: "target-users/search".into(),
                detail: "the page request was cancelled (the runtime is shutting down)".into(),
                timeout: false,
            }),
        })
    }
}

impl<T> Drop for Spawned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The pages 2..=`last` in flight, handed out in order.
struct Window<T> {
    next_to_request: u64,
    last_page: u64,
    pending: FuturesOrdered<Spawned<T>>,
}

impl<T: DeserializeOwned + Send + 'static> Window<T> {
    fn new() -> Self {
        Self {
            next_to_request: 2,
            last_page: 1,
            pending: FuturesOrdered::new(),
        }
    }

    /// Keeps as many page requests going as the client's budget allows right now.
    fn fill(&mut self, client: &Client, company: &CompanyId, query: &UserQuery) {
        let limit = client.concurrency_now();
        while self.pending.len() < limit && self.next_to_request <= self.last_page {
            let (client, company, query) = (client.clone(), company.clone(), query.clone());
            let number = self.next_to_request;
            self.pending.push_back(Spawned(tokio::spawn(async move {
                client.users_page_as::<T>(&company, &query, number).await
            })));
            self.next_to_request += 1;
        }
    }

    fn clear(&mut self) {
        self.pending = FuturesOrdered::new();
    }
}

/// Page 1 of a sweep, and the page size to ask for the pages after it; see the module
/// documentation.
async fn first_page<T: DeserializeOwned>(
    client: &Client,
    company: &CompanyId,
    query: &UserQuery,
) -> Result<(Answered<Page<T>>, u32), Error> {
    let gate = client
        .page_size_gate(client.page_size_for(query.page_size))
        .await;
    // Read after the gate: whoever held it may have met a refusal.
    let mut asked = UserQuery {
        page_size: client.page_size_for(query.page_size),
        ..query.clone()
    };
    let page = match client.users_page_as::<T>(company, &asked, 1).await {
        Err(e) if e.refuses_page_size() && asked.page_size > crate::FALLBACK_PAGE_SIZE => {
            let fallback = crate::FALLBACK_PAGE_SIZE;
            tracing::info!(
                "the server refused pages of {} users ({e}); asking for {fallback} per page \
                 from now on",
                asked.page_size
            );
            client.lower_page_size(fallback);
            asked.page_size = fallback;
            client.users_page_as::<T>(company, &asked, 1).await?
        }
        other => other?,
    };
    client.page_size_served(asked.page_size);
    drop(gate);
    // Fewer served than asked: the server's own cap, which the later pages ask for.
    let next = u32::try_from(page.page_size)
        .ok()
        .filter(|served| (1..asked.page_size).contains(served))
        .unwrap_or(asked.page_size);
    Ok((page, next))
}

/// Pulls a company's users page by page; see the module documentation.
pub struct UserPager {
    client: Client,
    company: CompanyId,
    query: UserQuery,
    window: Window<TargetUser>,
    seen: Fingerprints,
    report: PagingReport,
    state: State,
    guard: Option<ScopeLimit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    Paging,
    Done,
}

impl UserPager {
    pub(crate) fn new(client: Client, company: CompanyId, query: UserQuery) -> Self {
        Self {
            client,
            company,
            window: Window::new(),
            seen: Fingerprints::default(),
            report: PagingReport {
                status_filter: match query.statuses.is_all() {
                    true => StatusFilter::NotSent,
                    false => StatusFilter::Untested,
                },
                ..PagingReport::default()
            },
            state: State::New,
            guard: None,
            query,
        }
    }

    /// Holds every page against `limit`: a total, the rows served or the users kept above what
    /// it allows fails the pager with [`Error::OutOfScope`] before the page is handed out.
    pub fn with_guard(mut self, limit: Option<ScopeLimit>) -> Self {
        self.guard = limit;
        self
    }

    /// The next page in order, duplicates removed; `None` after the last one. After an error
    /// the pager is done.
    pub async fn next_page(&mut self) -> Result<Option<Page<TargetUser>>, Error> {
        let result = self.advance().await;
        if result.is_err() {
            self.state = State::Done;
            self.window.clear();
        }
        result
    }

    /// What was seen so far; complete once `next_page` returned `None`.
    pub fn report(&self) -> &PagingReport {
        &self.report
    }

    async fn advance(&mut self) -> Result<Option<Page<TargetUser>>, Error> {
        match self.state {
            State::Done => return Ok(None),
            State::New => {
                self.state = State::Paging;
                let (page, next_size) =
                    first_page(&self.client, &self.company, &self.query).await?;
                self.query.page_size = next_size;
                let page = self.count_retries(page);
                self.report.first_total = page.total_number_of_records;
                self.settle_filter(&page).await?;
                // Sized once from the total: growing a large set would briefly hold the old
                // and the new table together.
                let expected = usize::try_from(page.total_number_of_records).unwrap_or(0);
                self.seen.reserve(expected.min(50_000_000));
                return self.accept(page).map(Some);
            }
            State::Paging => {}
        }
        self.window.fill(&self.client, &self.company, &self.query);
        match self.window.pending.next().await {
            Some(page) => {
                let page = self.count_retries(page?);
                self.settle_filter(&page).await?;
                self.accept(page).map(Some)
            }
            None => {
                // Ask once more how many users there are now.
                let probe = UserQuery {
                    page_size: 1,
                    ..self.query.clone()
                };
                let last = self.client.users_page(&self.company, &probe, 1).await?;
                let last = self.count_retries(last);
                self.settle_filter(&last).await?;
                self.check_total(last.total_number_of_records)?;
                self.report.last_total = last.total_number_of_records;
                self.state = State::Done;
                Ok(None)
            }
        }
    }

    fn count_retries(&mut self, page: Answered<Page<TargetUser>>) -> Page<TargetUser> {
        self.report.retries += u64::from(page.retries);
        page.into_inner()
    }

    /// When a total is above the selection's count and nothing has shown yet what the server
    /// does with the status filter, finds out: a row of this page outside the selection shows
    /// it ignored; otherwise the users outside the selection are asked for ([`crate::probe`]).
    async fn settle_filter(&mut self, page: &Page<TargetUser>) -> Result<(), Error> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        if self.report.status_filter != StatusFilter::Untested
            || !guard.exceeds_selection(page.total_number_of_records)
        {
            return Ok(());
        }
        // Above every state, no filter explains it: `check_total` says so without a probe.
        guard.check_every(SEARCH, page.total_number_of_records)?;
        let statuses = self.query.statuses;
        if page.results.iter().any(|u| !statuses.contains(u.state())) {
            self.report.status_filter = StatusFilter::Ignored;
            return Ok(());
        }
        let probe =
            probe_status_filter(&self.client, &self.company, &self.query, Some(guard)).await?;
        self.report.retries += u64::from(probe.retries);
        tracing::debug!(
            filter = ?probe.verdict,
            total = page.total_number_of_records,
            "a total above the selection's count: the users outside it were asked for"
        );
        self.report.status_filter = probe.verdict;
        Ok(())
    }

    /// Holds a server total against the company's counts: every state's while the server may
    /// count every state, the selection's once it is known to filter.
    fn check_total(&self, total: u64) -> Result<(), Error> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        guard.check_every(SEARCH, total)?;
        match self.report.status_filter {
            // Its totals count every state; the rows kept are held against the selection.
            StatusFilter::Ignored => Ok(()),
            StatusFilter::Honoured | StatusFilter::NotSent => guard.check_filtered(SEARCH, total),
            // `settle_filter` ran first: an untested filter means a total within the selection.
            StatusFilter::Untested => Ok(()),
        }
    }

    /// Checks the page's total against the scope limit, counts it, follows a growing page
    /// count, drops users already handed out and users outside the selection (counting them),
    /// and holds the rows served and kept against the limit.
    fn accept(&mut self, mut page: Page<TargetUser>) -> Result<Page<TargetUser>, Error> {
        self.check_total(page.total_number_of_records)?;
        self.report.pages += 1;
        let needed = page.pages_needed();
        if page.total_number_of_pages < needed && self.report.short_page_count.is_none() {
            self.report.short_page_count = Some((page.total_number_of_pages, needed));
        }
        if !page.results.is_empty() {
            self.window.last_page = self.window.last_page.max(page.believable_pages());
        } else if page.page_number > 1 {
            if self.report.served < page.total_number_of_records && self.report.empty_page.is_none()
            {
                self.report.empty_page = Some(page.page_number);
            }
            // An empty page past the start: nothing lies beyond it, whatever the page count
            // says (a server reporting 10^9 pages would otherwise be asked for all of them).
            self.window.last_page = self
                .window
                .last_page
                .min(page.page_number.saturating_sub(1))
                .max(1);
        }
        let before = page.results.len();
        let seen = &mut self.seen;
        page.results.retain(|user| match &user.resource_id {
            Some(id) => seen.insert(fingerprint(id)),
            None => true,
        });
        let dropped = (before - page.results.len()) as u64;
        if dropped > 0 {
            tracing::debug!(page = page.page_number, dropped, "duplicate users dropped");
        }
        self.report.duplicates += dropped;
        self.report.served += page.results.len() as u64;
        let statuses = self.query.statuses;
        let outside = &mut self.report.dropped;
        let before = outside.total();
        page.results.retain(|user| {
            let state = user.state();
            let kept = statuses.contains(state);
            if !kept {
                outside.add(state);
            }
            kept
        });
        if outside.total() > before {
            if self.report.status_filter != StatusFilter::Ignored {
                tracing::debug!(
                    page = page.page_number,
                    "a row outside the selection: the server ignored the status filter"
                );
            }
            self.report.status_filter = StatusFilter::Ignored;
        }
        self.report.users += page.results.len() as u64;
        if let Some(guard) = &self.guard {
            guard.check_every(SEARCH, self.report.served)?;
            guard.check_selected(SEARCH, self.report.users)?;
        }
        Ok(page)
    }
}

impl Client {
    /// A pager over all of `company`'s users: concurrent, in order, deduplicated; see
    /// [`UserPager`].
    pub fn pager(&self, company: &CompanyId, query: UserQuery) -> UserPager {
        UserPager::new(self.clone(), company.clone(), query)
    }

    /// `company`'s users page by page, as a stream (a [`UserPager`] without its report).
    /// The stream ends after the last page, or after the first error.
    pub fn user_pages(
        &self,
        company: &CompanyId,
        query: UserQuery,
    ) -> impl Stream<Item = Result<Page<TargetUser>, Error>> + Send + 'static {
        stream::try_unfold(self.pager(company, query), |mut pager| async move {
            Ok(pager.next_page().await?.map(|page| (page, pager)))
        })
    }

    /// The benchmark floor: the same page requests a [`UserPager`] makes for `query` (page 1,
    /// then a window as wide as the budget, page sizes as the server answers), each body read
    /// and checked to be a well-formed page of JSON values, no user built. Returns the pages
    /// and the records read.
    pub async fn sweep_validate_only(
        &self,
        company: &CompanyId,
        query: &UserQuery,
    ) -> Result<(u64, u64), Error> {
        let (first, next_size) = first_page::<IgnoredAny>(self, company, query).await?;
        let query = UserQuery {
            page_size: next_size,
            ..query.clone()
        };
        let mut window = Window::<IgnoredAny>::new();
        window.last_page = first.believable_pages();
        let (mut pages, mut records) = (1, first.results.len() as u64);
        loop {
            window.fill(self, company, &query);
            let Some(page) = window.pending.next().await else {
                return Ok((pages, records));
            };
            let page = page?;
            if page.results.is_empty() {
                window.last_page = window.last_page.min(page.page_number.saturating_sub(1));
            }
            pages += 1;
            records += page.results.len() as u64;
        }
    }

    /// `company`'s target users, one at a time, over all pages.
    pub fn users(
        &self,
        company: &CompanyId,
        query: UserQuery,
    ) -> impl Stream<Item = Result<TargetUser, Error>> + Send + 'static {
        self.user_pages(company, query)
            .map_ok(|page| stream::iter(page.results.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }
}

/// A 64-bit fingerprint of a resource id: 8 bytes per user instead of the id itself keeps the
/// duplicate check small for large tenants (a collision, about 1 in 3 * 10^7 at a million
/// users, would drop one user and be reported as a duplicate, i.e. flagged as incomplete).
fn fingerprint(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::{Inconsistency, PagingReport};

    fn read(users: u64, total: u64) -> PagingReport {
        PagingReport {
            first_total: total,
            last_total: total,
            users,
            served: users,
            ..PagingReport::default()
        }
    }

    #[test]
    fn a_complete_read_has_no_inconsistency_whatever_the_pages_said() {
        let mut report = read(250, 250);
        // A lying page count or a trailing empty page that cost nothing is not a finding.
        report.short_page_count = Some((2, 3));
        report.empty_page = Some(4);
        assert_eq!(report.inconsistencies(), []);
        assert!(!report.may_be_incomplete());
    }

    #[test]
    fn a_short_read_names_its_causes_and_only_churn_blames_the_users() {
        let mut report = read(100, 250);
        report.empty_page = Some(2);
        assert_eq!(
            report.inconsistencies(),
            [
                Inconsistency::EmptyPage { page: 2 },
                Inconsistency::CountDiffers {
                    read: 100,
                    total: 250
                }
            ]
        );
        assert!(!report.inconsistencies()[0].to_string().contains("added"));

        let churned = PagingReport {
            first_total: 250,
            last_total: 252,
            users: 251,
            served: 251,
            duplicates: 1,
            ..PagingReport::default()
        };
        let found = churned.inconsistencies();
        assert_eq!(
            found[0],
            Inconsistency::TotalChanged {
                first: 250,
                last: 252
            }
        );
        assert!(
            found[0].to_string().contains("added or removed"),
            "{}",
            found[0]
        );
        assert_eq!(found[1], Inconsistency::ServedTwice(1));
    }

    #[test]
    fn rows_dropped_outside_the_selection_still_count_as_read() {
        let mut report = read(2034, 2500);
        report.served = 2500;
        assert_eq!(report.inconsistencies(), [], "judged on the rows served");
        assert_eq!(report.filter_note(), None);
        for _ in 0..466 {
            report.dropped.add(crate::UserState::Deleted);
        }
        assert_eq!(
            report.filter_note().unwrap(),
            "the server ignored the status filter: 466 deleted users were dropped locally \
             (2500 served, 2034 kept)"
        );
    }
}
