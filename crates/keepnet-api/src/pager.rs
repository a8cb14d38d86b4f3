//! All of a company's users, page after page: concurrently, in order, without duplicates, and
//! with an account of whether the set may be incomplete.
//!
//! Page 1 tells how many pages there are; pages 2..N are then fetched with up to the client's
//! (adaptive) concurrency, in a sliding window, and handed out strictly in page order, so a
//! slow page delays only its own turn while the others keep downloading. Memory is bounded by
//! the window, never by the tenant.
//!
//! Offset paging drifts when users are added or removed during a run: a user can be served
//! twice or not at all. The pager drops repeated users (by resourceId), keeps reading while the
//! server reports more pages than first announced, and at the end asks the server for the total
//! once more. [`PagingReport::may_be_incomplete`] then says whether what was read can differ
//! from what the server holds.
//!
//! Every page is also held against what was asked: a user outside the selection (a deleted
//! user when only current ones were asked for) fails with [`Error::SelectionIgnored`], and with
//! a [`ScopeLimit`] every total the server reports, and the users read, must fit the company's
//! own counts ([`Error::OutOfScope`]), before the page is handed out.

use std::hash::{DefaultHasher, Hash, Hasher};

use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};

use crate::client::{Client, UserQuery};
use crate::models::{Page, TargetUser};
use crate::seen::Fingerprints;
use crate::{CompanyId, Error, ScopeLimit};

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
    /// Users handed out (duplicates excluded).
    pub users: u64,
    /// Users the server sent more than once, dropped.
    pub duplicates: u64,
    /// Page requests that had to be retried (429, 5xx, network).
    pub retries: u64,
}

impl PagingReport {
    /// True when the users read may not be exactly the users the server holds: the total
    /// changed during the run, duplicates were seen, or the count read differs from the total.
    pub fn may_be_incomplete(&self) -> bool {
        self.first_total != self.last_total || self.duplicates > 0 || self.users != self.last_total
    }
}

/// A page and how many retries it took.
type PageFuture = BoxFuture<'static, Result<(Page<TargetUser>, u32), Error>>;

/// Pulls a company's users page by page; see the module documentation.
pub struct UserPager {
    client: Client,
    company: CompanyId,
    query: UserQuery,
    next_to_request: u64,
    last_page: u64,
    window: FuturesOrdered<PageFuture>,
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
            query,
            next_to_request: 1,
            last_page: 1,
            window: FuturesOrdered::new(),
            seen: Fingerprints::default(),
            report: PagingReport::default(),
            state: State::New,
            guard: None,
        }
    }

    /// Holds every page against `limit`: a total or a number of users read above it fails the
    /// pager with [`Error::OutOfScope`] before the page is handed out.
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
            self.window = FuturesOrdered::new();
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
                let page = self.fetch(1).await?;
                let page = self.count_retries(page);
                self.report.first_total = page.total_number_of_records;
                // Sized once from the total: growing a large set would briefly hold the old
                // and the new table together.
                let expected = usize::try_from(page.total_number_of_records).unwrap_or(0);
                self.seen.reserve(expected.min(50_000_000));
                self.next_to_request = 2;
                return self.accept(page).map(Some);
            }
            State::Paging => {}
        }
        self.fill_window();
        match self.window.next().await {
            Some(page) => {
                let page = self.count_retries(page?);
                self.accept(page).map(Some)
            }
            None => {
                // Ask once more how many users there are now.
                let probe = UserQuery {
                    page_size: 1,
                    ..self.query.clone()
                };
                let last = self.client.users_page(&self.company, &probe, 1).await?;
                self.check_scope(last.total_number_of_records)?;
                self.report.last_total = last.total_number_of_records;
                self.state = State::Done;
                Ok(None)
            }
        }
    }

    fn fetch(&self, number: u64) -> PageFuture {
        let (client, company, query) = (
            self.client.clone(),
            self.company.clone(),
            self.query.clone(),
        );
        Box::pin(async move { client.users_page_counted(&company, &query, number).await })
    }

    fn count_retries(&mut self, (page, retries): (Page<TargetUser>, u32)) -> Page<TargetUser> {
        self.report.retries += u64::from(retries);
        page
    }

    /// Keeps as many page requests in flight as the flow control allows.
    fn fill_window(&mut self) {
        let limit = self.client.concurrency_now();
        while self.window.len() < limit && self.next_to_request <= self.last_page {
            let future = self.fetch(self.next_to_request);
            self.window.push_back(future);
            self.next_to_request += 1;
        }
    }

    fn check_scope(&self, users: u64) -> Result<(), Error> {
        match &self.guard {
            Some(limit) => limit.check(SEARCH, users),
            None => Ok(()),
        }
    }

    /// Checks the page against the selection and the scope limit, counts it, follows a growing
    /// page count, and drops users already handed out.
    fn accept(&mut self, mut page: Page<TargetUser>) -> Result<Page<TargetUser>, Error> {
        self.check_scope(page.total_number_of_records)?;
        let statuses = self.query.statuses;
        if let Some(stray) = page.results.iter().find(|u| !statuses.contains(u.state())) {
            return Err(Error::SelectionIgnored {
                state: format!("{:?}", stray.state()).to_lowercase(),
                user: stray.resource_id.clone(),
                selection: statuses.describe(),
            });
        }
        self.report.pages += 1;
        if !page.results.is_empty() {
            self.last_page = self.last_page.max(believable_pages(&page));
        } else if page.page_number > 1 {
            // An empty page past the start: nothing lies beyond it, whatever the page count
            // says (a server reporting 10^9 pages would otherwise be asked for all of them).
            self.last_page = self
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
        self.report.users += page.results.len() as u64;
        self.check_scope(self.report.users)?;
        Ok(page)
    }
}

/// The pages a page's own figures allow: its `totalNumberOfPages`, but never more than its
/// `totalNumberOfRecords` need at its page size (a page count that disagrees with the record
/// count is not followed past the records).
pub(crate) fn believable_pages<T>(page: &Page<T>) -> u64 {
    let size = page.page_size.max(page.results.len() as u64).max(1);
    let implied = page.total_number_of_records.div_ceil(size);
    page.total_number_of_pages.min(implied.max(1))
}

/// A 64-bit fingerprint of a resource id: 8 bytes per user instead of the id itself keeps the
/// duplicate check small for large tenants (a collision, about 1 in 3 * 10^7 at a million
/// users, would drop one user and be reported as a duplicate, i.e. flagged as incomplete).
fn fingerprint(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}
