//! `--summary-json`: a machine-readable record of a run, one entry per company. The field
//! names are a stable interface, documented in docs/summary-json.md (version 1).

use std::path::{Path, PathBuf};

use keepnet_api::Client;
use keepnet_sink::Timestamp;
use serde_json::{json, Value};

use crate::batch::CompanyResult;
use crate::exit::Failure;
use crate::origin::Sourced;

/// Version of the summary's shape; bumped on any incompatible change.
pub const VERSION: u32 = 1;

/// Fails early when the summary could not be written later (a folder as target). `path` is
/// where the summary goes, as the user wrote it.
pub fn check_target(path: &Sourced<PathBuf>) -> Result<(), Failure> {
    if path.value != Path::new("-") && path.value.is_dir() {
        return Err(Failure::usage(format!(
            "{}: is a folder; give a file path",
            path.origin.shown(&path.value.display().to_string())
        )));
    }
    Ok(())
}

/// The summary's file as a target no output may write too (none for stdout).
pub fn target(path: &Sourced<PathBuf>) -> Option<crate::targets::Target> {
    (path.value != Path::new("-")).then(|| crate::targets::Target {
        path: path.value.clone(),
        what: path.origin.shown(&path.value.display().to_string()),
    })
}

/// Refuses a summary on stdout (`-`) when a sink streams to stdout too: the two would
/// interleave. `names` says where the sinks came from.
pub fn check_stdout_free(
    path: &Sourced<PathBuf>,
    specs: &[crate::sinks::SinkSpec],
    names: &crate::names::Names,
) -> Result<(), Failure> {
    if path.value == Path::new("-") {
        if let Some(spec) = specs.iter().find(|s| s.target == "-") {
            return Err(Failure::usage(format!(
                "{} and {} would both write to stdout; give the summary a file path",
                path.origin.shown("-"),
                names.sink(spec)
            )));
        }
    }
    Ok(())
}

/// A job of a job file that failed before any of its companies started: its companies or
/// its recipients could not be resolved. The run goes on with the other jobs.
#[derive(Debug, Clone)]
pub struct JobFailure {
    /// The job's name.
    pub job: String,
    /// Why.
    pub failure: Failure,
    /// How many company results the run had when it failed: where it stands among them,
    /// for which failure came first.
    pub after: usize,
}

/// The summary document. `jobs`: the job-file jobs that failed before starting (`run`).
pub fn document(
    started: Timestamp,
    results: &[CompanyResult],
    jobs: &[JobFailure],
    client: &Client,
) -> Value {
    let stats = client.stats();
    let companies: Vec<Value> = results.iter().map(company_entry).collect();
    let count = |outcome: &str| companies.iter().filter(|c| c["outcome"] == outcome).count();
    json!({
        "version": VERSION,
        "tool": concat!("keepnet-export ", env!("CARGO_PKG_VERSION")),
        "startedAt": started.to_string(),
        "finishedAt": Timestamp::now().to_string(),
        "totals": {
            "companies": companies.len(),
            "succeeded": count("succeeded"),
            "failed": count("failed"),
            "skipped": count("skipped"),
            "rows": companies.iter().map(|c| c["rows"].as_u64().unwrap_or(0)).sum::<u64>(),
            "requests": stats.requests,
            "retries": stats.retries,
            "throttled": stats.throttled,
        },
        "companies": companies,
        "failedJobs": jobs.iter().map(|j| json!({
            "job": j.job,
            "exitCode": j.failure.code(),
            "error": j.failure.to_string(),
        })).collect::<Vec<_>>(),
    })
}

fn company_entry(result: &CompanyResult) -> Value {
    let company = json!({"name": result.company.name, "resourceId": result.company.resource_id});
    let duration_ms = result.duration.as_millis() as u64;
    match &result.outcome {
        None => json!({
            "company": company, "outcome": "skipped", "exitCode": null, "error": "not started: an earlier company failed and the run stops at the first failure, or the run was interrupted",
            "rows": 0, "pages": 0, "sweeps": 0, "incomplete": false, "duplicatesDropped": 0, "retries": 0, "files": [], "emails": [], "deliveries": [], "warnings": [], "durationMs": duration_ms,
        }),
        Some(Err(failure)) => json!({
            "company": company, "outcome": "failed", "exitCode": failure.code(), "error": failure.to_string(),
            "rows": 0, "pages": 0, "sweeps": 0, "incomplete": false, "duplicatesDropped": 0, "retries": 0, "files": [], "emails": [], "deliveries": [], "warnings": [], "durationMs": duration_ms,
        }),
        Some(Ok(outcome)) => json!({
            "company": company,
            "outcome": "succeeded",
            "exitCode": 0,
            "error": null,
            "rows": outcome.rows,
            "pages": outcome.paging.pages,
            "sweeps": outcome.sweeps,
            "incomplete": outcome.incomplete,
            "duplicatesDropped": outcome.paging.duplicates,
            "retries": outcome.paging.retries,
            "files": outcome.artifacts.iter().filter(|a| a.path.exists()).map(|a| json!({
                "path": a.path.display().to_string(),
                "mediaType": a.media_type,
                "bytes": a.bytes,
                "rows": a.rows,
                "sha256": a.sha256.clone().unwrap_or_default(),
            })).collect::<Vec<_>>(),
            "emails": outcome.delivered.iter().map(|d| d.line.as_str()).collect::<Vec<_>>(),
            "deliveries": outcome.delivered.iter().map(|d| json!({
                "output": d.output,
                "kind": d.kind,
                "line": d.line,
                "encryption": d.encryption,
                "files": d.files.iter().map(|f| json!({
                    "name": f.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "mediaType": f.media_type,
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "warnings": outcome.warnings,
            "durationMs": duration_ms,
            "changes": outcome.changes.as_ref().map(|c| json!({
                "joined": c.joined,
                "left": c.left,
                "changed": c.changed,
                "baseline": c.baseline,
            })),
            "stateFile": outcome.state_file.as_ref().map(|p| p.display().to_string()),
            "statusFilter": status_filter(&outcome.paging),
        }),
    }
}

/// What the server did with the status filter, and the rows it served against the rows kept.
fn status_filter(paging: &keepnet_api::PagingReport) -> Value {
    let dropped = &paging.dropped;
    json!({
        "server": paging.status_filter.as_str(),
        "served": paging.served,
        "kept": paging.users,
        "dropped": {
            "active": dropped.active,
            "inactive": dropped.inactive,
            "deleted": dropped.deleted,
            "unknown": dropped.unknown,
        },
    })
}

/// Writes the summary to `path` (atomically) or stdout (`-`).
pub fn write(
    path: &Path,
    started: Timestamp,
    results: &[CompanyResult],
    jobs: &[JobFailure],
    client: &Client,
) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(&document(started, results, jobs, client))
        .map_err(|e| Failure::output("cannot encode the summary", e))?;
    text.push('\n');
    if path == Path::new("-") {
        crate::output::to_stdout(|out| out.write_all(text.as_bytes()))
    } else {
        crate::output::write_atomically(path, text.as_bytes())
    }
}

/// `--fail-on-changes`: a [`CHANGES`](crate::exit::CHANGES) failure naming the companies whose
/// users joined, left or changed since the previous run; `Ok` when none did (a baseline is no
/// change).
pub fn changes_gate(results: &[CompanyResult]) -> Result<(), Failure> {
    let changed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            let Some(Ok(outcome)) = &r.outcome else {
                return None;
            };
            let c = outcome.changes.as_ref().filter(|c| c.any())?;
            Some(format!(
                "  {}: {} joined, {} left, {} changed",
                r.company.name, c.joined, c.left, c.changed
            ))
        })
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(Failure::msg(
        crate::exit::CHANGES,
        format!(
            "users changed since the previous run (everything was published and the state advanced):\n{}",
            changed.join("\n")
        ),
    ))
}

/// The run's result: success, the one company's failure, or a failure naming every job and
/// company that failed (with the first one's exit code). `jobs`: the jobs that failed before
/// starting (`run`).
pub fn outcome(results: Vec<CompanyResult>, jobs: Vec<JobFailure>) -> Result<(), Failure> {
    let total = results.len();
    let mut failures: Vec<(String, Failure)> = Vec::new();
    let mut skipped = 0;
    let job_failures = jobs.len();
    let mut jobs = jobs.into_iter().peekable();
    for (index, result) in results.into_iter().enumerate() {
        while let Some(job) = jobs.next_if(|j| j.after <= index) {
            failures.push((format!("job {}", job.job), job.failure));
        }
        match result.outcome {
            Some(Ok(outcome)) => tracing::info!(
                company = %result.company.name,
                id = %result.company.resource_id,
                users = outcome.rows,
                pages = outcome.paging.pages,
                "users exported"
            ),
            Some(Err(failure)) => failures.push((result.company.name, failure)),
            None => skipped += 1,
        }
    }
    for job in jobs {
        failures.push((format!("job {}", job.job), job.failure));
    }
    if failures.is_empty() {
        return Ok(());
    }
    if failures.len() == 1 && total + job_failures <= 1 {
        return Err(failures.remove(0).1);
    }
    let (code, setting) = (failures[0].1.code(), failures[0].1.setting());
    let list = failures
        .iter()
        .map(|(name, f)| format!("  {name}: {f}"))
        .collect::<Vec<_>>()
        .join("\n");
    let skipped = if skipped > 0 {
        format!(" ({skipped} not started: the run stops at the first failure)")
    } else {
        String::new()
    };
    let companies = failures.len() - job_failures;
    let mut what = Vec::new();
    if companies > 0 || job_failures == 0 {
        what.push(format!("{companies} of {total} companies failed"));
    }
    if job_failures > 0 {
        what.push(format!("{job_failures} job(s) could not start"));
    }
    Err(
        Failure::msg(code, format!("{}{skipped}:\n{list}", what.join(" and ")))
            .with_setting(setting),
    )
}
