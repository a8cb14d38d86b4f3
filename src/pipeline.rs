//! One company's users, fetched once, fed to every sink in one pass.
//!
//! The fetch runs on the async runtime; the sinks run on one dedicated thread, fed pages
//! through a small bounded channel, so the network never waits for file writing (or Excel
//! compression) and file writing never blocks the runtime. Publication is all-or-nothing:
//! every sink finishes, then every sink commits; on any failure (API error, sink error,
//! Ctrl-C) every sink aborts and nothing is published.

use std::pin::pin;
use std::thread;

use futures::TryStreamExt;
use keepnet_api::{Client, Company, CompanyId, Page, TargetUser, UserQuery};
use keepnet_sink::{Artifact, ExportInfo, Sink, SinkError, Timestamp};
use tokio::sync::mpsc;

use crate::columns::Layout;
use crate::exit::{self, Failure};
use crate::sinks::{NamedSink, SinkSpec};

/// Pages buffered between the fetch and the sinks.
const PAGES_IN_FLIGHT: usize = 4;

/// What a successful run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Users written to every sink.
    pub rows: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Files published.
    pub artifacts: Vec<Artifact>,
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
    sinks: Vec<NamedSink>,
) -> Result<Outcome, Failure> {
    let export = ExportInfo {
        company_name: company.name.clone(),
        company_id: company.resource_id.clone(),
        started_at: Timestamp::now(),
        expected_rows: None,
    };
    let (tx, rx) = mpsc::channel::<Message>(PAGES_IN_FLIGHT);
    let writer = thread::Builder::new()
        .name("keepnet-sinks".into())
        .spawn(move || write_all(rx, export, layout, sinks))
        .map_err(|e| Failure::new(exit::INTERNAL, e))?;

    let fetch = async {
        let mut pages = pin!(client.user_pages(id, query));
        let mut count = 0u64;
        while let Some(page) = pages.try_next().await? {
            count += 1;
            tracing::debug!(
                page = page.page_number,
                of = page.total_number_of_pages,
                "page fetched"
            );
            if tx.send(Message::Page(page)).await.is_err() {
                // The writer stopped on an error; its error is the one to report.
                break;
            }
        }
        Ok::<u64, keepnet_api::Error>(count)
    };
    let fetched = tokio::select! {
        result = fetch => result.map_err(Failure::from),
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
    let pages = fetched?;
    let (rows, artifacts) = written?;
    Ok(Outcome {
        rows,
        pages,
        artifacts,
    })
}

/// The sink thread: begin, rows, then finish + commit all, or abort all.
fn write_all(
    mut rx: mpsc::Receiver<Message>,
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
