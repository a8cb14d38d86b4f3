//! One consumer of a company's pages on a thread of its own: a sink, or the change tracker
//! ([`crate::changes`]). The pipeline hands every lane the same shared pages; a lane begins at
//! the first, writes each, finishes at the end, and on any failure (its own, or the fetch
//! stopping) aborts, so a consumer is either finished (ready to publish) or aborted.

use std::sync::Arc;

use keepnet_api::{Page, TargetUser};
use keepnet_sink::{ExportInfo, SinkError};
use tokio::sync::mpsc;

use crate::columns::Layout;
use crate::exit::{self, Failure};
use crate::sinks::NamedSink;

/// A page shared by every lane.
pub type SharedPage = Arc<Page<TargetUser>>;

/// What the fetch sends each lane.
pub enum Message {
    /// The columns (fixed once page 1 is in) and the rows the server announced.
    Start {
        /// The columns this lane writes.
        layout: Arc<Layout>,
        /// Users the server announced.
        expected_rows: u64,
    },
    /// The next page.
    Page(SharedPage),
    /// Every page was sent and the read is to be published: finish.
    Done,
}

/// What a lane feeds.
pub trait Consumer: Send {
    /// The columns are known.
    fn begin(&mut self, export: &ExportInfo, layout: &Arc<Layout>) -> Result<(), Failure>;
    /// One page of users, in the columns of `layout`.
    fn write(&mut self, page: &Page<TargetUser>, layout: &Layout) -> Result<(), Failure>;
    /// Every page was written and the read is to be published.
    fn finish(&mut self) -> Result<(), Failure>;
    /// The read is not to be published: take back what was written.
    fn abort(&mut self);
}

/// A consumer back from its thread, with how its writing went: `Err(None)` when it stopped
/// because the fetch did (another lane's failure, or the API's, is the one to report).
pub type Finished<C> = (C, Result<(), Option<Failure>>);

/// The lane loop: begin at `Start`, write every page, finish at `Done`; abort on any failure
/// or when the channel closes without `Done`. Written pages go back through `recycle`, to be
/// freed on the thread that allocated them.
pub fn run<C: Consumer>(
    mut rx: mpsc::Receiver<Message>,
    recycle: std::sync::mpsc::Sender<SharedPage>,
    mut export: ExportInfo,
    mut consumer: C,
) -> Finished<C> {
    let mut layout: Option<Arc<Layout>> = None;
    let result = loop {
        match rx.blocking_recv() {
            Some(Message::Start {
                layout: chosen,
                expected_rows,
            }) => {
                export.expected_rows = Some(expected_rows);
                if let Err(e) = consumer.begin(&export, &chosen) {
                    break Err(Some(e));
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
                if let Err(e) = consumer.write(&page, layout) {
                    break Err(Some(e));
                }
                // Freed by the fetch side (or here, if it is gone).
                let _ = recycle.send(page);
            }
            Some(Message::Done) if layout.is_none() => {
                break Err(Some(Failure::msg(
                    exit::INTERNAL,
                    "the export ended before its columns were known",
                )))
            }
            Some(Message::Done) => break consumer.finish().map_err(Some),
            // The fetch failed, was interrupted, or another lane failed: reported elsewhere.
            None => break Err(None),
        }
    };
    if result.is_err() {
        consumer.abort();
    }
    (consumer, result)
}

impl NamedSink {
    fn failed(&self, e: SinkError) -> Failure {
        Failure::sink(&self.label, e)
    }
}

impl Consumer for NamedSink {
    fn begin(&mut self, export: &ExportInfo, layout: &Arc<Layout>) -> Result<(), Failure> {
        self.sink
            .begin(export, layout.columns())
            .map_err(|e| self.failed(e))
    }

    fn write(&mut self, page: &Page<TargetUser>, layout: &Layout) -> Result<(), Failure> {
        write_page(page, layout, |row| self.sink.write_row(row)).map_err(|e| self.failed(e))
    }

    /// A sink that publishes on finish (a plugin) goes last, after every other sink finished
    /// ([`keepnet_sink::publish::finish_last`]).
    fn finish(&mut self) -> Result<(), Failure> {
        match self.sink.finish_last() {
            true => Ok(()),
            false => self.sink.finish().map_err(|e| self.failed(e)),
        }
    }

    fn abort(&mut self) {
        self.sink.abort();
    }
}

/// Each user of `page` as a row of `layout`'s cells, handed to `write`.
pub fn write_page<E>(
    page: &Page<TargetUser>,
    layout: &Layout,
    mut write: impl FnMut(&[keepnet_sink::Cell<'_>]) -> Result<(), E>,
) -> Result<(), E> {
    let width = layout.columns().len();
    for user in &page.results {
        let prepared = layout.prepare(user);
        let mut row = Vec::with_capacity(width);
        layout.row(user, &prepared, &mut row);
        write(&row)?;
    }
    Ok(())
}
