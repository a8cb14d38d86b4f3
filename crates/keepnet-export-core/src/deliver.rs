//! Deliveries, once every file is published: the ones that send files (e-mail, S3, SFTP) in
//! `--sink` order, each handed encrypted copies when its `encrypt` option asks for them, then
//! the notices (webhooks), told what the others did.
//!
//! Every delivery runs even when an earlier one failed (they are independent: a refused
//! e-mail is no reason not to upload), and a notice reports the failure. Any failure fails the
//! company with exit 6, after all of them ran; the published files stay on disk.

use std::path::Path;

use keepnet_sink::{
    Artifact, Changes, DeliveryOutcome, ExportInfo, Figures, Report, Setting, SinkError,
};

use crate::exit::{self, Failure};
use crate::sinks::NamedDelivery;

/// What deliveries are told besides the files.
pub(crate) struct Told {
    /// The count summary as label/value lines.
    pub summary: Vec<(String, String)>,
    /// The company's figures.
    pub figures: Option<Figures>,
    /// What changed since the previous state.
    pub changes: Option<Changes>,
}

/// What one delivery did, for the run's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// How the user wrote it (a secret target cut to its host).
    pub output: String,
    /// Its kind.
    pub kind: String,
    /// Its one-line account of what it did.
    pub line: String,
    /// How the files it sent were encrypted (`zip-aes`, `age`), if they were.
    pub encryption: Option<String>,
    /// The files it was handed: the published files, or their encrypted copies (whose paths
    /// were in a private folder, removed since; their names, sizes and hashes stay true).
    pub files: Vec<Artifact>,
}

/// Runs every delivery (see the module docs). `kept` says where the files are, for a failure.
pub(crate) async fn deliver_all(
    export: ExportInfo,
    rows: u64,
    artifacts: &[Artifact],
    deliveries: Vec<NamedDelivery>,
    told: Told,
    kept: String,
) -> Result<Vec<Done>, Failure> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let artifacts = artifacts.to_vec();
    tokio::task::spawn_blocking(move || {
        run_all(&export, rows, &artifacts, deliveries, &told, &kept)
    })
    .await
    .map_err(|e| Failure::new(exit::INTERNAL, e))?
}

/// The deliveries in their order: those that send files first, notices last.
fn run_all(
    export: &ExportInfo,
    rows: u64,
    published: &[Artifact],
    deliveries: Vec<NamedDelivery>,
    told: &Told,
    kept: &str,
) -> Result<Vec<Done>, Failure> {
    let (mut ordered, notices): (Vec<_>, Vec<_>) = deliveries.into_iter().partition(|d| !d.last);
    ordered.extend(notices);
    let mut copies = Copies::default();
    let mut before: Vec<DeliveryOutcome> = Vec::new();
    let mut done = Vec::new();
    let mut failed: Vec<(String, SinkError)> = Vec::new();
    for mut named in ordered {
        let files = match &named.encryption {
            None => Ok(published.to_vec()),
            Some(encryption) => copies.of(encryption, published),
        };
        let result = files.and_then(|files| {
            let report = Report {
                export,
                rows,
                artifacts: &files,
                published,
                encryption: named.encryption.as_ref().map(|e| e.name()),
                summary: &told.summary,
                figures: told.figures.as_ref(),
                changes: told.changes.as_ref(),
                before: &before,
            };
            named.delivery.deliver(&report).map(|line| (line, files))
        });
        match result {
            Ok((line, files)) => {
                tracing::info!("{}: {line}", named.label);
                before.push(DeliveryOutcome {
                    kind: named.kind.clone(),
                    line: line.clone(),
                    ok: true,
                });
                done.push(Done {
                    output: named.label,
                    kind: named.kind,
                    line,
                    encryption: named.encryption.as_ref().map(|e| e.name().to_owned()),
                    files,
                });
            }
            Err(e) => {
                tracing::error!("delivery failed: {}: {e}", named.label);
                before.push(DeliveryOutcome {
                    kind: named.kind.clone(),
                    line: e.to_string(),
                    ok: false,
                });
                failed.push((named.label, e));
            }
        }
    }
    let mut failed = failed.into_iter();
    let Some((label, first)) = failed.next() else {
        return Ok(done);
    };
    let setting: Option<Setting> = first.setting();
    let mut message = format!("delivery failed: {label}: {first}");
    for (label, e) in failed {
        message.push_str(&format!("; and {label}: {e}"));
    }
    if !done.is_empty() {
        let names: Vec<&str> = done.iter().map(|d| d.output.as_str()).collect();
        message.push_str(&format!("; delivered: {}", names.join(", ")));
    }
    Err(Failure::msg(exit::OUTPUT, format!("{message}; {kept}")).with_setting(setting))
}

/// Encrypted copies of the published files, made once per encryption, in a private folder
/// removed when the deliveries are done.
#[derive(Default)]
struct Copies {
    dir: Option<tempfile::TempDir>,
    /// By encryption (its `Debug` text: the method and the recipients, never a password).
    made: Vec<(String, Vec<Artifact>)>,
}

impl Copies {
    fn of(
        &mut self,
        encryption: &keepnet_encrypt::Encryption,
        published: &[Artifact],
    ) -> Result<Vec<Artifact>, SinkError> {
        let key = format!("{encryption:?}");
        if let Some((_, files)) = self.made.iter().find(|(k, _)| *k == key) {
            return Ok(files.clone());
        }
        if self.dir.is_none() {
            self.dir = Some(
                tempfile::Builder::new()
                    .prefix("keepnet-export-encrypted-")
                    .tempdir()
                    .map_err(|e| SinkError::io(std::env::temp_dir(), e))?,
            );
        }
        let root = self
            .dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("."));
        // One folder per encryption, so two of them never write the same name.
        let dir = root.join(self.made.len().to_string());
        std::fs::create_dir(&dir).map_err(|e| SinkError::io(&dir, e))?;
        let files = published
            .iter()
            .map(|artifact| {
                keepnet_encrypt::encrypt(encryption, artifact, &dir).map_err(|e| {
                    SinkError::Invalid(format!(
                        "cannot encrypt {} ({}): {e}",
                        artifact.path.display(),
                        encryption.name()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.made.push((key, files.clone()));
        Ok(files)
    }
}
