//! One company's users, fetched once, fed to every sink in one pass.
//!
//! The fetch runs on the async runtime; the sinks run on one dedicated thread, fed pages
//! through a small bounded channel, so the network never waits for file writing (or Excel
//! compression) and file writing never blocks the runtime. Publication is all-or-nothing:
//! every sink finishes, then every sink commits; on any failure (API error, sink error,
//! Ctrl-C) every sink aborts and nothing is published.

use std::thread;

use keepnet_api::{Client, Company, CompanyId, Page, PagingReport, TargetUser, UserQuery};
use keepnet_sink::{Artifact, ExportInfo, Report, Sink, SinkError, Timestamp};
use tokio::sync::mpsc;

use crate::columns::Layout;
use crate::exit::{self, Failure};
use crate::sinks::{NamedDelivery, NamedSink, Plan, SinkSpec};

/// Pages buffered between the fetch and the sinks (on top of the fetch window).
const PAGES_IN_FLIGHT: usize = 2;

/// What a successful run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Users written to every sink.
    pub rows: u64,
    /// What paging saw (pages, totals, duplicates).
    pub paging: PagingReport,
    /// Files published.
    pub artifacts: Vec<Artifact>,
    /// One line per delivery done.
    pub delivered: Vec<String>,
}

enum Message {
    Page(Page<TargetUser>),
    Done,
}

/// Fetches `company`'s users once and writes them to `sinks`.
pub async fn run(
    client: &Client,
    company: &Company,
    id: &CompanyId,
    query: UserQuery,
    layout: Layout,
    plan: Plan,
    strict: bool,
) -> Result<Outcome, Failure> {
    let Plan {
        sinks,
        deliveries,
        scratch,
    } = plan;
    let export = ExportInfo {
        company_name: company.name.clone(),
        company_id: company.resource_id.clone(),
        started_at: Timestamp::now(),
        expected_rows: None,
    };
    let (tx, rx) = mpsc::channel::<Message>(PAGES_IN_FLIGHT);
    // Written pages come back to be freed on the thread that allocated them: freeing them on
    // the sink thread made glibc's malloc contend for its arena locks (a fifth of the CPU time
    // of a large export, measured with perf).
    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Page<TargetUser>>();
    let export_for_deliveries = export.clone();
    let writer = thread::Builder::new()
        .name("keepnet-sinks".into())
        .spawn(move || write_all(rx, recycle_tx, export, layout, sinks))
        .map_err(|e| Failure::new(exit::INTERNAL, e))?;

    let fetch = async {
        let mut pager = client.pager(id, query);
        while let Some(page) = pager.next_page().await? {
            tracing::debug!(
                page = page.page_number,
                of = page.total_number_of_pages,
                "page fetched"
            );
            if tx.send(Message::Page(page)).await.is_err() {
                // The writer stopped on an error; its error is the one to report.
                break;
            }
            while let Ok(written) = recycle_rx.try_recv() {
                drop(written);
            }
        }
        Ok::<PagingReport, keepnet_api::Error>(pager.report().clone())
    };
    let fetched = tokio::select! {
        result = fetch => result.map_err(Failure::from).and_then(|report| check_complete(report, strict)),
        _ = tokio::signal::ctrl_c() => Err(Failure::new(
            exit::INTERRUPTED,
            anyhow::anyhow!("interrupted: nothing was published, earlier files are untouched"),
        )),
    };
    if fetched.is_ok() {
        // Ignored if the writer already stopped: its error is reported below.
        let _ = tx.send(Message::Done).await;
    }
    drop(tx);
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| Failure::new(exit::INTERNAL, e))?
        .map_err(|_| Failure::new(exit::INTERNAL, anyhow::anyhow!("the sink thread panicked")))?;
    let paging = fetched?;
    let (rows, artifacts) = written?;
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
        client,
        id,
        export_for_deliveries,
        rows,
        &artifacts,
        deliveries,
        kept,
    )
    .await;
    drop(scratch);
    let delivered = delivered?;
    Ok(Outcome {
        rows,
        paging,
        artifacts,
        delivered,
    })
}

/// Warns when the users read may differ from the server's; under `--strict` that is a failure
/// (and nothing is published).
pub fn check_complete(report: PagingReport, strict: bool) -> Result<PagingReport, Failure> {
    if !report.may_be_incomplete() {
        return Ok(report);
    }
    let message = format!(
        "the export may be incomplete: the server reported {} users at the start and {} at the \
         end; {} were read and {} duplicate(s) dropped (users changed during the run; offset \
         paging can then skip users)",
        report.first_total, report.last_total, report.users, report.duplicates
    );
    if strict {
        return Err(Failure::new(
            exit::INCOMPLETE,
            anyhow::anyhow!(
                "{message}; nothing was published (--strict). Run again when the data is stable."
            ),
        ));
    }
    tracing::warn!("{message}; run again, or pass --strict to fail in this case");
    Ok(report)
}

/// Runs every delivery once the files are published. The count summary is fetched for them;
/// without it they still run.
async fn deliver_all(
    client: &Client,
    id: &CompanyId,
    mut export: ExportInfo,
    rows: u64,
    artifacts: &[Artifact],
    deliveries: Vec<NamedDelivery>,
    kept: String,
) -> Result<Vec<String>, Failure> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    export.expected_rows = Some(rows);
    let summary = match client.count_summary(id).await {
        Ok(value) => summary_pairs(&value),
        Err(e) => {
            tracing::warn!("count summary unavailable for the e-mail: {e}");
            Vec::new()
        }
    };
    let artifacts = artifacts.to_vec();
    tokio::task::spawn_blocking(move || {
        let report = Report {
            export: &export,
            rows,
            artifacts: &artifacts,
            summary: &summary,
        };
        let mut done = Vec::new();
        for (spec, mut delivery) in deliveries {
            match delivery.deliver(&report) {
                Ok(line) => {
                    tracing::info!("--sink {spec}: {line}");
                    done.push(line);
                }
                Err(e) => {
                    return Err(Failure::new(
                        exit::OUTPUT,
                        anyhow::anyhow!("delivery failed: --sink {spec}: {e}; {kept}"),
                    ));
                }
            }
        }
        Ok(done)
    })
    .await
    .map_err(|e| Failure::new(exit::INTERNAL, e))?
}

/// The count summary as label/value pairs, as the API sent them.
fn summary_pairs(value: &serde_json::Value) -> Vec<(String, String)> {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let shown = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), shown)
            })
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![("summary".to_owned(), other.to_string())],
    }
}

/// The sink thread: begin, rows, then finish + commit all, or abort all.
fn write_all(
    mut rx: mpsc::Receiver<Message>,
    recycle: std::sync::mpsc::Sender<Page<TargetUser>>,
    mut export: ExportInfo,
    layout: Layout,
    mut sinks: Vec<NamedSink>,
) -> Result<(u64, Vec<Artifact>), Failure> {
    let failed = |spec: &SinkSpec, e: SinkError| Failure::output(format!("--sink {spec}"), e);
    let abort_all = |sinks: &mut Vec<NamedSink>| {
        for (_, sink) in sinks.iter_mut() {
            sink.abort();
        }
    };
    let mut begun = false;
    let mut rows = 0u64;
    let result: Result<(), Failure> = loop {
        let message = rx.blocking_recv();
        if !begun {
            if let Some(Message::Page(page)) = &message {
                export.expected_rows = Some(page.total_number_of_records);
            }
            if let Some(e) = begin_all(&mut sinks, &export, &layout).err() {
                break Err(e);
            }
            begun = true;
        }
        match message {
            Some(Message::Page(page)) => {
                if let Err(e) = write_page(&page, &layout, &mut sinks) {
                    break Err(e);
                }
                rows += page.results.len() as u64;
                // Freed by the fetch side (or here, if it is gone).
                let _ = recycle.send(page);
            }
            Some(Message::Done) => break Ok(()),
            // The fetch failed or was interrupted: the runner reports why.
            None => break Err(Failure::new(exit::API, anyhow::anyhow!("fetch stopped"))),
        }
    };
    if let Err(e) = result {
        abort_all(&mut sinks);
        return Err(e);
    }
    for (spec, sink) in sinks.iter_mut() {
        if let Err(e) = sink.finish() {
            let error = failed(spec, e);
            abort_all(&mut sinks);
            return Err(error);
        }
    }
    let mut artifacts = Vec::new();
    for (spec, sink) in sinks.iter_mut() {
        match sink.commit() {
            Ok(mut published) => {
                artifacts.append(&mut published);
                for warning in sink.warnings() {
                    tracing::warn!("--sink {spec}: {warning}");
                }
            }
            Err(e) => {
                let error = failed(spec, e);
                abort_all(&mut sinks);
                return Err(error);
            }
        }
    }
    Ok((rows, artifacts))
}

fn begin_all(sinks: &mut [NamedSink], export: &ExportInfo, layout: &Layout) -> Result<(), Failure> {
    for (spec, sink) in sinks.iter_mut() {
        sink.begin(export, layout.columns())
            .map_err(|e| Failure::output(format!("--sink {spec}"), e))?;
    }
    Ok(())
}

fn write_page(
    page: &Page<TargetUser>,
    layout: &Layout,
    sinks: &mut [NamedSink],
) -> Result<(), Failure> {
    let width = layout.columns().len();
    for user in &page.results {
        let fields = layout.fields(user);
        let mut row = Vec::with_capacity(width);
        layout.row(user, &fields, &mut row);
        for (spec, sink) in sinks.iter_mut() {
            sink.write_row(&row)
                .map_err(|e| Failure::output(format!("--sink {spec}"), e))?;
        }
    }
    Ok(())
}
