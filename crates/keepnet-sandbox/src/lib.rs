//! A faithful local imitation of the Keepnet Labs reseller API, served over
//! real HTTP (axum) on a loopback port, with seeded deterministic data,
//! latency, and fault injection.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sandbox = keepnet_sandbox::Sandbox::start(keepnet_sandbox::Config::default()).await?;
//! let creds = sandbox.reseller();
//! println!("{} {}", sandbox.base_url(), creds.client_id);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

mod data;
mod export;
mod query;
mod rng;
mod server;
mod time;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use data::{Company, CustomFieldValue, Dataset, User};

/// Sandbox configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seed of all generated data and of the jitter/fault PRNG (default 42).
    pub seed: u64,
    /// Users in each ordinary customer company (default 250).
    pub users_per_company: usize,
    /// Largest page the server returns, whatever `pageSize` asks (default 50).
    pub page_cap: u32,
    /// Token lifetime (default 3600 s); `expires_in` reports whole seconds, at least 1.
    pub token_lifetime: Duration,
    /// Fixed delay before answering every request (default 0).
    pub latency: Duration,
    /// Extra uniform random delay in `[0, jitter)` per request (default 0).
    pub jitter: Duration,
    /// Fault injection settings (changeable later with [`Sandbox::set_faults`]).
    pub faults: Faults,
    /// Shape of the JSON response envelope (default [`EnvelopeStyle::Spec`]).
    pub envelope: EnvelopeStyle,
    /// Key names of company ids and names (default [`CompanyKeys::Spec`]).
    pub company_keys: CompanyKeys,
    /// How the export endpoint returns the file (default [`ExportStyle::File`]).
    pub export_style: ExportStyle,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 42,
            users_per_company: 250,
            page_cap: 50,
            token_lifetime: Duration::from_secs(3600),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            faults: Faults::default(),
            envelope: EnvelopeStyle::default(),
            company_keys: CompanyKeys::default(),
            export_style: ExportStyle::default(),
        }
    }
}

/// Fault injection settings.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fraction in [0, 1] of `/api/*` calls answered with a fault.
    pub rate: f64,
    /// Fault statuses drawn uniformly: 429, 500, 502, 503, or 200 meaning
    /// "HTTP 200 whose envelope reports failure". Empty means [429, 500, 502, 503].
    pub statuses: Vec<u16>,
    /// Retry-After (whole seconds) sent with 429; `None` sends "1".
    pub retry_after: Option<Duration>,
    /// When `Some(n)`, every target-users/search with pageNumber >= n
    /// answers 500 (deterministic, independent of `rate`).
    pub fail_user_pages_from: Option<u32>,
    /// Whether `/connect/token` also draws faults (default false).
    pub include_token_endpoint: bool,
}

/// Shape of the JSON response envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EnvelopeStyle {
    /// `{"data", "status", "message", "validationMessages"}` as in the OpenAPI spec.
    #[default]
    Spec,
    /// `{"isSuccess", "data", "messages"}` as in the quickstart prose.
    Quickstart,
    /// `{"Data", "Status", "Message", "ValidationMessages"}` (data stays camelCase).
    Pascal,
}

/// Key names used for a company's id and name in companies/search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CompanyKeys {
    /// `companyResourceId` / `companyName` (the OpenAPI spec).
    #[default]
    Spec,
    /// `resourceId` / `name` (the documentation prose).
    Prose,
}

/// How `target-users/search/export` returns the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExportStyle {
    /// The file bytes with Content-Type and Content-Disposition.
    #[default]
    File,
    /// JSON `{"status","message","filePath","fileName","byteArray"}` (base64 file).
    ServiceResult,
}

/// An API client credential (client id and secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Client ID.
    pub client_id: String,
    /// Client secret (redacted in `Debug`).
    pub client_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Counters since start.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Every HTTP request received (any route).
    pub requests: u64,
    /// Requests to `/connect/token`.
    pub token_requests: u64,
    /// Tokens successfully issued.
    pub tokens_issued: u64,
    /// 401 answers (missing, unknown or expired token).
    pub unauthorized: u64,
    /// Faults injected (random ones and `fail_user_pages_from`).
    pub faults_injected: u64,
    /// Authenticated requests to `target-users/search`, faulted ones included.
    pub user_search_requests: u64,
}

/// A running sandbox server.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<server::AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Start on 127.0.0.1 with a free port.
    pub async fn start(config: Config) -> std::io::Result<Sandbox> {
        Sandbox::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Start on the given address.
    pub async fn start_on(config: Config, addr: SocketAddr) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let dataset = Arc::new(Dataset::generate(config.seed, config.users_per_company));
        let state = Arc::new(server::AppState::new(config, dataset, addr));
        let app = server::router(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("keepnet sandbox server stopped: {e}");
            }
        });
        Ok(Sandbox {
            addr,
            state,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// Base URL without trailing slash, e.g. "http://127.0.0.1:40123".
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reseller credential ("Northwind MSSP") managing every customer.
    pub fn reseller(&self) -> Credentials {
        self.state.reseller.clone()
    }

    /// Company Admin credential of "Globex Corporation".
    pub fn company_admin(&self) -> Credentials {
        self.state.admin.clone()
    }

    /// The seeded data the server answers from.
    pub fn dataset(&self) -> Arc<Dataset> {
        self.state.dataset.clone()
    }

    /// Replace the fault settings while running.
    pub fn set_faults(&self, faults: Faults) {
        *self
            .state
            .faults
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = faults;
    }

    /// Invalidates every token issued so far: the next call with one answers 401, as the real
    /// API does when a credential is rotated or a token is revoked.
    pub fn revoke_tokens(&self) {
        self.state.revoke_tokens();
    }

    /// Snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.state.stats.snapshot()
    }

    /// Stop accepting connections, finish in-flight requests (up to 5 s),
    /// and wait for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
