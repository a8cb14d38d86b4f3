//! The HTTP server: shared state and counters, the router, and the bearer-token check every
//! `/api/*` handler starts with. The endpoints live in `token`, `companies` and `users`,
//! company scoping in `scope`, response bodies in `envelope`, and latency and injected faults
//! in `faults`; what each behaviour models, and its source, is in the crate docs' Fidelity table.

// Early-return `Result<_, Response>` helpers run once per request; boxing
// the response would only add an allocation.
#![allow(clippy::result_large_err)]

mod companies;
mod envelope;
mod faults;
mod scope;
mod token;
mod users;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::data::Dataset;
use crate::live::Live;
use crate::query::Pos;
use crate::rng::{key, Rng};
use crate::{Config, Credentials, Faults, Stats};

use companies::{companies_search, company_detail};
use envelope::{plain, unauthorized};
use faults::{draw_fault, every_request};
use token::token;
use users::{count_summary, users_export, users_search};

type Shared = Arc<AppState>;

#[derive(Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    token_requests: AtomicU64,
    tokens_issued: AtomicU64,
    unauthorized: AtomicU64,
    faults_injected: AtomicU64,
    user_search_requests: AtomicU64,
    spikes: AtomicU64,
    users_inserted: AtomicU64,
    users_removed: AtomicU64,
    both_company_headers: AtomicU64,
    company_detail_requests: AtomicU64,
    unscoped_requests: AtomicU64,
    oversize_refusals: AtomicU64,
    user_searches_in_flight: AtomicU64,
    peak_user_searches_in_flight: AtomicU64,
    requests_in_flight: AtomicU64,
    peak_requests_in_flight: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
            tokens_issued: self.tokens_issued.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            faults_injected: self.faults_injected.load(Ordering::Relaxed),
            user_search_requests: self.user_search_requests.load(Ordering::Relaxed),
            spikes: self.spikes.load(Ordering::Relaxed),
            users_inserted: self.users_inserted.load(Ordering::Relaxed),
            users_removed: self.users_removed.load(Ordering::Relaxed),
            both_company_headers: self.both_company_headers.load(Ordering::Relaxed),
            company_detail_requests: self.company_detail_requests.load(Ordering::Relaxed),
            unscoped_requests: self.unscoped_requests.load(Ordering::Relaxed),
            oversize_refusals: self.oversize_refusals.load(Ordering::Relaxed),
            user_searches_in_flight: self.user_searches_in_flight.load(Ordering::SeqCst),
            peak_user_searches_in_flight: self.peak_user_searches_in_flight.load(Ordering::SeqCst),
            requests_in_flight: self.requests_in_flight.load(Ordering::SeqCst),
            peak_requests_in_flight: self.peak_requests_in_flight.load(Ordering::SeqCst),
        }
    }

    /// Counts one request of `/api/*` (and, when `user_search`, of
    /// target-users/search) in flight until the guard drops.
    pub(crate) fn in_flight(&self, user_search: bool) -> InFlight<'_> {
        InFlight {
            _all: Gauge::enter(&self.requests_in_flight, &self.peak_requests_in_flight),
            _search: user_search.then(|| {
                Gauge::enter(
                    &self.user_searches_in_flight,
                    &self.peak_user_searches_in_flight,
                )
            }),
        }
    }
}

/// One unit of a current count, given back on drop (so an early return, a
/// panic or a dropped connection cannot leak it), raising the peak on entry.
struct Gauge<'a>(&'a AtomicU64);

impl<'a> Gauge<'a> {
    fn enter(current: &'a AtomicU64, peak: &AtomicU64) -> Gauge<'a> {
        let now = current.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        Gauge(current)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request counted in flight ([`Counters::in_flight`]).
pub(crate) struct InFlight<'a> {
    _all: Gauge<'a>,
    _search: Option<Gauge<'a>>,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Principal {
    Reseller,
    CompanyAdmin,
}

struct Session {
    principal: Principal,
    expires: Instant,
}

type Selection = (String, Arc<Vec<Pos>>);

/// Shared server state.
pub(crate) struct AppState {
    config: Config,
    pub(crate) dataset: Arc<Dataset>,
    pub(crate) faults: RwLock<Faults>,
    pub(crate) stats: Counters,
    pub(crate) reseller: Credentials,
    pub(crate) admin: Credentials,
    rng: Mutex<Rng>,
    spike_rng: Mutex<Rng>,
    pub(crate) live: Live,
    sessions: Mutex<HashMap<String, Session>>,
    token_serial: AtomicU64,
    cache: Mutex<VecDeque<Selection>>,
    issuer: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AppState {
    pub(crate) fn revoke_tokens(&self) {
        lock(&self.sessions).clear();
    }

    pub(crate) fn new(config: Config, dataset: Arc<Dataset>, addr: SocketAddr) -> AppState {
        let mut cred_rng = Rng::new(key(&[config.seed, 0xC4ED]));
        let reseller = Credentials {
            client_id: cred_rng.alnum(24),
            client_secret: cred_rng.alnum(40),
        };
        let admin = Credentials {
            client_id: cred_rng.alnum(24),
            client_secret: cred_rng.alnum(40),
        };
        AppState {
            faults: RwLock::new(config.faults.clone()),
            rng: Mutex::new(Rng::new(key(&[config.seed, 0xFA17]))),
            spike_rng: Mutex::new(Rng::new(key(&[config.seed, 0x5B1E]))),
            live: Live::new(config.seed, dataset.company_count()),
            config,
            dataset,
            stats: Counters::default(),
            reseller,
            admin,
            sessions: Mutex::new(HashMap::new()),
            token_serial: AtomicU64::new(0),
            cache: Mutex::new(VecDeque::new()),
            issuer: format!("http://{addr}"),
        }
    }

    fn faults(&self) -> Faults {
        self.with_faults(Faults::clone)
    }

    /// Read the fault settings without copying them.
    fn with_faults<T>(&self, f: impl FnOnce(&Faults) -> T) -> T {
        f(&self.faults.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn page_cap(&self) -> u32 {
        self.config.page_cap.max(1)
    }
}

fn page_bounds(total: usize, page: u32, size: u32) -> (usize, usize, u64) {
    let pages = (total as u64).div_ceil(u64::from(size));
    let start = (u64::from(page) - 1) * u64::from(size);
    let start = start.min(total as u64) as usize;
    let end = (start + size as usize).min(total);
    (start, end, pages)
}

/// Build the router.
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/connect/token", post(token))
        .route("/api/companies/search", post(companies_search))
        .route("/api/companies/{resource_id}", get(company_detail))
        .route("/api/target-users/search", post(users_search))
        .route("/api/target-users/search/export", post(users_export))
        .route("/api/target-users/count-summary", get(count_summary))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), every_request))
        .with_state(state)
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "text/plain", String::new())
}

// ---------------------------------------------------------------- auth

fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Principal, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
    let Some(token) = token else {
        return Err(unauthorized(st));
    };
    let now = Instant::now();
    let sessions = lock(&st.sessions);
    match sessions.get(&token) {
        Some(s) if s.expires > now => Ok(s.principal),
        _ => {
            drop(sessions);
            Err(unauthorized(st))
        }
    }
}

/// Auth then random fault: the start of every `/api/*` handler.
fn enter(
    st: &AppState,
    headers: &HeaderMap,
    on_auth: impl FnOnce(),
) -> Result<Principal, Response> {
    let p = authenticate(st, headers)?;
    on_auth();
    if let Some(f) = draw_fault(st) {
        return Err(f);
    }
    Ok(p)
}
