//! `run reports.toml`: recurring reports from a job file; `--check` validates and prints the
//! plan without calling the API.

use std::path::{Path, PathBuf};

use keepnet_export_core::settings::{Export, Origin, RunWith, SinkOption, Sourced};
use keepnet_jobs::{Companies, Job, JobFile};
use secrecy::SecretString;

use crate::batch::CompanyResult;
use crate::cli::RunArgs;
use crate::columns::Layout;
use crate::exit::Failure;
use crate::sinks::Registry;
use crate::{summary, Context};
use keepnet_export_core::summary::JobFailure;

/// A job file is a page of TOML; 1 MiB is a generous cap.
const MAX_JOB_FILE: u64 = 1 << 20;

/// Reads and checks the file: every error with its line, all at once.
/// `run_wide`: options the command line sets for every job (`--plugin-timeout`), before each
/// job's own.
fn load(
    path: &Path,
    registry: &Registry,
    run_wide: &[SinkOption],
) -> Result<(JobFile, Vec<Export>), Failure> {
    let shown = path.display().to_string();
    let bytes = keepnet_sink::read_regular_file(path, MAX_JOB_FILE)
        .map_err(|e| Failure::usage(format!("cannot read the job file {shown}: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("the job file {shown} is not UTF-8 text")))?;
    // Built once: every error is placed and shown by it (from the start each time, a file
    // with thousands of errors took minutes).
    let positions = keepnet_jobs::Positions::new(&text);
    let rendered = |errors: &[keepnet_jobs::JobError]| {
        let shown_errors = keepnet_jobs::render_errors_with(&shown, &positions, errors, &|t| {
            registry.shown_text(t)
        });
        Failure::usage(format!(
            "{} error(s) in {shown}:\n{shown_errors}",
            errors.len()
        ))
    };
    let file = keepnet_jobs::parse_with(&text, registry).map_err(|errors| rendered(&errors))?;
    // The deliveries' secrets, read once for every job (a password file is read here, once).
    let mut secrets = keepnet_export_core::options::Secrets::default();
    let password_file = std::env::var_os("KEEPNET_ENCRYPT_PASSWORD_FILE").map(PathBuf::from);
    crate::session::delivery_secrets(&mut secrets, password_file.as_deref())?;
    let mut errors = Vec::new();
    let mut prepared = Vec::new();
    for job in &file.jobs {
        match prepare(job, &file, &positions, registry, run_wide, &secrets) {
            Ok(p) => prepared.push(p),
            Err(located) => errors.extend(located.into_iter().map(|(line, column, message)| {
                keepnet_jobs::JobError {
                    line,
                    column,
                    message,
                }
            })),
        }
    }
    if !errors.is_empty() {
        return Err(rendered(&errors));
    }
    Ok((file, prepared))
}

type Located3 = (usize, usize, String);

/// Validates a job as the engine's settings (columns, statuses, sink kinds, and the outputs
/// built once with the password, so addresses and CA files fail here, not mid-run). Errors
/// point at their value in the file; `secrets` are the deliveries' (read once for the file).
fn prepare(
    job: &Job,
    file: &JobFile,
    positions: &keepnet_jobs::Positions<'_>,
    registry: &Registry,
    run_wide: &[SinkOption],
    secrets: &keepnet_export_core::options::Secrets,
) -> Result<Export, Vec<Located3>> {
    let place =
        |origin: &keepnet_export_core::settings::Origin, at: usize| match origin.file_offset(at) {
            Some(offset) => positions.position(offset),
            None => (job.email.as_ref().map_or(job.line, |e| e.line), 1),
        };
    for (list, name) in job.settings.unknown_columns() {
        tracing::warn!(
            "line {}: column {:?} is not a field keepnet-export knows; each run checks it \
             against the fields the API sends (known: {})",
            place(&list.origin, 0).0,
            name,
            Layout::known_names()
        );
    }
    let mut settings = job.settings.clone();
    // A job file holds no secret: they all come from the environment.
    settings.outputs.secrets = secrets.clone();
    let own = std::mem::take(&mut settings.outputs.options);
    settings.outputs.options = run_wide.iter().cloned().chain(own).collect();
    let password = match file
        .smtp
        .as_ref()
        .and_then(|smtp| Some((smtp.line, smtp.password_env.as_ref()?)))
    {
        Some((line, name)) => crate::session::secret_var(name)
            .map_err(|failure| vec![(line, 1, failure.to_string())])?,
        None => None,
    };
    if let Some(password) = password {
        settings.outputs.secrets.set(
            keepnet_export_core::kinds::email::SMTP_PASSWORD,
            SecretString::from(password),
        );
    }
    let several = !matches!(&job.companies, Companies::List(list) if list.len() == 1);
    settings.validate(several, registry).map_err(|broken| {
        broken
            .into_iter()
            .map(|invalid| {
                let (line, column) = place(&invalid.origin, invalid.at);
                (line, column, invalid.message)
            })
            .collect()
    })
}

/// `run --check`: validates the file and prints the plan, calling no API.
pub fn check(args: &RunArgs, registry: &Registry, timeout: &SinkOption) -> Result<(), Failure> {
    let (file, prepared) = load(&args.file, registry, std::slice::from_ref(timeout))?;
    let resolved: Vec<_> = prepared.iter().map(|p| &p.outputs.settings).collect();
    let plan = keepnet_jobs::plan_summary_resolved(&file, &resolved);
    // The files each job writes whatever its companies, as a run checks them.
    let client = super::offline_client();
    let progress = keepnet_export_core::progress::Silent;
    let mut across: Vec<keepnet_export_core::targets::Target> = Vec::new();
    for (job, export) in file.jobs.iter().zip(prepared) {
        let mut batch = export.into_batch(RunWith {
            client: &client,
            registry,
            scope_tolerance: 0,
            concurrency: 1,
            recipients: None,
            progress: &progress,
        });
        if let Some(path) = &args.summary_json {
            let path = Sourced::new(path.clone(), Origin::Flag("--summary-json".to_owned()));
            batch.reserved.extend(summary::target(&path));
        }
        batch.check_fixed_targets()?;
        across.extend(job_targets(job, &batch));
    }
    keepnet_export_core::targets::check_distinct(&across)?;
    crate::output::to_stdout(|out| out.write_all(plan.as_bytes()))
}

/// `run`: every job, every company, then one summary and one exit code.
pub async fn run(ctx: &Context<'_>, args: &RunArgs) -> Result<(), Failure> {
    let started = keepnet_sink::Timestamp::now();
    let (file, prepared) = load(
        &args.file,
        ctx.registry,
        std::slice::from_ref(&ctx.plugin_timeout),
    )?;
    let mut summary_target = None;
    if let Some(path) = &args.summary_json {
        let path = Sourced::new(path.clone(), Origin::Flag("--summary-json".to_owned()));
        summary::check_target(&path)?;
        for job in &prepared {
            summary::check_stdout_free(&path, &job.outputs.specs, &job.names)?;
        }
        summary_target = summary::target(&path);
    }
    // Every job's outputs, checked against each other and the summary before any request,
    // and the files each job writes whatever its companies against the other jobs'.
    let mut batches = Vec::with_capacity(prepared.len());
    let mut across: Vec<keepnet_export_core::targets::Target> = Vec::new();
    for (job, prepared) in file.jobs.iter().zip(prepared) {
        let mut batch = prepared.into_batch(RunWith {
            client: ctx.client,
            registry: ctx.registry,
            scope_tolerance: ctx.scope_tolerance,
            concurrency: usize::from(args.company_concurrency),
            recipients: None,
            progress: ctx.progress,
        });
        if let Some(state) = batch.report.state.as_mut() {
            state.wait = std::time::Duration::from_secs(args.state_wait);
        }
        batch.reserved.extend(summary_target.clone());
        batch.check_fixed_targets()?;
        across.extend(job_targets(job, &batch));
        batches.push(batch);
    }
    keepnet_export_core::targets::check_distinct(&across)?;
    let mut results: Vec<CompanyResult> = Vec::new();
    let mut failed_jobs: Vec<JobFailure> = Vec::new();
    let mut gate: Option<Failure> = None;
    let mut rollup_failed: Option<Failure> = None;
    // Every managed company, listed once for every job.
    let mut managed: Option<Vec<keepnet_api::Company>> = None;
    for (job, mut batch) in file.jobs.iter().zip(batches) {
        tracing::info!(job = %job.name, "job started");
        // A job whose companies or recipients cannot be resolved, or whose outputs would
        // write one file twice, fails alone: the other jobs run, and the summary says so.
        let gated = batch.report.fail_on_changes;
        let started_job = async {
            let (companies, recipients) = start_job(ctx, job, &args.file, &mut managed).await?;
            batch.recipients = recipients;
            batch.run(companies).await
        };
        let job_results = match started_job.await {
            Ok(job_results) => job_results,
            Err(failure) => {
                tracing::error!(job = %job.name, "job not started: {failure}");
                failed_jobs.push(JobFailure {
                    job: job.name.clone(),
                    failure,
                    after: results.len(),
                });
                if job.fail_fast {
                    break;
                }
                continue;
            }
        };
        if gated && gate.is_none() {
            gate = summary::changes_gate(&job_results).err();
        }
        let rollup =
            keepnet_export_core::rollup::Rollup::of(&batch).write(&job_results, &batch.started);
        if let Err(e) = super::rolled_up(rollup) {
            tracing::error!(job = %job.name, "rollup not written: {e}");
            rollup_failed.get_or_insert(e);
        }
        let failed = job_results
            .iter()
            .any(|r| matches!(r.outcome, Some(Err(_))));
        results.extend(job_results);
        if failed && job.fail_fast {
            break;
        }
    }
    crate::commands::users::log_api_usage(ctx.client);
    if let Some(path) = &args.summary_json {
        summary::write(path, started, &results, &failed_jobs, ctx.client)?;
    }
    summary::outcome(results, failed_jobs)?;
    rollup_failed.map_or(Ok(()), Err)?;
    gate.map_or(Ok(()), Err)
}

/// A job's companies (every managed one, listed once per run into `managed`) and, for a job
/// that mails per company, its recipient table resolved by the matcher `--company` uses.
async fn start_job(
    ctx: &Context<'_>,
    job: &Job,
    file: &Path,
    managed: &mut Option<Vec<keepnet_api::Company>>,
) -> Result<(Vec<keepnet_api::Company>, Option<crate::batch::Recipients>), Failure> {
    let all = match managed {
        Some(all) => all,
        None => managed.insert(super::managed(ctx.client).await?),
    };
    let queries: Vec<String> = match &job.companies {
        Companies::All => vec!["all".to_owned()],
        Companies::List(list) => list.iter().map(|c| c.value.clone()).collect(),
    };
    let companies = super::select_from(all, &queries)?;
    let Some(email) = &job.email else {
        return Ok((companies, None));
    };
    let keys: Vec<keepnet_export_core::recipients::Key> = email
        .to
        .iter()
        .map(|(key, recipients)| keepnet_export_core::recipients::Key {
            key: key.value.clone(),
            place: format!("{}:{}:{}", file.display(), key.line, key.column),
            recipients: recipients.clone(),
        })
        .collect();
    let resolved = keepnet_export_core::recipients::resolve(&keys, email.default.clone(), all)?;
    for line in &resolved.unmatched {
        tracing::warn!(job = %job.name, "{line}");
    }
    Ok((companies, Some(resolved.recipients())))
}

/// The files `job` writes whatever its companies, each named with its job, to compare the
/// jobs of a file with each other.
fn job_targets(
    job: &Job,
    batch: &crate::batch::Batch<'_>,
) -> Vec<keepnet_export_core::targets::Target> {
    batch
        .fixed_targets()
        .into_iter()
        .map(|mut target| {
            target.what = format!("job {}: {}", job.name, target.what);
            target
        })
        .collect()
}
