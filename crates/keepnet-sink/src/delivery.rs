//! Deliveries: outputs that run after the files are published (e-mail, uploads, webhooks).
//!
//! A [`Sink`](crate::Sink) receives rows while the export streams. A [`Delivery`] receives no
//! rows: it runs once, after every sink committed, and is handed what was published. That order
//! is the point: nothing is sent about files that might still be rolled back, and a failed
//! delivery never takes the published files with it.

use std::path::PathBuf;

use crate::{Artifact, ExportInfo, SinkError};

/// What a delivery is given once the export's files are published.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The export.
    pub export: &'a ExportInfo,
    /// Users exported.
    pub rows: u64,
    /// The files to deliver, in `--sink` order: the published files, or with `--encrypt`
    /// their encrypted copies (`Acme.csv.zip`, `Acme.csv.age`, in a private folder). A
    /// delivery sends these and only these.
    pub artifacts: &'a [Artifact],
    /// The files as published on disk, in the same order (the same as `artifacts` without
    /// encryption): for a notice that names them.
    pub published: &'a [Artifact],
    /// How `artifacts` were encrypted (`zip-aes`, `age`); `None` when they are the published
    /// files themselves.
    pub encryption: Option<&'a str>,
    /// The company's count summary as label/value pairs, in the order the API sent them
    /// (empty when unavailable).
    pub summary: &'a [(String, String)],
    /// The company's figures (counts, licence, users added per month), when its count summary
    /// was read.
    pub figures: Option<&'a Figures>,
    /// What changed since the previous run (`--state`); `None` when no state is kept.
    pub changes: Option<&'a Changes>,
    /// The deliveries that ran before this one, in order: a notice (a webhook, which runs
    /// after every delivery that sends files) reports them.
    pub before: &'a [DeliveryOutcome],
}

/// What one delivery did, for the deliveries after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// The delivery's kind (`email`, `sftp`, `s3`).
    pub kind: String,
    /// Its one-line description of what it did, or why it failed.
    pub line: String,
    /// Whether it succeeded.
    pub ok: bool,
}

/// One company's user figures, for a report: its count summary and its licence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Active users (not deleted).
    pub active: Option<u64>,
    /// Inactive users (not deleted).
    pub inactive: Option<u64>,
    /// Deleted users the platform still lists.
    pub deleted: Option<u64>,
    /// Users the licence allows, when it limits them. The licence counts active, non-deleted
    /// users only.
    pub licence_limit: Option<u64>,
    /// Users added per month, oldest first, as the count summary sends them: a label (e.g.
    /// `2026-11` or `Nov 2026`) and a count.
    pub monthly: Vec<(String, u64)>,
}

impl Figures {
    /// Active users over the licence limit (0 when within it); `None` without a limit or
    /// without the active count.
    pub fn over_limit(&self) -> Option<u64> {
        Some(self.active?.saturating_sub(self.licence_limit?))
    }
}

/// What changed in a company's users since the previous run that kept a state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// No previous state: this run is the baseline, so nothing is counted as a change.
    pub baseline: bool,
    /// Users in this run who were not in the previous one.
    pub joined: u64,
    /// Users in the previous run who are not in this one.
    pub left: u64,
    /// Users in both whose exported fields differ.
    pub changed: u64,
    /// The first few who joined, as `First Last <email>` (or what is known of them), in
    /// resourceId order.
    pub joined_names: Vec<String>,
    /// The first few who left, likewise.
    pub left_names: Vec<String>,
    /// The published file holding every change, when one was written (it is also among the
    /// artifacts).
    pub list: Option<PathBuf>,
}

impl Changes {
    /// How many names [`Changes::joined_names`] and [`Changes::left_names`] hold at most.
    pub const NAMES_SHOWN: usize = 10;

    /// Whether anything joined, left or changed.
    pub fn any(&self) -> bool {
        self.joined + self.left + self.changed > 0
    }
}

/// The names `artifacts` go out under, in order: each one's file name, which must be UTF-8,
/// and no two alike (side by side in `into`, a folder or a bucket prefix, one would replace
/// the other).
pub fn delivered_names<'a>(
    artifacts: &'a [Artifact],
    into: &str,
) -> Result<Vec<&'a str>, SinkError> {
    let mut names: Vec<&str> = Vec::with_capacity(artifacts.len());
    for artifact in artifacts {
        let name = artifact
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                SinkError::Invalid(format!(
                    "cannot send {}: its file name is not UTF-8",
                    artifact.path.display()
                ))
            })?;
        if names.contains(&name) {
            return Err(SinkError::Invalid(format!(
                "two files to send are named `{name}`: one would replace the other in {into}"
            )));
        }
        names.push(name);
    }
    Ok(names)
}

/// A size for people: `1 byte`, `812 bytes`, `12.3 KiB`, `4.0 MiB` (binary units, one
/// decimal), for every delivery's messages.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} byte{}", if bytes == 1 { "" } else { "s" });
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
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
