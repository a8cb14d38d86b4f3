//! `preview-email`: one company's export exactly as `users` runs it, with its e-mail written
//! to `COMPANY.eml` and `COMPANY.html` instead of sent. The message is built by the code that
//! builds a sent one ([`EmailDelivery::preview`]), from the same figures, changes and files.
//! The state (`--state`) is read from a private copy, so a preview never advances it.

use std::path::{Path, PathBuf};

use keepnet_export_core::kinds::email;
use keepnet_export_core::sinks::Registry;
use keepnet_sink::{Delivery, Report, SinkError};
use keepnet_sink_email::EmailDelivery;

use crate::cli::PreviewArgs;
use crate::exit::Failure;
use crate::Context;

/// The relay a preview names when none was given: it is never connected to.
const NO_RELAY: &str = "preview.invalid";

/// The sender a preview shows when none was given.
const SAMPLE_FROM: &str = "Reports <reports@mssp.example>";

/// An e-mail delivery that writes its message to files.
struct PreviewDelivery {
    delivery: EmailDelivery,
    dir: PathBuf,
}

impl Delivery for PreviewDelivery {
    fn deliver(&mut self, report: &Report<'_>) -> Result<String, SinkError> {
        let preview = self.delivery.preview(report)?;
        // The name `{company}` gives it: never empty or hidden, whatever the company is called.
        let name = keepnet_export_core::templates::safe_component(
            &report.export.company_name,
            &report.export.company_id,
        );
        let eml = self.dir.join(format!("{name}.eml"));
        let html = self.dir.join(format!("{name}.html"));
        write(&eml, &preview.eml)?;
        write(&html, preview.html_with_logo_file().as_bytes())?;
        if let Some(logo) = &preview.logo {
            write(&self.dir.join(&logo.file_name), &logo.bytes)?;
        }
        Ok(format!(
            "e-mail preview written to {} and {} (nothing sent)",
            eml.display(),
            html.display()
        ))
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), SinkError> {
    keepnet_export_core::output::write_atomically(path, bytes).map_err(SinkError::other)
}

/// The built-in kinds, with `email` writing previews into `dir`.
fn registry(dir: &Path) -> Registry {
    let mut registry = Registry::builtin();
    let dir = dir.to_path_buf();
    registry.register_delivery(
        "email",
        "write the e-mail to COMPANY.eml and COMPANY.html instead of sending it",
        Box::new(move |spec, s| {
            let (smtp, mail) = email::settings(&spec.target, s)?;
            Ok(Box::new(PreviewDelivery {
                delivery: EmailDelivery::new(smtp, mail)?,
                dir: dir.clone(),
            }))
        }),
    );
    registry.register_check("email", Box::new(email::check));
    registry
}

/// A private temporary folder holding the state files of `dir` (none when it does not exist).
fn private_copy(dir: &Path) -> Result<tempfile::TempDir, Failure> {
    let shown = dir.display();
    let copy = tempfile::tempdir()
        .map_err(|e| Failure::output("cannot make a folder for the state's copy", e))?;
    if dir.is_dir() {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Failure::output(format!("--state {shown}: cannot read it"), e))?;
        for entry in entries {
            let entry = entry
                .map_err(|e| Failure::output(format!("--state {shown}: cannot read it"), e))?;
            let name = entry.file_name();
            let is_state = name.to_string_lossy().ends_with(".state.json");
            if is_state && entry.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::copy(entry.path(), copy.path().join(&name)).map_err(|e| {
                    Failure::output(format!("--state {shown}: cannot copy {name:?}"), e)
                })?;
            }
        }
    }
    Ok(copy)
}

/// Runs the export of one company with its e-mail previewed.
pub async fn run(ctx: &Context<'_>, args: &PreviewArgs) -> Result<(), Failure> {
    let mut users = args.users.clone();
    if users.company.len() != 1 || users.company.iter().any(|c| super::is_all(c)) {
        return Err(Failure::usage(
            "preview-email shows one company's message: give one --company",
        ));
    }
    if users.dry_run {
        return Err(Failure::usage(
            "preview-email already sends nothing: drop --dry-run (users --dry-run prints the plan)",
        ));
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(Failure::usage(format!(
            "--out {}: is not a folder; give a folder for the .eml and .html files",
            args.out.display()
        )));
    }
    // The folder will hold the people in the message: the owner's only, as every folder the
    // tool creates.
    keepnet_sink::create_private_dirs(&args.out).map_err(|e| {
        Failure::output(format!("--out {}: cannot create it", args.out.display()), e)
    })?;
    // A preview sends, uploads, posts and runs nothing: only the files and the e-mail (written
    // to files) are kept; every other delivery and every plugin is left out, and said so.
    let kinds = Registry::builtin();
    users.sinks.retain(|text| {
        let kind = text
            .split_once(':')
            .map_or("", |(k, _)| k)
            .to_ascii_lowercase();
        let kept = kind == "email" || kinds.writes_files(&kind);
        if !kept {
            tracing::warn!(
                "preview-email runs no delivery and no plugin: --sink {} is left out (nothing \
                 is uploaded, posted or run)",
                kinds.shown_text(text)
            );
        }
        kept
    });
    if !users
        .sinks
        .iter()
        .any(|s| s.to_ascii_lowercase().starts_with("email:"))
    {
        users.sinks.push(format!("email:{}", args.to));
    }
    // The message needs a relay and a sender to be built; a preview connects to nothing.
    users
        .email
        .smtp_host
        .get_or_insert_with(|| NO_RELAY.to_owned());
    if users.email.mail_from.is_none() && users.email.smtp_user.is_none() {
        users.email.mail_from = Some(SAMPLE_FROM.to_owned());
    }
    // A preview reads the state but never advances it: the run that sends must still see
    // the changes. It runs on a private copy, removed afterwards.
    let _copy = match &users.state {
        Some(dir) => {
            let copy = private_copy(Path::new(dir))?;
            users.state = Some(copy.path().display().to_string());
            Some(copy)
        }
        None => None,
    };
    let registry = registry(&args.out);
    let ctx = Context {
        registry: &registry,
        ..ctx.clone()
    };
    super::users::run(&ctx, &users).await
}
