//! Deliveries, once every file is published: the ones that send files (e-mail, S3, SFTP) in
//! `--sink` order, each handed encrypted copies when its `encrypt` option asks for them, then
//! the notices (webhooks), told what the others did.
//!
//! Every delivery runs even when an earlier one failed (they are independent: a refused
//! e-mail is no reason not to upload), and a notice reports the failure. Any failure fails the
//! company with exit 6, after all of them ran; the published files stay on disk.

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
        let root = match &self.dir {
            Some(dir) => dir.path().to_path_buf(),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("keepnet-export-encrypted-")
                    .tempdir()
                    .map_err(|e| SinkError::io(std::env::temp_dir(), e))?;
                let root = dir.path().to_path_buf();
                self.dir = Some(dir);
                root
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use keepnet_sink::{Delivery, Timestamp};

    /// A delivery that records what it was handed, and fails when told to.
    struct Recorder {
        name: &'static str,
        fail: bool,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Delivery for Recorder {
        fn deliver(&mut self, report: &Report<'_>) -> Result<String, SinkError> {
            let files: Vec<String> = report
                .artifacts
                .iter()
                .map(|a| a.path.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
            let before: Vec<String> = report
                .before
                .iter()
                .map(|b| format!("{}={}", b.kind, b.ok))
                .collect();
            self.seen.lock().unwrap().push(format!(
                "{} files={} before={}",
                self.name,
                files.join(","),
                before.join(",")
            ));
            match self.fail {
                true => Err(SinkError::Invalid(format!("{} refused", self.name))),
                false => Ok(format!("{} done", self.name)),
            }
        }
    }

    fn named(
        name: &'static str,
        fail: bool,
        last: bool,
        encryption: Option<keepnet_encrypt::Encryption>,
        seen: &Arc<Mutex<Vec<String>>>,
    ) -> NamedDelivery {
        NamedDelivery {
            label: format!("--sink {name}:x"),
            kind: name.to_owned(),
            delivery: Box::new(Recorder {
                name,
                fail,
                seen: Arc::clone(seen),
            }),
            encryption,
            last,
        }
    }

    fn export() -> ExportInfo {
        ExportInfo {
            company_name: "Initech".into(),
            company_id: "c1".into(),
            started_at: Timestamp::parse("2026-12-03T10:00:00Z").unwrap(),
            expected_rows: Some(1),
        }
    }

    fn told() -> Told {
        Told {
            summary: Vec::new(),
            figures: None,
            changes: None,
        }
    }

    fn published(dir: &Path) -> Vec<Artifact> {
        let path = dir.join("Initech.csv");
        std::fs::write(&path, "email\na@initech.example\n").unwrap();
        vec![Artifact {
            path,
            media_type: "text/csv".into(),
            bytes: 24,
            rows: 1,
            sha256: None,
        }]
    }

    #[test]
    fn notices_run_last_every_delivery_runs_and_failures_are_all_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = published(dir.path());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let deliveries = vec![
            named("webhook", false, true, None, &seen),
            named("email", true, false, None, &seen),
            named("sftp", false, false, None, &seen),
        ];
        let err = run_all(
            &export(),
            1,
            &files,
            deliveries,
            &told(),
            "kept: Initech.csv",
        )
        .unwrap_err();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "email files=Initech.csv before=",
                "sftp files=Initech.csv before=email=false",
                "webhook files=Initech.csv before=email=false,sftp=true",
            ],
            "file deliveries in order, the notice last and told of both"
        );
        assert_eq!(err.code(), exit::OUTPUT);
        let message = err.to_string();
        assert!(
            message.starts_with("delivery failed: --sink email:x: email refused"),
            "{message}"
        );
        assert!(
            message.contains("delivered: --sink sftp:x, --sink webhook:x"),
            "{message}"
        );
        assert!(message.ends_with("kept: Initech.csv"), "{message}");
    }

    #[test]
    fn encrypted_copies_are_made_once_per_encryption_and_only_for_who_asks() {
        let dir = tempfile::tempdir().unwrap();
        let files = published(dir.path());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let zip = || {
            keepnet_encrypt::Encryption::parse(
                "zip-aes",
                Some("a password long enough".to_owned().into()),
            )
            .unwrap()
        };
        let deliveries = vec![
            named("email", false, false, Some(zip()), &seen),
            named("sftp", false, false, None, &seen),
            named("s3", false, false, Some(zip()), &seen),
        ];
        let done = run_all(&export(), 1, &files, deliveries, &told(), "").unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "email files=Initech.csv.zip before=",
                "sftp files=Initech.csv before=email=true",
                "s3 files=Initech.csv.zip before=email=true,sftp=true",
            ]
        );
        assert_eq!(done[0].files[0].path, done[2].files[0].path, "one copy");
        assert_eq!(done[0].encryption.as_deref(), Some("zip-aes"));
        assert_eq!(done[1].encryption, None);
        assert_eq!(done[1].files, files, "the published file itself");
        assert!(
            !done[0].files[0].path.exists(),
            "the private folder is gone once the deliveries are done"
        );
        assert_eq!(
            std::fs::read_to_string(&files[0].path).unwrap(),
            "email\na@initech.example\n",
            "the published file stays plain"
        );
    }
}
