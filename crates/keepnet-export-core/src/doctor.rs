//! `doctor`: answers, on the user's own tenant, the guesses about the live API that
//! docs/api-assumptions.md ledgers, and says what the tool does under each answer.
//!
//! Read-only. Every answer is a count, a field name, a format or a status code, never a
//! person's data, so a report can be pasted into a bug report. Whether the company header is
//! honoured is settled by comparing counts (a page far past the end carries the total and no
//! row); rows are read only once the search is known to be scoped, and only for their shape.

use std::fmt::Write as _;

use keepnet_api::paths::COMPANIES_SEARCH;
use keepnet_api::probe::StatusFilter;
use keepnet_api::{
    Client, Company, CountSummary, Error, ScopeLimit, StatusSet, TargetUser, UserQuery, UserState,
};
use serde_json::{json, Value};

/// A page number no tenant reaches: its answer carries the totals and no row.
const FAR_PAGE: u64 = 1_000_000;

/// The largest page size a Keepnet validator was seen to allow ("PageSize must be between 1
/// and 99999", API-NOTES Addendum 2).
const LARGEST_SEEN: u32 = 99_999;

/// One ledger row, answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The row's id in docs/api-assumptions.md (`status-filter`...).
    pub id: &'static str,
    /// The question, for people.
    pub question: &'static str,
    /// What this tenant answered; for a row that could not be tested, why.
    pub answer: String,
    /// Whether the answer was tested (not: why it could not be).
    pub tested: bool,
    /// What the tool does under this answer.
    pub tool: String,
}

/// Every row `doctor` answers, in the ledger's order.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The company examined, by id.
    pub company_id: String,
    /// The rows.
    pub findings: Vec<Finding>,
}

fn found(id: &'static str, question: &'static str, answer: String, tool: &str) -> Finding {
    Finding {
        id,
        question,
        answer,
        tested: true,
        tool: tool.to_owned(),
    }
}

fn untested(id: &'static str, question: &'static str, why: String, tool: &str) -> Finding {
    Finding {
        tested: false,
        ..found(id, question, why, tool)
    }
}

/// An API error as a reason a row was not tested.
fn because(e: &Error) -> String {
    format!("not tested: {e}")
}

const Q_FILTER: &str = "Does target-users/search apply the status filter (the UI's filter items)?";
const Q_DELETED: &str = "How does a row say its user is deleted?";
const Q_DATES: &str = "Are target-user dates ISO 8601 or in the company's own format?";
const Q_ID_KEY: &str = "Which key holds a company's id in companies/search?";
const Q_HEADER_SEARCH: &str = "Does target-users/search honour the company header?";
const Q_HEADER_SUMMARY: &str = "Does target-users/count-summary honour the company header?";
const Q_HEADER_EXPORT: &str = "Does target-users/search/export honour the company header?";
const Q_PAGE: &str = "How large a page does target-users/search serve?";
const Q_ENVELOPE: &str = "Which response envelope does the API use?";
const Q_SUMMARY: &str = "Which shape does the count summary have?";
const Q_RETRY: &str = "Does a 429 answer say when to retry (Retry-After)?";
const Q_LANGUAGE: &str = "Which key holds a user's language?";
const Q_ORDER: &str = "Does target-users/search apply orderBy?";
const Q_COUNT: &str = "What does targetUserCount in companies/search count?";

/// Answers every ledger row that can be tested against the live API for `company`.
pub async fn diagnose(client: &Client, company: &Company) -> Diagnosis {
    let mut findings = Vec::new();
    let id = company.id();
    let every = ScopeLimit::for_company(company, StatusSet::ALL, 5);

    // The status filter first, as the ledger does; its rows need a scoped search, so the
    // company header is settled before (by counts), and the rows read after.
    let (search_scoped, scoped) = header_search(client, company, every.as_ref()).await;
    let sample = match scoped {
        true => Some(client.test_status_filter(id).await),
        false => None,
    };
    let not_scoped_text = format!(
        "not tested: rows are read only from a search known to be scoped ({})",
        search_scoped.answer
    );
    let not_scoped = || not_scoped_text.clone();
    let tool_filter = "honoured: the server selects; ignored: rows outside the selection are \
                       dropped and counted, the export is exactly the selection, a warning says \
                       so and the run summary records it (statusFilter)";
    let tool_deleted = "both forms are read (isDeleted true, or status Deleted); `export` drops \
                        rows from a server-built file only when its columns can say each row's \
                        state";
    let tool_dates = "ISO 8601 is read as is; the company's format is read by its settings \
                      (GET /api/companies/{id}); without them, text that reads two ways stays \
                      text";
    let tool_language = "any of preferredLanguage, preferredLanguageName, languageTypeName fills \
                         the preferredLanguage column; JSON Lines keeps the served key";
    let tool_order = "the set exported is exact either way; ignored: files are in the server's \
                      order (no re-sort: it would hold every user in memory)";
    match &sample {
        Some(Ok(test)) => {
            let answer = match test.verdict {
                StatusFilter::Honoured => "honoured: each answer held only the states asked for",
                StatusFilter::Ignored => {
                    "ignored: an answer held users of states that were not asked for"
                }
                _ => "untested: no row said its state",
            };
            findings.push(Finding {
                tested: matches!(test.verdict, StatusFilter::Honoured | StatusFilter::Ignored),
                ..found("status-filter", Q_FILTER, answer.to_owned(), tool_filter)
            });
            findings.push(deleted_form(&test.rows, tool_deleted));
            findings.push(date_forms(client, company, &test.rows, tool_dates).await);
        }
        other => {
            let why = match other {
                Some(Err(e)) => because(e),
                _ => not_scoped(),
            };
            for (id, q, tool) in [
                ("status-filter", Q_FILTER, tool_filter),
                ("deleted-rows", Q_DELETED, tool_deleted),
                ("dates", Q_DATES, tool_dates),
            ] {
                findings.push(untested(id, q, why.clone(), tool));
            }
        }
    }

    let (envelope, id_key) = listing_shape(client).await;
    findings.push(id_key);
    findings.push(search_scoped);
    let summary = client.count_summary(id).await;
    findings.push(header_summary(&summary, every.as_ref()));
    findings.push(untested(
        "header-export",
        Q_HEADER_EXPORT,
        "not tested: its answer is a file of users, so testing it would read them; `export` \
         counts the file's rows against the company's counts before saving it"
            .to_owned(),
        "the scope guard refuses a file with more rows than the company has (exit 8, nothing \
         saved)",
    ));
    findings.push(page_size(client, company).await);
    findings.push(envelope);
    findings.push(summary_shape(&summary));
    match &sample {
        Some(Ok(test)) => findings.push(language_keys(&test.rows, tool_language)),
        Some(Err(e)) => findings.push(untested(
            "language-field",
            Q_LANGUAGE,
            because(e),
            tool_language,
        )),
        None => findings.push(untested(
            "language-field",
            Q_LANGUAGE,
            not_scoped(),
            tool_language,
        )),
    }
    match scoped {
        true => findings.push(order(client, company, tool_order).await),
        false => findings.push(untested("order-by", Q_ORDER, not_scoped(), tool_order)),
    }
    findings.push(target_user_count(company, &summary));
    // Last: every call above could have met a 429.
    findings.push(retry_after(client));
    Diagnosis {
        company_id: company.resource_id.to_string(),
        findings,
    }
}

/// The search's total for every state, from a page far past the end, against the company's
/// counts of every state; and whether the search is known to be scoped.
async fn header_search(
    client: &Client,
    company: &Company,
    every: Option<&ScopeLimit>,
) -> (Finding, bool) {
    let tool = "the scope guard fails the run before anything is published or sent (exit 8): \
                every total and the users read are held against the company's counts";
    let Some(limit) = every else {
        let why = "not tested: companies/search sent no user counts for this company";
        return (
            untested("header-search", Q_HEADER_SEARCH, why.to_owned(), tool),
            false,
        );
    };
    let query = UserQuery {
        statuses: StatusSet::ALL,
        page_size: 1,
        ..UserQuery::default()
    };
    match client.users_page(company.id(), &query, FAR_PAGE).await {
        Ok(page) => {
            let (answer, scoped) = scoped_answer(page.total_number_of_records, limit);
            (
                found("header-search", Q_HEADER_SEARCH, answer, tool),
                scoped,
            )
        }
        Err(e) => (
            untested("header-search", Q_HEADER_SEARCH, because(&e), tool),
            false,
        ),
    }
}

/// Whether `total` fits the company's users of every state, for people and as a flag.
fn scoped_answer(total: u64, limit: &ScopeLimit) -> (String, bool) {
    match limit.check_every("", total) {
        Ok(()) => (
            format!(
                "honoured: it counts {total} users, within the company's {} of every state",
                limit.expected()
            ),
            true,
        ),
        Err(_) => (
            format!(
                "ignored: it counts {total} users where the company has {} of every state \
                 (more than all of them: other customers')",
                limit.expected()
            ),
            false,
        ),
    }
}

fn header_summary(summary: &Result<CountSummary, Error>, every: Option<&ScopeLimit>) -> Finding {
    let tool = "a count summary that ignores it is left out of e-mails and rollups with a \
                warning (the users are checked on their own); `count`, which shows nothing \
                else, fails (exit 8)";
    let q = Q_HEADER_SUMMARY;
    match (summary, every) {
        (Err(e), _) => untested("header-count-summary", q, because(e), tool),
        (Ok(_), None) => untested(
            "header-count-summary",
            q,
            "not tested: companies/search sent no user counts for this company".to_owned(),
            tool,
        ),
        (Ok(summary), Some(limit)) => match summary.total() {
            Some(total) => found(
                "header-count-summary",
                q,
                scoped_answer(total, limit).0,
                tool,
            ),
            None => untested(
                "header-count-summary",
                q,
                "not tested: the summary has no totals to compare".to_owned(),
                tool,
            ),
        },
    }
}

/// The listing's envelope keys and the key of a company's id, from one raw page.
async fn listing_shape(client: &Client) -> (Finding, Finding) {
    let tool_envelope = "both envelopes and PascalCase keys are read; a 200 whose envelope says \
                         failure is an error with the server's messages";
    let tool_id = "either key is read (companyResourceId first)";
    let body = json!({
        "pageNumber": 1, "pageSize": 1, "orderBy": "CreateTime", "ascending": true,
        "filter": {"Condition": "AND", "SearchInputTextValue": ""},
    });
    let raw = match client.post_raw(COMPANIES_SEARCH, None, &body).await {
        Ok(raw) => raw,
        Err(e) => {
            return (
                untested("envelope", Q_ENVELOPE, because(&e), tool_envelope),
                untested("company-id-key", Q_ID_KEY, because(&e), tool_id),
            )
        }
    };
    let keys: Vec<&str> = raw
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let envelope = if keys.iter().any(|k| k.eq_ignore_ascii_case("isSuccess")) {
        "isSuccess, data, messages (the quickstart's)".to_owned()
    } else if keys.contains(&"status") {
        "data, status, message, validationMessages (the spec's)".to_owned()
    } else if keys.contains(&"Status") {
        "Data, Status, Message (PascalCase)".to_owned()
    } else {
        format!("none known: keys {}", keys.join(", "))
    };
    let first = ci(&raw, "data")
        .and_then(|d| ci(d, "results"))
        .and_then(Value::as_array)
        .and_then(|r| r.first());
    let id_key = match first.and_then(Value::as_object) {
        Some(company) => {
            let named: Vec<&str> = ["companyResourceId", "resourceId"]
                .into_iter()
                .filter(|k| company.keys().any(|c| c.eq_ignore_ascii_case(k)))
                .collect();
            match named.as_slice() {
                [] => found("company-id-key", Q_ID_KEY, "neither".to_owned(), tool_id),
                keys => found("company-id-key", Q_ID_KEY, keys.join(" and "), tool_id),
            }
        }
        None => untested(
            "company-id-key",
            Q_ID_KEY,
            "not tested: the listing held no company".to_owned(),
            tool_id,
        ),
    };
    (
        found("envelope", Q_ENVELOPE, envelope, tool_envelope),
        id_key,
    )
}

fn ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn deleted_form(rows: &[TargetUser], tool: &str) -> Finding {
    let flagged = rows
        .iter()
        .any(|u| u.served_keys().any(|k| k == "isDeleted"));
    let deleted = rows
        .iter()
        .filter(|u| u.state() == UserState::Deleted)
        .count();
    let answer = match (flagged, deleted) {
        (true, _) => "an isDeleted flag on every row (a deleted user's status may still say \
                      Active)"
            .to_owned(),
        (false, 0) => {
            return untested(
                "deleted-rows",
                Q_DELETED,
                "not tested: no row carried isDeleted and no deleted user was seen".to_owned(),
                tool,
            )
        }
        (false, _) => "status Deleted alone (no row carries isDeleted)".to_owned(),
    };
    found("deleted-rows", Q_DELETED, answer, tool)
}

/// How one date text is written.
#[derive(PartialEq, Eq)]
enum DateShape {
    Iso,
    Slashes,
    Other,
}

fn date_shape(text: &str) -> DateShape {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if digits(0..4) && b.get(4) == Some(&b'-') && digits(5..7) && b.get(7) == Some(&b'-') {
        DateShape::Iso
    } else if text.split(' ').next().is_some_and(|d| {
        let parts: Vec<&str> = d.split('/').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    }) {
        DateShape::Slashes
    } else {
        DateShape::Other
    }
}

async fn date_forms(
    client: &Client,
    company: &Company,
    rows: &[TargetUser],
    tool: &str,
) -> Finding {
    // (ISO, slashes, neither) for createTime, then updateTime.
    let mut counts = [[0u32; 3]; 2];
    for user in rows {
        for (i, text) in [user.create_time.as_deref(), user.update_time.as_deref()]
            .into_iter()
            .enumerate()
        {
            if let Some(text) = text {
                let shape = match date_shape(text) {
                    DateShape::Iso => 0,
                    DateShape::Slashes => 1,
                    DateShape::Other => 2,
                };
                counts[i][shape] += 1;
            }
        }
    }
    if counts.iter().flatten().all(|n| *n == 0) {
        return untested(
            "dates",
            Q_DATES,
            "not tested: no row carried a date".to_owned(),
            tool,
        );
    }
    let settings = match client.company_details(company.id()).await {
        Ok(d) => format!(
            "the company's settings say {} {}",
            d.date_format.as_deref().unwrap_or("(no date format)"),
            d.time_format.as_deref().unwrap_or("(no time format)")
        ),
        Err(e) => format!("the company's settings could not be read ({e})"),
    };
    // The answer follows createTime (every row has one); updateTime is shown beside it.
    let [iso, slashes, _] = counts[0];
    let mut answer = match (iso, slashes) {
        (0, 0) => "neither".to_owned(),
        (_, 0) => "ISO 8601".to_owned(),
        (0, _) => "the company's format".to_owned(),
        _ => "mixed".to_owned(),
    };
    for (name, [iso, slashes, other]) in ["createTime", "updateTime"].iter().zip(counts) {
        let _ = write!(answer, "; {name}: {iso} ISO 8601, {slashes} with slashes");
        if other > 0 {
            let _ = write!(answer, ", {other} neither");
        }
    }
    let _ = write!(answer, " ({settings})");
    found("dates", Q_DATES, answer, tool)
}

/// The page size served to a page far past the end: no row, its size as answered.
async fn page_size(client: &Client, company: &Company) -> Finding {
    let tool = "pages of 1000 are asked by default (the page-size setting); a smaller page \
                served is followed, a refusal naming the size is asked again at 100, once per run";
    let ask = |size: u32| {
        let query = UserQuery {
            statuses: StatusSet::ALL,
            page_size: size,
            ..UserQuery::default()
        };
        async move { client.users_page(company.id(), &query, FAR_PAGE).await }
    };
    let asked = keepnet_api::DEFAULT_PAGE_SIZE;
    match ask(asked).await {
        // Served whole: ask the most a Keepnet validator was seen to allow, to find the cap.
        Ok(page) if page.page_size >= u64::from(asked) => {
            let then = match ask(LARGEST_SEEN).await {
                Ok(page) => format!("asked {LARGEST_SEEN}: serves {}", page.page_size),
                Err(e) if e.refuses_page_size() => format!("refuses {LARGEST_SEEN}"),
                Err(e) => format!("asked {LARGEST_SEEN}: {e}"),
            };
            found(
                "page-size",
                Q_PAGE,
                format!("asked {asked}: serves {}; {then}", page.page_size),
                tool,
            )
        }
        Ok(page) => found(
            "page-size",
            Q_PAGE,
            format!("asked {asked}: serves {}", page.page_size),
            tool,
        ),
        Err(e) if e.refuses_page_size() => {
            let fallback = keepnet_api::FALLBACK_PAGE_SIZE;
            let then = match ask(fallback).await {
                Ok(page) => format!("asked {fallback}: serves {}", page.page_size),
                Err(e) => format!("asked {fallback}: {e}"),
            };
            found(
                "page-size",
                Q_PAGE,
                format!("refuses {asked} ({e}); {then}"),
                tool,
            )
        }
        Err(e) => untested("page-size", Q_PAGE, because(&e), tool),
    }
}

fn summary_shape(summary: &Result<CountSummary, Error>) -> Finding {
    let tool = "the UI's shape gives the figures in `count`, e-mails and rollups; another shape \
                is shown by `count` as key and value lines, reports carry no figures, and the \
                scope guard skips it with a warning";
    match summary {
        Ok(s) if s.is_known_shape() => found(
            "count-summary",
            Q_SUMMARY,
            "the UI's: totalNumberOfActiveUsers, totalNumberOfInActiveUsers, \
             totalNumberOfDeletedUsers, monthlyActiveUsers"
                .to_owned(),
            tool,
        ),
        Ok(s) => {
            let keys: Vec<&str> = s
                .raw
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            found(
                "count-summary",
                Q_SUMMARY,
                format!("another: keys {}", keys.join(", ")),
                tool,
            )
        }
        Err(e) => untested("count-summary", Q_SUMMARY, because(e), tool),
    }
}

fn language_keys(rows: &[TargetUser], tool: &str) -> Finding {
    let keys: Vec<&str> = [
        "preferredLanguage",
        "preferredLanguageName",
        "languageTypeName",
    ]
    .into_iter()
    .filter(|key| rows.iter().any(|u| u.served_keys().any(|k| k == *key)))
    .collect();
    match keys.as_slice() {
        [] => untested(
            "language-field",
            Q_LANGUAGE,
            "not tested: no row carried a language key".to_owned(),
            tool,
        ),
        keys => found("language-field", Q_LANGUAGE, keys.join(" and "), tool),
    }
}

/// The first user ascending and descending by CreateTime: the same one means the order was
/// not applied. The users themselves are not kept.
async fn order(client: &Client, company: &Company, tool: &str) -> Finding {
    let first = |ascending: bool| {
        let query = UserQuery {
            statuses: StatusSet::ALL,
            page_size: 2,
            ascending,
            ..UserQuery::default()
        };
        async move { client.users_page(company.id(), &query, 1).await }
    };
    match (first(true).await, first(false).await) {
        (Ok(up), Ok(down)) if up.total_number_of_records < 2 => untested(
            "order-by",
            Q_ORDER,
            format!(
                "not tested: the company has {} user(s)",
                up.total_number_of_records.max(down.total_number_of_records)
            ),
            tool,
        ),
        (Ok(up), Ok(down)) => {
            let id = |p: &keepnet_api::Page<TargetUser>| {
                p.results.first().and_then(|u| u.resource_id.clone())
            };
            let answer = match id(&up) == id(&down) {
                true => "ignored: ascending and descending by CreateTime start with the same user",
                false => "honoured: ascending and descending by CreateTime start differently",
            };
            found("order-by", Q_ORDER, answer.to_owned(), tool)
        }
        (Err(e), _) | (_, Err(e)) => untested("order-by", Q_ORDER, because(&e), tool),
    }
}

fn target_user_count(company: &Company, summary: &Result<CountSummary, Error>) -> Finding {
    let tool = "the scope guard adds targetUserCount, inactiveTargetUserCount and \
                deletedTargetUserCount over the states selected: an upper bound under each \
                reading, so no reading raises a false alarm (a wider one only widens the margin)";
    let Some(count) = company.target_user_count else {
        return untested(
            "target-user-count",
            Q_COUNT,
            "not tested: companies/search sent no targetUserCount".to_owned(),
            tool,
        );
    };
    let figures = summary
        .as_ref()
        .ok()
        .and_then(|s| Some((s.active?, s.inactive?, s.deleted?)));
    let Some((active, inactive, deleted)) = figures else {
        return untested(
            "target-user-count",
            Q_COUNT,
            "not tested: the count summary gave no active, inactive and deleted figures".to_owned(),
            tool,
        );
    };
    let answer = if count == active {
        "active users only".to_owned()
    } else if count == active + inactive {
        "active and inactive users".to_owned()
    } else if count == active + inactive + deleted {
        "every user, deleted ones included".to_owned()
    } else {
        format!(
            "none of these: {count}, where the count summary has {active} active, {inactive} \
             inactive, {deleted} deleted"
        )
    };
    found("target-user-count", Q_COUNT, answer, tool)
}

fn retry_after(client: &Client) -> Finding {
    let tool = "a Retry-After (seconds or a date) is waited for, capped; without one, jittered \
                exponential backoff; either way the budget of requests in flight halves";
    let stats = client.stats();
    match stats.throttled {
        0 => untested(
            "retry-after",
            Q_RETRY,
            "not seen: no 429 answer during these calls".to_owned(),
            tool,
        ),
        n => {
            let with = stats.throttled_with_retry_after;
            let answer = match with {
                0 => format!("not sent: none of {n} 429 answers had it"),
                w if w == n => format!("sent: every one of {n} 429 answers had it"),
                w => format!("sometimes: {w} of {n} 429 answers had it"),
            };
            found("retry-after", Q_RETRY, answer, tool)
        }
    }
}

impl Diagnosis {
    /// The rows as a table for people: `id  answer`, then what the tool does, indented.
    pub fn table(&self) -> String {
        let mut out = format!("Company {}\n", self.company_id);
        for f in &self.findings {
            let _ = writeln!(
                out,
                "\n{}: {}\n  {}\n  the tool: {}",
                f.id, f.question, f.answer, f.tool
            );
        }
        out
    }

    /// The rows as JSON: `{"company": {"resourceId"}, "findings": [{id, question, answer,
    /// tested, tool}]}`.
    pub fn json(&self) -> Value {
        json!({
            "company": {"resourceId": self.company_id},
            "findings": self.findings.iter().map(|f| json!({
                "id": f.id,
                "question": f.question,
                "answer": f.answer,
                "tested": f.tested,
                "tool": f.tool,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_shapes() {
        assert!(date_shape("2024-03-05T18:25:30.123Z") == DateShape::Iso);
        assert!(date_shape("05/03/2024 18:25") == DateShape::Slashes);
        assert!(date_shape("2021/07/04 20:24") == DateShape::Slashes);
        assert!(date_shape("03/05/2024 06:25 PM") == DateShape::Slashes);
        assert!(date_shape("yesterday") == DateShape::Other);
    }
}
