//! The SMTP session, run step by step on lettre's blocking [`SmtpConnection`] so that a failure
//! says which step failed (connecting, TLS, authentication, which recipient).
//!
//! The steps are those of lettre's `SmtpTransport` with `Tls::Required` / `Tls::Wrapper` /
//! `Tls::None`: connect (TLS first for implicit TLS), EHLO, STARTTLS when required (refused if
//! the server does not offer it: no downgrade), AUTH when configured, MAIL, RCPT per
//! recipient, DATA.

use std::error::Error as _;
use std::io;
use std::time::Duration;

use lettre::address::Address;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpError;
use secrecy::{ExposeSecret, SecretString};

use crate::compose::base64;
use crate::SmtpTls;

/// The sender and the distinct recipients (To, Cc, Bcc; case-insensitive duplicates dropped).
pub(crate) fn envelope(from: &Mailbox, lists: [&Vec<Mailbox>; 3]) -> (Address, Vec<Address>) {
    let mut seen = std::collections::HashSet::new();
    let recipients = lists
        .into_iter()
        .flatten()
        .map(|m| m.email.clone())
        .filter(|a| seen.insert(a.to_string().to_lowercase()))
        .collect();
    (from.email.clone(), recipients)
}

/// One delivery attempt.
pub(crate) struct Session<'a> {
    /// Host to connect to and the TLS name to check.
    pub host: &'a str,
    pub port: u16,
    /// `host:port`, for messages.
    pub server: &'a str,
    pub mode: SmtpTls,
    /// Present unless `mode` is [`SmtpTls::None`].
    pub tls: Option<&'a TlsParameters>,
    pub timeout: Duration,
    pub user: Option<&'a str>,
    pub password: Option<&'a SecretString>,
}

impl Session<'_> {
    /// Sends `message`; the error names the server and what failed, never the password.
    pub fn send(&self, from: &Address, to: &[Address], message: &[u8]) -> Result<(), String> {
        self.run(from, to, message).map_err(|problem| {
            self.scrub(format!("e-mail not sent via {}: {problem}", self.server))
        })
    }

    fn run(&self, from: &Address, to: &[Address], message: &[u8]) -> Result<(), String> {
        let hello = ClientId::default();
        let wrapper = match self.mode {
            SmtpTls::Tls => Some(self.tls_parameters()?),
            SmtpTls::StartTls | SmtpTls::None => None,
        };
        let mut conn = SmtpConnection::connect(
            (self.host, self.port),
            Some(self.timeout),
            &hello,
            wrapper,
            None,
        )
        .map_err(|e| self.connect_failed(&e))?;
        match self.transaction(&mut conn, &hello, from, to, message) {
            Ok(()) => {
                conn.abort(); // QUIT and close
                Ok(())
            }
            Err(Failure { text, answered }) => {
                // The server answered (a refusal): say QUIT. Otherwise (timeout, broken
                // connection) just close, without waiting again. Without a completed DATA
                // nothing is delivered either way.
                if answered {
                    conn.abort();
                }
                Err(text)
            }
        }
    }

    fn tls_parameters(&self) -> Result<&TlsParameters, String> {
        self.tls
            .ok_or_else(|| "internal error: TLS parameters are missing".to_owned())
    }

    fn transaction(
        &self,
        conn: &mut SmtpConnection,
        hello: &ClientId,
        from: &Address,
        to: &[Address],
        message: &[u8],
    ) -> Result<(), Failure> {
        if self.mode == SmtpTls::StartTls {
            let parameters = self.tls_parameters().map_err(Failure::answered)?;
            if !conn.server_info().supports_feature(Extension::StartTls) {
                return Err(Failure::answered(
                    "the server does not offer STARTTLS, which is required: nothing was sent unencrypted. \
                     Use TLS mode (port 465) if the server speaks TLS from the first byte",
                ));
            }
            conn.starttls(parameters, hello).map_err(|e| {
                Failure::from(
                    &e,
                    format!(
                        "STARTTLS failed: {}{}",
                        self.detail(&e),
                        certificate_hint(&e)
                    ),
                )
            })?;
        }

        if let (Some(user), Some(password)) = (self.user, self.password) {
            let credentials =
                Credentials::new(user.to_owned(), password.expose_secret().to_owned());
            conn.auth(DEFAULT_MECHANISMS, &credentials).map_err(|e| {
                if e.is_client() && e.to_string().contains("No compatible authentication") {
                    Failure::answered(
                        "the server offers no authentication method this tool supports (AUTH PLAIN or LOGIN)",
                    )
                } else {
                    Failure::from(
                        &e,
                        format!(
                            "authentication as {user:?} failed: {}; check the user and password",
                            self.detail(&e)
                        ),
                    )
                }
            })?;
        }

        let mut parameters = Vec::new();
        if !from.to_string().is_ascii() || to.iter().any(|a| !a.to_string().is_ascii()) {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(Failure::answered(
                    "an address is not ASCII but the server does not support SMTPUTF8; use ASCII addresses",
                ));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err(Failure::answered(
                    "the message is not ASCII but the server does not support 8BITMIME",
                ));
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(Mail::new(Some(from.clone()), parameters))
            .map_err(|e| {
                let hint = if e.status().is_some_and(|c| c.to_string() == "530") {
                    " (the server requires authentication: give a user and password)"
                } else {
                    ""
                };
                // No reply code: nobody refused anything, the server stopped answering.
                let what = match e.status() {
                    Some(_) => format!("the server refused the sender {from}"),
                    None => format!(
                        "the server greeted and answered EHLO, then gave no answer to the \
                         sender {from} (MAIL FROM)"
                    ),
                };
                Failure::from(&e, format!("{what}: {}{hint}", self.detail(&e)))
            })?;

        let mut refused = Vec::new();
        for recipient in to {
            match conn.command(Rcpt::new(recipient.clone(), Vec::new())) {
                Ok(_) => {}
                Err(e) if e.status().is_some() => {
                    refused.push(format!("{recipient} ({})", self.detail(&e)));
                }
                Err(e) => {
                    return Err(Failure::from(
                        &e,
                        format!(
                            "the connection failed at recipient {recipient}: {}",
                            self.detail(&e)
                        ),
                    ))
                }
            }
        }
        match refused.len() {
            0 => {}
            1 => {
                return Err(Failure::answered(format!(
                    "the server refused recipient {}; nothing was sent to anyone. Fix or remove that address",
                    refused[0]
                )))
            }
            n => {
                return Err(Failure::answered(format!(
                    "the server refused {n} recipients: {}; nothing was sent to anyone. Fix or remove those addresses",
                    refused.join(", ")
                )))
            }
        }

        conn.command(Data).map_err(|e| {
            Failure::from(
                &e,
                format!(
                    "the server refused to take the message (DATA): {}",
                    self.detail(&e)
                ),
            )
        })?;
        conn.message(message).map_err(|e| {
            Failure::from(
                &e,
                format!("the server did not accept the message: {}", self.detail(&e)),
            )
        })?;
        Ok(())
    }

    /// Why connecting (TCP, implicit TLS, greeting, EHLO) failed.
    fn connect_failed(&self, e: &SmtpError) -> String {
        let kind = io_kind(e);
        let port = self.port;
        if kind == Some(io::ErrorKind::ConnectionRefused) {
            return format!("connection refused: nothing accepts connections on port {port}; check the host and port");
        }
        if is_timeout(e) {
            let hint = match self.mode {
                SmtpTls::StartTls | SmtpTls::None => {
                    "; check the host and port (a port that expects TLS from the first byte, usually 465, needs TLS mode)"
                }
                SmtpTls::Tls => "; check the host and port (TLS mode needs a port that speaks TLS from the first byte, usually 465)",
            };
            return format!("{}{hint}", self.detail(e));
        }
        if self.mode == SmtpTls::Tls && (kind == Some(io::ErrorKind::InvalidData) || e.is_tls()) {
            let text = e.to_string();
            let hint = if text.contains("certificate") {
                certificate_hint(e)
            } else {
                " (does the server speak TLS from the first byte on this port? Port 587 usually expects STARTTLS)"
            };
            return format!("TLS handshake failed: {}{hint}", self.detail(e));
        }
        if e.status().is_some() {
            return format!("the server refused the connection: {}", self.detail(e));
        }
        format!("could not connect: {}", self.detail(e))
    }

    /// A lettre error in words: `550 5.1.1 <a@b.c>: recipient address rejected` for a reply,
    /// `no answer within 30 s` for a timeout, else lettre's text.
    fn detail(&self, e: &SmtpError) -> String {
        if let Some(code) = e.status() {
            let text = e.source().map(|s| s.to_string()).unwrap_or_default();
            return format!("{code} {text}").trim_end().to_owned();
        }
        if is_timeout(e) {
            return format!("no answer within {} s", self.timeout.as_secs_f64());
        }
        e.to_string()
    }

    /// Removes the password (and the base64 forms AUTH sends) from a message.
    fn scrub(&self, message: String) -> String {
        let Some(password) = self.password.map(|p| p.expose_secret()) else {
            return message;
        };
        if password.is_empty() {
            return message;
        }
        let user = self.user.unwrap_or_default();
        let forms = [
            base64(format!("\0{user}\0{password}").as_bytes()),
            base64(password.as_bytes()),
            password.to_owned(),
        ];
        forms
            .iter()
            .fold(message, |m, form| m.replace(form.as_str(), "[redacted]"))
    }
}

/// Why the transaction failed, and whether the server answered (so QUIT can be said).
struct Failure {
    text: String,
    answered: bool,
}

impl Failure {
    /// A failure after which the connection is still in step.
    fn answered(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            answered: true,
        }
    }

    /// A failure from `e`: answered when the server replied with a code.
    fn from(e: &SmtpError, text: String) -> Self {
        Self {
            text,
            answered: e.status().is_some(),
        }
    }
}

fn certificate_hint(e: &SmtpError) -> &'static str {
    if e.to_string().contains("certificate") {
        " (if the server uses a private or self-signed certificate, give its CA certificate as the CA file)"
    } else {
        ""
    }
}

/// The kind of the first I/O error in the chain.
fn io_kind(e: &SmtpError) -> Option<io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

/// Socket timeouts surface as `WouldBlock` on Unix and `TimedOut` elsewhere.
fn is_timeout(e: &SmtpError) -> bool {
    e.is_timeout()
        || matches!(
            io_kind(e),
            Some(io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_the_password_and_its_auth_encodings() {
        let password = SecretString::from("p4ss:word");
        let session = Session {
            host: "smtp.example.com",
            port: 587,
            server: "smtp.example.com:587",
            mode: SmtpTls::StartTls,
            tls: None,
            timeout: Duration::from_secs(1),
            user: Some("bob"),
            password: Some(&password),
        };
        let plain = base64(b"\0bob\0p4ss:word");
        let login = base64(b"p4ss:word");
        let text = session.scrub(format!("535 bad p4ss:word {plain} {login}"));
        assert_eq!(text, "535 bad [redacted] [redacted] [redacted]");
    }

    #[test]
    fn envelope_keeps_each_recipient_once() {
        let m = |s: &str| s.parse::<Mailbox>().unwrap();
        let (from, to) = envelope(
            &m("Me <me@example.com>"),
            [
                &vec![m("a@example.com"), m("B <b@example.com>")],
                &vec![m("A@Example.com")],
                &vec![m("c@example.com"), m("b@example.com")],
            ],
        );
        assert_eq!(from.to_string(), "me@example.com");
        let to: Vec<String> = to.iter().map(ToString::to_string).collect();
        assert_eq!(to, ["a@example.com", "b@example.com", "c@example.com"]);
    }
}
