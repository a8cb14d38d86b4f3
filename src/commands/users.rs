//! `users`: a company's target users, to sinks or as raw JSON Lines on stdout.

use std::io::Write;

use keepnet_api::{Client, CompanyId, UserQuery};
use keepnet_sink::HeaderStyle;
use keepnet_sink_email::{MailSettings, SmtpSettings, SmtpTls};
use secrecy::SecretString;

use crate::batch::Batch;
use crate::cli::{EmailArgs, HeaderArg, SmtpTlsArg, UsersArgs};
use crate::exit::Failure;
use crate::summary;
use crate::Context;
use clap::parser::ValueSource;
use keepnet_export_core::settings::{
    ExportSettings, Origin, OutputSettings, RunWith, SinkOption, SmtpSource, Sourced,
};

/// What `users` will do, every option checked, before any request.
enum Prepared<'a> {
    /// No sink and no columns: every user streamed to stdout as served.
    Raw(UserQuery),
    /// Exports to sinks, for one company or several.
    Batch(Box<Batch<'a>>),
}

/// Checks everything the user typed, before the first request, and builds the export.
fn prepare<'a>(ctx: &Context<'a>, args: &UsersArgs) -> Result<Prepared<'a>, Failure> {
    let client = ctx.client;
    for company in &args.company {
        super::check_query(company)?;
    }
    let several = args.company.len() > 1 || args.company.iter().any(|c| super::is_all(c));
    // Every option is checked, even when users stream raw to stdout; with neither --sink nor
    // --columns, several companies are refused below with a better message.
    let raw = args.sinks.is_empty() && args.columns.is_none();
    let export = export_settings(ctx, args)?
        .validate(several && !raw, ctx.registry)
        .map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Failure::usage(lines.join("\n"))
        })?;
    if export.layout.is_none() && args.sinks.is_empty() {
        if several {
            return Err(Failure::usage(
                "several companies need outputs: add --sink KIND:PATH with {company} in the path",
            ));
        }
        if args.summary_json.is_some() {
            return Err(Failure::usage(
                "--summary-json describes files: add --sink outputs (or --columns for JSON Lines on stdout)",
            ));
        }
        return Ok(Prepared::Raw(export.query));
    }
    let batch = export.into_batch(RunWith {
        client,
        registry: ctx.registry,
        scope_tolerance: ctx.scope_tolerance,
        concurrency: usize::from(args.company_concurrency),
        recipients: None,
        progress: ctx.progress,
    });
    if let Some(path) = &args.summary_json {
        summary::check_target(path)?;
        summary::check_stdout_free(path, &batch.specs)?;
    }
    Ok(Prepared::Batch(Box::new(batch)))
}

/// Where a `users` option came from: its flag, its `KEEPNET_*` variable, or its default.
fn origin(args: &UsersArgs, id: &str, flag: &str) -> Origin {
    match args.sources.iter().find(|(i, _)| i == id).map(|(_, s)| *s) {
        Some(ValueSource::EnvVariable) => Origin::Env(crate::cli::env_name(flag)),
        Some(ValueSource::DefaultValue) => Origin::Default,
        _ => Origin::Flag(flag.to_owned()),
    }
}

/// The whole export as the engine's settings, each value with its origin.
fn export_settings(ctx: &Context<'_>, args: &UsersArgs) -> Result<ExportSettings, Failure> {
    let at = |id: &str, flag: &str| origin(args, id, flag);
    let text = |value: &str, id: &str, flag: &str| Sourced::new(value.to_owned(), at(id, flag));
    let mut settings = ExportSettings::new(output_settings(ctx, args)?);
    settings.search = args
        .search
        .as_deref()
        .map(|s| text(s, "search", "--search"));
    settings.statuses = vec![text(&args.status, "status", "--status")];
    settings.columns = args
        .columns
        .as_deref()
        .map(|c| vec![text(c, "columns", "--columns")]);
    settings.order_by = Some(text(&args.order_by, "order_by", "--order-by"));
    settings.descending = Sourced::new(args.descending, at("descending", "--descending"));
    settings.page_size = Some(text(&args.page_size, "page_size", "--page-size"));
    settings.allow_incomplete = Sourced::new(
        args.allow_incomplete,
        at("allow_incomplete", "--allow-incomplete"),
    );
    settings.fail_fast = Sourced::new(args.fail_fast, at("fail_fast", "--fail-fast"));
    settings.report.state = args.state.as_deref().map(|s| text(s, "state", "--state"));
    settings.report.changes = args
        .changes
        .iter()
        .map(|c| text(c, "changes", "--changes"))
        .collect();
    settings.report.fail_on_changes = Sourced::new(
        args.fail_on_changes,
        at("fail_on_changes", "--fail-on-changes"),
    );
    settings.report.mail_skip_unchanged = Sourced::new(
        args.mail_skip_unchanged,
        at("mail_skip_unchanged", "--mail-skip-unchanged"),
    );
    Ok(settings)
}

/// The outputs as the engine's settings, each value with its origin; the shorthand flags
/// (`--csv-delimiter` ...) first, so an explicit `--sink-option` wins.
fn output_settings(ctx: &Context<'_>, args: &UsersArgs) -> Result<OutputSettings, Failure> {
    let at = |id: &str, flag: &str| origin(args, id, flag);
    let mut settings = OutputSettings::new();
    settings.sinks = match args.sinks.is_empty() {
        true => vec![Sourced::new("jsonl:-".to_owned(), Origin::Default)],
        false => args
            .sinks
            .iter()
            .map(|s| Sourced::new(s.clone(), at("sinks", "--sink")))
            .collect(),
    };
    let shorthands = [
        (
            "csv_delimiter",
            "--csv-delimiter",
            "csv.delimiter",
            args.csv_delimiter.clone(),
        ),
        (
            "csv_bom",
            "--csv-bom",
            "csv.bom",
            args.csv_bom.then(|| "true".to_owned()),
        ),
        (
            "raw_cells",
            "--raw-cells",
            "csv.raw-cells",
            args.raw_cells.then(|| "true".to_owned()),
        ),
        (
            "xlsx_compression",
            "--xlsx-compression",
            "xlsx.compression",
            args.xlsx_compression.clone(),
        ),
    ];
    for (id, flag, key, value) in shorthands {
        if let Some(value) = value {
            settings
                .options
                .push(SinkOption::shorthand(key, &value, at(id, flag)));
        }
    }
    // Before --sink-option, so `--sink-option exec.timeout=...` wins.
    settings.options.insert(0, ctx.plugin_timeout.clone());
    for text in &args.sink_options {
        settings
            .options
            .push(SinkOption::parse(text, at("sink_options", "--sink-option")));
    }
    settings.header = match args.header {
        HeaderArg::Api => HeaderStyle::Api,
        HeaderArg::Human => HeaderStyle::Human,
    };
    let (smtp, mail) = email_settings(&args.email)?;
    settings.smtp = smtp.map(|smtp| SmtpSource {
        login: smtp.user.is_some() || smtp.password.is_some(),
        tls: at("smtp_tls", "--smtp-tls"),
        settings: smtp,
    });
    settings.mail = mail;
    Ok(settings)
}

/// Runs `users`: validates every output option, then fetches each company once.
pub async fn run(ctx: &Context<'_>, args: &UsersArgs) -> Result<(), Failure> {
    let client = ctx.client;
    let started = keepnet_sink::Timestamp::now();
    let batch = match prepare(ctx, args)? {
        Prepared::Raw(query) => {
            let (company, id) = super::company(client, &args.company[0]).await?;
            let limit =
                keepnet_api::ScopeLimit::for_company(&company, query.statuses, ctx.scope_tolerance);
            let (users, pages) =
                stream_raw(client, &id, query, limit, args.allow_incomplete).await?;
            tracing::info!(company = %company.name, id = %company.resource_id, users, pages, "users exported");
            log_api_usage(client);
            return Ok(());
        }
        Prepared::Batch(batch) => batch,
    };
    let companies = super::select(client, &args.company).await?;
    let fail_on_changes = batch.report.fail_on_changes;
    let results = batch.run(companies).await;
    log_api_usage(client);
    if let Some(path) = &args.summary_json {
        summary::write(path, started, &results, client)?;
    }
    let gate = match fail_on_changes {
        true => summary::changes_gate(&results),
        false => Ok(()),
    };
    summary::outcome(results)?;
    gate
}

/// `users --dry-run`: checks every option exactly as a run does, then prints what the run
/// would do (the same text as `run --check`), calling no API and writing nothing.
pub fn dry_run(ctx: &Context<'_>, args: &UsersArgs) -> Result<(), Failure> {
    use keepnet_export_core::plan::{self, EmailPlan, JobPlan, PasswordSource, SmtpPlan};
    let prepared = prepare(ctx, args)?;
    let mut out = String::from("Dry run: nothing is fetched, written or sent.\n");
    if let Some(host) = &args.email.smtp_host {
        let (_, mail) = email_settings(&args.email)?;
        let password = match &args.email.smtp_password_file {
            Some(path) => PasswordSource::File(path.clone()),
            None => PasswordSource::Env("KEEPNET_SMTP_PASSWORD".to_owned()),
        };
        plan::write_smtp(
            &mut out,
            &SmtpPlan {
                line: None,
                host: host.clone(),
                port: args.email.smtp_port,
                tls: format!("{:?}", args.email.smtp_tls).to_lowercase(),
                from: mail.from.clone(),
                user: args.email.smtp_user.clone(),
                password,
                ca_file: args.email.smtp_ca_file.clone(),
            },
        );
    }
    let every = args.company.iter().any(|c| super::is_all(c));
    let (sinks, email) = match &prepared {
        Prepared::Raw(_) => (
            vec!["(none: every user to stdout as JSON Lines, as served)".to_owned()],
            None,
        ),
        Prepared::Batch(batch) => {
            let sinks: Vec<String> = batch.specs.iter().map(ToString::to_string).collect();
            let to: Vec<String> = batch
                .specs
                .iter()
                .filter(|s| !ctx.registry.is_sink(&s.kind))
                .flat_map(|s| s.target.split(',').map(|a| a.trim().to_owned()))
                .collect();
            let email = (!to.is_empty()).then(|| EmailPlan {
                subject: Some(args.email.mail_subject.clone()),
                default: to,
                cc: args.email.mail_cc.clone(),
                bcc: args.email.mail_bcc.clone(),
                ..EmailPlan::default()
            });
            (sinks, email)
        }
    };
    let query = match &prepared {
        Prepared::Raw(query) => query,
        Prepared::Batch(batch) => &batch.query,
    };
    let job = JobPlan {
        title: "Export".to_owned(),
        companies: (!every).then(|| args.company.clone()),
        search: args.search.clone(),
        statuses: Some(
            query
                .statuses
                .to_string()
                .split(',')
                .map(str::to_owned)
                .collect(),
        ),
        columns: args
            .columns
            .as_ref()
            .map(|c| c.split(',').map(|c| c.trim().to_owned()).collect()),
        header: Some(format!("{:?}", args.header).to_lowercase()),
        sinks,
        fail_fast: args.fail_fast,
        allow_incomplete: args.allow_incomplete,
        email,
    };
    plan::write_job(&mut out, &job);
    if let Some(path) = &args.summary_json {
        out.push_str(&format!("  summary:   {}\n", path.display()));
    }
    crate::output::to_stdout(|o| o.write_all(out.as_bytes()))
}

/// One line on how hard the API was worked: requests, retries, token renewals, throttling.
pub(crate) fn log_api_usage(client: &Client) {
    let stats = client.stats();
    tracing::info!(
        requests = stats.requests,
        retries = stats.retries,
        tokens = stats.tokens,
        throttled = stats.throttled,
        concurrency = stats.concurrency,
        lowest_concurrency = stats.lowest_concurrency,
        "api usage"
    );
}

/// SMTP and message settings from the flags; the password from KEEPNET_SMTP_PASSWORD or
/// --smtp-password-file (never a flag value: it would show in the process list).
pub(crate) fn email_settings(
    args: &EmailArgs,
) -> Result<(Option<SmtpSettings>, MailSettings), Failure> {
    let password = match &args.smtp_password_file {
        Some(path) => Some(crate::session::read_secret_file(path)?),
        None => std::env::var("KEEPNET_SMTP_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
    };
    let smtp = args.smtp_host.as_ref().map(|host| SmtpSettings {
        port: args.smtp_port,
        tls: match args.smtp_tls {
            SmtpTlsArg::Starttls => SmtpTls::StartTls,
            SmtpTlsArg::Tls => SmtpTls::Tls,
            SmtpTlsArg::None => SmtpTls::None,
        },
        user: args.smtp_user.clone(),
        password: password.map(SecretString::from),
        ca_file: args.smtp_ca_file.clone(),
        ..SmtpSettings::new(host.clone())
    });
    let from = args
        .mail_from
        .clone()
        .or_else(|| args.smtp_user.clone().filter(|u| u.contains('@')))
        .unwrap_or_default();
    let mail = MailSettings {
        cc: args.mail_cc.clone(),
        bcc: args.mail_bcc.clone(),
        subject: args.mail_subject.clone(),
        max_attachment_bytes: args.mail_max_attachment_size,
        ..MailSettings::new(from, Vec::new())
    };
    Ok((smtp, mail))
}

/// Streams every user as the API returned it (every field, known or not), one JSON object
/// per line. Each page is checked (selection, scope guard) before any of it is written.
async fn stream_raw(
    client: &Client,
    id: &CompanyId,
    query: UserQuery,
    limit: Option<keepnet_api::ScopeLimit>,
    allow_incomplete: bool,
) -> Result<(u64, u64), Failure> {
    if limit.is_none() {
        tracing::warn!("scope guard off: companies/search sent no user counts for this company");
    }
    let mut pager = client.pager(id, query).with_guard(limit);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let (mut users, mut page_count) = (0u64, 0u64);
    let mut line = Vec::with_capacity(1024);
    loop {
        let next = tokio::select! {
            biased;
            next = pager.next_page() => next,
            reason = keepnet_export_core::stop::stopped() => {
                crate::output::stdout_result(out.flush())?;
                return Err(reason.failure()
                    .with_note("what was already written to stdout stays there"));
            }
        };
        let Some(page) = next.map_err(|e| {
            let stopped = if users == 0 {
                "nothing was written"
            } else {
                "output on stdout stopped here"
            };
            Failure::from(e).with_note(stopped)
        })?
        else {
            break;
        };
        page_count += 1;
        for user in &page.results {
            line.clear();
            serde_json::to_writer(&mut line, user)
                .map_err(|e| Failure::output("cannot encode a user", e))?;
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                return crate::output::stdout_result(Err(e)).map(|()| (users, page_count));
            }
            users += 1;
        }
    }
    crate::output::stdout_result(out.flush())?;
    // Stdout cannot be taken back: an inconsistent read is not repeated, only reported.
    let verdict = crate::completeness::judge(pager.report(), 1, Some("stdout"), allow_incomplete)?;
    if let crate::completeness::Verdict::Incomplete(warning) = verdict {
        tracing::warn!("{warning}");
    }
    Ok((users, page_count))
}
