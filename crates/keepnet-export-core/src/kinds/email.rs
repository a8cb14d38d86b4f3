//! `email:ADDR[,ADDR...]`: e-mail the run's files once published, through
//! `keepnet-sink-email` (lettre over rustls). Its options carry the SMTP relay and the
//! message; its password is the secret [`SMTP_PASSWORD`]; its rule refuses a login without
//! TLS in every front end; its check is [`EmailDelivery::check`] of the settings.

use keepnet_sink::{Delivery, Setting, SinkError};
use keepnet_sink_email::{EmailDelivery, MailSettings, SmtpSettings, SmtpTls};

use crate::options::{OptionSpec, OptionType, OptionValue, Options, SinkSettings};
use crate::spec::SinkSpec;

/// The kind's name.
pub const KIND: &str = "email";

/// For `--help` and errors.
pub const DESCRIPTION: &str = "e-mail the run's files once published; ADDR[,ADDR...]";

/// The kind's options (its password is the secret [`SMTP_PASSWORD`]).
pub const OPTIONS: [OptionSpec; 15] = [
    OptionSpec::new(
        "smtp-host",
        OptionType::Text,
        "",
        "the SMTP relay's host name or address",
    ),
    OptionSpec::new(
        "smtp-port",
        OptionType::Port,
        "",
        "the relay's port [default: 587 for starttls, 465 for tls, 25 for none]",
    )
    .validated(smtp_port),
    OptionSpec::new(
        "smtp-tls",
        OptionType::Choice(&["starttls", "tls", "none"]),
        "starttls",
        "STARTTLS required (no downgrade), implicit TLS, or none (loopback hosts only)",
    ),
    OptionSpec::new(
        "smtp-user",
        OptionType::Text,
        "",
        "the SMTP user (AUTH only ever happens over TLS)",
    ),
    OptionSpec::new(
        "smtp-ca-file",
        OptionType::Text,
        "",
        "a PEM file of extra trusted CA certificates, for a relay with a private CA",
    ),
    OptionSpec::new(
        "smtp-timeout",
        OptionType::Seconds,
        "30",
        "seconds to connect, and for each SMTP command",
    ),
    OptionSpec::new(
        "from",
        OptionType::Text,
        "",
        "the From address [default: smtp-user, when it is an address]",
    ),
    OptionSpec::new(
        "subject",
        OptionType::Text,
        keepnet_sink_email::DEFAULT_SUBJECT,
        "the subject; placeholders {company}, {company_id}, {date}, {rows}",
    ),
    OptionSpec::new("cc", OptionType::List, "", "Cc recipients, comma-separated"),
    OptionSpec::new(
        "bcc",
        OptionType::List,
        "",
        "Bcc recipients, comma-separated; never shown in the message",
    ),
    OptionSpec::new(
        "max-attachment-size",
        OptionType::Size,
        "20MiB",
        "the largest total size of the attachments, checked before connecting",
    ),
    OptionSpec::new(
        "sender-name",
        OptionType::Text,
        "",
        "the sender's display name, e.g. the MSSP's (replaces the name in from)",
    ),
    OptionSpec::new(
        "header",
        OptionType::Text,
        "",
        "a header line at the top of the message, e.g. the MSSP's name",
    ),
    OptionSpec::new(
        "logo",
        OptionType::Text,
        "",
        "a PNG, JPEG or GIF file (at most 512 KiB) shown at the top, embedded in the message",
    ),
    OptionSpec::new(
        "footer",
        OptionType::Text,
        "",
        "the footer text, replacing \"Sent by keepnet-export\"",
    ),
];

/// `smtp-port`: the e-mail crate's rule ([`keepnet_sink_email::check_port`]), so a flag, a
/// variable and a job file's `port` get one message.
fn smtp_port(value: &OptionValue) -> Result<(), String> {
    match value {
        // Read as a port, so it fits.
        OptionValue::Integer(n) => u16::try_from(*n).map_or(Ok(()), keepnet_sink_email::check_port),
        _ => Ok(()),
    }
}

/// The secret the e-mail kind logs in with.
pub const SMTP_PASSWORD: &str = "email.smtp-password";

/// The SMTP and message settings of an `email:` output, from the kind's options and the
/// secret [`SMTP_PASSWORD`]; `to` from `target` (`a@x.example,b@x.example`).
pub fn settings(target: &str, s: &SinkSettings) -> Result<(SmtpSettings, MailSettings), SinkError> {
    let own = s.options("email");
    let host = own.nonempty("smtp-host")?.ok_or_else(|| SinkError::Unset {
        message: "e-mail needs an SMTP server, and none is set: give the relay's host \
                      name (the email.smtp-host option)"
            .into(),
        setting: Setting::Option("email.smtp-host"),
    })?;
    let user = own.nonempty("smtp-user")?.map(str::to_owned);
    let smtp = SmtpSettings {
        // Declared as a port, so it fits.
        port: own
            .optional_integer("smtp-port")
            .and_then(|p| u16::try_from(p).ok()),
        tls: smtp_tls(own.text("smtp-tls")?),
        user: user.clone(),
        password: s.secrets.get(SMTP_PASSWORD).cloned(),
        ca_file: own.nonempty("smtp-ca-file")?.map(Into::into),
        timeout: own.seconds("smtp-timeout")?,
        ..SmtpSettings::new(host)
    };
    let from = match own.nonempty("from")? {
        Some(from) => from.to_owned(),
        None => user.filter(|u| u.contains('@')).unwrap_or_default(),
    };
    let from = match own.nonempty("sender-name")? {
        Some(name) if !from.is_empty() => keepnet_sink_email::with_display_name(&from, name),
        _ => from,
    };
    let text = |name: &str| -> Result<Option<String>, SinkError> {
        Ok(own.nonempty(name)?.map(str::to_owned))
    };
    let mail = MailSettings {
        cc: own.list("cc")?.to_vec(),
        bcc: own.list("bcc")?.to_vec(),
        subject: own.text("subject")?.to_owned(),
        max_attachment_bytes: own.size("max-attachment-size")?,
        header: text("header")?,
        logo: text("logo")?.map(Into::into),
        footer: text("footer")?,
        ..MailSettings::new(from, recipients(target))
    };
    Ok((smtp, mail))
}

/// The kind's check before a run: [`EmailDelivery::check`] of its settings.
pub fn check(spec: &SinkSpec, s: &SinkSettings) -> Result<(), SinkError> {
    let (smtp, mail) = settings(&spec.target, s)?;
    EmailDelivery::check(&smtp, &mail)
}

/// Builds the delivery.
pub fn build(spec: &SinkSpec, s: &SinkSettings) -> Result<Box<dyn Delivery>, SinkError> {
    let (smtp, mail) = settings(&spec.target, s)?;
    Ok(Box::new(EmailDelivery::new(smtp, mail)?))
}

/// `a@x.example, b@x.example` as addresses.
fn recipients(target: &str) -> Vec<String> {
    target
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `smtp-tls` as the e-mail crate's mode (the option is a choice of these three words).
fn smtp_tls(word: &str) -> SmtpTls {
    match word {
        "tls" => SmtpTls::Tls,
        "none" => SmtpTls::None,
        _ => SmtpTls::StartTls,
    }
}

/// The kind's rule: no login without TLS, in every front end.
pub fn rule(own: &Options, shown: &dyn Fn(&str) -> String) -> Result<(), (&'static str, String)> {
    let (Ok(tls), Ok(user)) = (own.text("smtp-tls"), own.nonempty("smtp-user")) else {
        return Ok(());
    };
    keepnet_sink_email::login_in_clear(smtp_tls(tls), user.is_some(), &shown("smtp-tls"))
        .map_err(|message| ("smtp-tls", message))
}
