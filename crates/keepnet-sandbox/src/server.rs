//! HTTP routes, authentication, scoping, envelopes and fault injection.

// Early-return `Result<_, Response>` helpers run once per request; boxing
// the response would only add an allocation.
#![allow(clippy::result_large_err)]

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::json;

use crate::data::{
    series_months, Company, Dataset, User, GLOBEX_ORD, MONTHS, RESELLER_NAME, RESELLER_ORD,
    UNMANAGED_ORD,
};
use crate::live::{Live, LiveCounts};
use crate::query::{self, Field, Filter, InputError, Part, Pos};
use crate::rng::{key, Rng};
use crate::time::{DateOrder, Style};
use crate::{export, time};
use crate::{CompanyKeys, Config, Credentials, EnvelopeStyle, ExportStyle, Faults, Stats};

type Shared = Arc<AppState>;

const PERMISSIONS: [&str; 4] = [
    "companies/search|POST",
    "target-users/search|POST",
    "target-users/search/export|POST",
    "target-users/count-summary|GET",
];

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
        }
    }
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

/// Body of every answer while [`Faults::ip_restricted`] is set (Login.vue).
const IP_RESTRICTED_BODY: &str = r#"{"status":"IP_RESTRICTED","message":"Access from your IP address is not allowed for this client."}"#;

async fn every_request(State(st): State<Shared>, req: Request, next: Next) -> Response {
    bump(&st.stats.requests);
    let both = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        };
        matches!((header(KEEPNET_HEADER), header(IR_HEADER)), (Some(a), Some(b)) if a == b)
    };
    if both {
        bump(&st.stats.both_company_headers);
    }
    let mut delay = st.config.latency;
    if !st.config.jitter.is_zero() {
        let u = lock(&st.rng).unit();
        delay += st.config.jitter.mul_f64(u);
    }
    delay += spike(&st, req.uri().path());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if st.with_faults(|f| f.ip_restricted) {
        if req.uri().path() == "/connect/token" {
            bump(&st.stats.token_requests);
        }
        return json_response(StatusCode::FORBIDDEN, IP_RESTRICTED_BODY.to_string());
    }
    next.run(req).await
}

/// The extra delay of a latency spike for this request, if one is drawn.
fn spike(st: &AppState, path: &str) -> Duration {
    let (rate, delay, token_too) = {
        let f = st.faults.read().unwrap_or_else(PoisonError::into_inner);
        (f.spike_rate, f.spike_delay, f.include_token_endpoint)
    };
    if rate <= 0.0 || delay.is_zero() {
        return Duration::ZERO;
    }
    let eligible = path.starts_with("/api/") || (token_too && path == "/connect/token");
    if !eligible || lock(&st.spike_rng).unit() >= rate {
        return Duration::ZERO;
    }
    bump(&st.stats.spikes);
    delay
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "text/plain", String::new())
}

// ---------------------------------------------------------------- responses

fn plain(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn json_response(status: StatusCode, body: String) -> Response {
    plain(status, "application/json; charset=utf-8", body)
}

fn js(s: &str) -> String {
    serde_json::to_string(s).expect("string serialises")
}

fn envelope(
    style: EnvelopeStyle,
    ok: bool,
    status: &str,
    data: &str,
    message: Option<&str>,
    validation: &[String],
) -> String {
    let msg = message.map_or_else(|| "null".to_string(), js);
    let val = if validation.is_empty() {
        "null".to_string()
    } else {
        serde_json::to_string(validation).expect("strings serialise")
    };
    match style {
        EnvelopeStyle::Spec => format!(
            r#"{{"data":{data},"status":{},"message":{msg},"validationMessages":{val}}}"#,
            js(status)
        ),
        EnvelopeStyle::Pascal => format!(
            r#"{{"Data":{data},"Status":{},"Message":{msg},"ValidationMessages":{val}}}"#,
            js(status)
        ),
        EnvelopeStyle::Quickstart => {
            let mut messages: Vec<&str> = message.into_iter().collect();
            messages.extend(validation.iter().map(String::as_str));
            format!(
                r#"{{"isSuccess":{ok},"data":{data},"messages":{}}}"#,
                serde_json::to_string(&messages).expect("strings serialise")
            )
        }
    }
}

fn success(st: &AppState, data: String) -> Response {
    json_response(
        StatusCode::OK,
        envelope(st.config.envelope, true, "SUCCESS", &data, None, &[]),
    )
}

fn failure(
    st: &AppState,
    http: StatusCode,
    status: &str,
    message: &str,
    validation: &[String],
) -> Response {
    json_response(
        http,
        envelope(
            st.config.envelope,
            false,
            status,
            "null",
            Some(message),
            validation,
        ),
    )
}

fn input_error(st: &AppState, e: InputError) -> Response {
    failure(
        st,
        StatusCode::BAD_REQUEST,
        "INPUT_ERROR",
        &e.message,
        &e.validation,
    )
}

fn unauthorized(st: &AppState) -> Response {
    bump(&st.stats.unauthorized);
    let mut r = plain(StatusCode::UNAUTHORIZED, "text/plain", Body::empty());
    r.headers_mut().remove(header::CONTENT_TYPE);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

// ---------------------------------------------------------------- faults

fn draw_fault(st: &AppState) -> Option<Response> {
    if st.with_faults(|f| f.rate <= 0.0) {
        return None;
    }
    let faults = st.faults();
    let defaults = [429u16, 500, 502, 503];
    let statuses: &[u16] = if faults.statuses.is_empty() {
        &defaults
    } else {
        &faults.statuses
    };
    let code = {
        let mut rng = lock(&st.rng);
        if rng.unit() >= faults.rate {
            return None;
        }
        *rng.pick(statuses)
    };
    bump(&st.stats.faults_injected);
    Some(fault_response(st, code, faults.retry_after))
}

fn fault_response(st: &AppState, code: u16, retry_after: Option<Duration>) -> Response {
    match code {
        200 => failure(
            st,
            StatusCode::OK,
            "INTERNAL_SERVER_ERROR",
            "Simulated failure",
            &[],
        ),
        429 => {
            let mut r = plain(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain; charset=utf-8",
                "Too Many Requests: rate limit exceeded, retry later.",
            );
            let secs = retry_after.map_or(1, |d| d.as_secs());
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r
        }
        500 => failure(
            st,
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "Simulated failure",
            &[],
        ),
        502 => plain(
            StatusCode::BAD_GATEWAY,
            "text/html",
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
             <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n",
        ),
        503 => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/html; charset=us-ascii",
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\">\r\n<HTML><HEAD>\
             <TITLE>Service Unavailable</TITLE></HEAD>\r\n<BODY><h2>Service Unavailable</h2>\r\n\
             <hr><p>HTTP Error 503. The service is unavailable.</p>\r\n</BODY></HTML>\r\n",
        ),
        other => {
            let status = StatusCode::from_u16(other).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            plain(status, "text/plain", format!("Simulated HTTP {other}"))
        }
    }
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

fn valid_company_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The company-id header the API reference documents.
const KEEPNET_HEADER: &str = "x-keepnet-company-id";
/// The header Keepnet's own UI and agent send with the same value.
const IR_HEADER: &str = "x-ir-company-id";

/// The companies a target-users call answers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// One company, by dataset ordinal.
    One(usize),
    /// No company id from a Reseller: its own company and every managed one.
    All,
}

impl Scope {
    fn ords(self, ds: &Dataset) -> Vec<usize> {
        match self {
            Scope::One(ord) => vec![ord],
            Scope::All => ds.managed_ordinals(),
        }
    }
}

fn same_path(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// The company id a request names: header `X-KEEPNET-Company-Id`, else
/// `x-ir-company-id` (both unseen when a knob drops them), else `?companyId=`.
fn requested_company(st: &AppState, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let headers_dropped = st.with_faults(|f| {
        f.strip_company_header
            || f.ignore_company_header_on
                .iter()
                .any(|p| same_path(p, uri.path()))
    });
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    };
    let from_header = if headers_dropped {
        None
    } else {
        header(KEEPNET_HEADER).or_else(|| header(IR_HEADER))
    };
    from_header.or_else(|| {
        uri.query().and_then(|q| {
            parse_form(q)
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("companyId"))
                .map(|(_, v)| v)
        })
    })
}

/// Check a named company id: 400 malformed, 404 unknown, 403 FORBIDDEN
/// when not this credential's, 403 PRIVACY_ERROR when its privacy
/// settings refuse access ([`Faults::privacy_error_companies`]).
fn resolve_company(st: &AppState, p: Principal, id: &str) -> Result<usize, Response> {
    if !valid_company_id(id) {
        return Err(failure(
            st,
            StatusCode::BAD_REQUEST,
            "INPUT_ERROR",
            "Invalid Company ID",
            &["Company ID must match ^[A-Za-z0-9_-]{1,64}$.".to_string()],
        ));
    }
    let Some(ord) = st.dataset.ordinal_of(id) else {
        return Err(failure(
            st,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Company not found",
            &[],
        ));
    };
    let allowed = match p {
        Principal::Reseller => ord != UNMANAGED_ORD,
        Principal::CompanyAdmin => ord == GLOBEX_ORD,
    };
    if !allowed {
        return Err(failure(
            st,
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "You are not authorized to access this company.",
            &[],
        ));
    }
    if st.with_faults(|f| f.privacy_error_companies.iter().any(|c| c == id)) {
        return Err(failure(
            st,
            StatusCode::FORBIDDEN,
            "PRIVACY_ERROR",
            "The privacy settings of this company do not allow access to its data.",
            &[],
        ));
    }
    Ok(ord)
}

/// Resolve the companies a target-users request acts on.
fn scope(st: &AppState, p: Principal, headers: &HeaderMap, uri: &Uri) -> Result<Scope, Response> {
    match requested_company(st, headers, uri) {
        Some(id) => resolve_company(st, p, &id).map(Scope::One),
        None => Ok(match p {
            Principal::Reseller => {
                bump(&st.stats.unscoped_requests);
                Scope::All
            }
            Principal::CompanyAdmin => Scope::One(GLOBEX_ORD),
        }),
    }
}

// ---------------------------------------------------------------- token

/// Form-decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XY` a
/// byte, invalid UTF-8 replaced (the token endpoint only compares the result).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn oauth_error(code: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({ "error": code }).to_string(),
    )
}

async fn token(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    bump(&st.stats.token_requests);
    if st.with_faults(|f| f.include_token_endpoint) {
        if let Some(f) = draw_fault(&st) {
            return f;
        }
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "An unhandled exception occurred while processing the request.",
        );
    }
    let fields = parse_form(&String::from_utf8_lossy(&body));
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let (Some(grant), Some(id), Some(secret), Some(scope)) = (
        field("grant_type"),
        field("client_id"),
        field("client_secret"),
        field("scope"),
    ) else {
        return oauth_error("invalid_request");
    };
    if grant != "client_credentials" {
        return oauth_error("unsupported_grant_type");
    }
    let principal = if id == st.reseller.client_id && secret == st.reseller.client_secret {
        Principal::Reseller
    } else if id == st.admin.client_id && secret == st.admin.client_secret {
        Principal::CompanyAdmin
    } else {
        return oauth_error("invalid_client");
    };
    if scope != "api1" {
        return oauth_error("invalid_scope");
    }
    let lifetime = st.config.token_lifetime;
    let serial = st.token_serial.fetch_add(1, Ordering::Relaxed);
    let (sig, nonce) = {
        let mut rng = lock(&st.rng);
        (rng.bytes(256), rng.next_u64())
    };
    let company = st
        .dataset
        .company_by_ordinal(match principal {
            Principal::Reseller => RESELLER_ORD,
            Principal::CompanyAdmin => GLOBEX_ORD,
        })
        .expect("credential company exists");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header_json = json!({"alg": "RS256", "kid": "5A1D8C0E3B7F4A2D", "typ": "at+jwt"});
    let claims = json!({
        "iss": st.issuer,
        "nbf": now,
        "iat": now,
        "exp": now + lifetime.as_secs().max(1),
        "aud": "api1",
        "scope": ["api1"],
        "client_id": id,
        "role": match principal { Principal::Reseller => "Reseller", Principal::CompanyAdmin => "Company Admin" },
        "reseller_access": if principal == Principal::Reseller { "true" } else { "false" },
        "user_company_resourceid": company.resource_id,
        "user_company_name": company.name,
        "jti": format!("{nonce:016X}{serial:08X}"),
    });
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header_json.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    );
    {
        let now = Instant::now();
        let mut sessions = lock(&st.sessions);
        if sessions.len() > 10_000 {
            sessions.retain(|_, s| s.expires > now);
        }
        sessions.insert(
            token.clone(),
            Session {
                principal,
                expires: now + lifetime,
            },
        );
    }
    bump(&st.stats.tokens_issued);
    let body = json!({
        "access_token": token,
        "expires_in": lifetime.as_secs().max(1),
        "token_type": "Bearer",
        "scope": "api1",
        "permissions": PERMISSIONS,
    });
    json_response(StatusCode::OK, body.to_string())
}

// ---------------------------------------------------------------- companies

/// A company's user counts as served now: generated, or changed by churn.
fn counts(st: &AppState, c: &Company) -> LiveCounts {
    st.live.counts(c.ordinal).unwrap_or_else(|| {
        let mut monthly = [0; MONTHS];
        for (m, n) in monthly.iter_mut().zip(&c.monthly_user_counts) {
            *m = *n;
        }
        LiveCounts {
            total: c.user_count,
            active: c.active_user_count,
            inactive: c.inactive_user_count,
            deleted: c.deleted_user_count,
            monthly,
        }
    })
}

/// The licence counts only Active, non-deleted users.
fn over_license_limit(st: &AppState, c: &Company) -> bool {
    c.license_limit
        .is_some_and(|limit| counts(st, c).active > limit as usize)
}

struct CompanyView<'a> {
    c: &'a Company,
    keys: CompanyKeys,
    st: &'a AppState,
    /// A nested company listed again at top level: no children.
    flat: bool,
}

impl Serialize for CompanyView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.c;
        let (id_key, name_key) = match self.keys {
            CompanyKeys::Spec => ("companyResourceId", "companyName"),
            CompanyKeys::Prose => ("resourceId", "name"),
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(name_key, &c.name)?;
        m.serialize_entry(id_key, &c.resource_id)?;
        m.serialize_entry("resellerName", RESELLER_NAME)?;
        m.serialize_entry("industryName", &c.industry_name)?;
        m.serialize_entry("industryResourceId", &c.industry_resource_id)?;
        m.serialize_entry("licenseTypeName", &c.license_type_name)?;
        m.serialize_entry("licenseTypeResourceId", &c.license_type_resource_id)?;
        m.serialize_entry("isNumberOfUsersLimited", &c.license_limit.is_some())?;
        m.serialize_entry("numberOfUsers", &c.license_limit.map(|n| n.to_string()))?;
        m.serialize_entry("privacyDurationId", &1)?;
        m.serialize_entry("licenceExpired", &c.licence_expired)?;
        m.serialize_entry("licenseEndDate", &c.license_end_date)?;
        m.serialize_entry("createTime", &c.create_time)?;
        let n = counts(self.st, c);
        m.serialize_entry("targetUserCount", &n.active)?;
        let children: Vec<CompanyView<'_>> = if self.flat {
            Vec::new()
        } else {
            c.children
                .iter()
                .map(|c| CompanyView {
                    c,
                    keys: self.keys,
                    st: self.st,
                    flat: false,
                })
                .collect()
        };
        m.serialize_entry("children", &children)?;
        m.serialize_entry("tags", &c.tags)?;
        m.serialize_entry("deletedTargetUserCount", &n.deleted)?;
        m.serialize_entry("inactiveTargetUserCount", &n.inactive)?;
        m.serialize_entry("monthlyActiveUserCount", &n.monthly[MONTHS - 1])?;
        m.end()
    }
}

#[derive(Clone, Copy)]
enum CompanyOrder {
    CreateTime,
    Name,
    TargetUserCount,
}

fn page_bounds(total: usize, page: u32, size: u32) -> (usize, usize, u64) {
    let pages = (total as u64).div_ceil(u64::from(size));
    let start = (u64::from(page) - 1) * u64::from(size);
    let start = start.min(total as u64) as usize;
    let end = (start + size as usize).min(total);
    (start, end, pages)
}

async fn companies_search(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match enter(&st, &headers, || {}) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if p != Principal::Reseller {
        return failure(
            &st,
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Only Reseller credentials may search companies.",
            &[],
        );
    }
    match companies_page(&st, &body) {
        Ok(data) => success(&st, data),
        Err(e) => input_error(&st, e),
    }
}

fn companies_page(st: &AppState, body: &[u8]) -> Result<String, InputError> {
    let map = query::parse_body(body)?;
    let missing: Vec<String> = ["pageNumber", "pageSize", "orderBy", "ascending", "filter"]
        .iter()
        .filter(|k| query::present(&map, k).is_none())
        .map(|k| format!("The {k} field is required."))
        .collect();
    if !missing.is_empty() {
        return Err(InputError {
            message: "One or more validation errors occurred.".into(),
            validation: missing,
        });
    }
    let (page, size) = query::paging(&map, 10)?;
    let order_name = query::get_str(&map, "orderBy")?.unwrap_or("");
    let order = match order_name.trim().to_ascii_lowercase().as_str() {
        "createtime" => CompanyOrder::CreateTime,
        "companyname" | "name" => CompanyOrder::Name,
        "targetusercount" => CompanyOrder::TargetUserCount,
        _ => {
            return Err(InputError {
                message: "One or more validation errors occurred.".into(),
                validation: vec![format!(
                    "orderBy: Unsupported orderBy value '{order_name}'."
                )],
            })
        }
    };
    let ascending = query::get_bool(&map, "ascending")?.unwrap_or(false);
    let filter = query::required_filter(&map)?;
    let search = query::get_str(filter, "searchInputTextValue")?
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let exceeded_only = query::get_bool(&map, "isTargetUserCountExceededLimit")?.unwrap_or(false);
    let all = st.dataset.all_companies();
    let exceeded_count = all.iter().filter(|c| over_license_limit(st, c)).count();
    let arrange = |list| arrange_companies(st, list, &search, order, ascending);
    let mut list: Vec<(&Company, bool)> = if exceeded_only {
        arrange(
            all.iter()
                .copied()
                .filter(|c| over_license_limit(st, c))
                .collect(),
        )
        .into_iter()
        .map(|c| (c, false))
        .collect()
    } else {
        arrange(st.dataset.companies().iter().collect())
            .into_iter()
            .map(|c| (c, false))
            .collect()
    };
    if st.config.children_also_top_level && !exceeded_only {
        let nested: Vec<&Company> = all.iter().copied().filter(|c| c.parent.is_some()).collect();
        list.extend(arrange(nested).into_iter().map(|c| (c, true)));
    }
    let size = size.min(st.page_cap());
    let (start, end, pages) = page_bounds(list.len(), page, size);
    let results: Vec<CompanyView<'_>> = list[start..end]
        .iter()
        .map(|&(c, flat)| CompanyView {
            c,
            keys: st.config.company_keys,
            st,
            flat,
        })
        .collect();
    Ok(format!(
        r#"{{"limitExceededCompanyCount":{exceeded_count},"pageNumber":{page},"pageSize":{size},"totalNumberOfPages":{pages},"totalNumberOfRecords":{},"results":{}}}"#,
        list.len(),
        serde_json::to_string(&results).expect("companies serialise")
    ))
}

/// Keep the companies whose name contains `search`, in the requested order.
fn arrange_companies<'a>(
    st: &AppState,
    mut list: Vec<&'a Company>,
    search: &str,
    order: CompanyOrder,
    ascending: bool,
) -> Vec<&'a Company> {
    if !search.is_empty() {
        list.retain(|c| c.name.to_lowercase().contains(search));
    }
    list.sort_by(|a, b| {
        let primary = match order {
            CompanyOrder::CreateTime => a.create_ms.cmp(&b.create_ms),
            CompanyOrder::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            CompanyOrder::TargetUserCount => counts(st, a).active.cmp(&counts(st, b).active),
        };
        primary.then_with(|| a.resource_id.cmp(&b.resource_id))
    });
    if !ascending {
        list.reverse();
    }
    list
}

/// A lookup value's resource id, stable per seed and name.
fn lookup_id(st: &AppState, kind: u64, name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Rng::new(key(&[st.config.seed, 0xD7_0000 + kind, h])).alnum(12)
}

/// `GET /api/companies/{resourceId}` data (spec `CompanyDto`).
struct CompanyDto<'a> {
    c: &'a Company,
    st: &'a AppState,
    hide_formats: bool,
}

impl Serialize for CompanyDto<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, st) = (self.c, self.st);
        let none: Option<&str> = None;
        let modules: &[&str] = match c.license_type_name.as_str() {
            "Trial" => &["Phishing Simulator", "Awareness Educator"],
            "Professional" => &[
                "Phishing Simulator",
                "Awareness Educator",
                "Incident Responder",
            ],
            _ => &[
                "Phishing Simulator",
                "Awareness Educator",
                "Incident Responder",
                "Threat Intelligence",
                "Vishing Simulator",
                "Smishing Simulator",
                "Quishing Simulator",
                "Callback Simulator",
            ],
        };
        let language = match c.country_code.as_str() {
            "TR" => "Turkish",
            "DE" => "German",
            "JP" => "Japanese",
            "SE" => "Swedish",
            "CN" => "Chinese",
            _ => "English",
        };
        let year = c
            .license_end_date
            .as_deref()
            .and_then(|d| d.get(0..4))
            .unwrap_or("2026");
        let parent_id = c
            .parent
            .as_deref()
            .and_then(|p| st.dataset.ordinal_of(p))
            .map(|o| 1000 + o as u32);
        let (status_id, status_name) = if c.licence_expired {
            (2, "Expired")
        } else {
            (1, "Active")
        };
        let n = counts(st, c);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceId", &c.resource_id)?;
        m.serialize_entry("name", &c.name)?;
        m.serialize_entry("description", &none)?;
        m.serialize_entry("industryResourceId", &c.industry_resource_id)?;
        m.serialize_entry("industryName", &c.industry_name)?;
        m.serialize_entry("countryResourceId", &lookup_id(st, 1, &c.country_code))?;
        m.serialize_entry("countryName", &c.country_name)?;
        m.serialize_entry("countryCode", &c.country_code)?;
        m.serialize_entry("address", &none)?;
        m.serialize_entry("websiteUrl", &none)?;
        m.serialize_entry("logoUrl", &none)?;
        m.serialize_entry("licenseTypeResourceId", &c.license_type_resource_id)?;
        m.serialize_entry("licenseTypeName", &c.license_type_name)?;
        m.serialize_entry("licensePeriodTypeResourceId", &lookup_id(st, 2, "Yearly"))?;
        m.serialize_entry("licensePeriodTypeName", "Yearly")?;
        m.serialize_entry("licenseStartDate", &format!("{year}-01-01T00:00:00Z"))?;
        m.serialize_entry("licenseEndDate", &c.license_end_date)?;
        m.serialize_entry("isNumberOfUsersLimited", &c.license_limit.is_some())?;
        m.serialize_entry("numberOfUsers", &c.license_limit)?;
        m.serialize_entry(
            "notificationTemplateTypeResourceId",
            &lookup_id(st, 3, "Default"),
        )?;
        m.serialize_entry("notificationTemplateTypeName", "Default")?;
        m.serialize_entry(
            "trainingContentTypeResourceId",
            &lookup_id(st, 4, "Standard"),
        )?;
        m.serialize_entry("trainingContentTypeName", "Standard")?;
        m.serialize_entry(
            "smtpConfigurationTypeResourceId",
            &lookup_id(st, 5, "Keepnet SMTP"),
        )?;
        m.serialize_entry("smtpConfigurationTypeName", "Keepnet SMTP")?;
        m.serialize_entry(
            "preferredLanguageTypeResourceId",
            &lookup_id(st, 6, language),
        )?;
        m.serialize_entry("preferredLanguageTypeName", language)?;
        m.serialize_entry("isVersionVisible", &true)?;
        m.serialize_entry("isReleaseNotesVisible", &false)?;
        m.serialize_entry("releaseNotesUrl", &none)?;
        m.serialize_entry("companyGroups", &[0u8; 0])?;
        m.serialize_entry("parentId", &parent_id)?;
        m.serialize_entry("baseManHourCost", &50)?;
        m.serialize_entry("baseManHour", &8)?;
        m.serialize_entry("statusId", &status_id)?;
        m.serialize_entry("statusName", status_name)?;
        m.serialize_entry("licenseModules", modules)?;
        m.serialize_entry("targetUserCount", &n.active)?;
        m.serialize_entry("timeZoneId", &c.time_zone_id)?;
        m.serialize_entry("callBackNumberBookingCount", &none)?;
        let (date_format, time_format) = if self.hide_formats {
            (None, None)
        } else {
            (Some(&c.date_format), Some(&c.time_format))
        };
        m.serialize_entry("dateFormat", &date_format)?;
        m.serialize_entry("timeFormat", &time_format)?;
        m.serialize_entry("tags", &c.tags)?;
        m.serialize_entry(
            "hasAgenticAILicense",
            &(c.license_type_name == "Enterprise"),
        )?;
        m.end()
    }
}

async fn company_detail(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let p = match enter(&st, &headers, || bump(&st.stats.company_detail_requests)) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ord = match resolve_company(&st, p, id.trim()) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let c = st
        .dataset
        .company_by_ordinal(ord)
        .expect("resolved company");
    let dto = CompanyDto {
        c,
        st: &st,
        hide_formats: st.with_faults(|f| f.hide_company_formats),
    };
    success(
        &st,
        serde_json::to_string(&dto).expect("company serialises"),
    )
}

// ---------------------------------------------------------------- target users

struct UserQuery {
    page: u32,
    size: u32,
    order: Field,
    ascending: bool,
    filter: Filter,
}

/// Reads a target-user query; with [`crate::Faults::ignore_filter_items`] its filter items are
/// validated and then dropped (the free-text search still applies).
fn parse_user_query(
    st: &AppState,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<UserQuery, InputError> {
    let (page, size) = query::paging(map, 10)?;
    let order = query::parse_user_order(query::get_str(map, "orderBy")?)?;
    let ascending = query::get_bool(map, "ascending")?.unwrap_or(false);
    let mut filter = Filter::parse(query::required_filter(map)?)?;
    if st.with_faults(|f| f.ignore_filter_items) {
        filter = filter.search_only();
    }
    query::get_bool(map, "newVersion")?;
    Ok(UserQuery {
        page,
        size,
        order,
        ascending,
        filter,
    })
}

/// Matching users of unchanged companies in order, with a small cache so
/// paging through a huge tenant does not re-filter and re-sort on every page.
fn selection(st: &AppState, ords: &[usize], q: &UserQuery) -> Arc<Vec<Pos>> {
    let cache_key = format!("{ords:?}|{:?}|{}|{:?}", q.order, q.ascending, q.filter);
    {
        let cache = lock(&st.cache);
        if let Some((_, v)) = cache.iter().find(|(k, _)| *k == cache_key) {
            return v.clone();
        }
    }
    let parts: Vec<Part<'_>> = ords.iter().map(|&o| Part::Gen(&st.dataset, o)).collect();
    let v = Arc::new(query::select(&parts, &q.filter, q.order, q.ascending));
    let mut cache = lock(&st.cache);
    if cache.len() >= 16 {
        cache.pop_front();
    }
    cache.push_back((cache_key, v.clone()));
    v
}

/// Snapshots of the companies changed by churn, by ordinal.
type LiveSnapshots = Vec<(usize, Arc<Vec<User>>)>;

/// The users one request returns, in order.
enum Picked {
    /// One unchanged company, no filter, CreateTime order: pure
    /// arithmetic, so a huge tenant is never materialised for it.
    Creation {
        ord: usize,
        start: usize,
        end: usize,
        total: usize,
        ascending: bool,
    },
    /// A filtered, sorted and/or merged selection; companies changed by
    /// churn are read from the snapshots taken for it.
    Selected {
        sel: Arc<Vec<Pos>>,
        live: LiveSnapshots,
        start: usize,
        end: usize,
    },
}

impl Picked {
    fn len(&self) -> usize {
        match self {
            Picked::Creation { start, end, .. } | Picked::Selected { start, end, .. } => {
                end - start
            }
        }
    }

    fn total(&self) -> usize {
        match self {
            Picked::Creation { total, .. } => *total,
            Picked::Selected { sel, .. } => sel.len(),
        }
    }

    /// The `k`-th picked user.
    fn user<'a>(&'a self, ds: &'a Dataset, k: usize) -> Cow<'a, User> {
        match self {
            Picked::Creation {
                ord,
                start,
                total,
                ascending,
                ..
            } => {
                let i = if *ascending {
                    start + k
                } else {
                    total - 1 - (start + k)
                };
                ds.user_at(*ord, i)
            }
            Picked::Selected {
                sel, live, start, ..
            } => {
                let (ord, i) = query::unpos(sel[start + k]);
                match live.iter().find(|(o, _)| *o == ord) {
                    Some((_, users)) => Cow::Borrowed(&users[i]),
                    None => ds.user_at(ord, i),
                }
            }
        }
    }

    /// The picked users, generated one at a time when not materialised.
    fn users<'a>(&'a self, ds: &'a Dataset) -> impl Iterator<Item = Cow<'a, User>> + 'a {
        (0..self.len()).map(move |k| self.user(ds, k))
    }

    fn live(&self) -> &[(usize, Arc<Vec<User>>)] {
        match self {
            Picked::Creation { .. } => &[],
            Picked::Selected { live, .. } => live,
        }
    }
}

/// Pick one page (`range`) or every matching user (`None`) of the
/// companies `ords`.
fn pick(st: &AppState, ords: &[usize], q: &UserQuery, range: Option<(u32, u32)>) -> Picked {
    let window = |total: usize| match range {
        Some((page, size)) => {
            let (s, e, _) = page_bounds(total, page, size);
            (s, e)
        }
        None => (0, total),
    };
    let live: LiveSnapshots = ords
        .iter()
        .filter_map(|&o| st.live.users(o).map(|u| (o, u)))
        .collect();
    if live.is_empty() && ords.len() == 1 && q.filter.is_trivial() && q.order == Field::CreateTime {
        let ord = ords[0];
        let total = st.dataset.user_count_of(ord);
        let (start, end) = window(total);
        return Picked::Creation {
            ord,
            start,
            end,
            total,
            ascending: q.ascending,
        };
    }
    let sel = if live.is_empty() {
        selection(st, ords, q)
    } else {
        // Changed data: no cache, every request may see a new state.
        let parts: Vec<Part<'_>> = ords
            .iter()
            .map(|&o| match live.iter().find(|(l, _)| *l == o) {
                Some((_, users)) => Part::Live(o, users),
                None => Part::Gen(&st.dataset, o),
            })
            .collect();
        Arc::new(query::select(&parts, &q.filter, q.order, q.ascending))
    };
    let (start, end) = window(sel.len());
    Picked::Selected {
        sel,
        live,
        start,
        end,
    }
}

fn enter_scoped(
    st: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    on_auth: impl FnOnce(),
) -> Result<Scope, Response> {
    let p = enter(st, headers, on_auth)?;
    scope(st, p, headers, uri)
}

async fn users_search(
    State(st): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let scope = match enter_scoped(&st, &headers, &uri, || bump(&st.stats.user_search_requests)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = match query::parse_body(&body).and_then(|m| parse_user_query(&st, &m)) {
        Ok(q) => q,
        Err(e) => return input_error(&st, e),
    };
    if let Some(from) = st.with_faults(|f| f.fail_user_pages_from) {
        if q.page >= from {
            bump(&st.stats.faults_injected);
            return fault_response(&st, 500, None);
        }
    }
    // Only a search of one company changes it.
    let churn = match scope {
        Scope::One(ord) => st.with_faults(|f| f.churn.clone()).map(|c| (ord, c)),
        Scope::All => None,
    };
    let st2 = st.clone();
    let job = tokio::task::spawn_blocking(move || {
        let ords = scope.ords(&st2.dataset);
        // Under churn, read and mutate as one step per company.
        let turn = churn.as_ref().map(|(ord, _)| st2.live.turn(*ord));
        let size = q.size.min(st2.page_cap());
        let picked = pick(&st2, &ords, &q, Some((q.page, size)));
        let total = picked.total();
        let pages = (total as u64).div_ceil(u64::from(size));
        // One buffer, sized for the page, written in place: no per-user strings or copies.
        let mut data = Vec::with_capacity(256 + size as usize * 1536);
        write!(
            data,
            r#"{{"pageNumber":{},"pageSize":{size},"totalNumberOfPages":{pages},"totalNumberOfRecords":{total},"results":["#,
            q.page
        )
        .expect("writing to a Vec cannot fail");
        for (i, u) in picked.users(&st2.dataset).enumerate() {
            if i > 0 {
                data.push(b',');
            }
            serde_json::to_writer(&mut data, u.as_ref()).expect("user serialises");
        }
        data.extend_from_slice(b"]}");
        drop(picked);
        if let Some((ord, churn)) = churn {
            // The page is built: change the data before it is sent.
            let done = st2.live.churn(&st2.dataset, ord, &churn);
            st2.stats
                .users_inserted
                .fetch_add(done.inserted as u64, Ordering::Relaxed);
            st2.stats
                .users_removed
                .fetch_add(done.removed as u64, Ordering::Relaxed);
        }
        drop(turn);
        String::from_utf8(data).expect("serde_json writes UTF-8")
    });
    match job.await {
        Ok(data) => success(&st, data),
        Err(_) => failure(
            &st,
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "Search failed",
            &[],
        ),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Excel,
}

/// Creation instant of the newest user of `ords` as served now.
fn newest_user_ms(st: &AppState, ords: &[usize], live: &[(usize, Arc<Vec<User>>)]) -> Option<i64> {
    ords.iter()
        .filter_map(|&o| match live.iter().find(|(l, _)| *l == o) {
            Some((_, users)) => users.last().map(|u| u.create_ms),
            None => {
                let count = st.dataset.user_count_of(o);
                (count > 0).then(|| st.dataset.create_ms_at(o, count - 1))
            }
        })
        .max()
}

async fn users_export(
    State(st): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let scope = match enter_scoped(&st, &headers, &uri, || {}) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let parsed = query::parse_body(&body).and_then(|m| {
        let q = parse_user_query(&st, &m)?;
        let all = query::get_bool(&m, "reportAllPages")?.unwrap_or(false);
        let format = match query::get_str(&m, "exportType")? {
            Some(t) if t.trim().eq_ignore_ascii_case("csv") => Format::Csv,
            Some(t) if t.trim().eq_ignore_ascii_case("excel") => Format::Excel,
            other => {
                return Err(InputError {
                    message: "One or more validation errors occurred.".into(),
                    validation: vec![format!(
                        "exportType: '{}' is not a valid export type; use CSV or Excel.",
                        other.unwrap_or("null")
                    )],
                })
            }
        };
        Ok((q, all, format))
    });
    let (q, all, format) = match parsed {
        Ok(v) => v,
        Err(e) => return input_error(&st, e),
    };
    let st2 = st.clone();
    let job = tokio::task::spawn_blocking(move || {
        let ords = scope.ords(&st2.dataset);
        let size = q.size.min(st2.page_cap());
        let range = (!all).then_some((q.page, size));
        let picked = pick(&st2, &ords, &q, range);
        let list = picked.users(&st2.dataset);
        // Unscoped: the file is named after the reseller's own company.
        let company = match scope {
            Scope::One(ord) => st2.dataset.company_by_ordinal(ord),
            Scope::All => Some(st2.dataset.reseller_company()),
        }
        .expect("scoped company");
        let stamp = newest_user_ms(&st2, &ords, picked.live()).unwrap_or(company.create_ms);
        let ext = if format == Format::Csv { "csv" } else { "xlsx" };
        let name = format!(
            "TargetUsers_{}_{}.{ext}",
            company.name,
            time::ymd_compact(stamp)
        );
        let bytes = match format {
            Format::Csv => Ok(export::csv_bytes(list)),
            Format::Excel => export::xlsx_bytes(list, stamp),
        };
        bytes.map(|b| (name, b)).map_err(|e| e.to_string())
    });
    let (name, bytes) = match job.await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return failure(
                &st,
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                &e,
                &[],
            )
        }
        Err(_) => {
            return failure(
                &st,
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "Export failed",
                &[],
            )
        }
    };
    match st.config.export_style {
        ExportStyle::ServiceResult => {
            let body = json!({
                "status": "SUCCESS",
                "message": null,
                "filePath": null,
                "fileName": name,
                "byteArray": STANDARD.encode(&bytes),
            });
            json_response(StatusCode::OK, body.to_string())
        }
        ExportStyle::File => {
            let ct = if format == Format::Csv {
                "text/csv; charset=utf-8"
            } else {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            };
            let mut r = plain(StatusCode::OK, ct, bytes);
            if let Ok(v) = HeaderValue::from_str(&export::content_disposition(&name)) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
    }
}

/// One month of count-summary's `monthlyActiveUsers`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MonthCount {
    period: String,
    period_start: String,
    count: usize,
}

/// count-summary `data`, as People.vue's `normalizeCountSummary` reads it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CountSummary {
    total_number_of_active_users: usize,
    #[serde(rename = "totalNumberOfInActiveUsers")]
    total_number_of_inactive_users: usize,
    total_number_of_deleted_users: usize,
    monthly_active_users: Vec<MonthCount>,
}

async fn count_summary(State(st): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let scope = match enter_scoped(&st, &headers, &uri, || {}) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut sum = LiveCounts::default();
    for ord in scope.ords(&st.dataset) {
        let c = st.dataset.company_by_ordinal(ord).expect("scoped company");
        let n = counts(&st, c);
        sum.total += n.total;
        sum.active += n.active;
        sum.inactive += n.inactive;
        sum.deleted += n.deleted;
        for (m, add) in sum.monthly.iter_mut().zip(n.monthly) {
            *m += add;
        }
    }
    // Unscoped sums are dated in ISO; one company in its own style.
    let style = match scope {
        Scope::One(ord) => st.dataset.style_of(ord),
        Scope::All => Style {
            order: DateOrder::Ymd,
            h12: false,
            company_format: false,
        },
    };
    let data = CountSummary {
        total_number_of_active_users: sum.active,
        total_number_of_inactive_users: sum.inactive,
        total_number_of_deleted_users: sum.deleted,
        monthly_active_users: series_months()
            .iter()
            .zip(sum.monthly)
            .map(|(&(year, month, start, _), count)| MonthCount {
                period: format!("{} {year}", time::month_name(month)),
                period_start: style.period_start(start),
                count,
            })
            .collect(),
    };
    success(
        &st,
        serde_json::to_string(&data).expect("summary serialises"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            parse_form("a=b+c&d=%C3%BC%2B&e"),
            vec![
                ("a".into(), "b c".into()),
                ("d".into(), "ü+".into()),
                ("e".into(), String::new())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert!(valid_company_id("abc_-9"));
        assert!(!valid_company_id("a b"));
        assert!(!valid_company_id(""));
    }
}
