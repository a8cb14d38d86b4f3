//! The output plugin contract of `keepnet-export`.
//!
//! An output format is a type implementing [`Sink`]. The runner fetches a company's target
//! users once and feeds every chosen sink the same rows, in one pass:
//!
//! ```text
//! begin(export, columns) -> write_row(row)* -> finish() -> commit()     (success)
//!                                           \-> abort()                 (any failure anywhere)
//! ```
//!
//! This crate also holds what sinks share, so no sink re-implements it: the column and cell
//! model ([`Column`], [`Cell`]), the spreadsheet formula guard ([`safety`]), and output files
//! that appear only when complete ([`AtomicFile`], [`Output`]).
//!
//! Outputs that act after the files are published (e-mail) implement [`Delivery`] instead: they
//! receive the published [`Artifact`]s, not rows.
//!
//! It has no network or API dependency: a team adding its own format depends on this crate
//! alone.

mod atomic;
mod cell;
mod column;
#[cfg(feature = "conformance")]
pub mod conformance;
mod delivery;
mod error;
mod output;
pub mod publish;
mod read;
pub mod safety;
mod sink;
mod stop;
mod time;

pub use atomic::{create_private_dirs, is_stream_target, AtomicFile, Published};
pub use cell::{Cell, Field};
pub use column::{Column, ColumnKind, HeaderStyle};
pub use delivery::{
    delivered_names, human_size, Changes, Delivery, DeliveryOutcome, Figures, Report,
};
pub use error::{Setting, SinkError};
pub use output::Output;
pub use read::read_regular_file;
pub use sink::{Artifact, ExportInfo, ReadBack, Sink};
pub use stop::{request_stop, stop_requested};
pub use time::{civil_from_days, days_from_civil, Clock, DateFormat, DateOrder, Timestamp};
