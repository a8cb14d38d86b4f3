//! Typed async client for the Keepnet Labs reseller API.
//!
//! The client covers what a reseller needs to list and export one customer's target users:
//! OAuth2 client-credentials auth with a cached token ([`auth`]), the managed company tree
//! ([`Client::companies`], [`resolve_company`]), target users as an async stream over all pages
//! ([`Client::users`]) selected by state ([`StatusSet`]: deleted users are in the live list),
//! the count summary ([`CountSummary`]), each company's date settings ([`CompanyDetails`]),
//! the server-side export, and the scope guard that refuses an answer holding more users than
//! the company has ([`ScopeLimit`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), keepnet_api::Error> {
//! use futures::TryStreamExt;
//! use keepnet_api::{Client, Credentials, UserQuery};
//!
//! let client = Client::builder("https://api.keepnetlabs.com")
//!     .credentials(Credentials::new("my-client-id", "my-secret"))
//!     .build()?;
//! let company = client.resolve_company("Acme Holdings").await?;
//! let mut users = client.users(company.id(), UserQuery::default());
//! while let Some(user) = users.try_next().await? {
//!     println!("{}", user.email.as_deref().unwrap_or(""));
//! }
//! # Ok(()) }
//! ```
//!
//! The crate knows nothing about output formats: it hands typed values to whoever composes it.

pub mod auth;
mod client;
mod company_id;
mod envelope;
mod error;
mod flow;
mod http;
pub mod models;
mod pager;
pub mod probe;
mod resolve;
pub mod scope;
mod seen;
mod status;
mod summary;
mod text;
mod user;

pub use auth::{Credentials, TokenInfo};
pub use client::{
    Answered, Client, ClientBuilder, ClientStats, CompanyQuery, ExportFile, ExportFormat, UserQuery,
};
pub use company_id::{CompanyId, InvalidCompanyId};
pub use error::{Error, ErrorKind};
pub use keepnet_net::retry::RetryPolicy;
pub use models::{Company, CompanyDetails, CustomFieldValue, Page, TargetUser};
pub use pager::{Inconsistency, PagingReport, UserPager};
pub use probe::StatusFilter;
pub use resolve::{edit_distance, name_key, resolve_company, suggest, Candidate, ResolveError};
pub use scope::{ScopeCause, ScopeLimit};
pub use status::{InvalidStatusSet, StateCounts, StatusSet, UserState};
pub use summary::{CountSummary, MonthlyCount};
pub use text::Text;
pub use user::known_user_fields;

/// The API paths the client calls.
pub mod paths {
    /// `POST`: the companies the credential manages, paged.
    pub const COMPANIES_SEARCH: &str = "/api/companies/search";
    /// `POST`: a company's target users, paged (scoped by the company header).
    pub const USERS_SEARCH: &str = "/api/target-users/search";
    /// `POST`: the server-built file of a company's target users.
    pub const USERS_EXPORT: &str = "/api/target-users/search/export";
    /// `GET`: a company's counts of active, inactive and deleted users, and users per month.
    pub const COUNT_SUMMARY: &str = "/api/target-users/count-summary";
    /// `GET` + id: one company's own settings.
    pub const COMPANY: &str = "/api/companies/";
}

/// The production base URL of the Keepnet API.
pub const DEFAULT_BASE_URL: &str = "https://api.keepnetlabs.com";

/// The header that scopes a reseller's call to one managed customer company.
pub const COMPANY_HEADER: &str = "X-KEEPNET-Company-Id";

/// The second scoping header, with the same value: Keepnet's web UI and agent send it on
/// target-user calls, and the docs require it for enrollment endpoints.
pub const COMPANY_HEADER_UI: &str = "x-ir-company-id";

/// Users asked per page by default: the most Keepnet's own agent asks for. The live API's
/// maximum is undocumented; a server that caps it is followed, one that refuses it gets
/// [`FALLBACK_PAGE_SIZE`] (see [`UserPager`]).
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// The page size asked once a server refused a larger one: the most Keepnet's web UI offers.
pub const FALLBACK_PAGE_SIZE: u32 = 100;
