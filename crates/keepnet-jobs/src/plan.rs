//! `plan_summary`: what a run would do, for `run --check`.

use std::fmt::Write as _;

use crate::{Companies, Email, Header, Job, JobFile, Smtp, Tls};

/// A readable plan of what a run of `file` would do: the SMTP relay (and whether the
/// password variable is set now: never its value), then per job its companies, search,
/// columns, header, sinks, error handling and e-mail recipients. Ends with a newline.
pub fn plan_summary(file: &JobFile) -> String {
    let mut out = String::new();
    let jobs = file.jobs.len();
    let plural = if jobs == 1 { "" } else { "s" };
    let _ = writeln!(out, "{jobs} job{plural}, run in this order.");
    match &file.smtp {
        Some(smtp) => write_smtp(&mut out, smtp),
        None => out.push_str("\nSMTP: none (no job sends e-mail)\n"),
    }
    for job in &file.jobs {
        write_job(&mut out, job);
    }
    out
}

fn write_smtp(out: &mut String, smtp: &Smtp) {
    let (tls, default_port) = match smtp.tls {
        Tls::StartTls => ("STARTTLS", 587),
        Tls::Tls => ("implicit TLS", 465),
        Tls::None => ("no TLS", 25),
    };
    let port = match smtp.port {
        Some(port) => port.to_string(),
        None => format!("{default_port} (default)"),
    };
    let _ = writeln!(out, "\nSMTP (line {})", smtp.line);
    let _ = writeln!(out, "  relay:    {}, port {port}, {tls}", smtp.host);
    let _ = writeln!(out, "  from:     {}", smtp.from);
    match (&smtp.user, &smtp.password_env) {
        (Some(user), Some(var)) => {
            let state = match std::env::var_os(var) {
                Some(value) if value.is_empty() => "set but EMPTY",
                Some(_) => "set",
                None => "NOT SET",
            };
            let _ = writeln!(out, "  user:     {user}");
            let _ = writeln!(out, "  password: from ${var} ({state})");
        }
        _ => out.push_str("  login:    none\n"),
    }
    if let Some(ca) = &smtp.ca_file {
        let _ = writeln!(out, "  CA file:  {}", ca.display());
    }
}

fn write_job(out: &mut String, job: &Job) {
    let _ = writeln!(out, "\nJob {} (line {})", job.name, job.line);
    let companies = match &job.companies {
        Companies::All => "all companies".to_owned(),
        Companies::List(list) => list
            .iter()
            .map(|c| c.value.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let _ = writeln!(out, "  companies: {companies}");
    if let Some(search) = &job.search {
        let _ = writeln!(out, "  search:    {search:?}");
    }
    let status = match &job.status {
        Some(words) => words
            .iter()
            .map(|w| w.value.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        None => "active, inactive (default; deleted users left out)".to_owned(),
    };
    let _ = writeln!(out, "  users:     {status}");
    let columns = match &job.columns {
        Some(columns) => columns
            .iter()
            .map(|c| c.value.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        None => "default".to_owned(),
    };
    let _ = writeln!(out, "  columns:   {columns}");
    let header = match job.header {
        Some(Header::Api) => "api (field names)",
        Some(Header::Human) => "human (labels)",
        None => "default",
    };
    let _ = writeln!(out, "  header:    {header}");
    for (i, sink) in job.sinks.iter().enumerate() {
        let label = if i == 0 { "sinks:" } else { "" };
        let _ = writeln!(out, "  {label:<10} {}", sink.value);
    }
    let on_failure = if job.fail_fast {
        "stop at the first company that fails (fail_fast)"
    } else {
        "export the other companies, then report"
    };
    let _ = writeln!(out, "  failure:   {on_failure}");
    let incomplete = if job.allow_incomplete {
        "publish, marked incomplete (allow_incomplete)"
    } else {
        "fail, publish nothing"
    };
    let _ = writeln!(out, "  incomplete: {incomplete}");
    match &job.email {
        Some(email) => write_email(out, email),
        None => out.push_str("  e-mail:    none\n"),
    }
}

fn write_email(out: &mut String, email: &Email) {
    let subject = email.subject.as_deref().unwrap_or("default subject");
    let _ = writeln!(out, "  e-mail:    subject: {subject}");
    let list = |addresses: &[String]| {
        if addresses.is_empty() {
            "(nobody)".to_owned()
        } else {
            addresses.join(", ")
        }
    };
    for (company, recipients) in &email.to {
        let _ = writeln!(
            out,
            "             {} -> {}",
            company.value,
            list(recipients)
        );
    }
    let others = if email.to.is_empty() {
        "every company"
    } else {
        "other companies"
    };
    let _ = writeln!(out, "             {others} -> {}", list(&email.default));
    if !email.cc.is_empty() {
        let _ = writeln!(out, "             cc: {}", email.cc.join(", "));
    }
    if !email.bcc.is_empty() {
        let _ = writeln!(out, "             bcc: {}", email.bcc.join(", "));
    }
}
