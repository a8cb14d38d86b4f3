//! One company's users, fetched once, fed to every sink in one pass.
//!
//! The fetch runs on the async runtime; each sink runs on a thread of its own, fed the same
//! shared pages through a small bounded channel, so the network never waits for file writing
//! (or Excel compression), file writing never blocks the runtime, and a fast sink (CSV) does
//! not wait for a slow one (XLSX). Publication is all-or-nothing:
//! every sink finishes, then every sink commits; on any failure (API error, sink error,
//! Ctrl-C) every sink aborts and nothing is published.
//!
//! Before any row is written, page 1, the company's date settings and (for deliveries) its
//! count summary are fetched together: the columns are then fixed from what the server sends,
//! dates are read by the company's own format, and every scoped answer is held against the
//! company's counts (the scope guard), so a run whose answers cannot be that company's fails
//! before anything is published or sent.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;

use keepnet_api::{
    Client, Company, CompanyId, CountSummary, Page, PagingReport, ScopeLimit, TargetUser, UserQuery,
};
use keepnet_sink::{Artifact, DateFormat, ExportInfo, Report, Sink, SinkError, Timestamp};
use tokio::sync::mpsc;

use crate::columns::Layout;
use crate::exit::{self, Failure};
use crate::progress::CompanyProgress;
use crate::sinks::{NamedDelivery, NamedSink, Plan};

/// Pages buffered between the fetch and the sinks (on top of the fetch window).
const PAGES_IN_FLIGHT: usize = 2;

/// What a successful run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Users written to every sink.
    pub rows: u64,
    /// What paging saw in the sweep published (pages and retries counted over every sweep).
    pub paging: PagingReport,
    /// Reads of every page it took (more than one when a read disagreed with the server).
    pub sweeps: u32,
    /// True when the files were published although the read disagreed with the server's own
    /// figures (`--allow-incomplete`).
    pub incomplete: bool,
    /// Files published.
    pub artifacts: Vec<Artifact>,
    /// One line per delivery done.
    pub delivered: Vec<String>,
    /// What the user should know: an incomplete export, cells a format had to cut.
    pub warnings: Vec<String>,
}

/// A sink back from its thread, with how its writing went: `Err(None)` when it stopped because
/// the fetch did (another sink's failure, or the API's, is the one to report).
type Finished = (NamedSink, Result<(), Option<Failure>>);

/// A page shared by every sink thread.
type SharedPage = Arc<Page<TargetUser>>;

/// Label/value lines of the count summary, for deliveries.
type SummaryLines = Vec<(String, String)>;

/// Builds the sinks of a plan again, fresh, for another sweep.
pub type Rebuild<'a> = &'a (dyn Fn() -> Result<Vec<NamedSink>, Failure> + Sync);

enum Message {
    /// The columns (fixed once page 1 is in) and the rows the server announced.
    Start {
        layout: Arc<Layout>,
        expected_rows: u64,
    },
    Page(SharedPage),
    Done,
}

/// What to export for one company.
pub struct Job<'a> {
    /// Search, order and page size.
    pub query: UserQuery,
    /// The columns.
    pub layout: Layout,
    /// The outputs.
    pub plan: Plan,
    /// The same sinks as the plan's, built anew when a sweep has to be repeated.
    pub rebuild: Rebuild<'a>,
    /// Publish a read that stayed inconsistent with the server (marked incomplete) instead of
    /// failing.
    pub allow_incomplete: bool,
    /// The scope guard's margin, in percent of the company's counts.
    pub scope_tolerance: u32,
}

/// What the export needs besides the users, read once with the first page: the company's
/// date format and, for deliveries, its count summary.
#[derive(Clone)]
struct Extras {
    dates: DateFormat,
    summary: SummaryLines,
}

/// One sweep's settings.
struct Sweep<'a> {
    client: &'a Client,
    company: &'a Company,
    id: &'a CompanyId,
    query: &'a UserQuery,
    layout: &'a Layout,
    limit: Option<ScopeLimit>,
    export: &'a ExportInfo,
    /// Whether deliveries want the count summary.
    want_summary: bool,
    scope_tolerance: u32,
}

/// How a sweep ended, when nothing failed.
enum Swept {
    /// Every sink wrote the whole read and finished; ready to publish.
    Written {
        finished: Vec<Finished>,
        paging: PagingReport,
        warning: Option<String>,
    },
    /// The read disagreed with the server and every sink discarded it: read again.
    Again {
        paging: PagingReport,
        reasons: String,
    },
}

/// Fetches `company`'s users once and writes them to every output of `job`; reads every page
/// again (see [`crate::completeness`]) while a read disagrees with the server's own figures.
pub async fn run(
    client: &Client,
    company: &Company,
    job: Job<'_>,
    progress: &mut dyn CompanyProgress,
) -> Result<Outcome, Failure> {
    let Job {
        query,
        layout,
        plan,
        rebuild,
        allow_incomplete,
        scope_tolerance,
    } = job;
    let Plan {
        mut sinks,
        deliveries,
        scratch,
    } = plan;
    let export = ExportInfo {
        company_name: company.name.clone(),
        company_id: company.resource_id.to_string(),
        started_at: Timestamp::now(),
        expected_rows: None,
    };
    let limit = ScopeLimit::for_company(company, query.statuses, scope_tolerance);
    if limit.is_none() {
        tracing::warn!(
            company = %company.name,
            "scope guard off: companies/search sent no user counts for this company, so its \
             answers cannot be checked against them"
        );
    }
    let mut settings = Sweep {
        client,
        company,
        id: company.id(),
        query: &query,
        layout: &layout,
        limit,
        export: &export,
        want_summary: !deliveries.is_empty(),
        scope_tolerance,
    };
    let mut extras: Option<Extras> = None;
    let (mut pages, mut retries) = (0, 0);
    let mut sweep = 1;
    let (finished, mut paging, warning) = loop {
        // A stream cannot be taken back: with one, the users are read once.
        let stream = sinks
            .iter()
            .find(|s| !s.retractable)
            .map(|s| s.spec.to_string());
        let judge = |report: &PagingReport| {
            crate::completeness::judge(report, sweep, stream.as_deref(), allow_incomplete)
        };
        let swept = settings.sweep(sinks, &mut extras, progress, judge).await?;
        match swept {
            Swept::Written {
                finished,
                paging,
                warning,
            } => break (finished, paging, warning),
            Swept::Again { paging, reasons } => {
                pages += paging.pages;
                retries += paging.retries;
                sweep += 1;
                tracing::warn!(
                    company = %company.name,
                    "the users read disagree with the server's own figures ({reasons}); \
                     nothing kept, reading every page again ({sweep} of {})",
                    crate::completeness::MAX_SWEEPS
                );
                // The company's counts moved too: hold the next read against fresh ones.
                let fresh = tokio::select! {
                    fresh = client.resolve_company(company.resource_id.as_str()) => fresh,
                    reason = crate::stop::stopped() => {
                        return Err(reason.failure());
                    }
                };
                match fresh {
                    Ok(fresh) => {
                        settings.limit =
                            ScopeLimit::for_company(&fresh, query.statuses, scope_tolerance);
                    }
                    Err(e) => tracing::warn!(
                        company = %company.name,
                        "the company's user counts could not be read again ({e}); the next \
                         read is held against the earlier ones"
                    ),
                }
                sinks = rebuild()?;
            }
        }
    };
    paging.pages += pages;
    paging.retries += retries;
    let extras = extras.unwrap_or_else(|| Extras {
        dates: DateFormat::UNKNOWN,
        summary: Vec::new(),
    });
    let finished = tokio::task::spawn_blocking(move || finish_late(finished))
        .await
        .map_err(|e| Failure::new(exit::INTERNAL, e))??;
    let (artifacts, mut warnings) = commit_all(finished)?;
    let rows = paging.users;
    let incomplete = warning.is_some();
    if let Some(warning) = warning {
        tracing::warn!(company = %company.name, "{warning}");
        warnings.insert(0, warning);
    }
    let scratch_path = scratch.as_ref().map(|d| d.path().to_path_buf());
    for artifact in &artifacts {
        if !scratch_path
            .as_ref()
            .is_some_and(|s| artifact.path.starts_with(s))
        {
            tracing::info!(path = %artifact.path.display(), rows = artifact.rows, bytes = artifact.bytes, "file written");
        }
    }
    let kept = if scratch.is_some() {
        "the CSV made for the e-mail was discarded; add --sink csv:PATH to keep a copy".to_owned()
    } else {
        format!(
            "the exported files are still on disk: {}",
            artifacts
                .iter()
                .map(|a| a.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let delivered = deliver_all(
        export.clone(),
        rows,
        &artifacts,
        deliveries,
        extras.summary,
        kept,
    )
    .await;
    drop(scratch);
    let delivered = delivered?;
    Ok(Outcome {
        rows,
        paging,
        sweeps: sweep,
        incomplete,
        artifacts,
        delivered,
        warnings,
    })
}

impl Sweep<'_> {
    /// One read of every page into `sinks`, each on its own thread. `judge` decides, once the
    /// last page is in, whether the sinks finish (publishable) or discard what they wrote.
    async fn sweep(
        &self,
        sinks: Vec<NamedSink>,
        extras: &mut Option<Extras>,
        progress: &mut dyn CompanyProgress,
        judge: impl Fn(&PagingReport) -> Result<crate::completeness::Verdict, Failure>,
    ) -> Result<Swept, Failure> {
        use crate::completeness::Verdict;
        // Written pages come back to be freed on the thread that allocated them: freeing them
        // on the sink threads made glibc's malloc contend for its arena locks (a fifth of the
        // CPU time of a large export, measured with perf).
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<SharedPage>();
        let mut lanes = Vec::with_capacity(sinks.len());
        for named in sinks {
            let (tx, rx) = mpsc::channel::<Message>(PAGES_IN_FLIGHT);
            let records = named.records && self.layout.is_default();
            let (recycle, export) = (recycle_tx.clone(), self.export.clone());
            let handle = thread::Builder::new()
                // A fixed name: naming threads after their (arbitrarily long) output path made a
                // million-row CSV export 25% slower with long paths (measured: 4.3 s against
                // 3.45 s; allocator behaviour, not understood further).
                .name("keepnet-sink".to_owned())
                .spawn(move || lane(rx, recycle, export, named))
                .map_err(|e| Failure::new(exit::INTERNAL, e))?;
            lanes.push((tx, handle, records));
        }
        drop(recycle_tx);
        progress.restart();
        let fetch = async {
            let mut pager = self
                .client
                .pager(self.id, self.query.clone())
                .with_guard(self.limit.clone());
            let (first, read) = tokio::join!(pager.next_page(), async {
                match extras.clone() {
                    Some(known) => Ok(known),
                    None => self.extras().await,
                }
            });
            let first = first?;
            let read = read?;
            *extras = Some(read.clone());
            let served: &[TargetUser] = first.as_ref().map_or(&[], |p| &p.results);
            let file_layout = Arc::new(self.layout.resolve(served)?.with_dates(read.dates));
            let record_layout = Arc::new(Layout::record());
            let expected_rows = first.as_ref().map_or(0, |p| p.total_number_of_records);
            progress.set_total(expected_rows);
            for (tx, _, records) in &lanes {
                let layout = match records {
                    true => record_layout.clone(),
                    false => file_layout.clone(),
                };
                let start = Message::Start {
                    layout,
                    expected_rows,
                };
                if tx.send(start).await.is_err() {
                    return Ok(None);
                }
            }
            let mut unlisted: HashSet<String> = HashSet::new();
            let mut next = first;
            while let Some(page) = next {
                warn_unlisted(&file_layout, &page, &mut unlisted);
                progress.advance(page.results.len() as u64);
                tracing::debug!(
                    page = page.page_number,
                    of = page.total_number_of_pages,
                    "page fetched"
                );
                let page = Arc::new(page);
                for (tx, _, _) in &lanes {
                    if tx.send(Message::Page(page.clone())).await.is_err() {
                        // A sink stopped on an error; its error is the one to report.
                        return Ok(None);
                    }
                }
                drop(page);
                while let Ok(written) = recycle_rx.try_recv() {
                    drop(written);
                }
                next = pager.next_page().await?;
            }
            Ok::<_, Failure>(Some(pager.report().clone()))
        };
        // Ok(None): a sink stopped the fetch by failing.
        let fetched: Result<Option<(PagingReport, Verdict)>, Failure> = tokio::select! {
            result = fetch => match result {
                Ok(Some(report)) => judge(&report).map(|verdict| Some((report, verdict))),
                Ok(None) => Ok(None),
                Err(e) if e.code() == exit::SCOPE => {
                    Err(e.with_note("nothing was published or sent"))
                }
                Err(e) => Err(e),
            },
            reason = crate::stop::stopped() => Err(reason.failure()),
        };
        // Done tells a sink to finish; without it (dropped channel) the sink discards.
        let publish = matches!(&fetched, Ok(Some((_, v))) if !matches!(v, Verdict::Again(_)));
        let mut handles = Vec::with_capacity(lanes.len());
        for (tx, handle, _) in lanes {
            if publish {
                // Ignored if the sink already stopped: its error is reported below.
                let _ = tx.send(Message::Done).await;
            }
            handles.push(handle);
        }
        let finished = tokio::task::spawn_blocking(move || {
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| Failure::msg(exit::INTERNAL, "a sink thread panicked"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| Failure::new(exit::INTERNAL, e))??;
        drop(recycle_rx);
        let sink_failed = finished
            .iter()
            .any(|(_, result)| matches!(result, Err(Some(_))));
        match fetched {
            Ok(Some((paging, Verdict::Again(reasons)))) if !sink_failed => {
                Ok(Swept::Again { paging, reasons })
            }
            Ok(Some((paging, verdict))) if !finished.iter().any(|(_, r)| r.is_err()) => {
                Ok(Swept::Written {
                    finished,
                    paging,
                    warning: match verdict {
                        Verdict::Incomplete(warning) => Some(warning),
                        _ => None,
                    },
                })
            }
            outcome => {
                // The fetch's own failure first; else the first sink that failed by itself
                // (not one that only saw the fetch stop because of it).
                let mut error = outcome.err();
                for (mut named, result) in finished {
                    named.sink.abort();
                    if let Err(Some(e)) = result {
                        error.get_or_insert(e);
                    }
                }
                Err(error.unwrap_or_else(|| {
                    Failure::msg(
                        exit::INTERNAL,
                        "the export stopped without a reported failure",
                    )
                }))
            }
        }
    }

    /// The company's date format and, for deliveries, its count summary (held against the
    /// company's counts), read together.
    async fn extras(&self) -> Result<Extras, Failure> {
        let (details, summary) = tokio::join!(self.client.company_details(self.id), async {
            match self.want_summary {
                true => Some(self.client.count_summary(self.id).await),
                false => None,
            }
        });
        let summary = match summary {
            Some(Ok(summary)) => {
                if !keepnet_api::scope::check_count_summary(
                    self.company,
                    &summary,
                    self.scope_tolerance,
                )? {
                    tracing::warn!(
                        company = %self.company.name,
                        "scope guard off for the count summary: it or companies/search lacks \
                         the user counts to check it against"
                    );
                }
                summary_lines(&summary, self.query.statuses)
            }
            Some(Err(e)) => {
                tracing::warn!("count summary unavailable for the e-mail: {e}");
                Vec::new()
            }
            None => Vec::new(),
        };
        Ok(Extras {
            dates: company_dates(self.company, details),
            summary,
        })
    }
}

/// Finishes the sinks that publish on finish (exec plugins), now that every other sink has
/// finished; if one fails, every sink is aborted ([`keepnet_sink::publish::finish_last`]).
fn finish_late(mut finished: Vec<Finished>) -> Result<Vec<Finished>, Failure> {
    let mut sinks: Vec<&mut dyn Sink> = finished
        .iter_mut()
        .map(|(named, _)| named.sink.as_mut() as &mut dyn Sink)
        .collect();
    let result = keepnet_sink::publish::finish_last(&mut sinks);
    drop(sinks);
    match result {
        Ok(()) => Ok(finished),
        Err(failed) => Err(Failure::sink(
            format!("--sink {}", finished[failed.index].0.spec),
            failed.error,
        )),
    }
}

/// Publishes every finished sink (rename into place), in `--sink` order; if one cannot
/// publish, the ones not yet published are aborted ([`keepnet_sink::publish::commit_all`]).
fn commit_all(finished: Vec<Finished>) -> Result<(Vec<Artifact>, Vec<String>), Failure> {
    let mut named: Vec<NamedSink> = finished.into_iter().map(|(sink, _)| sink).collect();
    let mut sinks: Vec<&mut dyn Sink> = named
        .iter_mut()
        .map(|n| n.sink.as_mut() as &mut dyn Sink)
        .collect();
    let result = keepnet_sink::publish::commit_all(&mut sinks);
    drop(sinks);
    match result {
        Ok(published) => {
            let warnings = published
                .warnings
                .into_iter()
                .map(|(index, warning)| {
                    let warning = format!("--sink {}: {warning}", named[index].spec);
                    tracing::warn!("{warning}");
                    warning
                })
                .collect();
            Ok((published.artifacts, warnings))
        }
        Err(failed) => Err(Failure::sink(
            format!("--sink {}", named[failed.index].spec),
            failed.error,
        )),
    }
}

/// Runs every delivery once the files are published, with the count summary read (and held
/// against the company's counts) before the export; without one they still run.
async fn deliver_all(
    mut export: ExportInfo,
    rows: u64,
    artifacts: &[Artifact],
    deliveries: Vec<NamedDelivery>,
    summary: Vec<(String, String)>,
    kept: String,
) -> Result<Vec<String>, Failure> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    export.expected_rows = Some(rows);
    let artifacts = artifacts.to_vec();
    tokio::task::spawn_blocking(move || {
        let report = Report {
            export: &export,
            rows,
            artifacts: &artifacts,
            summary: &summary,
            figures: None,
            changes: None,
        };
        let mut done = Vec::new();
        for (spec, mut delivery) in deliveries {
            match delivery.deliver(&report) {
                Ok(line) => {
                    tracing::info!("--sink {spec}: {line}");
                    done.push(line);
                }
                Err(e) => {
                    return Err(Failure::msg(
                        exit::OUTPUT,
                        format!("delivery failed: --sink {spec}: {e}; {kept}"),
                    ));
                }
            }
        }
        Ok(done)
    })
    .await
    .map_err(|e| Failure::new(exit::INTERNAL, e))?
}

/// What the e-mail says of the users: which were exported, then the count summary as
/// labelled figures.
fn summary_lines(
    summary: &CountSummary,
    statuses: keepnet_api::StatusSet,
) -> Vec<(String, String)> {
    let mut lines = vec![("Exported".to_owned(), statuses.describe())];
    lines.extend(summary.lines());
    lines
}

/// The company's date format, from its settings; unknown (only unambiguous text becomes a
/// date) when they could not be read.
fn company_dates(
    company: &Company,
    details: Result<keepnet_api::CompanyDetails, keepnet_api::Error>,
) -> DateFormat {
    match details {
        Ok(d) => {
            let format =
                DateFormat::from_keepnet(d.date_format.as_deref(), d.time_format.as_deref());
            tracing::debug!(company = %company.name, dates = %format, "company date format");
            format
        }
        Err(e) => {
            tracing::warn!(
                company = %company.name,
                "the company's date format is unknown ({e}): date text that could be read two \
                 ways stays text"
            );
            DateFormat::UNKNOWN
        }
    }
}

/// Warns once per field that appears after the columns were fixed (without `--columns`).
fn warn_unlisted(layout: &Layout, page: &Page<TargetUser>, warned: &mut HashSet<String>) {
    for user in &page.results {
        for key in layout.unlisted(user) {
            if warned.insert(key.to_owned()) {
                tracing::warn!(
                    field = key,
                    page = page.page_number,
                    "the API sent a field that was not on the first page, after the columns \
                     were fixed: it is not in CSV or Excel files (JSON Lines without --columns \
                     has it); name it in --columns to export it"
                );
            }
        }
    }
}

/// One sink's thread: begin at the first page, write every page, finish at the end. On any
/// failure (its own, or the fetch stopping without `Done`) the sink aborts here; on success it
/// is handed back unpublished, for the all-or-nothing commit.
fn lane(
    mut rx: mpsc::Receiver<Message>,
    recycle: std::sync::mpsc::Sender<SharedPage>,
    mut export: ExportInfo,
    mut named: NamedSink,
) -> Finished {
    let spec = named.spec.clone();
    let sink = &mut named.sink;
    let failed = |e: SinkError| Some(Failure::sink(format!("--sink {spec}"), e));
    let mut layout: Option<Arc<Layout>> = None;
    let result = loop {
        match rx.blocking_recv() {
            Some(Message::Start {
                layout: chosen,
                expected_rows,
            }) => {
                export.expected_rows = Some(expected_rows);
                if let Err(e) = sink.begin(&export, chosen.columns()) {
                    break Err(failed(e));
                }
                layout = Some(chosen);
            }
            Some(Message::Page(page)) => {
                let Some(layout) = &layout else {
                    break Err(Some(Failure::msg(
                        exit::INTERNAL,
                        "rows arrived before the columns",
                    )));
                };
                if let Err(e) = write_page(&page, layout, sink.as_mut()) {
                    break Err(failed(e));
                }
                // Freed by the fetch side (or here, if it is gone).
                let _ = recycle.send(page);
            }
            // A sink that publishes on finish goes last, after every other sink finished.
            Some(Message::Done) if layout.is_none() => {
                break Err(Some(Failure::msg(
                    exit::INTERNAL,
                    "the export ended before its columns were known",
                )))
            }
            Some(Message::Done) if sink.finish_last() => break Ok(()),
            Some(Message::Done) => break sink.finish().map_err(failed),
            // The fetch failed, was interrupted, or another sink failed: reported elsewhere.
            None => break Err(None),
        }
    };
    if result.is_err() {
        sink.abort();
    }
    (named, result)
}

fn write_page(
    page: &Page<TargetUser>,
    layout: &Layout,
    sink: &mut dyn Sink,
) -> Result<(), SinkError> {
    let width = layout.columns().len();
    for user in &page.results {
        let prepared = layout.prepare(user);
        let mut row = Vec::with_capacity(width);
        layout.row(user, &prepared, &mut row);
        sink.write_row(&row)?;
    }
    Ok(())
}
