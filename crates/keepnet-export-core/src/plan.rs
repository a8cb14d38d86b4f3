//! What a run would do, as people read it: printed by `run --check` for a job file and by
//! `users --dry-run` for flags, from the same code so both describe a setting the same way.
//! Never a secret: a password shows only where it would come from and whether it is set.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Where the SMTP password would come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// No login.
    None,
    /// An environment variable (its name).
    Env(String),
    /// A file (its path).
    File(PathBuf),
}

/// The SMTP relay a run would use.
#[derive(Debug, Clone)]
pub struct SmtpPlan {
    /// The job file line of `[smtp]`, when it came from one.
    pub line: Option<usize>,
    /// Relay host.
    pub host: String,
    /// Port, if given (else the transport's default).
    pub port: Option<u16>,
    /// `starttls`, `tls` or `none`.
    pub tls: String,
    /// The From address.
    pub from: String,
    /// The login user, if any.
    pub user: Option<String>,
    /// Where the password would come from.
    pub password: PasswordSource,
    /// Extra CA file.
    pub ca_file: Option<PathBuf>,
}

/// One export job: companies, selection, outputs, error handling, e-mail.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// The heading: `Job NAME (line N)`, `Export`.
    pub title: String,
    /// The companies as given (`None`: every managed company).
    pub companies: Option<Vec<String>>,
    /// Free-text search.
    pub search: Option<String>,
    /// The status words (`None`: the default selection).
    pub statuses: Option<Vec<String>>,
    /// The columns (`None`: the default layout).
    pub columns: Option<Vec<String>>,
    /// `api` or `human` (`None`: the default).
    pub header: Option<String>,
    /// The sinks as written.
    pub sinks: Vec<String>,
    /// Stop at the first failing company.
    pub fail_fast: bool,
    /// Publish an inconsistent read, marked incomplete.
    pub allow_incomplete: bool,
    /// The e-mail, if any.
    pub email: Option<EmailPlan>,
    /// The change report and rollup.
    pub report: ReportPlan,
}

/// What a job keeps and reports across runs.
#[derive(Debug, Clone, Default)]
pub struct ReportPlan {
    /// The state folder (`None`: no change report).
    pub state: Option<String>,
    /// The change sinks as written.
    pub changes: Vec<String>,
    /// The rollup sinks as written.
    pub rollup: Vec<String>,
    /// Exit 9 when anything changed.
    pub fail_on_changes: bool,
    /// No e-mail for a company where nothing changed.
    pub mail_skip_unchanged: bool,
}

/// The e-mail of a job.
#[derive(Debug, Clone, Default)]
pub struct EmailPlan {
    /// The subject template (`None`: the default subject).
    pub subject: Option<String>,
    /// Recipients per named company.
    pub to: Vec<(String, Vec<String>)>,
    /// Recipients of every other company.
    pub default: Vec<String>,
    /// Cc.
    pub cc: Vec<String>,
    /// Bcc.
    pub bcc: Vec<String>,
    /// What to know about the recipient keys (one a job's companies do not name...).
    pub notes: Vec<String>,
}

/// Writes the SMTP section.
pub fn write_smtp(out: &mut String, smtp: &SmtpPlan) {
    let (tls, default_port) = match smtp.tls.as_str() {
        "tls" => ("implicit TLS", 465),
        "none" => ("no TLS", 25),
        _ => ("STARTTLS", 587),
    };
    let port = match smtp.port {
        Some(port) => port.to_string(),
        None => format!("{default_port} (default)"),
    };
    match smtp.line {
        Some(line) => {
            let _ = writeln!(out, "\nSMTP (line {line})");
        }
        None => out.push_str("\nSMTP\n"),
    }
    let _ = writeln!(out, "  relay:    {}, port {port}, {tls}", smtp.host);
    let _ = writeln!(out, "  from:     {}", smtp.from);
    match (&smtp.user, &smtp.password) {
        (Some(user), PasswordSource::Env(var)) => {
            let state = match std::env::var_os(var) {
                Some(value) if value.is_empty() => "set but EMPTY",
                Some(_) => "set",
                None => "NOT SET",
            };
            let _ = writeln!(out, "  user:     {user}");
            let _ = writeln!(out, "  password: from ${var} ({state})");
        }
        (Some(user), PasswordSource::File(path)) => {
            let _ = writeln!(out, "  user:     {user}");
            let _ = writeln!(out, "  password: from the file {}", path.display());
        }
        _ => out.push_str("  login:    none\n"),
    }
    if let Some(ca) = &smtp.ca_file {
        let _ = writeln!(out, "  CA file:  {}", ca.display());
    }
}

/// Writes one job's section.
pub fn write_job(out: &mut String, job: &JobPlan) {
    let _ = writeln!(out, "\n{}", job.title);
    let companies = match &job.companies {
        None => "all companies".to_owned(),
        Some(list) => list.join(", "),
    };
    let _ = writeln!(out, "  companies: {companies}");
    if let Some(search) = &job.search {
        let _ = writeln!(out, "  search:    {search:?}");
    }
    let status = match &job.statuses {
        Some(words) => words.join(", "),
        None => "active, inactive (default; deleted users left out)".to_owned(),
    };
    let _ = writeln!(out, "  users:     {status}");
    let columns = match &job.columns {
        Some(columns) => columns.join(", "),
        None => "default".to_owned(),
    };
    let _ = writeln!(out, "  columns:   {columns}");
    let header = match job.header.as_deref() {
        Some("api") => "api (field names)",
        Some("human") => "human (labels)",
        _ => "default",
    };
    let _ = writeln!(out, "  header:    {header}");
    for (i, sink) in job.sinks.iter().enumerate() {
        let label = if i == 0 { "sinks:" } else { "" };
        let _ = writeln!(out, "  {label:<10} {sink}");
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
    write_report(out, &job.report);
    match &job.email {
        Some(email) => write_email(out, email),
        None => out.push_str("  e-mail:    none\n"),
    }
}

fn write_report(out: &mut String, report: &ReportPlan) {
    if let Some(state) = &report.state {
        let _ = writeln!(
            out,
            "  state:     {state} (each run compared with the previous one; personal data, 0600)"
        );
    }
    let lists = [("changes:", &report.changes), ("rollup:", &report.rollup)];
    for (name, list) in lists {
        for (i, sink) in list.iter().enumerate() {
            let label = if i == 0 { name } else { "" };
            let _ = writeln!(out, "  {label:<10} {sink}");
        }
    }
    if report.fail_on_changes {
        out.push_str(
            "  on change: exit 9 once everything is published (fail_on_changes)
",
        );
    }
    if report.mail_skip_unchanged {
        out.push_str(
            "  no change: no e-mail for that company (mail_skip_unchanged)
",
        );
    }
}

fn write_email(out: &mut String, email: &EmailPlan) {
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
        let _ = writeln!(out, "             {company} -> {}", list(recipients));
    }
    let others = if email.to.is_empty() {
        "every company"
    } else {
        "other companies"
    };
    let _ = writeln!(out, "             {others} -> {}", list(&email.default));
    for note in &email.notes {
        let _ = writeln!(out, "             note: {note}");
    }
    if !email.cc.is_empty() {
        let _ = writeln!(out, "             cc: {}", email.cc.join(", "));
    }
    if !email.bcc.is_empty() {
        let _ = writeln!(out, "             bcc: {}", email.bcc.join(", "));
    }
}
