//! The client: authenticated calls, paging, and the typed endpoints.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::auth::{Credentials, TokenCache};
use crate::envelope::{self, Opened};
use crate::error::{excerpt, Error};
use crate::flow::Flow;
use crate::http::{Expect, Limits, RawResponse, Transport};
use crate::models::{dedupe, Company, CompanyDetails, CompanyDto, Page, TargetUser};
use crate::resolve::resolve_company;
use crate::summary::CountSummary;
use crate::{CompanyId, StatusSet};
use keepnet_net::retry::{Jitter, RetryPolicy};

use crate::paths::{COMPANIES_SEARCH, COMPANY, COUNT_SUMMARY, USERS_EXPORT, USERS_SEARCH};

/// Page size asked of `companies/search`; the server may answer with fewer.
const COMPANY_PAGE_SIZE: u32 = 50;
/// A guard against a server that keeps reporting more company pages forever.
const MAX_PAGES: u64 = 100_000;

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    base_url: String,
    credentials: Option<Credentials>,
    limits: Limits,
    user_agent: String,
    retry: RetryPolicy,
    concurrency: usize,
    max_rps: Option<f64>,
}

impl ClientBuilder {
    /// The credentials to authenticate with (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// How long to wait for a TCP/TLS connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.limits.connect_timeout = timeout;
        self
    }

    /// How long one request may take from send to the end of its body (default 120 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = timeout;
        self
    }

    /// How transient failures are retried (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Most requests in flight at once (default 8), shared by every company this client
    /// reads; lowered automatically on 429.
    pub fn concurrency(mut self, pages: usize) -> Self {
        self.concurrency = pages.max(1);
        self
    }

    /// At most this many requests per second (default: no cap), for credentials with a known
    /// rate limit.
    pub fn max_rps(mut self, rps: Option<f64>) -> Self {
        self.max_rps = rps;
        self
    }

    /// The `User-Agent` header (default `keepnet-api/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Checks the settings and builds the client. Fails on a base URL that is not `https://`
    /// (plain `http://` is allowed on loopback only) or when credentials are missing.
    pub fn build(self) -> Result<Client, Error> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(
                "no credentials: set KEEPNET_CLIENT_ID and KEEPNET_CLIENT_SECRET".to_owned(),
            )
        })?;
        if credentials.client_id().trim().is_empty() {
            return Err(Error::Config("the client id is empty".to_owned()));
        }
        let transport = Transport::new(&self.base_url, self.limits, &self.user_agent)?;
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                auth: TokenCache::new(credentials),
                retry: self.retry,
                flow: Flow::new(self.concurrency, self.max_rps),
                jitter: Mutex::new(Jitter::from_clock()),
                retries: AtomicU64::new(0),
                throttled_with_retry_after: AtomicU64::new(0),
                page_size_ceiling: AtomicU32::new(u32::MAX),
                page_size_served: AtomicU32::new(0),
                page_size_probe: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

/// Options of `companies/search`.
#[derive(Debug, Clone, Default)]
pub struct CompanyQuery {
    /// Only companies whose target users exceed their licence.
    pub exceeding_limit: bool,
}

/// An answer and what it took to get it: one call path reports both, and callers that only
/// want the answer read through it (`Deref`) or take it ([`Answered::into_inner`]).
#[derive(Debug, Clone)]
pub struct Answered<T> {
    /// The answer.
    pub value: T,
    /// Retries it took (429, 5xx, network), 0 when the first attempt answered.
    pub retries: u32,
}

impl<T> Answered<T> {
    /// The answer alone.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for Answered<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// Options of a target-user search.
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// Free-text search over name, e-mail and department (`SearchInputTextValue`).
    pub search: Option<String>,
    /// The API field to order by, e.g. `CreateTime` or `Email`.
    pub order_by: String,
    /// Ascending order when true.
    pub ascending: bool,
    /// Users asked per page; the server may cap it, and paging follows what it answers.
    pub page_size: u32,
    /// Which users: active and inactive by default, never deleted ones unless asked.
    pub statuses: StatusSet,
}

impl Default for UserQuery {
    /// Oldest first by `CreateTime`, [`crate::DEFAULT_PAGE_SIZE`] per page: users added during
    /// a run land on later pages instead of shifting the ones not yet read.
    fn default() -> Self {
        Self {
            search: None,
            order_by: "CreateTime".to_owned(),
            ascending: true,
            page_size: crate::DEFAULT_PAGE_SIZE,
            statuses: StatusSet::CURRENT,
        }
    }
}

impl UserQuery {
    fn body(&self, page_number: u64) -> Value {
        json!({
            "pageNumber": page_number,
            "pageSize": self.page_size,
            "orderBy": self.order_by,
            "ascending": self.ascending,
            "filter": self.statuses.filter(self.search.as_deref()),
        })
    }
}

/// The filter Keepnet requires on every search: never null, values `""` rather than null
/// (verified to answer 200 on the live API by Keepnet's own e2e script).
fn minimal_filter() -> Value {
    json!({"Condition": "AND", "SearchInputTextValue": ""})
}

/// The file format of a server-side export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values.
    Csv,
    /// An Excel workbook (XLSX).
    Excel,
}

impl ExportFormat {
    fn wire_name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "CSV",
            ExportFormat::Excel => "Excel",
        }
    }
}

/// A file produced by the server-side export.
#[derive(Debug, Clone)]
pub struct ExportFile {
    /// The file name the server suggested, if any.
    pub file_name: Option<String>,
    /// The content type the server declared, if any.
    pub content_type: Option<String>,
    /// The file's bytes.
    pub bytes: Bytes,
}

/// A Keepnet API client. Cheap to clone: clones share the connection pool and token cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    auth: TokenCache,
    retry: RetryPolicy,
    flow: Flow,
    jitter: Mutex<Jitter>,
    retries: AtomicU64,
    /// 429 answers that carried a `Retry-After` header.
    throttled_with_retry_after: AtomicU64,
    /// The largest page size to ask for: `u32::MAX` until the server refuses one.
    page_size_ceiling: AtomicU32,
    /// The largest page size asked that the server answered (0: none yet).
    page_size_served: AtomicU32,
    /// Held while a page 1 asks for a size never answered before.
    page_size_probe: tokio::sync::Mutex<()>,
}

/// Counters of one client (and its clones) since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// HTTP requests sent, every attempt and token request included.
    pub requests: u64,
    /// Attempts that were retries of a failed one.
    pub retries: u64,
    /// Access tokens obtained.
    pub tokens: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// Of those, the ones that said when to retry (`Retry-After`).
    pub throttled_with_retry_after: u64,
    /// The configured page concurrency.
    pub concurrency: usize,
    /// The lowest page concurrency adaptive flow control went down to.
    pub lowest_concurrency: usize,
    /// The most requests that were in flight at once, across every company (the budget is
    /// the client's, not a company's).
    pub peak_in_flight: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.transport.base().as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts building a client for `base_url` (e.g. [`crate::DEFAULT_BASE_URL`]).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            credentials: None,
            limits: Limits::default(),
            user_agent: concat!("keepnet-api/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            concurrency: 8,
            max_rps: None,
        }
    }

    /// Requests, retries and tokens so far.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.inner.transport.requests_sent(),
            retries: self.inner.retries.load(Ordering::Relaxed),
            tokens: self.inner.auth.tokens_issued(),
            throttled: self.inner.flow.throttled(),
            throttled_with_retry_after: self
                .inner
                .throttled_with_retry_after
                .load(Ordering::Relaxed),
            concurrency: self.inner.flow.max(),
            lowest_concurrency: self.inner.flow.lowest(),
            peak_in_flight: self.inner.flow.peak_in_flight(),
        }
    }

    /// What the credential's token says (role, company, permissions), obtaining a token if
    /// none is cached. The token itself is never exposed.
    pub async fn token_info(&self) -> Result<crate::auth::TokenInfo, Error> {
        self.inner.auth.token(&self.inner.transport).await?;
        Ok(self.inner.auth.info())
    }

    /// Page fetches allowed at once right now (adaptive).
    pub(crate) fn concurrency_now(&self) -> usize {
        self.inner.flow.limit()
    }

    /// The base URL the client talks to.
    pub fn base_url(&self) -> &str {
        self.inner.transport.base().as_str()
    }

    /// How many access tokens this client has obtained.
    pub fn tokens_issued(&self) -> u64 {
        self.inner.auth.tokens_issued()
    }

    /// Every company the credential manages, across all pages, children flattened after their
    /// parent (depth-first).
    pub async fn companies(&self, query: &CompanyQuery) -> Result<Vec<Company>, Error> {
        let mut companies = Vec::new();
        let mut page_number = 1;
        loop {
            let mut body = json!({
                "pageNumber": page_number,
                "pageSize": COMPANY_PAGE_SIZE,
                "orderBy": "CreateTime",
                "ascending": true,
                "filter": minimal_filter(),
            });
            if query.exceeding_limit {
                body["isTargetUserCountExceededLimit"] = Value::Bool(true);
            }
            let page: Page<CompanyDto> = self
                .search::<Page<CompanyDto>>(COMPANIES_SEARCH, None, &body)
                .await?
                .into_inner();
            let last = page.believable_pages();
            let empty = page.results.is_empty();
            let before = companies.len();
            for dto in page.results {
                dto.flatten_into(None, 0, &mut companies);
            }
            // A page that repeats earlier companies only (the same page served again) ends the
            // listing too: a server cannot keep the client asking by echoing itself.
            let new = companies[before..].iter().any(|c| {
                !companies[..before]
                    .iter()
                    .any(|e| e.resource_id == c.resource_id)
            });
            if empty || !new || page_number >= last || page_number >= MAX_PAGES {
                break;
            }
            page_number += 1;
        }
        Ok(dedupe(companies))
    }

    /// Finds the company `query` names (an exact id, else a case-insensitive exact name).
    pub async fn resolve_company(&self, query: &str) -> Result<Company, Error> {
        let companies = self.companies(&CompanyQuery::default()).await?;
        Ok(resolve_company(&companies, query)?.clone())
    }

    /// The count summary of `company`'s target users: the figures Keepnet's UI reads, and
    /// `data` as the server returned it (`null` when it sent none).
    pub async fn count_summary(&self, company: &CompanyId) -> Result<CountSummary, Error> {
        let response = self
            .call(
                Method::GET,
                COUNT_SUMMARY,
                Some(company),
                None,
                Expect::Json,
            )
            .await?
            .into_inner();
        let data = open_data::<Value>(COUNT_SUMMARY, &response)?.unwrap_or(Value::Null);
        Ok(CountSummary::from_value(data))
    }

    /// `company`'s own settings (`GET /api/companies/{id}`): its date and time format, which
    /// date text in its users' records may follow.
    pub async fn company_details(&self, company: &CompanyId) -> Result<CompanyDetails, Error> {
        let path = format!("{COMPANY}{}", company.as_str());
        let response = self
            .call(Method::GET, &path, Some(company), None, Expect::Json)
            .await?
            .into_inner();
        Ok(open_data::<CompanyDetails>(&path, &response)?.unwrap_or_default())
    }

    /// One page of `company`'s target users, with the retries it took (the page itself
    /// through `Deref`). Asks for exactly `query.page_size`; the pager adapts the size.
    pub async fn users_page(
        &self,
        company: &CompanyId,
        query: &UserQuery,
        page_number: u64,
    ) -> Result<Answered<Page<TargetUser>>, Error> {
        self.users_page_as(company, query, page_number).await
    }

    /// One page of target users read as `T`.
    pub(crate) async fn users_page_as<T: DeserializeOwned>(
        &self,
        company: &CompanyId,
        query: &UserQuery,
        page_number: u64,
    ) -> Result<Answered<Page<T>>, Error> {
        self.search(USERS_SEARCH, Some(company), &query.body(page_number))
            .await
    }

    /// The page size to ask for when `asked` is wanted: lower once the server refused a size.
    pub(crate) fn page_size_for(&self, asked: u32) -> u32 {
        asked.min(self.inner.page_size_ceiling.load(Ordering::Relaxed))
    }

    /// Asks for at most `size` users per page from now on (the server refused more).
    pub(crate) fn lower_page_size(&self, size: u32) {
        self.inner
            .page_size_ceiling
            .fetch_min(size, Ordering::Relaxed);
    }

    /// Before asking for `size` users on a page 1: while no page of that size has been
    /// served yet, one caller at a time asks (the others wait for what it learns), so a run
    /// of many companies meets a refusal once, not once per company. `None`: go ahead.
    pub(crate) async fn page_size_gate(
        &self,
        size: u32,
    ) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let known = || size <= self.inner.page_size_served.load(Ordering::Relaxed);
        if known() {
            return None;
        }
        let guard = self.inner.page_size_probe.lock().await;
        (!known()).then_some(guard)
    }

    /// A page of `size` users was served: later callers need not wait at the gate.
    pub(crate) fn page_size_served(&self, size: u32) {
        self.inner
            .page_size_served
            .fetch_max(size, Ordering::Relaxed);
    }

    /// The server-side export of `company`'s target users (every page), as the server built it.
    pub async fn export(
        &self,
        company: &CompanyId,
        format: ExportFormat,
        query: &UserQuery,
    ) -> Result<ExportFile, Error> {
        let mut body = query.body(1);
        body["reportAllPages"] = Value::Bool(true);
        body["exportType"] = Value::String(format.wire_name().to_owned());
        let response = self
            .call(
                Method::POST,
                USERS_EXPORT,
                Some(company),
                Some(&body),
                Expect::File,
            )
            .await?
            .into_inner();
        let content_type = header_text(&response, reqwest::header::CONTENT_TYPE);
        let file = if content_type.as_deref().is_some_and(|t| t.contains("json")) {
            export_from_json(&response.body)?
        } else {
            ExportFile {
                file_name: header_text(&response, reqwest::header::CONTENT_DISPOSITION)
                    .and_then(|v| content_disposition_filename(&v)),
                content_type,
                bytes: response.body,
            }
        };
        if file.bytes.is_empty() {
            return Err(Error::Malformed {
                endpoint: USERS_EXPORT.into(),
                problem: "the export is empty".into(),
                excerpt: String::new(),
            });
        }
        Ok(file)
    }

    /// The whole JSON body of a `POST` to `path` (scoped to `company` when given), envelope
    /// included, read as any other call is (retries, token renewal, errors by status) but not
    /// interpreted: for diagnostics that look at the answer's shape (`doctor`).
    pub async fn post_raw(
        &self,
        path: &str,
        company: Option<&CompanyId>,
        body: &Value,
    ) -> Result<Value, Error> {
        self.raw(Method::POST, path, company, Some(body)).await
    }

    /// The whole JSON body of a `GET` of `path`; see [`Client::post_raw`].
    pub async fn get_raw(&self, path: &str, company: Option<&CompanyId>) -> Result<Value, Error> {
        self.raw(Method::GET, path, company, None).await
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        company: Option<&CompanyId>,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let response = self
            .call(method, path, company, body, Expect::Json)
            .await?
            .into_inner();
        serde_json::from_slice(&response.body).map_err(|_| Error::Malformed {
            endpoint: path.into(),
            problem: "the answer is not JSON".into(),
            excerpt: excerpt(&response.body),
        })
    }

    /// POSTs a search body and opens the paged `data` it returns, with the retries it took.
    async fn search<T: DeserializeOwned>(
        &self,
        path: &str,
        company: Option<&CompanyId>,
        body: &Value,
    ) -> Result<Answered<T>, Error> {
        // Searches are POSTs that only read: safe to send again.
        let answered = self
            .call(Method::POST, path, company, Some(body), Expect::Json)
            .await?;
        let response = &answered.value;
        let data = open_data(path, response)?.ok_or_else(|| Error::Malformed {
            endpoint: path.into(),
            problem: "the response has no data".into(),
            excerpt: excerpt(&response.body),
        })?;
        Ok(Answered {
            value: data,
            retries: answered.retries,
        })
    }

    /// An authenticated call, retried per the [`RetryPolicy`] while it fails transiently;
    /// says how many retries it took.
    async fn call(
        &self,
        method: Method,
        path: &str,
        company: Option<&CompanyId>,
        body: Option<&Value>,
        expect: Expect,
    ) -> Result<Answered<RawResponse>, Error> {
        let policy = &self.inner.retry;
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let error = match self
                .attempt(method.clone(), path, company, body, expect)
                .await
            {
                Ok(response) => {
                    self.inner.flow.on_success();
                    return Ok(Answered {
                        value: response,
                        retries,
                    });
                }
                Err(error) => error,
            };
            if let Error::RateLimited { retry_after } = &error {
                self.inner.flow.on_throttle();
                if retry_after.is_some() {
                    self.inner
                        .throttled_with_retry_after
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            let Some(retry_after) = error.transient() else {
                return Err(error);
            };
            let unit = self
                .inner
                .jitter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .unit();
            let wait = policy.wait(retries, retry_after, unit);
            if retries >= policy.max_retries || started.elapsed() + wait > policy.max_elapsed {
                return Err(if retries == 0 {
                    error
                } else {
                    Error::GaveUp {
                        attempts: retries + 1,
                        elapsed: started.elapsed(),
                        last: Box::new(error),
                    }
                });
            }
            retries += 1;
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(path, retry = retries, wait_ms = wait.as_millis() as u64, %error, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One authenticated attempt. A 401 invalidates the token and the call is made once more
    /// with a fresh one; any other non-2xx becomes a typed error.
    async fn attempt(
        &self,
        method: Method,
        path: &str,
        company: Option<&CompanyId>,
        body: Option<&Value>,
        expect: Expect,
    ) -> Result<RawResponse, Error> {
        let inner = &self.inner;
        let mut renewed = false;
        loop {
            let token = inner.auth.token(&inner.transport).await?;
            let slot = inner.flow.slot().await;
            inner.flow.pace().await;
            let started = Instant::now();
            let response = inner
                .transport
                .call(method.clone(), path, token.secret(), company, body, expect)
                .await;
            drop(slot);
            let response = response?;
            tracing::debug!(
                %method,
                path,
                company = company.map(CompanyId::as_str),
                status = response.status,
                bytes = response.body.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "api call"
            );
            match response.status {
                200..=299 => return Ok(response),
                401 if !renewed => {
                    tracing::debug!(path, "401: renewing the access token once");
                    inner.auth.invalidate(&token).await;
                    renewed = true;
                }
                401 => return Err(Error::Unauthorized),
                _ => return Err(status_error(path, company, &response)),
            }
        }
    }
}

/// Opens the envelope of a 2xx JSON response.
fn open_data<T: DeserializeOwned>(path: &str, response: &RawResponse) -> Result<Option<T>, Error> {
    let malformed = |problem: String| Error::Malformed {
        endpoint: path.into(),
        problem,
        excerpt: excerpt(&response.body),
    };
    match envelope::parse::<T>(&response.body) {
        Ok(Opened::Success(data)) => Ok(data),
        Ok(Opened::Failure { status, message }) => Err(Error::Envelope {
            endpoint: path.into(),
            status,
            message,
        }),
        Ok(Opened::NotAnEnvelope) => Err(malformed("not a Keepnet response envelope".into())),
        // serde's message can quote a served value (`invalid type: string "…"`): only its
        // category and position are shown.
        Err(e) => Err(malformed(format!(
            "invalid JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))),
    }
}

/// Maps a non-2xx, non-401 response to a typed error.
fn status_error(path: &str, company: Option<&CompanyId>, response: &RawResponse) -> Error {
    let server_message = envelope::error_message(&response.body);
    let message_or_excerpt = || {
        server_message
            .clone()
            .unwrap_or_else(|| match excerpt(&response.body) {
                e if e.is_empty() => "empty body".to_owned(),
                e => e,
            })
    };
    match (response.status, company) {
        (400, Some(id))
            if server_message
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("company")) =>
        {
            Error::CompanyNotFound {
                company: id.to_string(),
                status: 400,
                message: server_message,
            }
        }
        (400, _) => Error::BadRequest {
            message: message_or_excerpt(),
        },
        (403, company) => match envelope::error_status(&response.body).as_deref() {
            Some("IP_RESTRICTED") => Error::IpRestricted {
                message: server_message,
            },
            Some("PRIVACY_ERROR") => Error::PrivacyRestricted {
                company: company.map_or_else(|| "(none)".to_owned(), ToString::to_string),
                message: server_message,
            },
            _ => Error::Forbidden {
                company: company.map(ToString::to_string),
                message: server_message,
            },
        },
        (404, Some(id)) => Error::CompanyNotFound {
            company: id.to_string(),
            status: 404,
            message: server_message,
        },
        (404, None) => Error::Server {
            status: 404,
            endpoint: path.into(),
            message: "endpoint not found; check the base URL".into(),
            retry_after: response.retry_after,
        },
        (429, _) => Error::RateLimited {
            retry_after: response.retry_after,
        },
        (300..=399, _) => crate::http::redirected(path, response),
        (status, _) => Error::Server {
            status,
            endpoint: path.into(),
            message: message_or_excerpt(),
            retry_after: response.retry_after,
        },
    }
}

fn header_text(response: &RawResponse, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads the JSON `ExportServiceResult` shape (`fileName`, base64 `byteArray`), at the top level
/// or inside an envelope's `data`.
fn export_from_json(body: &[u8]) -> Result<ExportFile, Error> {
    let malformed = |problem: &str| Error::Malformed {
        endpoint: USERS_EXPORT.into(),
        problem: problem.into(),
        excerpt: excerpt(body),
    };
    let value: Value =
        serde_json::from_slice(body).map_err(|_| malformed("invalid JSON export result"))?;
    let holder = get_ci(&value, "data")
        .filter(|d| d.is_object())
        .unwrap_or(&value);
    let Some(encoded) = get_ci(holder, "byteArray").and_then(Value::as_str) else {
        if let Ok(Opened::Failure { status, message }) = envelope::parse::<Value>(body) {
            return Err(Error::Envelope {
                endpoint: USERS_EXPORT.into(),
                status,
                message,
            });
        }
        return Err(malformed("the export result has no byteArray"));
    };
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| malformed("byteArray is not valid base64"))?;
    Ok(ExportFile {
        file_name: get_ci(holder, "fileName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        content_type: None,
        bytes: Bytes::from(bytes),
    })
}

/// An object member by case-insensitive key.
fn get_ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The file name of a `Content-Disposition` header: `filename*` (RFC 5987, UTF-8) preferred,
/// else `filename`.
fn content_disposition_filename(header: &str) -> Option<String> {
    let mut plain = None;
    for part in header.split(';').map(str::trim) {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if key == "filename*" {
            let (charset, rest) = value.split_once('\'')?;
            let (_language, encoded) = rest.split_once('\'')?;
            if charset.eq_ignore_ascii_case("utf-8") {
                if let Some(decoded) = percent_decode(encoded) {
                    return Some(decoded);
                }
            }
        } else if key == "filename" {
            plain = Some(value.trim_matches('"').to_owned());
        }
    }
    plain.filter(|p| !p.is_empty())
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_prefers_utf8_name() {
        let h = r#"attachment; filename="TargetUsers_M__teri.csv"; filename*=UTF-8''TargetUsers_M%C3%BC%C5%9Fteri.csv"#;
        assert_eq!(
            content_disposition_filename(h).as_deref(),
            Some("TargetUsers_Müşteri.csv")
        );
        assert_eq!(
            content_disposition_filename("attachment; filename=plain.xlsx").as_deref(),
            Some("plain.xlsx")
        );
        assert_eq!(content_disposition_filename("inline"), None);
    }

    #[test]
    fn export_json_shape_is_decoded() {
        let body = json!({"status": "SUCCESS", "message": null, "filePath": null,
                          "fileName": "a.csv", "byteArray": "aGVsbG8="});
        let file = export_from_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(file.file_name.as_deref(), Some("a.csv"));
        assert_eq!(&file.bytes[..], b"hello");
        let wrapped =
            json!({"data": {"FileName": "b.xlsx", "ByteArray": "UEs="}, "status": "SUCCESS"});
        let file = export_from_json(wrapped.to_string().as_bytes()).unwrap();
        assert_eq!(&file.bytes[..], b"PK");
        let failed = json!({"status": "INTERNAL_SERVER_ERROR", "message": "export failed"});
        assert!(matches!(
            export_from_json(failed.to_string().as_bytes()),
            Err(Error::Envelope { .. })
        ));
    }

    #[test]
    fn forbidden_answers_say_which_403_it_is() {
        let answer = |body: &str| RawResponse {
            status: 403,
            headers: reqwest::header::HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            retry_after: None,
        };
        let id = CompanyId::parse("A1").unwrap();
        let ip = status_error(
            "/api/x",
            Some(&id),
            &answer(r#"{"status":"IP_RESTRICTED","message":"not from here"}"#),
        );
        assert!(matches!(ip, Error::IpRestricted { message: Some(ref m) } if m == "not from here"));
        let privacy = status_error(
            "/api/x",
            Some(&id),
            &answer(r#"{"data":null,"status":"PRIVACY_ERROR","message":"no"}"#),
        );
        assert!(matches!(privacy, Error::PrivacyRestricted { ref company, .. } if company == "A1"));
        assert!(privacy
            .to_string()
            .contains("privacy settings of company A1"));
        let plain = status_error("/api/x", Some(&id), &answer(r#"{"status":"FORBIDDEN"}"#));
        assert!(matches!(plain, Error::Forbidden { .. }));
        for e in [ip, privacy, plain] {
            assert_eq!(e.kind(), crate::ErrorKind::Company);
        }
    }

    #[test]
    fn search_bodies_carry_required_fields_and_a_non_null_filter() {
        let body = UserQuery::default().body(3);
        assert_eq!(body["pageNumber"], 3);
        assert_eq!(body["pageSize"], 1000);
        assert_eq!(body["orderBy"], "CreateTime");
        assert_eq!(body["ascending"], true);
        assert_eq!(body["filter"], StatusSet::CURRENT.filter(None));
        assert_eq!(
            body["filter"]["FilterGroups"][0]["FilterItems"][1]["FieldName"],
            "IsDeleted"
        );
        assert_eq!(
            minimal_filter(),
            json!({"Condition": "AND", "SearchInputTextValue": ""})
        );
    }
}
