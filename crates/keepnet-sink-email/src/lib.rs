//! E-mail delivery for `keepnet-export`: after an export's files are published, send them as
//! attachments of one message over SMTP.
//!
//! [`EmailDelivery`] implements [`keepnet_sink::Delivery`]. Everything that needs no network
//! (addresses, subject template, TLS settings, CA file) is checked by [`EmailDelivery::new`],
//! before the export starts; [`deliver`](keepnet_sink::Delivery::deliver) checks the attachment
//! size limit before connecting, builds the message and sends it.
//!
//! Transport security: [`SmtpTls::StartTls`] requires STARTTLS (a server that does not offer it
//! is refused, never downgraded), [`SmtpTls::Tls`] speaks TLS from the first byte, and
//! [`SmtpTls::None`] is allowed to a loopback host only and never with credentials. TLS is rustls
//! with the Mozilla (webpki) roots plus the certificates of an optional CA file.
//!
//! The password is never formatted: `Debug` shows `[redacted]` and error messages are scrubbed.

mod compose;
mod logo;
mod sections;
mod smtp;
mod template;

pub use sections::{BAR_COLOUR, BAR_WIDTH};

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use keepnet_sink::{Delivery, Report, SinkError};
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
use secrecy::SecretString;

use crate::template::Template;

/// The subject used by [`MailSettings::new`].
pub const DEFAULT_SUBJECT: &str = "Target users of {company} ({date})";

/// The attachment limit used by [`MailSettings::new`]: 20 MiB, the total of all files.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;

/// The largest logo [`MailSettings::logo`] may be: 512 KiB.
pub const MAX_LOGO_BYTES: u64 = 512 * 1024;

/// The Content-ID of the embedded logo: the HTML part shows it as
/// `<img src="cid:logo@keepnet-export">`.
pub const LOGO_CONTENT_ID: &str = "logo@keepnet-export";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (default port 587). STARTTLS is required: a
    /// server that does not offer it is refused, nothing is sent unencrypted.
    #[default]
    StartTls,
    /// TLS from the first byte, "SMTPS" (default port 465).
    Tls,
    /// No encryption (default port 25). Allowed to a loopback host only, without credentials.
    None,
}

impl SmtpTls {
    fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SmtpTls::StartTls => "STARTTLS",
            SmtpTls::Tls => "TLS",
            SmtpTls::None => "no TLS",
        }
    }
}

/// Where and how to connect to the SMTP server.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The server's host name or IP address, e.g. `smtp.example.com`.
    pub host: String,
    /// The port; `None` means 587 for STARTTLS, 465 for TLS, 25 without TLS.
    pub port: Option<u16>,
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// The user for SMTP AUTH (PLAIN or LOGIN); give it with [`password`](Self::password).
    pub user: Option<String>,
    /// The password for SMTP AUTH; never shown by `Debug` or in errors.
    pub password: Option<SecretString>,
    /// A PEM file with extra trusted root certificate(s), added to the Mozilla roots, e.g. a
    /// company CA or a server's self-signed certificate.
    pub ca_file: Option<PathBuf>,
    /// Timeout for connecting and for each command.
    pub timeout: Duration,
}

impl SmtpSettings {
    /// Settings for `host`: STARTTLS on the default port, no authentication, 30 s timeout.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: None,
            tls: SmtpTls::StartTls,
            user: None,
            password: None,
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.tls.default_port())
    }
}

/// Prints `[redacted]` in place of a secret.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Who the message goes to and what it says.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The sender, `name@example.com` or `Name <name@example.com>`.
    pub from: String,
    /// Main recipients; at least one.
    pub to: Vec<String>,
    /// Copy recipients, shown in the `Cc` header.
    pub cc: Vec<String>,
    /// Blind copy recipients: in the SMTP envelope only, never in a header.
    pub bcc: Vec<String>,
    /// Subject template with placeholders `{company}`, `{company_id}`, `{date}` (`YYYY-MM-DD`
    /// of the export's start, UTC) and `{rows}`; `{{` and `}}` are literal braces.
    pub subject: String,
    /// Upper limit of the total size of all attached files, in bytes.
    pub max_attachment_bytes: u64,
    /// A header line shown at the top of both bodies (e.g. the MSSP's name), next to the logo
    /// in the HTML part; `None` for none.
    pub header: Option<String>,
    /// A logo shown at the top of the HTML part: a PNG, JPEG or GIF file of at most
    /// [`MAX_LOGO_BYTES`], read and checked by [`EmailDelivery::new`] and embedded in the
    /// message (inline, by Content-ID [`LOGO_CONTENT_ID`]): the message loads nothing remote.
    pub logo: Option<PathBuf>,
    /// The footer text (one or more lines), replacing the default "Sent by keepnet-export".
    pub footer: Option<String>,
}

impl MailSettings {
    /// Settings with the [`DEFAULT_SUBJECT`], no Cc/Bcc, [`DEFAULT_MAX_ATTACHMENT_BYTES`] and no
    /// branding (no header, logo or footer).
    pub fn new(from: impl Into<String>, to: Vec<String>) -> Self {
        Self {
            from: from.into(),
            to,
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: DEFAULT_SUBJECT.to_owned(),
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
            header: None,
            logo: None,
            footer: None,
        }
    }
}

/// Sends an export's published files by e-mail: one message, one attachment per file.
pub struct EmailDelivery {
    smtp: SmtpSettings,
    mail: MailSettings,
    /// The host to connect to (IPv6 brackets removed).
    host: String,
    port: u16,
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    bcc: Vec<Mailbox>,
    subject: Template,
    /// Present for [`SmtpTls::StartTls`] and [`SmtpTls::Tls`].
    tls: Option<TlsParameters>,
    /// The logo file's bytes, read and checked once.
    logo: Option<logo::Logo>,
}

/// A message as [`EmailDelivery::preview`] builds it, without sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The whole message as it would go over SMTP: headers and MIME body, CRLF line endings.
    pub eml: Vec<u8>,
    /// The HTML part's text, with LF line endings (the message carries it with CRLF, in a
    /// transfer encoding); the logo, when set, is referenced as `cid:` [`LOGO_CONTENT_ID`].
    pub html: String,
    /// The embedded logo, when one is set.
    pub logo: Option<LogoFile>,
}

/// The logo a message embeds, as a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoFile {
    /// `logo.png`, `logo.jpg` or `logo.gif`: the name it has in the message.
    pub file_name: String,
    /// The image, exactly as read.
    pub bytes: Vec<u8>,
}

impl Preview {
    /// [`Preview::html`] for a browser: the logo's `cid:` reference points at
    /// [`LogoFile::file_name`], a file written beside it.
    pub fn html_with_logo_file(&self) -> String {
        match &self.logo {
            Some(logo) => self
                .html
                .replace(&format!("cid:{LOGO_CONTENT_ID}"), &logo.file_name),
            None => self.html.clone(),
        }
    }
}

impl fmt::Debug for EmailDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailDelivery")
            .field("smtp", &self.smtp)
            .field("mail", &self.mail)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// `from` with `name` as its display name: `Reports <r@mssp.example>` and `Acme MSSP` give
/// `"Acme MSSP" <r@mssp.example>`; a bare address gets the name too. The name is quoted (and
/// its quotes and backslashes escaped), so any text is safe in the header.
pub fn with_display_name(from: &str, name: &str) -> String {
    let address = match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &from[open + 1..close],
        _ => from.trim(),
    };
    let quoted: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{quoted}\" <{address}>")
}

/// The one rule on logging in without TLS, which every front end applies: a user and password
/// are never sent unencrypted, even to localhost. `tls_shown` is how the front end's user
/// wrote the TLS setting (`--smtp-tls none`, `tls = "none"`), so the message names it.
pub fn login_in_clear(tls: SmtpTls, login: bool, tls_shown: &str) -> Result<(), String> {
    if tls == SmtpTls::None && login {
        return Err(format!(
            "{tls_shown} would send the user name and password in clear: SMTP authentication needs TLS, and a user and password are never sent unencrypted, even to localhost. Use STARTTLS or TLS, or drop the user and password"
        ));
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> SinkError {
    SinkError::Invalid(message.into())
}

/// What [`EmailDelivery::check`] read from the settings: everything a delivery needs but its
/// TLS parameters.
struct Checked {
    host: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    bcc: Vec<Mailbox>,
    subject: Template,
    /// The CA file's certificate, parsed.
    ca: Option<Certificate>,
    /// The logo file's bytes, read and checked.
    logo: Option<logo::Logo>,
}

impl EmailDelivery {
    /// Validates everything that needs no network, as [`EmailDelivery::check`] does, and
    /// requires a To recipient; then sets up TLS. Fails with [`SinkError::Invalid`] saying
    /// what to change.
    pub fn new(smtp: SmtpSettings, mail: MailSettings) -> Result<Self, SinkError> {
        if mail.to.is_empty() {
            return Err(invalid(
                "no To recipient: give at least one address to send the export to",
            ));
        }
        let checked = checked(&smtp, &mail)?;
        let tls = build_tls(&smtp, &checked.host, checked.ca)?;
        let port = smtp.effective_port();
        Ok(Self {
            logo: checked.logo,
            tls: if smtp.tls == SmtpTls::None {
                None
            } else {
                Some(tls)
            },
            smtp,
            mail,
            host: checked.host,
            port,
            from: checked.from,
            to: checked.to,
            cc: checked.cc,
            bcc: checked.bcc,
            subject: checked.subject,
        })
    }

    /// Checks the settings without building anything: host and TLS mode, credentials, the CA
    /// file (read and parsed), addresses, subject template, size limit, logo (exists, at most
    /// [`MAX_LOGO_BYTES`], a PNG, JPEG or GIF by its first bytes). An empty `to` passes
    /// (recipients chosen per company later); [`EmailDelivery::new`] requires one.
    pub fn check(smtp: &SmtpSettings, mail: &MailSettings) -> Result<(), SinkError> {
        checked(smtp, mail).map(drop)
    }

    /// The message [`deliver`](Delivery::deliver) would send for `report`, without connecting
    /// to any server: the same code builds both, so [`Preview::eml`] is byte for byte what
    /// would be sent except the `Date` and `Message-ID` headers (new for every message) and the
    /// MIME boundaries (random). Bcc recipients appear nowhere in it, as in a sent message.
    ///
    /// Reads the attached files like a delivery does, so it fails the same way on a missing
    /// file or one over the attachment limit.
    pub fn preview(&self, report: &Report<'_>) -> Result<Preview, SinkError> {
        let files = compose::load_files(report.artifacts, self.mail.max_attachment_bytes)?;
        compose::build(self, report, &files)
    }

    /// How many recipients the message has: To + Cc + Bcc.
    pub fn recipients(&self) -> usize {
        self.to.len() + self.cc.len() + self.bcc.len()
    }

    /// `host:port`, with brackets around an IPv6 address.
    fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl Delivery for EmailDelivery {
    fn deliver(&mut self, report: &Report<'_>) -> Result<String, SinkError> {
        let message = self.preview(report)?.eml;
        let envelope = smtp::envelope(&self.from, [&self.to, &self.cc, &self.bcc]);
        let server = self.server();
        let session = smtp::Session {
            host: &self.host,
            port: self.port,
            server: &server,
            mode: self.smtp.tls,
            tls: self.tls.as_ref(),
            timeout: self.smtp.timeout,
            user: self.smtp.user.as_deref(),
            password: self.smtp.password.as_ref(),
        };
        session
            .send(&envelope.0, &envelope.1, &message)
            .map_err(SinkError::other)?;
        let n = envelope.1.len();
        Ok(format!(
            "sent to {n} recipient{} via {server} ({})",
            if n == 1 { "" } else { "s" },
            self.smtp.tls.label()
        ))
    }
}

/// The one rule on an SMTP port, whichever front end set it: 0 is not a port.
pub fn check_port(port: u16) -> Result<(), String> {
    if port == 0 {
        return Err("SMTP port 0 is not a port; give the mail server's port (587 for STARTTLS, 465 for TLS) or leave it unset".to_owned());
    }
    Ok(())
}

/// Checks the host and returns it without IPv6 brackets.
fn checked(smtp: &SmtpSettings, mail: &MailSettings) -> Result<Checked, SinkError> {
    let host = check_host(&smtp.host)?;
    if let Some(port) = smtp.port {
        check_port(port).map_err(invalid)?;
    }
    if smtp.timeout.is_zero() {
        return Err(invalid(
            "the SMTP timeout is zero; give a timeout of at least one second",
        ));
    }
    let auth = check_credentials(smtp)?;
    if smtp.tls == SmtpTls::None && !keepnet_net::is_loopback(&host) {
        return Err(invalid(format!(
            "SMTP without TLS is only allowed to this machine (localhost, 127.0.0.1, ::1), not to {host}: the export holds personal data. Use STARTTLS (port 587) or TLS (port 465)"
        )));
    }
    login_in_clear(smtp.tls, auth, "SMTP without TLS").map_err(invalid)?;
    let ca = smtp.ca_file.as_deref().map(read_ca_file).transpose()?;
    let from = parse_mailbox("From", &mail.from)?;
    let to = parse_mailboxes("To", &mail.to)?;
    let cc = parse_mailboxes("Cc", &mail.cc)?;
    let bcc = parse_mailboxes("Bcc", &mail.bcc)?;
    let subject = Template::parse(&mail.subject).map_err(invalid)?;
    if mail.max_attachment_bytes == 0 {
        return Err(invalid(
            "the e-mail attachment limit is 0 bytes: no file could be attached; raise it",
        ));
    }
    let logo = mail.logo.as_deref().map(logo::Logo::load).transpose()?;
    Ok(Checked {
        logo,
        host,
        from,
        to,
        cc,
        bcc,
        subject,
        ca,
    })
}

fn check_host(raw: &str) -> Result<String, SinkError> {
    let host = raw.trim();
    if host.is_empty() {
        return Err(invalid(
            "the SMTP host is empty: give the mail server's name, e.g. smtp.example.com",
        ));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(bare.to_owned());
    }
    if host.contains(':') {
        return Err(invalid(format!(
            "SMTP host {host:?} contains ':'; give the host name alone and the port separately"
        )));
    }
    if !host.is_ascii() {
        return Err(invalid(format!(
            "SMTP host {host:?} is not ASCII; give its ASCII (punycode, xn--...) form"
        )));
    }
    let valid = host.split('.').enumerate().all(|(i, label)| {
        (!label.is_empty() || (i > 0 && host.ends_with('.')))
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if !valid {
        return Err(invalid(format!(
            "SMTP host {host:?} is not a host name or IP address, e.g. smtp.example.com"
        )));
    }
    Ok(host.trim_end_matches('.').to_owned())
}

/// Checks user and password come together; returns whether AUTH is configured.
fn check_credentials(smtp: &SmtpSettings) -> Result<bool, SinkError> {
    use secrecy::ExposeSecret;
    match (&smtp.user, &smtp.password) {
        (None, None) => Ok(false),
        (Some(_), None) => Err(invalid(
            "an SMTP user was given without a password: give both, or neither to send without authentication",
        )),
        (None, Some(_)) => Err(invalid(
            "an SMTP password was given without a user: give both, or neither to send without authentication",
        )),
        (Some(user), Some(_)) if user.trim().is_empty() => Err(invalid(
            "the SMTP user is empty: give the account name, or neither user nor password",
        )),
        (Some(_), Some(password)) if password.expose_secret().is_empty() => Err(invalid(
            "the SMTP password is empty: give the account's password, or neither user nor password",
        )),
        (Some(_), Some(_)) => Ok(true),
    }
}

/// A CA bundle of a few certificates; 1 MiB is generous.
const MAX_CA_FILE: u64 = 1 << 20;

/// Reads and parses the CA file: a PEM file with at least one certificate.
fn read_ca_file(path: &std::path::Path) -> Result<Certificate, SinkError> {
    let shown = path.display();
    let pem = keepnet_sink::read_regular_file(path, MAX_CA_FILE).map_err(|e| {
        invalid(format!(
            "cannot read the SMTP CA file {shown}: {e}; give a readable PEM file with the CA certificate(s)"
        ))
    })?;
    let count = String::from_utf8_lossy(&pem)
        .lines()
        .filter(|line| line.trim() == "-----BEGIN CERTIFICATE-----")
        .count();
    if count == 0 {
        return Err(invalid(format!(
            "the SMTP CA file {shown} holds no PEM certificate (no -----BEGIN CERTIFICATE----- block); give the CA certificate in PEM form"
        )));
    }
    Certificate::from_pem(&pem).map_err(|e| {
        invalid(format!(
            "the SMTP CA file {shown} is not valid PEM ({e}); give the CA certificate in PEM form"
        ))
    })
}

/// Builds the rustls parameters: webpki roots plus the CA file's certificate. Done even
/// without TLS so that a CA file that cannot be a root is reported.
fn build_tls(
    smtp: &SmtpSettings,
    host: &str,
    ca: Option<Certificate>,
) -> Result<TlsParameters, SinkError> {
    let mut builder =
        TlsParameters::builder(host.to_owned()).certificate_store(CertificateStore::WebpkiRoots);
    if let Some(certificate) = ca {
        builder = builder.add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|e| match &smtp.ca_file {
        Some(path) => invalid(format!(
            "the SMTP CA file {} cannot be used as a trusted root ({e}); give the CA certificate in PEM form",
            path.display()
        )),
        None => invalid(format!("cannot set up TLS for {host}: {e}")),
    })
}

fn parse_mailbox(field: &str, raw: &str) -> Result<Mailbox, SinkError> {
    raw.trim().parse::<Mailbox>().map_err(|e| {
        let e = e.to_string();
        invalid(format!(
            "invalid {field} address {raw:?} ({e}); write it as name@example.com or Name <name@example.com>, one address per entry"
        ))
    })
}

fn parse_mailboxes(field: &str, raw: &[String]) -> Result<Vec<Mailbox>, SinkError> {
    raw.iter().map(|r| parse_mailbox(field, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepnet_net::is_loopback;

    #[test]
    fn hosts() {
        assert_eq!(
            check_host(" smtp.example.com ").unwrap(),
            "smtp.example.com"
        );
        assert_eq!(check_host("[::1]").unwrap(), "::1");
        assert_eq!(check_host("::1").unwrap(), "::1");
        assert_eq!(check_host("mail.example.com.").unwrap(), "mail.example.com");
        for bad in [
            "",
            "  ",
            "smtp.example.com:587",
            "a b",
            "smtp..x",
            "-a.b",
            "örnek.com",
        ] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
        for lo in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback(lo), "{lo}");
        }
        for not in ["10.0.0.1", "localhost.example.com", "example.com", "::2"] {
            assert!(!is_loopback(not), "{not}");
        }
    }

    #[test]
    fn default_ports() {
        let mut s = SmtpSettings::new("h");
        assert_eq!(s.effective_port(), 587);
        s.tls = SmtpTls::Tls;
        assert_eq!(s.effective_port(), 465);
        s.tls = SmtpTls::None;
        assert_eq!(s.effective_port(), 25);
        s.port = Some(2525);
        assert_eq!(s.effective_port(), 2525);
    }
}
