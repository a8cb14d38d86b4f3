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
//!
//! # What it serves
//!
//! A reseller ("Northwind MSSP", 3 users of its own) managing a tree of
//! customer companies (two of them both called "Support", one empty, one
//! over its licence), plus one company of another reseller that it may not
//! see. `POST /connect/token`, `POST /api/companies/search`,
//! `GET /api/companies/{resourceId}`, `POST /api/target-users/search`,
//! `POST /api/target-users/search/export` and
//! `GET /api/target-users/count-summary`. Every default models the live API
//! as Keepnet's own web UI, agent and docs show it; [`Faults`] and
//! [`Config`] add hostile or odd server behaviour on top.
//!
//! # Fidelity
//!
//! Where each behaviour comes from. Sources: `test2-ui` is Keepnet's web UI
//! (github.com/keepnetlabs/test2-ui), `agent` is Keepnet's agent
//! (keepnetlabs/agentic-ally-agent), `docs` is the GitBook source of
//! doc.keepnetlabs.com (ucarozan/keepnet-docs), and `NOTES` is the project's
//! `API-NOTES.md`, whose Addendum wins over its older sections. Certainty:
//! **documented** (Keepnet's docs or spec say so), **code** (seen in
//! Keepnet's own code or UI fixtures), **guess** (plausible, not confirmed).
//!
//! | Behaviour | Source | Certainty |
//! |---|---|---|
//! | Deleted users stay in the target-users list, flagged `isDeleted: true` | docs `next-generation-product/platform/company/target-users.md` ("Deleted users in the list"); NOTES Addendum "Deleted users are in the list" | documented |
//! | A row is deleted when `isDeleted` is true **or** `status` is "Deleted"; about a quarter of deleted users say "Deleted", the rest keep "Active"/"Inactive" | test2-ui `src/components/TargetUsers/People.vue` (`isRowTypeDeleted`, `hasDeletedSelection`) | code; the proportions (10% deleted, a quarter of them "Deleted") are a guess |
//! | No filter item (minimal filter or the UI's empty two-group filter) returns everyone, deleted included | docs target-users.md; NOTES Addendum "Deleted users are in the list" | documented |
//! | Filter shape `{Condition, SearchInputTextValue, FilterGroups:[AND group, OR group]}`, keys in either case | test2-ui `src/utils/functions.js` (`getDefaultFilter`); NOTES Addendum "Filter shape" | code |
//! | `Status` `Include` `"1,0"` ("1" Active, "0" Inactive), `IsDeleted` `Contains` `false`/`true`, `MonthlyActiveUser` `=` `"2026-03"`, operator `=` | People.vue (`applySummaryFilter`, `formatMonthlyPeriodKey`); agent `src/mastra/tools/user-management/utils/user-search-utils.ts` | code; that `MonthlyActiveUser` means the UTC creation month, and the words active/inactive/deleted, are guesses |
//! | `managerFirstName`, `managerLastName`, `managerEmail`, `managerFullName` on every row; filterable | People.vue (Manager columns, `dbName` ManagerFullName/ManagerEmail); docs `openapi/keepnet-api-spec.json` (`TargetUserDto`); NOTES Addendum "Fields beyond the spec" | code; who has a manager (60%, same company) is a guess |
//! | Fields no client knows ([`Config::extra_user_fields`], off by default) | NOTES Addendum "Fields beyond the spec" ("expect more undeclared fields") | guess |
//! | Company `dateFormat` (DD/MM/YYYY, MM/DD/YYYY, YYYY/MM/DD), `timeFormat` (24h, 12h), `timeZoneId` | test2-ui `src/components/Companies/CompanyCreateOrEdit.vue`, `src/utils/functions.js` (`getTimeZone`); spec `CompanyDto` | code and documented |
//! | Some companies' `createTime`/`updateTime` in their own format, to the minute ("03/05/2024 06:25 PM") | NOTES Addendum "Dates" (UI fixtures show `createTime: "2021/07/04 20:24"`) | code (fixtures); which companies do it is a guess |
//! | About 5% of an ISO company's `updateTime`s in its date order with seconds ("05/03/2024 18:25:30") | NOTES "Other observations" (`dd/MM/yyyy HH:mm:ss`), read as the company's format | guess |
//! | `GET /api/companies/{resourceId}` answers `CompanyDto` | docs `openapi/keepnet-api-spec.json`; `api-reference/use-cases/reseller/scope-api-requests-to-customer.md` ("Path") | documented; the values are guesses |
//! | A Reseller call without a company id answers for every managed company | scope-api-requests-to-customer.md ("Most list/report endpoints return data for all companies you manage"); NOTES Addendum "Scope" | documented |
//! | `x-ir-company-id` scopes like `X-KEEPNET-Company-Id` | agent user-search-utils.ts; NOTES Addendum "Scope" (the docs require both for enrollment endpoints) | code |
//! | A proxy dropping the headers, an endpoint ignoring them ([`Faults::strip_company_header`], [`Faults::ignore_company_header_on`]) | NOTES Addendum "Scope" | guess (knobs, off by default) |
//! | A server that ignores filter items ([`Faults::ignore_filter_items`]): every state answered, totals to match | NOTES Addendum 2 ("Still a guess": nobody outside Keepnet has shown how the public REST API treats `FilterGroups`; only the UI's code shows them); docs/api-assumptions.md `status-filter` | guess (knob, off by default) |
//! | 403 `{"status":"IP_RESTRICTED","message":...}` on every call ([`Faults::ip_restricted`]) | test2-ui `src/views/Login.vue` (`getLoginErrorMessage`); NOTES "Other observations" | code; the message text is a guess |
//! | 403 status `PRIVACY_ERROR` ([`Faults::privacy_error_companies`]) | test2-ui `src/utils/testRequest.js` | code; the message text is a guess |
//! | `targetUserCount` counts Active, non-deleted users; the licence check compares it with `numberOfUsers` | target-users.md FAQ (the licence warning "counts only Active target users"); test2-ui `src/components/Companies/CompanyList.vue` (`isNumberOfUsersExceed`); NOTES Addendum | documented for the licence warning; for `targetUserCount` itself a guess |
//! | count-summary `data`: `totalNumberOfActiveUsers`, `totalNumberOfInActiveUsers`, `totalNumberOfDeletedUsers`, `monthlyActiveUsers: [{period, periodStart, count}]`, the last entry current | People.vue (`normalizeCountSummary`); NOTES Addendum "Count summary, real shape" | code |
//! | A month's count is the users added in it, whatever their status | target-users.md ("Target Users Summary Widgets"); People.vue (tooltip) | documented |
//! | The series runs December 2025 to November 2026; `periodStart` in the company's date style | target-users.md ("available starting from December"); People.vue parses `periodStart` with the company's format | guess (the window and the format) |
//! | A nested company also listed at top level ([`Config::children_also_top_level`], off) | NOTES Addendum "Still unknown"; CompanyList.vue (`isClustered`) | unknown |
//! | A target-users/search asking for more than `page_cap` users is refused with status `INPUT_ERROR` ([`Config::oversize_pages`], off: by default the page is silently capped) | NOTES "Still unknown" (the maximum page size is not documented) and "Errors seen in the UI's code" (`INPUT_ERROR`) | guess (knob, off by default; the message text is a guess) |
//! | Token endpoint, envelopes, paging, `companies/search` items, export as a file | NOTES sections before the Addendum; spec | documented |
//! | No row has `isDeleted` and every deleted user's `status` is "Deleted", in search rows and the export's Status column ([`Config::deleted_rows`] = [`DeletedRows::StatusOnly`]); filters and counts as by default | spec `TargetUserSearchView` declares no `isDeleted`; People.vue also reads status "Deleted"; NOTES Addendum "Deleted users are in the list" | guess (knob, off by default) |
//! | Every company's target-user dates in ISO 8601, or every company's in its own format ([`Config::date_style`]); `GET /api/companies/{id}` keeps each company's formats | NOTES Addendum 2 "Still a guess" (ISO or the company's format) and Addendum "Dates" | guess (knob, off by default) |
//! | count-summary `data` as `{activeUserCount, inactiveUserCount, deletedUserCount, monthlyActiveUserCount}` ([`Config::count_summary`] = [`CountSummaryShape::Flat`]) | NOTES "Count summary" (the key names are not documented) | guess (knob, off by default) |
//! | 429 without a `Retry-After` header ([`Faults::omit_retry_after`]) | NOTES "Still unknown" (whether `Retry-After` is sent) and Addendum 2 "Limits and other facts" (no header documented) | guess (knob, off by default) |
//! | The language tag under `preferredLanguageName` or `languageTypeName` instead of `preferredLanguage`, same place, same value ([`Config::language_field`]) | NOTES Addendum 2 "Limits and other facts" (the field's name varies by row) | guess (knob, off by default) |
//! | target-users/search and its export validate `orderBy` and `ascending`, then answer in the default order, CreateTime ascending ([`Config::ignore_order`]) | none: whether the public API honours the order is not shown (People.vue's `applySummaryFilter` even sends `orderBy: ""`, NOTES Addendum 2 "Billing months") | guess (knob, off by default) |
//! | `targetUserCount` counts Active and Inactive users, or every listed user ([`Config::target_user_count`]); the licence check still counts Active users | NOTES Addendum "Scope" (the per-company counts); target-users.md FAQ documents only the licence warning's count | guess (knob, off by default) |
//! | Between two runs users are added, soft-deleted and edited ([`Sandbox::change_users`]): a removed user stays listed with `isDeleted: true`, an edited one gets a new `updateTime`, an added one the newest `createTime`; the companies/search counts follow | deletion as above; `updateTime` and `createTime` are the spec's fields; that a user created between runs sorts last by `CreateTime` follows from the order | documented (deletion); guess (which fields an edit touches: here `department` and `phoneNumber`) |
//!
//! ## Still unknown
//!
//! - Which time zone formatted dates are in: the sandbox renders them in
//!   UTC, whatever the company's `timeZoneId`.
//! - Whether `targetUserCount` counts inactive users (here: it does not;
//!   [`Config::target_user_count`] makes it count them, or every listed user).
//! - Whether `companies/search` can list a company twice, nested and at top
//!   level (here: only with [`Config::children_also_top_level`]).
//! - Whether a user can have status "Deleted" with `isDeleted` false (here:
//!   never; a user with status "Deleted" always has `isDeleted` true).
//! - Whether the public API's rows carry `isDeleted` at all (here: every
//!   row; none with [`DeletedRows::StatusOnly`], where status "Deleted" is
//!   the only sign).
//! - Whether target-user dates come in ISO 8601 or in the company's format
//!   (here: it depends on the company; [`Config::date_style`] picks one for
//!   all).
//! - count-summary's key names on the public API (here: the UI's;
//!   [`CountSummaryShape::Flat`] for another shape).
//! - Whether a 429 carries `Retry-After` (here: always; never with
//!   [`Faults::omit_retry_after`]).
//! - The language field's name (here: `preferredLanguage` on every row;
//!   [`Config::language_field`] names it otherwise).
//! - Whether target-users/search honours `orderBy` and `ascending` (here:
//!   it does; not with [`Config::ignore_order`]).
//! - The server-side export's columns and encoding (here: eight columns,
//!   UTF-8 CSV without BOM, dates as the search renders them).
//! - The largest `pageSize` the API serves, and what it does with a larger
//!   one (here: caps it at [`Config::page_cap`] and says so in the answer's
//!   `pageSize`, or refuses it with [`Config::oversize_pages`]).

mod conn;
mod data;
mod export;
mod live;
mod query;
mod rng;
mod server;
mod time;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use data::{Company, CustomFieldValue, Dataset, DateStyle, User};

/// Sandbox configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seed of all generated data and of the jitter/fault PRNG (default 42).
    pub seed: u64,
    /// Users in each ordinary customer company (default 250).
    pub users_per_company: usize,
    /// Largest page the server returns, whatever `pageSize` asks (default 50).
    pub page_cap: u32,
    /// What target-users/search does with a `pageSize` above `page_cap`
    /// (default [`OversizePages::Cap`]).
    pub oversize_pages: OversizePages,
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
    /// Extra top-level customer companies by name (default none), created after the
    /// built-in ones with `users_per_company` users each, all managed by the reseller:
    /// for hostile names in tests, or hundreds of customers ([`numbered_companies`]).
    /// They are created 11 days apart, or closer when there are more than 132 of
    /// them, so that the last is still created before 1 May 2025 (before any user).
    pub extra_companies: Vec<String>,
    /// Names of target-user fields "the server adds next", unknown to any
    /// client (default none). Every user then carries each as a further key
    /// after `isDeleted`, in this order; values are deterministic per seed,
    /// company, user and field, and cycle through null, a string (with
    /// quotes and a comma), an integer and a nested object. Names should
    /// not repeat the standard keys.
    pub extra_user_fields: Vec<String>,
    /// Whether companies/search also lists every nested company again as a
    /// top-level item, after the real top-level ones, with `children: []`
    /// (default false: whether the live API can do this is unknown).
    pub children_also_top_level: bool,
    /// How target-user rows mark deleted users (default
    /// [`DeletedRows::Flagged`]: an `isDeleted` key on every row).
    pub deleted_rows: DeletedRows,
    /// `Some` forces one date style on every company's target-user dates
    /// (`createTime`, `updateTime`, count-summary `periodStart`); `None`
    /// (default) keeps each company's own ([`Company::dates`]).
    /// `GET /api/companies/{id}` still answers each company's `dateFormat`
    /// and `timeFormat`, and [`Company::dates`] reports the forced style.
    pub date_style: Option<DateStyle>,
    /// Shape of count-summary's `data` (default [`CountSummaryShape::Ui`]).
    pub count_summary: CountSummaryShape,
    /// Key the target-user rows carry the language tag under (default
    /// [`LanguageField::PreferredLanguage`]).
    pub language_field: LanguageField,
    /// target-users/search and its export validate `orderBy` and
    /// `ascending` as usual, then ignore them: every answer comes in the
    /// default order, `createTime` ascending with `resourceId` breaking
    /// ties, so paging stays consistent (default false: both are honoured).
    pub ignore_order: bool,
    /// What `targetUserCount` counts in companies/search items and
    /// `GET /api/companies/{id}` (default [`TargetUserCount::Active`]).
    pub target_user_count: TargetUserCount,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 42,
            users_per_company: 250,
            page_cap: 50,
            oversize_pages: OversizePages::default(),
            token_lifetime: Duration::from_secs(3600),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            faults: Faults::default(),
            envelope: EnvelopeStyle::default(),
            company_keys: CompanyKeys::default(),
            export_style: ExportStyle::default(),
            extra_companies: Vec::new(),
            extra_user_fields: Vec::new(),
            children_also_top_level: false,
            deleted_rows: DeletedRows::default(),
            date_style: None,
            count_summary: CountSummaryShape::default(),
            language_field: LanguageField::default(),
            ignore_order: false,
            target_user_count: TargetUserCount::default(),
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
    /// Retry-After (whole seconds) sent with 429; `None` sends "1" (no
    /// header at all with [`Faults::omit_retry_after`]).
    pub retry_after: Option<Duration>,
    /// 429 answers carry no `Retry-After` header at all, whatever
    /// [`Faults::retry_after`] says (default false: one is always sent).
    /// Keepnet documents neither the header nor its absence.
    pub omit_retry_after: bool,
    /// When `Some(n)`, every target-users/search with pageNumber >= n
    /// answers 500 (deterministic, independent of `rate`).
    pub fail_user_pages_from: Option<u32>,
    /// Whether `/connect/token` also draws faults and latency spikes
    /// (default false).
    pub include_token_endpoint: bool,
    /// Fraction in [0, 1] of `/api/*` requests (and `/connect/token` ones
    /// when `include_token_endpoint`) held back by an extra `spike_delay`
    /// before being handled, on top of `Config::latency`/`jitter`, so a
    /// client with a shorter timeout gives up and retries. Drawn from a
    /// seeded PRNG of its own, so enabling spikes leaves the fault draws
    /// unchanged. Counted in [`Stats::spikes`]. Default 0 (off).
    pub spike_rate: f64,
    /// Delay of a latency spike (default zero, which disables spikes).
    pub spike_delay: Duration,
    /// When `Some`, the users of a company change after every successful
    /// (HTTP 200) target-users/search scoped to it: see [`Churn`]. Changes are
    /// permanent: setting `None` later stops further changes but does not
    /// restore the generated data.
    pub churn: Option<Churn>,
    /// A proxy in front of the API removes both company headers
    /// (`X-KEEPNET-Company-Id`, `x-ir-company-id`) from every request, so
    /// header-scoped calls are answered unscoped: every managed company's
    /// users (`?companyId=` still scopes).
    pub strip_company_header: bool,
    /// Request paths (e.g. "/api/target-users/search/export") whose
    /// handlers ignore both company headers and answer unscoped, while the
    /// other endpoints honour them. Compared case-insensitively, trailing
    /// `/` ignored.
    pub ignore_company_header_on: Vec<String>,
    /// Every request, `/connect/token` included, answers HTTP 403 with the
    /// JSON body `{"status":"IP_RESTRICTED","message":"Access from your IP
    /// address is not allowed for this client."}` (whatever the envelope style).
    pub ip_restricted: bool,
    /// Company resource ids whose privacy settings refuse access: calls
    /// scoped to one of them (by header, query or path) answer 403 with
    /// status `PRIVACY_ERROR` in the configured envelope. Unscoped calls
    /// still include their users.
    pub privacy_error_companies: Vec<String>,
    /// `GET /api/companies/{id}` answers `dateFormat` and `timeFormat`
    /// null (the spec marks both nullable).
    pub hide_company_formats: bool,
    /// target-users/search and its export validate the filter items
    /// (Status, IsDeleted, ...) and then ignore them, answering every user
    /// the free-text search matches, deleted ones included: a server whose
    /// filtering a client must not take on trust.
    pub ignore_filter_items: bool,
}

/// Data changing between pages: after answering each successful
/// target-users/search scoped to one company, the sandbox mutates that
/// company's users (and only that company's); unscoped searches change
/// nothing.
///
/// First `removes_per_search` users are soft-deleted, as the live API
/// deletes: each, chosen pseudo-randomly among the users not yet deleted
/// (fewer if the company runs out), stays in the list with `isDeleted`
/// true and its status unchanged (under [`DeletedRows::StatusOnly`]: no
/// `isDeleted` key and status "Deleted"), so it leaves a search filtering
/// `IsDeleted` false and joins one asking for deleted users. Then
/// `inserts_per_search` new users are added, generated like the others
/// (fresh, never reused resourceIds and unique emails), each created at an
/// instant drawn uniformly within the company's creation range as it was
/// before this step, so under CreateTime ordering they land both before and
/// after a client's paging offset (offset paging then skips and repeats
/// users). Every later search, export, count-summary and companies/search
/// (`targetUserCount` and the counts) sees the new state: a soft deletion
/// moves one user from the active or inactive count to the deleted one.
/// The sequence is deterministic per seed and
/// company for a given order of searches. Churning searches of one company
/// are serialised (each answers from the state left by every search answered
/// before it, and its own mutation is complete before its response is sent);
/// exports, count-summary and companies/search read one consistent snapshot
/// without waiting for them.
///
/// [`Dataset::users`] keeps returning the generated data; use
/// [`Sandbox::current_users_json`] for the current state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Churn {
    /// New users added after each search.
    pub inserts_per_search: usize,
    /// Existing users soft-deleted after each search.
    pub removes_per_search: usize,
    /// `Some(n)`: only a company's first `n` scoped searches change it, then it holds still;
    /// `None`: every search does. Models a burst of changes that ends, like a CSV import or a
    /// directory sync (Keepnet offers both for target users); how long such a burst lasts on
    /// the live API is not documented, so tests choose it.
    pub searches: Option<usize>,
}

/// Changes to one company's users between two runs ([`Sandbox::change_users`]): the
/// reseller's month, in small. Models what Keepnet's own UI, CSV import and directory sync do
/// to target users (added, deleted, edited); how the live API orders a user created between
/// runs is not documented, so added users are created after every existing one (their
/// creation time is the newest), which is what `CreateTime` ordering shows for a new user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// New users, not deleted, created after every existing one.
    pub add: usize,
    /// Users soft-deleted (still listed, `isDeleted: true`, as the live API does; status
    /// "Deleted" and no `isDeleted` key under [`DeletedRows::StatusOnly`]).
    pub remove: usize,
    /// Users whose `department` and `phoneNumber` change (and so their `updateTime`).
    pub modify: usize,
}

/// What [`Sandbox::change_users`] did, by resourceId, each list in the order it happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangedUsers {
    /// Users added.
    pub added: Vec<String>,
    /// Users soft-deleted.
    pub removed: Vec<String>,
    /// Users edited (`department`, `phoneNumber`, `updateTime`).
    pub modified: Vec<String>,
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

/// What `POST /api/target-users/search` does with a `pageSize` larger than
/// [`Config::page_cap`]. The live API's maximum page size, and its answer to
/// a larger one, are not documented (API-NOTES "Still unknown"); refusing is a
/// guess built on the `INPUT_ERROR` status seen in Keepnet's UI code.
///
/// Only target-users/search refuses: `target-users/search/export` and
/// `companies/search` always cap. A refused search is counted in
/// [`Stats::oversize_refusals`] (and in [`Stats::user_search_requests`]) and
/// changes nothing ([`Faults::churn`] does not run). The refusal's message is
/// `One or more validation errors occurred.` with the validation message
/// `pageSize: PageSize must be between 1 and {page_cap}.`, in the configured
/// [`EnvelopeStyle`], like the sandbox's other input errors (the quickstart
/// envelope has no status: `isSuccess` false and both texts in `messages`).
/// The check comes after the token check and the random [`Faults::rate`]
/// draw, and before [`Faults::fail_user_pages_from`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OversizePages {
    /// Serve at most `page_cap` users and answer `pageSize` = `page_cap`.
    #[default]
    Cap,
    /// HTTP 400 with status `INPUT_ERROR`.
    Refuse,
    /// HTTP 200 whose envelope reports status `INPUT_ERROR` (`data` null).
    RefuseInside200,
}

/// How target-user rows mark a deleted user ([`Config::deleted_rows`]).
///
/// Either way the server knows who is deleted: the `IsDeleted` filter item
/// selects by it, a `Status` item matches the `status` text served (so
/// `Status` `Include` `"1,0"` with `IsDeleted` `false` keeps the same users in
/// both modes, as does `IsDeleted` `true`), and the companies/search counts and
/// count-summary are the same. The choice holds for every row served or
/// described: target-users/search, the export file's Status column,
/// [`Dataset::users`], [`Sandbox::current_users_json`], and users added or
/// removed later by [`Faults::churn`] or [`Sandbox::change_users`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletedRows {
    /// Every row has `isDeleted` (true or false); about a quarter of
    /// deleted users say status "Deleted", the rest keep "Active" or
    /// "Inactive" (what Keepnet's UI code reads).
    #[default]
    Flagged,
    /// No row has an `isDeleted` key (absent, not null), and every deleted
    /// user's `status` is "Deleted": the status is the only sign. A user
    /// removed later turns "Deleted" too.
    StatusOnly,
}

/// Shape of `GET /api/target-users/count-summary`'s `data`
/// ([`Config::count_summary`]); the counts are the same in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CountSummaryShape {
    /// `{"totalNumberOfActiveUsers", "totalNumberOfInActiveUsers",
    /// "totalNumberOfDeletedUsers", "monthlyActiveUsers": [{"period",
    /// "periodStart", "count"}, ...]}`, twelve months, the last one current
    /// (what Keepnet's UI reads).
    #[default]
    Ui,
    /// `{"activeUserCount": n, "inactiveUserCount": n, "deletedUserCount":
    /// n, "monthlyActiveUserCount": n}`, the last being the current month's
    /// count alone: a plausible undocumented alternative.
    Flat,
}

/// Key of the language tag in target-user rows ([`Config::language_field`]).
/// The key sits where `preferredLanguage` does (after `timeZone`) and the
/// value ("tr-TR", or null) is the same whatever its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LanguageField {
    /// `preferredLanguage` (the spec's `TargetUserSearchView`).
    #[default]
    PreferredLanguage,
    /// `preferredLanguageName`.
    PreferredLanguageName,
    /// `languageTypeName`.
    LanguageTypeName,
}

impl LanguageField {
    /// The JSON key: "preferredLanguage", "preferredLanguageName" or
    /// "languageTypeName".
    pub fn key(self) -> &'static str {
        match self {
            LanguageField::PreferredLanguage => "preferredLanguage",
            LanguageField::PreferredLanguageName => "preferredLanguageName",
            LanguageField::LanguageTypeName => "languageTypeName",
        }
    }
}

/// What the served `targetUserCount` counts ([`Config::target_user_count`]),
/// in companies/search items (and their `TargetUserCount` ordering) and in
/// `GET /api/companies/{id}`. `inactiveTargetUserCount`,
/// `deletedTargetUserCount` and count-summary do not change, and the licence
/// check (`isTargetUserCountExceededLimit`, `limitExceededCompanyCount`)
/// always compares Active, non-deleted users with `numberOfUsers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetUserCount {
    /// Active, non-deleted users.
    #[default]
    Active,
    /// Active and Inactive users, not deleted.
    Current,
    /// Every user listed, deleted ones included.
    Every,
}

/// `count` company names `Customer 1`..`Customer {count}`, the number
/// zero-padded to the width of `count` (`Customer 001`..`Customer 200`), for
/// [`Config::extra_companies`]: a reseller with hundreds of customers.
pub fn numbered_companies(count: usize) -> Vec<String> {
    let width = count.to_string().len();
    (1..=count)
        .map(|i| format!("Customer {i:0width$}"))
        .collect()
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
    /// Requests held back by a latency spike ([`Faults::spike_rate`]).
    pub spikes: u64,
    /// Users added by [`Faults::churn`].
    pub users_inserted: u64,
    /// Users soft-deleted by [`Faults::churn`] (they stay listed, with
    /// `isDeleted` true or, under [`DeletedRows::StatusOnly`], status "Deleted").
    pub users_removed: u64,
    /// Requests that carried both `X-KEEPNET-Company-Id` and
    /// `x-ir-company-id` with the same value (counted as received, before
    /// [`Faults::strip_company_header`] drops them).
    pub both_company_headers: u64,
    /// Authenticated requests to `GET /api/companies/{resourceId}`,
    /// faulted ones included.
    pub company_detail_requests: u64,
    /// Target-user calls (search, export, count-summary) of a Reseller
    /// answered unscoped, with every managed company's data.
    pub unscoped_requests: u64,
    /// target-users/search requests refused for a `pageSize` above
    /// `page_cap` ([`Config::oversize_pages`]).
    pub oversize_refusals: u64,
    /// `POST /api/target-users/search` requests being handled now, whatever
    /// their company or outcome: each counts from when the server starts on
    /// it (before the configured latency, jitter and spike delay) until its
    /// response is produced, or until the client goes away.
    pub user_searches_in_flight: u64,
    /// The most [`Stats::user_searches_in_flight`] has ever been.
    pub peak_user_searches_in_flight: u64,
    /// `/api/*` requests (any endpoint, not `/connect/token`) being handled
    /// now, counted like [`Stats::user_searches_in_flight`].
    pub requests_in_flight: u64,
    /// The most [`Stats::requests_in_flight`] has ever been.
    pub peak_requests_in_flight: u64,
}

/// A running sandbox server.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<server::AppState>,
    conns: Arc<conn::Connections>,
    abort: tokio::task::AbortHandle,
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
        let dataset = Arc::new(Dataset::from_config(&config));
        let state = Arc::new(server::AppState::new(config, dataset, addr));
        let app = server::router(state.clone());
        let conns = Arc::new(conn::Connections::default());
        let listener = conn::TrackedListener::new(listener, conns.clone());
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
            conns,
            abort: task.abort_handle(),
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

    /// The users of a company that target-users/search would serve now, in
    /// default order (createTime ascending, resourceId tie-break), each
    /// exactly as the search endpoint serialises it. Equals
    /// [`Dataset::users_json`] until [`Faults::churn`] changes the company;
    /// empty for an unknown id.
    pub fn current_users_json(&self, company_id: &str) -> Vec<serde_json::Value> {
        self.current_users(company_id)
            .iter()
            .map(|u| serde_json::to_value(u).expect("user serialises"))
            .collect()
    }

    /// The users of a company that target-users/search would serve now, in
    /// default order, with their true instants ([`User::create_ms`],
    /// [`User::update_ms`]). Equals [`Dataset::users`] until
    /// [`Faults::churn`] changes the company; empty for an unknown id.
    pub fn current_users(&self, company_id: &str) -> Vec<User> {
        let Some(ord) = self.state.dataset.ordinal_of(company_id) else {
            return Vec::new();
        };
        match self.state.live.users(ord) {
            Some(users) => users.as_ref().clone(),
            None => self.state.dataset.users(company_id).to_vec(),
        }
    }

    /// Changes a company's users now, deterministically for the server's seed: the next
    /// search sees them, and so do companies/search counts and the count summary. No user is
    /// both removed and modified; removed and modified users are picked among the users not
    /// deleted. `None` for an unknown company id.
    pub fn change_users(&self, company_id: &str, changes: UserChanges) -> Option<ChangedUsers> {
        let ord = self.state.dataset.ordinal_of(company_id)?;
        let _turn = self.state.live.turn(ord);
        Some(self.state.live.change(&self.state.dataset, ord, &changes))
    }

    /// The server goes away abruptly, without draining, while this handle
    /// stays usable ([`Sandbox::stats`], [`Sandbox::current_users_json`]).
    ///
    /// Every open connection, idle keep-alive or with a request in flight,
    /// is shut down at once (both directions), so a client sees a closed
    /// connection or a reset instead of waiting for an answer; in-flight
    /// requests never get one. The server task is aborted, which closes the
    /// listening socket: new connections are refused (one the kernel had
    /// already queued is reset, and one accepted in the meantime is closed
    /// straight away). The port is released as soon as the aborted task is
    /// next polled; [`Sandbox::kill`] also waits for that.
    pub fn stop_accepting(&self) {
        self.conns.kill();
        self.abort.abort();
    }

    /// [`Sandbox::stop_accepting`], then wait until the server task (and so
    /// the listening socket) is gone: when this returns, a connection
    /// attempt to [`Sandbox::addr`] is refused.
    pub async fn kill(mut self) {
        self.stop_accepting();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
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
