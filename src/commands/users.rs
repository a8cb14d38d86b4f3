//! `users`: a company's target users, to sinks or as raw JSON Lines on stdout.

use std::io::Write;

use keepnet_api::{Client, CompanyId, UserQuery};
use keepnet_sink::HeaderStyle;
use keepnet_sink_email::{MailSettings, SmtpSettings, SmtpTls};
use secrecy::SecretString;

use crate::cli::{EmailArgs, HeaderArg, SmtpTlsArg, UsersArgs};
use crate::columns::Layout;
use crate::exit::Failure;
use crate::pipeline;
use crate::sinks::{Registry, SinkSettings, SinkSpec};

/// Runs `users`: validates every output option, then fetches once.
pub async fn run(client: &Client, args: &UsersArgs) -> Result<(), Failure> {
    let query = UserQuery {
        search: args.search.clone(),
        order_by: args.order_by.clone(),
        ascending: !args.descending,
        page_size: args.page_size,
    };
    // Everything the user typed is checked before the first request.
    let csv_delimiter = parse_delimiter(&args.csv_delimiter)?;
    let layout = match (&args.columns, args.sinks.is_empty()) {
        (Some(list), _) => Layout::parse(list)?,
        (None, false) => Layout::all(),
        (None, true) => {
            let (company, id) = super::company(client, &args.company).await?;
            let (users, pages) = stream_raw(client, &id, query, args.strict).await?;
            tracing::info!(company = %company.name, id = %company.resource_id, users, pages, "users exported");
            log_api_usage(client);
            return Ok(());
        }
    };
    let specs = if args.sinks.is_empty() {
        vec![SinkSpec::parse("jsonl:-")?]
    } else {
        args.sinks
            .iter()
            .map(|s| SinkSpec::parse(s))
            .collect::<Result<_, _>>()?
    };
    let (smtp, mail) = email_settings(&args.email)?;
    let settings = SinkSettings {
        header: match args.header {
            HeaderArg::Api => HeaderStyle::Api,
            HeaderArg::Human => HeaderStyle::Human,
        },
        raw_cells: args.raw_cells,
        csv_delimiter,
        csv_bom: args.csv_bom,
        xlsx_compression: args.xlsx_compression,
        smtp,
        mail,
    };
    let registry = Registry::builtin();
    let mut plan = registry.build_all(&specs, &settings)?;
    let (company, id) = super::company(client, &args.company).await?;
    if !plan.deliveries.is_empty() && !plan.has_file_sink() {
        // Nothing to attach: make the CSV the csv sink would make, in a private folder.
        let scratch = tempfile::Builder::new()
            .prefix("keepnet-export-mail-")
            .tempdir()
            .map_err(|e| Failure::output("cannot create a folder for the e-mail attachment", e))?;
        let date = keepnet_sink::Timestamp::now();
        let name = crate::output::safe_file_name(&format!(
            "{} target users {:04}-{:02}-{:02}.csv",
            company.name, date.year, date.month, date.day
        ));
        let spec = SinkSpec::parse(&format!("csv:{}", scratch.path().join(name).display()))?;
        let mut extra = registry.build_all(std::slice::from_ref(&spec), &settings)?;
        plan.sinks.append(&mut extra.sinks);
        plan.scratch = Some(scratch);
    }
    let outcome = pipeline::run(client, &company, &id, query, layout, plan, args.strict).await?;
    tracing::info!(
        company = %company.name,
        id = %company.resource_id,
        users = outcome.rows,
        pages = outcome.paging.pages,
        "users exported"
    );
    log_api_usage(client);
    Ok(())
}

/// One line on how hard the API was worked: requests, retries, token renewals, throttling.
fn log_api_usage(client: &Client) {
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
fn email_settings(args: &EmailArgs) -> Result<(Option<SmtpSettings>, MailSettings), Failure> {
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

/// `,` `;` `|` or `tab`: one ASCII character.
fn parse_delimiter(text: &str) -> Result<u8, Failure> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        t if t.len() == 1 && t.is_ascii() && !matches!(t, "\"" | "\r" | "\n") => Ok(t.as_bytes()[0]),
        _ => Err(Failure::usage(format!(
            "--csv-delimiter {text:?} must be one ASCII character (not a quote or newline), or `tab`"
        ))),
    }
}

/// Streams every user as the API returned it, one JSON object per line.
async fn stream_raw(
    client: &Client,
    id: &CompanyId,
    query: UserQuery,
    strict: bool,
) -> Result<(u64, u64), Failure> {
    let mut pager = client.pager(id, query);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let (mut users, mut page_count) = (0u64, 0u64);
    let mut line = Vec::with_capacity(1024);
    while let Some(page) = pager.next_page().await? {
        page_count += 1;
        for user in &page.results {
            line.clear();
            serde_json::to_writer(&mut line, user)
                .map_err(|e| Failure::output("cannot encode a user", e))?;
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                return stdout_error(e).map(|()| (users, page_count));
            }
            users += 1;
        }
    }
    if let Err(e) = out.flush() {
        stdout_error(e)?;
    }
    // Stdout cannot be taken back; --strict still turns the warning into a failure exit.
    pipeline::check_complete(pager.report().clone(), strict)?;
    Ok((users, page_count))
}

/// A closed pipe (`| head`) is a normal end; anything else is an output failure.
fn stdout_error(e: std::io::Error) -> Result<(), Failure> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::output("cannot write to stdout", e))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_delimiter;

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter(",").unwrap(), b',');
        assert_eq!(parse_delimiter(";").unwrap(), b';');
        assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
        for bad in ["", ";;", "\"", "é", "\n"] {
            assert!(parse_delimiter(bad).is_err(), "{bad:?}");
        }
    }
}
