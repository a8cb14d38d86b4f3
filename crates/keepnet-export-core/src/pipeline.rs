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

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use keepnet_api::{
    Client, Company, CompanyId, CountSummary, Page, PagingReport, ScopeLimit, TargetUser, UserQuery,
};
use keepnet_sink::{Artifact, Changes, DateFormat, ExportInfo, Figures, Sink, Timestamp};
use tokio::sync::mpsc;

use crate::changes::{StateKeeping, Track, Tracked};
use crate::columns::{Layout, UnknownFields};
use crate::exit::{self, Failure};
use crate::lane::{self, Message, SharedPage};
use crate::progress::CompanyProgress;
use crate::sinks::{NamedSink, Plan};

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
    pub delivered: Vec<crate::deliver::Done>,
    /// What the user should know: an incomplete export, cells a format had to cut.
    pub warnings: Vec<String>,
    /// What changed since the previous state (`--state`); `None` without one.
    pub changes: Option<Changes>,
    /// The company's figures, when its count summary was read (deliveries, rollups).
    pub figures: Option<Figures>,
    /// The state file written, when the state advanced.
    pub state_file: Option<PathBuf>,
}

/// A sink back from its thread, with how its writing went.
type Finished = lane::Finished<NamedSink>;

/// Label/value lines of the count summary, for deliveries.
type SummaryLines = Vec<(String, String)>;

/// Builds the sinks and the change sinks of a plan again, fresh, for another sweep.
pub type Rebuild<'a> = &'a (dyn Fn() -> Result<(Vec<NamedSink>, Vec<NamedSink>), Failure> + Sync);

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
    /// Where the state is kept, for a change report (`--state`).
    pub state: Option<StateKeeping>,
    /// Send no delivery when a previous state exists and nothing changed.
    pub skip_unchanged_mail: bool,
    /// Read the count summary even without deliveries (a rollup wants the figures).
    pub want_figures: bool,
    /// Where the settings came from, for messages that name them.
    pub names: crate::names::Names,
}

/// What the export needs besides the users, read once with the first page: the company's
/// date format and, for deliveries and rollups, its count summary.
#[derive(Clone)]
struct Extras {
    dates: DateFormat,
    summary: SummaryLines,
    figures: Option<Figures>,
    /// Why the count summary was left out, when it was.
    note: Option<String>,
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
        /// Boxed: the tracker holds a whole state, and `Again` holds nothing of the kind.
        track: Option<Box<Track>>,
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
        state,
        skip_unchanged_mail,
        want_figures,
        names,
    } = job;
    let Plan {
        mut sinks,
        changes: change_sinks,
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
        want_summary: !deliveries.is_empty() || want_figures,
        scope_tolerance,
    };
    // A state that cannot be read fails now, before anything is fetched.
    let previous = match &state {
        Some(keeping) => Some(keeping.load(company.resource_id.as_str())?.map(Arc::new)),
        None => None,
    };
    let new_track = |sinks: Vec<NamedSink>| {
        previous
            .as_ref()
            .zip(state.as_ref())
            .map(|(previous, keeping)| Track::new(previous.clone(), &export, keeping, sinks))
    };
    let mut track = new_track(change_sinks);
    let mut extras: Option<Extras> = None;
    let (mut pages, mut retries) = (0, 0);
    let mut sweep = 1;
    let (mut finished, track, mut paging, warning) = loop {
        // A stream cannot be taken back: with one, the users are read once.
        let stream = sinks
            .iter()
            .find(|s| !s.retractable)
            .map(|s| s.spec.to_string());
        let judge = |report: &PagingReport| {
            let allowed = allow_incomplete.then_some(&names.allow_incomplete);
            crate::completeness::judge(report, sweep, stream.as_deref(), allowed)
        };
        let swept = settings
            .sweep(sinks, track.take(), &mut extras, progress, judge)
            .await?;
        match swept {
            Swept::Written {
                finished,
                track,
                paging,
                warning,
            } => break (finished, track, paging, warning),
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
                let (fresh, fresh_changes) = rebuild()?;
                sinks = fresh;
                track = new_track(fresh_changes);
            }
        }
    };
    paging.pages += pages;
    paging.retries += retries;
    let extras = extras.unwrap_or_else(|| Extras {
        dates: DateFormat::UNKNOWN,
        summary: Vec::new(),
        figures: None,
        note: None,
    });
    // The change sinks publish with the others, all or nothing.
    let mut tracked: Option<Tracked> = None;
    let mut change_paths: Vec<PathBuf> = Vec::new();
    if let Some(mut track) = track {
        tracked = track.tracked.take();
        change_paths = track
            .sinks
            .iter()
            .map(|s| s.spec.path().to_owned())
            .collect();
        finished.extend(track.sinks.drain(..).map(|sink| (sink, Ok(()))));
    }
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
    // Once per company, however many sweeps it took: the rows kept are exactly the selection.
    if let Some(note) = paging.filter_note() {
        tracing::warn!(company = %company.name, "{note}");
        warnings.insert(0, note);
    }
    warnings.extend(extras.note.clone());
    let changes = tracked.as_mut().map(|t| {
        for warning in &t.warnings {
            tracing::warn!(company = %company.name, "{warning}");
        }
        warnings.append(&mut t.warnings);
        let mut changes = t.changes.clone();
        changes.list = artifacts
            .iter()
            .find(|a| change_paths.contains(&a.path))
            .map(|a| a.path.clone());
        tracing::info!(
            company = %company.name,
            baseline = changes.baseline,
            joined = changes.joined,
            left = changes.left,
            changed = changes.changed,
            "changes since the previous state"
        );
        changes
    });
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
        format!(
            "the CSV made for the e-mail was discarded; add {} to keep a copy",
            names.sinks.shown("csv:PATH")
        )
    } else {
        format!(
            "the exported files are still on disk: {}",
            paths(&artifacts)
        )
    };
    let unchanged = changes.as_ref().is_some_and(|c| !c.baseline && !c.any());
    let deliveries = match skip_unchanged_mail && unchanged && !deliveries.is_empty() {
        true => {
            let because = crate::names::Names::because(&names.mail_skip_unchanged);
            tracing::info!(company = %company.name, "nothing changed since the previous state: no e-mail sent{because}");
            warnings.push(format!("nothing changed: no e-mail sent{because}"));
            Vec::new()
        }
        false => deliveries,
    };
    let mut told_export = export.clone();
    told_export.expected_rows = Some(rows);
    let delivered = crate::deliver::deliver_all(
        told_export,
        rows,
        &artifacts,
        deliveries,
        crate::deliver::Told {
            summary: extras.summary,
            figures: extras.figures.clone(),
            changes: changes.clone(),
        },
        kept,
    )
    .await;
    drop(scratch);
    let delivered = delivered?;
    // The state advances last: only a run that published everything, complete, and delivered.
    let state_file = match (state, tracked) {
        (Some(_), Some(_)) if incomplete => {
            let warning = "the state was not advanced: the export is incomplete, so the next run \
                 compares against the previous state"
                .to_owned();
            tracing::warn!(company = %company.name, "{warning}");
            warnings.push(warning);
            None
        }
        (Some(keeping), Some(tracked)) => {
            let path = keeping.save(&tracked.state).map_err(|e| {
                e.with_note(format!(
                    "the files were published; the next run compares against the previous state. {}",
                    published_list(&artifacts)
                ))
            })?;
            tracing::info!(path = %path.display(), users = tracked.state.len(), "state advanced");
            Some(path)
        }
        _ => None,
    };
    Ok(Outcome {
        rows,
        paging,
        sweeps: sweep,
        incomplete,
        artifacts,
        delivered,
        warnings,
        changes,
        figures: extras.figures,
        state_file,
    })
}

/// The published files, for a message.
fn published_list(artifacts: &[Artifact]) -> String {
    format!("Published: {}", paths(artifacts))
}

/// The files' paths, comma-separated.
fn paths(artifacts: &[Artifact]) -> String {
    artifacts
        .iter()
        .map(|a| a.path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Sweep<'_> {
    /// One read of every page into `sinks`, each on its own thread. `judge` decides, once the
    /// last page is in, whether the sinks finish (publishable) or discard what they wrote.
    async fn sweep(
        &self,
        sinks: Vec<NamedSink>,
        track: Option<Track>,
        extras: &mut Option<Extras>,
        progress: &mut dyn CompanyProgress,
        judge: impl Fn(&PagingReport) -> Result<crate::completeness::Verdict, Failure>,
    ) -> Result<Swept, Failure> {
        use crate::completeness::Verdict;
        // Written pages come back to be freed on the thread that allocated them: freeing them
        // on the sink threads made glibc's malloc contend for its arena locks (a fifth of the
        // CPU time of a large export, measured with perf).
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<SharedPage>();
        // Each lane's sender, and whether it takes whole records instead of the file columns.
        let mut senders = Vec::with_capacity(sinks.len() + 1);
        let mut handles = Vec::with_capacity(sinks.len());
        let spawn = |senders: &mut Vec<_>, records: bool| {
            let (tx, rx) = mpsc::channel::<Message>(PAGES_IN_FLIGHT);
            senders.push((tx, records));
            (rx, recycle_tx.clone(), self.export.clone())
        };
        for named in sinks {
            let records = named.records && self.layout.is_default();
            let (rx, recycle, export) = spawn(&mut senders, records);
            handles.push(
                thread::Builder::new()
                    // A fixed name: naming threads after their (arbitrarily long) output path
                    // made a million-row CSV export 25% slower with long paths (measured:
                    // 4.3 s against 3.45 s; allocator behaviour, not understood further).
                    .name("keepnet-sink".to_owned())
                    .spawn(move || lane::run(rx, recycle, export, named))
                    .map_err(|e| Failure::new(exit::INTERNAL, e))?,
            );
        }
        let track_handle = match track {
            Some(track) => {
                let (rx, recycle, export) = spawn(&mut senders, false);
                Some(
                    thread::Builder::new()
                        .name("keepnet-changes".to_owned())
                        .spawn(move || lane::run(rx, recycle, export, track))
                        .map_err(|e| Failure::new(exit::INTERNAL, e))?,
                )
            }
            None => None,
        };
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
            for (tx, records) in &senders {
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
            let mut unknown = UnknownFields::default();
            let mut next = first;
            // Progress counts the rows served, as the total does: with a server that ignores
            // the status filter, more than the rows kept.
            let mut served = 0;
            while let Some(page) = next {
                unknown.check(&file_layout, &page, |field| warn_unlisted(field, &page))?;
                progress.advance(pager.report().served - served);
                served = pager.report().served;
                tracing::debug!(
                    page = page.page_number,
                    of = page.total_number_of_pages,
                    "page fetched"
                );
                let page = Arc::new(page);
                for (tx, _) in &senders {
                    if tx.send(Message::Page(page.clone())).await.is_err() {
                        // A lane stopped on an error; its error is the one to report.
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
        // Ok(None): a lane stopped the fetch by failing.
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
        // Done tells a lane to finish; without it (dropped channel) the lane discards.
        let publish = matches!(&fetched, Ok(Some((_, v))) if !matches!(v, Verdict::Again(_)));
        for (tx, _) in senders {
            if publish {
                // Ignored if the lane already stopped: its error is reported below.
                let _ = tx.send(Message::Done).await;
            }
        }
        let (finished, track) = tokio::task::spawn_blocking(move || {
            let panicked = || Failure::msg(exit::INTERNAL, "a sink thread panicked");
            let finished = handles
                .into_iter()
                .map(|h| h.join().map_err(|_| panicked()))
                .collect::<Result<Vec<_>, _>>()?;
            let track = match track_handle {
                Some(h) => Some(h.join().map_err(|_| panicked())?),
                None => None,
            };
            Ok::<_, Failure>((finished, track))
        })
        .await
        .map_err(|e| Failure::new(exit::INTERNAL, e))??;
        drop(recycle_rx);
        let results = || {
            finished
                .iter()
                .map(|(_, r)| r)
                .chain(track.as_ref().map(|(_, r)| r))
        };
        let lane_failed = results().any(|r| matches!(r, Err(Some(_))));
        let all_written = results().all(|r| r.is_ok());
        match fetched {
            Ok(Some((paging, Verdict::Again(reasons)))) if !lane_failed => {
                Ok(Swept::Again { paging, reasons })
            }
            Ok(Some((paging, verdict))) if all_written => Ok(Swept::Written {
                finished,
                track: track.map(|(t, _)| Box::new(t)),
                paging,
                warning: match verdict {
                    Verdict::Incomplete(warning) => Some(warning),
                    _ => None,
                },
            }),
            outcome => {
                // The fetch's own failure first; else the first lane that failed by itself
                // (not one that only saw the fetch stop because of it).
                let mut error = outcome.err();
                for (mut named, result) in finished {
                    named.sink.abort();
                    if let Err(Some(e)) = result {
                        error.get_or_insert(e);
                    }
                }
                if let Some((mut track, result)) = track {
                    lane::Consumer::abort(&mut track);
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
        let mut note = None;
        let (summary, figures) = match summary {
            Some(Ok(summary)) => {
                match keepnet_api::scope::check_count_summary(
                    self.company,
                    &summary,
                    self.scope_tolerance,
                ) {
                    Ok(true) => (
                        summary_lines(&summary, self.query.statuses),
                        Some(figures(self.company, &summary)),
                    ),
                    Ok(false) => {
                        tracing::warn!(
                            company = %self.company.name,
                            "scope guard off for the count summary: it or companies/search \
                             lacks the user counts to check it against"
                        );
                        (
                            summary_lines(&summary, self.query.statuses),
                            Some(figures(self.company, &summary)),
                        )
                    }
                    // Whether the count summary honours the company header is a guess: when
                    // it does not, its figures are every customer's. The users were checked on
                    // their own, so the export goes on without the figures.
                    Err(e) => {
                        let text = format!(
                            "the count summary was left out of the report: {e}; the users \
                             exported were checked against the company's counts on their own"
                        );
                        tracing::warn!(company = %self.company.name, "{text}");
                        note = Some(text);
                        (
                            vec![("Exported".to_owned(), self.query.statuses.describe())],
                            None,
                        )
                    }
                }
            }
            Some(Err(e)) => {
                tracing::warn!("count summary unavailable for the e-mail: {e}");
                (Vec::new(), None)
            }
            None => (Vec::new(), None),
        };
        Ok(Extras {
            dates: company_dates(self.company, details),
            summary,
            figures,
            note,
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
        Err(failed) => Err(Failure::sink(&finished[failed.index].0.label, failed.error)),
    }
}

/// Publishes every finished sink (rename into place), in the order given; if one cannot
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
                    let warning = format!("{}: {warning}", named[index].label);
                    tracing::warn!("{warning}");
                    warning
                })
                .collect();
            Ok((published.artifacts, warnings))
        }
        Err(failed) => Err(Failure::sink(&named[failed.index].label, failed.error)),
    }
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

/// The company's figures for a report: the count summary's counts and monthly series, and
/// the licence limit from the company listing.
pub fn figures(company: &Company, summary: &CountSummary) -> Figures {
    Figures {
        active: summary.active,
        inactive: summary.inactive,
        deleted: summary.deleted,
        licence_limit: licence_limit(company),
        monthly: summary
            .monthly
            .iter()
            .map(|m| {
                let label = m
                    .period
                    .clone()
                    .or_else(|| m.period_start.as_ref().map(|s| s.chars().take(7).collect()))
                    .unwrap_or_default();
                (label, m.count.unwrap_or(0))
            })
            .collect(),
    }
}

/// The users a company's licence allows, when it limits them (`numberOfUsers` is sent as
/// text).
pub fn licence_limit(company: &Company) -> Option<u64> {
    match company.is_number_of_users_limited {
        Some(false) => None,
        _ => company.number_of_users.as_deref()?.trim().parse().ok(),
    }
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

/// Warns of a field that appeared after the columns were fixed (without `--columns`); called
/// once per field.
fn warn_unlisted(field: &str, page: &Page<TargetUser>) {
    tracing::warn!(
        field,
        page = page.page_number,
        "the API sent a field that was not on the first page, after the columns were fixed: it \
         is not in CSV or Excel files (JSON Lines without chosen columns has it); name it among \
         the columns to export it"
    );
}
