//! `run reports.toml`: recurring reports from a job file; `--check` validates and prints the
//! plan without calling the API.

use std::path::Path;
use std::sync::Arc;

use keepnet_api::{StatusSet, UserQuery};
use keepnet_jobs::{Companies, Job, JobFile, Located};
use secrecy::SecretString;

use crate::batch::{Batch, CompanyResult};
use crate::cli::RunArgs;
use crate::columns::Layout;
use crate::exit::Failure;
use crate::sinks::{Registry, SinkSettings, SinkSpec};
use crate::{summary, Context};

/// A job file is a page of TOML; 1 MiB is a generous cap.
const MAX_JOB_FILE: u64 = 1 << 20;

/// Reads and checks the file: every error with its line, all at once.
fn load(path: &Path, registry: &Registry) -> Result<(JobFile, Vec<Prepared>), Failure> {
    let shown = path.display().to_string();
    let bytes = keepnet_sink::read_regular_file(path, MAX_JOB_FILE)
        .map_err(|e| Failure::usage(format!("cannot read the job file {shown}: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("the job file {shown} is not UTF-8 text")))?;
    let file = keepnet_jobs::parse_with(&text, registry).map_err(|errors| {
        let rendered: Vec<String> = errors
            .iter()
            .map(|e| keepnet_jobs::render_error(&shown, &text, e))
            .collect();
        Failure::usage(format!(
            "{} error(s) in {shown}:\n{}",
            errors.len(),
            rendered.join("\n")
        ))
    })?;
    let mut errors = Vec::new();
    let mut prepared = Vec::new();
    for job in &file.jobs {
        match prepare(job, &file, &text, registry) {
            Ok(p) => prepared.push(p),
            Err(located) => errors.extend(located.into_iter().map(|(line, column, message)| {
                keepnet_jobs::render_error(
                    &shown,
                    &text,
                    &keepnet_jobs::JobError {
                        line,
                        column,
                        message,
                    },
                )
            })),
        }
    }
    if !errors.is_empty() {
        return Err(Failure::usage(format!(
            "{} error(s) in {shown}:\n{}",
            errors.len(),
            errors.join("\n")
        )));
    }
    Ok((file, prepared))
}

/// A job turned into what the batch runner takes.
struct Prepared {
    layout: Layout,
    statuses: StatusSet,
    specs: Vec<SinkSpec>,
    settings: SinkSettings,
}

type Located3 = (usize, usize, String);

fn at<T>(located: &Located<T>, message: impl Into<String>) -> Located3 {
    (located.line, located.column, message.into())
}

/// Checks what the file format leaves to the runner (columns, sink kinds, SMTP settings) and
/// builds the job's outputs.
fn prepare(
    job: &Job,
    file: &JobFile,
    text: &str,
    registry: &Registry,
) -> Result<Prepared, Vec<Located3>> {
    let mut errors = Vec::new();
    let layout = match &job.columns {
        None => Some(Layout::all()),
        Some(columns) => {
            let list: Vec<&str> = columns.iter().map(|c| c.value.as_str()).collect();
            match Layout::parse(&list.join(",")) {
                Ok(layout) => Some(layout),
                Err(e) => {
                    let bad = columns
                        .iter()
                        .find(|c| Layout::parse(&c.value).is_err())
                        .unwrap_or(&columns[0]);
                    errors.push(at(bad, e.to_string()));
                    None
                }
            }
        }
    };
    if let Some(columns) = &job.columns {
        for column in columns.iter().filter(|c| !Layout::is_known(&c.value)) {
            tracing::warn!(
                "line {}: column {:?} is not a field keepnet-export knows; each run checks it \
                 against the fields the API sends (known: {})",
                column.line,
                column.value,
                Layout::known_names()
            );
        }
    }
    let statuses = match &job.status {
        None => Some(StatusSet::CURRENT),
        Some(words) => {
            let mut bad = false;
            for word in words {
                if let Err(e) = StatusSet::parse(&word.value) {
                    errors.push(at(word, e.to_string()));
                    bad = true;
                }
            }
            let list: Vec<&str> = words.iter().map(|w| w.value.as_str()).collect();
            (!bad)
                .then(|| StatusSet::parse(&list.join(",")).ok())
                .flatten()
        }
    };
    // The outputs were checked when the file was read (keepnet_jobs runs the engine's one
    // check); now they are built once, with the password, so addresses and CA files fail
    // here, not mid-run.
    let mut outputs = job.outputs.clone();
    if let (Some(smtp), Some(source)) = (&file.smtp, outputs.smtp.as_mut()) {
        source.settings.password = smtp
            .password_env
            .as_ref()
            .and_then(|name| std::env::var(name).ok())
            .filter(|p| !p.is_empty())
            .map(SecretString::from);
    }
    let several = !matches!(&job.companies, Companies::List(list) if list.len() == 1);
    let checked = match outputs.validate(several, registry) {
        Ok(checked) => Some(checked),
        Err(broken) => {
            for invalid in broken {
                let fallback = job.email.as_ref().map_or(job.line, |e| e.line);
                errors.push(match invalid.origin.file_offset(invalid.at) {
                    Some(offset) => {
                        let (line, column) = keepnet_jobs::position(text, offset);
                        (line, column, invalid.message)
                    }
                    None => (fallback, 1, invalid.message),
                });
            }
            None
        }
    };
    match (layout, statuses, checked, errors.is_empty()) {
        (Some(layout), Some(statuses), Some(checked), true) => Ok(Prepared {
            layout,
            statuses,
            specs: checked.specs,
            settings: checked.settings,
        }),
        _ => Err(errors),
    }
}

/// `run --check`: validates the file and prints the plan, calling no API.
pub fn check(args: &RunArgs, registry: &Registry) -> Result<(), Failure> {
    let (file, _) = load(&args.file, registry)?;
    let plan = keepnet_jobs::plan_summary(&file);
    crate::output::to_stdout(|out| out.write_all(plan.as_bytes()))
}

/// `run`: every job, every company, then one summary and one exit code.
pub async fn run(ctx: &Context<'_>, args: &RunArgs) -> Result<(), Failure> {
    let started = keepnet_sink::Timestamp::now();
    let (file, prepared) = load(&args.file, ctx.registry)?;
    if let Some(path) = &args.summary_json {
        summary::check_target(path)?;
        for job in &prepared {
            summary::check_stdout_free(path, &job.specs)?;
        }
    }
    let mut results: Vec<CompanyResult> = Vec::new();
    for (job, prepared) in file.jobs.iter().zip(prepared) {
        tracing::info!(job = %job.name, "job started");
        let queries: Vec<String> = match &job.companies {
            Companies::All => vec!["all".to_owned()],
            Companies::List(list) => list.iter().map(|c| c.value.clone()).collect(),
        };
        let companies = super::select(ctx.client, &queries).await?;
        let recipients: Option<crate::batch::Recipients> = job.email.clone().map(|email| {
            Arc::new(move |c: &keepnet_api::Company| {
                email.recipients_for(&c.name, c.resource_id.as_str())
            }) as crate::batch::Recipients
        });
        let batch = Batch {
            client: ctx.client,
            registry: ctx.registry,
            query: UserQuery {
                search: job.search.clone(),
                statuses: prepared.statuses,
                ..UserQuery::default()
            },
            layout: prepared.layout,
            specs: prepared.specs,
            settings: SinkSettings {
                plugin_timeout: ctx.plugin_timeout,
                ..prepared.settings
            },
            allow_incomplete: job.allow_incomplete,
            scope_tolerance: ctx.scope_tolerance,
            fail_fast: job.fail_fast,
            concurrency: usize::from(args.company_concurrency),
            recipients,
            progress: ctx.progress,
        };
        let job_results = batch.run(companies).await;
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
        summary::write(path, started, &results, ctx.client)?;
    }
    summary::outcome(results)
}
