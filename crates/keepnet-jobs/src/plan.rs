//! `plan_summary`: what a run would do, for `run --check`, written by the engine's `plan`
//! (the same text `users --dry-run` prints).

use std::fmt::Write as _;

use keepnet_export_core::kinds::email;
use keepnet_export_core::plan::{self, EmailPlan, JobPlan, PasswordSource, ReportPlan, SmtpPlan};
use keepnet_export_core::settings::Sourced;
use keepnet_export_core::sinks::SinkSettings;

use crate::{Companies, Email, Header, Job, JobFile, Smtp};

/// A readable plan of what a run of `file` would do: the SMTP relay (and whether the
/// password variable is set now: never its value), then per job its companies, search,
/// columns, header, sinks, error handling and e-mail recipients. Ends with a newline.
pub fn plan_summary(file: &JobFile) -> String {
    plan_summary_resolved(file, &[])
}

/// [`plan_summary`], with each job's e-mail subject and copies as the engine resolved them
/// (a job's `[job.options.email]` wins over `[job.email]`): `resolved[i]` is job `i`'s
/// checked sink settings; a job without one is described from the file.
pub fn plan_summary_resolved(file: &JobFile, resolved: &[&SinkSettings]) -> String {
    let mut out = String::new();
    let jobs = file.jobs.len();
    let plural = if jobs == 1 { "" } else { "s" };
    let _ = writeln!(out, "{jobs} job{plural}, run in this order.");
    match &file.smtp {
        Some(smtp) => write_smtp(&mut out, smtp),
        None => out.push_str("\nSMTP: none (no job sends e-mail)\n"),
    }
    for (i, job) in file.jobs.iter().enumerate() {
        write_job(&mut out, job, resolved.get(i).copied());
    }
    out
}

fn write_smtp(out: &mut String, smtp: &Smtp) {
    let tls = smtp.tls.word();
    let password = match &smtp.password_env {
        Some(var) => PasswordSource::Env(var.clone()),
        None => PasswordSource::None,
    };
    plan::write_smtp(
        out,
        &SmtpPlan {
            line: Some(smtp.line),
            host: smtp.host.clone(),
            port: smtp.port,
            tls: tls.to_owned(),
            from: smtp.from.clone(),
            user: smtp.user.clone(),
            password,
            ca_file: smtp.ca_file.clone(),
        },
    );
}

fn write_job(out: &mut String, job: &Job, resolved: Option<&SinkSettings>) {
    let mail = resolved
        .and_then(|s| email::settings("", s).ok())
        .map(|(_, mail)| mail);
    let builtin = keepnet_export_core::sinks::Registry::builtin();
    let values = |list: &[crate::Located<String>]| -> Vec<String> {
        list.iter().map(|l| l.value.clone()).collect()
    };
    let plan = JobPlan {
        title: format!("Job {} (line {})", job.name, job.line),
        companies: match &job.companies {
            Companies::All => None,
            Companies::List(list) => Some(values(list)),
        },
        search: job.search.clone(),
        statuses: job.status.as_deref().map(values),
        columns: job.columns.as_deref().map(values),
        header: job.header.map(|h| match h {
            Header::Api => "api".to_owned(),
            Header::Human => "human".to_owned(),
        }),
        // A webhook's URL carries its token: shown cut to its host.
        sinks: values(&job.sinks)
            .iter()
            .map(|s| builtin.shown_text(s))
            .collect(),
        fail_fast: job.fail_fast,
        allow_incomplete: job.allow_incomplete,
        report: {
            let report = &job.settings.report;
            let texts = |list: &[Sourced<String>]| list.iter().map(|s| s.value.clone()).collect();
            ReportPlan {
                state: report.state.as_ref().map(|s| s.value.clone()),
                changes: texts(&report.changes),
                rollup: texts(&report.rollup),
                fail_on_changes: report.fail_on_changes.value,
                mail_skip_unchanged: report.mail_skip_unchanged.value,
            }
        },
        email: job.email.as_ref().map(|email: &Email| EmailPlan {
            subject: match &mail {
                Some(mail) => {
                    Some(mail.subject.clone()).filter(|s| s != keepnet_sink_email::DEFAULT_SUBJECT)
                }
                None => email.subject.clone(),
            },
            to: email
                .to
                .iter()
                .map(|(company, to)| (company.value.clone(), to.clone()))
                .collect(),
            default: email.default.clone(),
            notes: recipient_notes(email, &job.companies),
            cc: mail
                .as_ref()
                .map_or_else(|| email.cc.clone(), |m| m.cc.clone()),
            bcc: mail
                .as_ref()
                .map_or_else(|| email.bcc.clone(), |m| m.bcc.clone()),
        }),
    };
    plan::write_job(out, &plan);
}

/// What `run --check` (which calls no API) can say of the recipient keys: those that name none
/// of the job's companies as written, compared as `--company` compares; and that every key
/// is resolved when the job runs.
fn recipient_notes(email: &Email, companies: &crate::Companies) -> Vec<String> {
    if email.to.is_empty() {
        return Vec::new();
    }
    let mut notes = Vec::new();
    if let crate::Companies::List(list) = companies {
        let listed: Vec<String> = list.iter().map(|c| c.value.clone()).collect();
        for (key, _) in &email.to {
            if keepnet_export_core::recipients::match_listed(&key.value, &listed).is_none() {
                notes.push(format!(
                    "line {}: {:?} names none of this job's companies as written",
                    key.line, key.value
                ));
            }
        }
    }
    notes.push(
        "keys are resolved when the job runs, as --company is (an id, else the name): a key \
         two companies share fails the job, a key that names no company is reported"
            .to_owned(),
    );
    notes
}
