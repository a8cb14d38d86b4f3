//! `POST /api/target-users/search`, its export (`/search/export`) and
//! `GET /api/target-users/count-summary`: query parsing, selection and paging of users, the
//! refusal of oversize pages, and the churn that follows a scoped search. Filter shape and
//! count-summary follow test2-ui (`functions.js`, `People.vue`), deleted users in the list
//! docs `target-users.md`.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use serde_json::json;

use super::companies::counts;
use super::envelope::{failure, input_error, input_error_as, json_response, plain, success};
use super::faults::fault_response;
use super::scope::{enter_scoped, Scope};
use super::{bump, lock, page_bounds, AppState, Shared};
use crate::data::{series_months, Dataset, User, MONTHS};
use crate::live::LiveCounts;
use crate::query::{self, Field, Filter, InputError, Part, Pos};
use crate::time::{DateOrder, Style};
use crate::{export, time};
use crate::{CountSummaryShape, ExportStyle, OversizePages};

struct UserQuery {
    page: u32,
    size: u32,
    order: Field,
    ascending: bool,
    filter: Filter,
}

/// Reads a target-user query; with [`crate::Faults::ignore_filter_items`] its filter items are
/// validated and then dropped (the free-text search still applies), and with
/// [`crate::Config::ignore_order`] so are `orderBy` and `ascending` (the default order,
/// CreateTime ascending, applies).
fn parse_user_query(
    st: &AppState,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<UserQuery, InputError> {
    let (page, size) = query::paging(map, 10)?;
    let mut order = query::parse_user_order(query::get_str(map, "orderBy")?)?;
    let mut ascending = query::get_bool(map, "ascending")?.unwrap_or(false);
    if st.config.ignore_order {
        (order, ascending) = (Field::CreateTime, true);
    }
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

pub(super) async fn users_search(
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
    if let Some(refusal) = refuse_oversize(&st, q.size) {
        return refusal;
    }
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

/// The refusal of a page larger than `page_cap`, under [`crate::Config::oversize_pages`].
fn refuse_oversize(st: &AppState, size: u32) -> Option<Response> {
    let cap = st.page_cap();
    let http = match st.config.oversize_pages {
        OversizePages::Cap => return None,
        _ if size <= cap => return None,
        OversizePages::Refuse => StatusCode::BAD_REQUEST,
        OversizePages::RefuseInside200 => StatusCode::OK,
    };
    bump(&st.stats.oversize_refusals);
    let e = InputError::field(
        "pageSize",
        &format!("PageSize must be between 1 and {cap}."),
    );
    Some(input_error_as(st, http, e))
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

pub(super) async fn users_export(
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

/// count-summary `data` in [`CountSummaryShape::Flat`]: the current month's count only.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlatCountSummary {
    active_user_count: usize,
    inactive_user_count: usize,
    deleted_user_count: usize,
    monthly_active_user_count: usize,
}

pub(super) async fn count_summary(
    State(st): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
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
    if st.config.count_summary == CountSummaryShape::Flat {
        let data = FlatCountSummary {
            active_user_count: sum.active,
            inactive_user_count: sum.inactive,
            deleted_user_count: sum.deleted,
            monthly_active_user_count: sum.monthly[MONTHS - 1],
        };
        return success(
            &st,
            serde_json::to_string(&data).expect("summary serialises"),
        );
    }
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
