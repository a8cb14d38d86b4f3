//! Deliveries: outputs that run after the files are published (e-mail today; a webhook or an
//! upload tomorrow).
//!
//! A [`Sink`](crate::Sink) receives rows while the export streams. A [`Delivery`] receives no
//! rows: it runs once, after every sink committed, and is handed what was published. That order
//! is the point: nothing is sent about files that might still be rolled back, and a failed
//! delivery never takes the published files with it.

use crate::{Artifact, ExportInfo, SinkError};

/// What a delivery is given once the export's files are published.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The export.
    pub export: &'a ExportInfo,
    /// Users exported.
    pub rows: u64,
    /// Files published by the run's sinks, in `--sink` order.
    pub artifacts: &'a [Artifact],
    /// The company's count summary as label/value pairs, in the order the API sent them
    /// (empty when unavailable).
    pub summary: &'a [(String, String)],
}

/// An output that acts on published files, after the rows were written.
pub trait Delivery: Send {
    /// Delivers the report. Everything checkable without I/O (addresses, settings) should be
    /// checked when the delivery is built, before the export starts. Returns a one-line
    /// description of what was done, for the log.
    fn deliver(&mut self, report: &Report<'_>) -> Result<String, SinkError>;
}

impl<D: Delivery + ?Sized> Delivery for Box<D> {
    fn deliver(&mut self, report: &Report<'_>) -> Result<String, SinkError> {
        (**self).deliver(report)
    }
}
