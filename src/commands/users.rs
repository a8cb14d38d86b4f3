//! `users`: a company's target users, to sinks or as raw JSON Lines on stdout.

use std::io::Write;

use keepnet_api::{Client, CompanyId, UserQuery};
use keepnet_sink::HeaderStyle;
use secrecy::SecretString;

use crate::batch::Batch;
use crate::cli::{EmailArgs, HeaderArg, UsersArgs};
use crate::exit::Failure;
use crate::summary;
use crate::Context;
use clap::parser::ValueSource;
use keepnet_export_core::settings::{
    ExportSettings, Origin, OutputSettings, RunWith, SinkOption, Sourced,
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
    // Every option is checked, even when users stream raw to stdout; with no output named and
    // no --columns, several companies are refused below with a better message.
    let raw = !names_outputs(args) && args.columns.is_none();
    let export = export_settings(ctx, args)?
        .validate(several && !raw, ctx.registry)
        .map_err(|errors| {
            let lines: Vec<String> = errors
                .iter()
                .map(|invalid| match invalid.setting {
                    Some(keepnet_sink::Setting::Option(key)) => {
                        format!("{invalid} (set it with {})", option_flag(args, key))
                    }
                    _ => invalid.to_string(),
                })
                .collect();
            Failure::usage(lines.join("\n"))
        })?;
    if export.layout.is_none() && !names_outputs(args) {
        if several {
            return Err(Failure::usage(
                "several companies need outputs: add --sink KIND:PATH with {company} in the \
                 path (or --changes, --rollup)",
            ));
        }
        if args.summary_json.is_some() {
            return Err(Failure::usage(
                "--summary-json describes outputs: name them with --sink, --changes or --rollup \
                 (or --columns for JSON Lines on stdout)",
            ));
        }
        return Ok(Prepared::Raw(export.query));
    }
    let mut batch = export.into_batch(RunWith {
        client,
        registry: ctx.registry,
        scope_tolerance: ctx.scope_tolerance,
        concurrency: usize::from(args.company_concurrency),
        recipients: None,
        progress: ctx.progress,
    });
    if let Some(state) = batch.report.state.as_mut() {
        state.wait = std::time::Duration::from_secs(args.state_wait);
    }
    if let Some(path) = &args.summary_json {
        let path = Sourced::new(path.clone(), origin(args, "summary_json", "--summary-json"));
        summary::check_target(&path)?;
        summary::check_stdout_free(&path, &batch.specs, &batch.names)?;
        batch.reserved.extend(summary::target(&path));
    }
    batch.check_fixed_targets()?;
    Ok(Prepared::Batch(Box::new(batch)))
}

/// Whether the command line names an output: a sink, a change report or a rollup. When it
/// does, nothing streams to stdout unless an output says `-`.
fn names_outputs(args: &UsersArgs) -> bool {
    !args.sinks.is_empty() || !args.changes.is_empty() || !args.rollup.is_empty()
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
    settings.report.rollup = args
        .rollup
        .iter()
        .map(|c| text(c, "rollup", "--rollup"))
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
    settings.sinks = match names_outputs(args) {
        // No output named (only --columns): JSON Lines on stdout.
        false => vec![Sourced::new("jsonl:-".to_owned(), Origin::Default)],
        true if args.sinks.is_empty() => Vec::new(),
        true => args
            .sinks
            .iter()
            .map(|s| Sourced::new(s.clone(), at("sinks", "--sink")))
            .collect(),
    };
    for (id, flag, key, value) in shorthands(args) {
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
    if let Some(password) = smtp_password(&args.email)? {
        settings
            .secrets
            .set(keepnet_export_core::kinds::email::SMTP_PASSWORD, password);
    }
    crate::session::delivery_secrets(
        &mut settings.secrets,
        args.encrypt.encrypt_password_file.as_deref(),
    )?;
    Ok(settings)
}

/// The flags that are shorthands of a kind's option (`--csv-delimiter` is `csv.delimiter`):
/// argument id, flag, option key, and the value when one was given.
fn shorthands(args: &UsersArgs) -> Vec<(&'static str, &'static str, &'static str, Option<String>)> {
    let formats = [
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
    // --encrypt sets the option of every built-in delivery that sends files.
    let encrypt = keepnet_export_core::kinds::SENDS_FILES
        .map(|kind| ("encrypt", "--encrypt", kind, args.encrypt.encrypt.clone()));
    formats
        .into_iter()
        .chain(email_shorthands(args))
        .chain(encrypt)
        .collect()
}

/// How this command line sets the option `key`: `--smtp-host, or KEEPNET_SMTP_HOST`, or
/// `--sink-option email.smtp-host=...` for an option without a flag of its own.
fn option_flag(args: &UsersArgs, key: &str) -> String {
    match shorthands(args).into_iter().find(|(_, _, k, _)| *k == key) {
        Some((_, flag, _, _)) => format!("{flag}, or {}", crate::cli::env_name(flag)),
        None => format!("--sink-option {key}=..."),
    }
}

/// The e-mail flags as shorthands of the e-mail kind's options (`--smtp-host` is
/// `email.smtp-host`); a flag left at its default sets nothing, so the kind's default holds.
fn email_shorthands(
    users: &UsersArgs,
) -> [(&'static str, &'static str, &'static str, Option<String>); 14] {
    let args = &users.email;
    let set = |id: &str| {
        !matches!(
            users.sources.iter().find(|(i, _)| i == id).map(|(_, s)| *s),
            None | Some(ValueSource::DefaultValue)
        )
    };
    let list = |items: &[String]| Some(items.join(",")).filter(|l| !l.is_empty());
    [
        (
            "smtp_host",
            "--smtp-host",
            "email.smtp-host",
            args.smtp_host.clone(),
        ),
        (
            "smtp_port",
            "--smtp-port",
            "email.smtp-port",
            args.smtp_port.map(|p| p.to_string()),
        ),
        (
            "smtp_tls",
            "--smtp-tls",
            "email.smtp-tls",
            set("smtp_tls").then(|| format!("{:?}", args.smtp_tls).to_lowercase()),
        ),
        (
            "smtp_user",
            "--smtp-user",
            "email.smtp-user",
            args.smtp_user.clone(),
        ),
        (
            "smtp_ca_file",
            "--smtp-ca-file",
            "email.smtp-ca-file",
            args.smtp_ca_file.as_ref().map(|p| p.display().to_string()),
        ),
        (
            "mail_from",
            "--mail-from",
            "email.from",
            args.mail_from.clone(),
        ),
        (
            "mail_subject",
            "--mail-subject",
            "email.subject",
            set("mail_subject").then(|| args.mail_subject.clone()),
        ),
        ("mail_cc", "--mail-cc", "email.cc", list(&args.mail_cc)),
        ("mail_bcc", "--mail-bcc", "email.bcc", list(&args.mail_bcc)),
        (
            "mail_max_attachment_size",
            "--mail-max-attachment-size",
            "email.max-attachment-size",
            set("mail_max_attachment_size").then(|| args.mail_max_attachment_size.to_string()),
        ),
        (
            "mail_sender_name",
            "--mail-sender-name",
            "email.sender-name",
            args.mail_sender_name.clone(),
        ),
        (
            "mail_header",
            "--mail-header",
            "email.header",
            args.mail_header.clone(),
        ),
        (
            "mail_logo",
            "--mail-logo",
            "email.logo",
            args.mail_logo.as_ref().map(|p| p.display().to_string()),
        ),
        (
            "mail_footer",
            "--mail-footer",
            "email.footer",
            args.mail_footer.clone(),
        ),
    ]
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
            let allowed = args
                .allow_incomplete
                .then(|| origin(args, "allow_incomplete", "--allow-incomplete"));
            let (users, pages) = stream_raw(client, &id, query, limit, allowed.as_ref()).await?;
            tracing::info!(company = %company.name, id = %company.resource_id, users, pages, "users exported");
            log_api_usage(client);
            return Ok(());
        }
        Prepared::Batch(batch) => batch,
    };
    let companies = super::select(client, &args.company).await?;
    let fail_on_changes = batch.report.fail_on_changes;
    let results = batch.run(companies).await?;
    log_api_usage(client);
    let rollup = keepnet_export_core::rollup::Rollup::of(&batch).write(&results, &batch.started);
    if let Some(path) = &args.summary_json {
        summary::write(path, started, &results, &[], client)?;
    }
    let gate = match fail_on_changes {
        true => summary::changes_gate(&results),
        false => Ok(()),
    };
    summary::outcome(results, Vec::new())?;
    super::rolled_up(rollup)?;
    gate
}

/// `users --dry-run`: checks every option exactly as a run does, then prints what the run
/// would do (the same text as `run --check`), calling no API and writing nothing.
pub fn dry_run(ctx: &Context<'_>, args: &UsersArgs) -> Result<(), Failure> {
    use keepnet_export_core::plan::{
        self, EmailPlan, JobPlan, PasswordSource, ReportPlan, SmtpPlan,
    };
    let prepared = prepare(ctx, args)?;
    let mut out = String::from("Dry run: nothing is fetched, written or sent.\n");
    let email = match &prepared {
        Prepared::Batch(batch) if args.email.smtp_host.is_some() => {
            keepnet_export_core::kinds::email::settings("", &batch.settings).ok()
        }
        _ => None,
    };
    if let Some((smtp, mail)) = &email {
        let password = match &args.email.smtp_password_file {
            Some(path) => PasswordSource::File(path.clone()),
            None => PasswordSource::Env("KEEPNET_SMTP_PASSWORD".to_owned()),
        };
        let tls = match &prepared {
            Prepared::Batch(batch) => batch.settings.options("email").text("smtp-tls").ok(),
            Prepared::Raw(_) => None,
        };
        plan::write_smtp(
            &mut out,
            &SmtpPlan {
                line: None,
                host: smtp.host.clone(),
                port: smtp.port,
                tls: tls.unwrap_or("starttls").to_owned(),
                from: mail.from.clone(),
                user: smtp.user.clone(),
                password,
                ca_file: smtp.ca_file.clone(),
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
            let sinks: Vec<String> = batch
                .specs
                .iter()
                .map(|s| ctx.registry.shown_spec(s))
                .collect();
            let to: Vec<String> = batch
                .specs
                .iter()
                .filter(|s| s.kind == "email")
                .flat_map(|s| s.target.split(',').map(|a| a.trim().to_owned()))
                .collect();
            let mail = keepnet_export_core::kinds::email::settings("", &batch.settings).ok();
            let email = (!to.is_empty()).then(|| EmailPlan {
                subject: mail.as_ref().map(|(_, m)| m.subject.clone()),
                default: to,
                cc: mail.as_ref().map(|(_, m)| m.cc.clone()).unwrap_or_default(),
                bcc: mail
                    .as_ref()
                    .map(|(_, m)| m.bcc.clone())
                    .unwrap_or_default(),
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
        report: ReportPlan {
            state: args.state.clone(),
            changes: args.changes.clone(),
            rollup: args.rollup.clone(),
            fail_on_changes: args.fail_on_changes,
            mail_skip_unchanged: args.mail_skip_unchanged,
        },
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
        peak_in_flight = stats.peak_in_flight,
        "api usage"
    );
}

/// The SMTP password from --smtp-password-file or KEEPNET_SMTP_PASSWORD (never a flag
/// value: it would show in the process list).
fn smtp_password(args: &EmailArgs) -> Result<Option<SecretString>, Failure> {
    let password = match &args.smtp_password_file {
        Some(path) => Some(crate::session::read_secret_file(path)?),
        None => crate::session::secret_var("KEEPNET_SMTP_PASSWORD")?,
    };
    Ok(password.map(SecretString::from))
}

/// Streams every user as the API returned it (every field, known or not), one JSON object
/// per line. Each page is checked (rows outside the selection dropped, scope guard) before any
/// of it is written.
async fn stream_raw(
    client: &Client,
    id: &CompanyId,
    query: UserQuery,
    limit: Option<keepnet_api::ScopeLimit>,
    allowed: Option<&Origin>,
) -> Result<(u64, u64), Failure> {
    if limit.is_none() {
        tracing::warn!("scope guard off: companies/search sent no user counts for this company");
    }
    let mut pager = client.pager(id, query).with_guard(limit);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let (mut users, mut page_count) = (0u64, 0u64);
    let mut line = Vec::with_capacity(1024);
    // Every field is written as served; their number is bounded as in any export.
    let (record, mut unknown) = (
        crate::columns::Layout::record(),
        crate::columns::UnknownFields::default(),
    );
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
        unknown.check(&record, &page, |_| ()).map_err(|e| {
            e.with_note(match users {
                0 => "nothing was written",
                _ => "output on stdout stopped here",
            })
        })?;
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
    if let Some(note) = pager.report().filter_note() {
        tracing::warn!("{note}");
    }
    // Stdout cannot be taken back: an inconsistent read is not repeated, only reported.
    let verdict = crate::completeness::judge(pager.report(), 1, Some("stdout"), allowed)?;
    if let crate::completeness::Verdict::Incomplete(warning) = verdict {
        tracing::warn!("{warning}");
    }
    Ok((users, page_count))
}
