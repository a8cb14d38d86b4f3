//! `EmailDelivery` against a real SMTP server (aiosmtpd): plain, STARTTLS, implicit TLS, AUTH,
//! envelopes, refusals, message contents, limits and validation.

#[path = "../../../../tests/support/smtp.rs"]
mod server;

use std::path::PathBuf;
use std::time::Duration;

use keepnet_sink::{Artifact, Delivery, ExportInfo, Report, SinkError, Timestamp};
use keepnet_sink_email::{
    EmailDelivery, MailSettings, SmtpSettings, SmtpTls, DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_SUBJECT,
};
use mail_parser::{MessageParser, MimeHeaders};
use secrecy::SecretString;

use server::{Opt, Server};

const CSV: &str = "text/csv";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Published files and what the delivery is told about the export.
struct Export {
    _dir: tempfile::TempDir,
    info: ExportInfo,
    artifacts: Vec<Artifact>,
    summary: Vec<(String, String)>,
    rows: u64,
}

impl Export {
    fn new(files: &[(&str, &str, &[u8], u64)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let artifacts = files
            .iter()
            .map(|(name, media_type, bytes, rows)| {
                let path = dir.path().join(name);
                std::fs::write(&path, bytes).unwrap();
                Artifact {
                    path,
                    media_type: media_type.to_string(),
                    bytes: bytes.len() as u64,
                    rows: *rows,
                    sha256: None,
                }
            })
            .collect();
        Self {
            _dir: dir,
            info: ExportInfo {
                company_name: "Müşteri A.Ş.".into(),
                company_id: "c0ffee-42".into(),
                started_at: Timestamp::parse("2024-03-05T10:15:30Z").unwrap(),
                expected_rows: None,
            },
            artifacts,
            summary: vec![
                ("Total users".into(), "3".into()),
                ("Active".into(), "2".into()),
            ],
            rows: 3,
        }
    }

    fn small() -> Self {
        Self::new(&[("users.csv", CSV, b"email\na@x.example\n", 1)])
    }

    fn report(&self) -> Report<'_> {
        Report {
            export: &self.info,
            rows: self.rows,
            artifacts: &self.artifacts,
            summary: &self.summary,
            figures: None,
            changes: None,
        }
    }
}

fn smtp(port: u16, host: &str, tls: SmtpTls) -> SmtpSettings {
    let mut s = SmtpSettings::new(host);
    s.port = Some(port);
    s.tls = tls;
    s.timeout = Duration::from_secs(5);
    if tls != SmtpTls::None {
        s.ca_file = Some(server::cert());
    }
    s
}

fn mail() -> MailSettings {
    MailSettings::new(
        "Keepnet Reports <reports@reseller.example>",
        vec!["Ayşe Yılmaz <ayse@customer.example>".into()],
    )
}

fn delivery(smtp: SmtpSettings, mail: MailSettings) -> EmailDelivery {
    EmailDelivery::new(smtp, mail).expect("valid settings")
}

fn error_text(e: &SinkError) -> String {
    format!("{e} | {e:?}")
}

#[test]
fn plain_delivery_to_loopback() {
    let server = Server::start(&[]);
    let export = Export::small();
    let mut d = delivery(smtp(server.port, "127.0.0.1", SmtpTls::None), mail());
    let done = d.deliver(&export.report()).unwrap();
    assert_eq!(
        done,
        format!("sent to 1 recipient via 127.0.0.1:{} (no TLS)", server.port)
    );
    let msg = server.single();
    assert_eq!(msg.meta["tls"], false);
    assert_eq!(msg.meta["auth"], false);
    assert_eq!(msg.meta["mail_from"], "reports@reseller.example");
    assert_eq!(msg.rcpt_tos(), ["ayse@customer.example"]);
    let parsed = MessageParser::default().parse(&msg.raw).unwrap();
    assert_eq!(
        parsed.subject(),
        Some("Target users of Müşteri A.Ş. (2024-03-05)")
    );
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!(to.name(), Some("Ayşe Yılmaz"));
    assert_eq!(to.address(), Some("ayse@customer.example"));
}

#[test]
fn starttls_with_the_ca_file() {
    let server = Server::start(&[Opt::StartTls]);
    let export = Export::small();
    let mut d = delivery(smtp(server.port, "localhost", SmtpTls::StartTls), mail());
    let done = d.deliver(&export.report()).unwrap();
    assert_eq!(
        done,
        format!(
            "sent to 1 recipient via localhost:{} (STARTTLS)",
            server.port
        )
    );
    let msg = server.single();
    assert_eq!(msg.meta["tls"], true);
}

#[test]
fn starttls_refuses_an_untrusted_certificate() {
    let server = Server::start(&[Opt::StartTls]);
    let export = Export::small();
    let mut settings = smtp(server.port, "localhost", SmtpTls::StartTls);
    settings.ca_file = None; // the self-signed test certificate is not in the webpki roots
    let err = delivery(settings, mail())
        .deliver(&export.report())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("localhost:{}", server.port)),
        "{text}"
    );
    assert!(text.contains("STARTTLS failed"), "{text}");
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("CA file"), "{text}");
    assert!(server.messages().is_empty());
}

#[test]
fn implicit_tls() {
    let server = Server::start(&[Opt::ImplicitTls]);
    let export = Export::small();
    let mut d = delivery(smtp(server.port, "127.0.0.1", SmtpTls::Tls), mail());
    let done = d.deliver(&export.report()).unwrap();
    assert_eq!(
        done,
        format!("sent to 1 recipient via 127.0.0.1:{} (TLS)", server.port)
    );
    let msg = server.single();
    assert_eq!(msg.meta["tls"], true, "the message travelled over TLS");
    // And this server speaks nothing but TLS: a plain client gets no greeting.
    let mut plain = smtp(server.port, "127.0.0.1", SmtpTls::None);
    plain.timeout = Duration::from_secs(1);
    let err = delivery(plain, mail())
        .deliver(&export.report())
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("no answer within 1 s"), "{text}");
    assert!(text.contains("needs TLS mode"), "{text}");
    assert_eq!(server.messages().len(), 1);
}

#[test]
fn implicit_tls_against_a_plain_server_fails_clearly() {
    let server = Server::start(&[]);
    let export = Export::small();
    let err = delivery(smtp(server.port, "127.0.0.1", SmtpTls::Tls), mail())
        .deliver(&export.report())
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("TLS handshake failed"), "{text}");
    assert!(server.messages().is_empty());
}

#[test]
fn auth_over_starttls() {
    let password = "s3cret-Pa55";
    let wrong = "wr0ng-Pa55word";
    let server = Server::start(&[Opt::StartTls, Opt::Auth(&format!("keepnet:{password}"))]);
    let export = Export::small();

    let mut settings = smtp(server.port, "localhost", SmtpTls::StartTls);
    settings.user = Some("keepnet".into());
    settings.password = Some(SecretString::from(password));
    delivery(settings.clone(), mail())
        .deliver(&export.report())
        .unwrap();
    let msg = server.single();
    assert_eq!(msg.meta["tls"], true);
    assert_eq!(msg.meta["auth"], true);

    settings.password = Some(SecretString::from(wrong));
    let err = delivery(settings.clone(), mail())
        .deliver(&export.report())
        .unwrap_err();
    let text = error_text(&err);
    assert!(
        text.contains("authentication as \"keepnet\" failed") && text.contains("535"),
        "the server's refusal is reported: {text}"
    );
    assert!(
        text.contains(&format!("localhost:{}", server.port)),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
    assert!(!text.contains(password), "{text}");

    // Without credentials, the server's demand for them is explained.
    settings.user = None;
    settings.password = None;
    settings.timeout = Duration::from_secs(5);
    let err = delivery(settings, mail())
        .deliver(&export.report())
        .unwrap_err();
    assert!(err.to_string().contains("requires authentication"), "{err}");
    assert_eq!(server.messages().len(), 1, "only the authenticated message");
}

#[test]
fn to_cc_and_bcc_are_in_the_envelope_and_bcc_in_no_header() {
    let server = Server::start(&[]);
    let export = Export::small();
    let mut m = mail();
    m.to.push("second@customer.example".into());
    m.cc = vec!["Copy <copy@customer.example>".into()];
    m.bcc = vec![
        "hidden@reseller.example".into(),
        "Secret Name <secret@reseller.example>".into(),
    ];
    let mut d = delivery(smtp(server.port, "127.0.0.1", SmtpTls::None), m);
    assert_eq!(d.recipients(), 5);
    let done = d.deliver(&export.report()).unwrap();
    assert!(done.starts_with("sent to 5 recipients via "), "{done}");

    let msg = server.single();
    let mut rcpt = msg.rcpt_tos();
    rcpt.sort();
    assert_eq!(
        rcpt,
        [
            "ayse@customer.example",
            "copy@customer.example",
            "hidden@reseller.example",
            "second@customer.example",
            "secret@reseller.example",
        ]
    );
    let raw = String::from_utf8_lossy(&msg.raw).to_lowercase();
    assert!(!raw.contains("\nbcc:") && !raw.starts_with("bcc:"), "{raw}");
    assert!(!raw.contains("hidden@") && !raw.contains("secret"), "{raw}");

    let parsed = MessageParser::default().parse(&msg.raw).unwrap();
    assert!(parsed.bcc().is_none());
    let to: Vec<_> = parsed
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["ayse@customer.example", "second@customer.example"]);
    let cc: Vec<_> = parsed
        .cc()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(cc, ["copy@customer.example"]);
}

#[test]
fn a_refused_recipient_is_named_and_nothing_is_sent() {
    let server = Server::start(&[Opt::Refuse("gone@customer.example")]);
    let export = Export::small();
    let mut m = mail();
    m.cc = vec!["gone@customer.example".into()];
    let err = delivery(smtp(server.port, "127.0.0.1", SmtpTls::None), m)
        .deliver(&export.report())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("refused recipient gone@customer.example (550"),
        "{text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port)),
        "{text}"
    );
    assert!(server.messages().is_empty(), "no partial delivery");
}

#[test]
fn message_contents_and_attachments() {
    let server = Server::start(&[]);
    // Bare LF, CRLF, a lone dot line (SMTP dot-stuffing), no final newline, UTF-8.
    let csv: &[u8] =
        b"firstName,email\nAy\xc5\x9fe,a@x.example\r\n.\n..\r\n.\r\nlast line without newline";
    let xlsx: Vec<u8> = (0..=255u8)
        .cycle()
        .take(5000)
        .chain(*b"\r\n.\r\n")
        .collect();
    let long_name =
        "Çok uzun bir dosya adı: Müşteri Anonim Şirketi hedef kullanıcıları (2024-03-05).csv";
    let mut export = Export::new(&[
        ("Müşteri A.Ş. users.csv", CSV, csv, 3),
        ("Müşteri A.Ş. users.xlsx", XLSX, &xlsx, 3),
        (long_name, "text/csv; charset=utf-8", b"a\n", 0),
    ]);
    export.info.company_name = "Müşteri A.Ş. <R&D>".into();
    export.rows = 1234;
    export.summary = vec![
        ("Total users".into(), "1234".into()),
        ("Active".into(), "1200".into()),
    ];
    let mut m = mail();
    m.subject = "[{company_id}] {company}: {rows} users on {date} {{x}}".into();
    let mut d = delivery(smtp(server.port, "127.0.0.1", SmtpTls::None), m);
    d.deliver(&export.report()).unwrap();

    let msg = server.single();
    assert!(msg.raw.is_ascii(), "everything is encoded");
    let parsed = MessageParser::default().parse(&msg.raw).unwrap();
    assert_eq!(
        parsed.subject(),
        Some("[c0ffee-42] Müşteri A.Ş. <R&D>: 1234 users on 2024-03-05 {x}")
    );
    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Keepnet Reports"));
    assert_eq!(from.address(), Some("reports@reseller.example"));
    assert!(parsed.date().is_some(), "Date header");
    let id = parsed.message_id().expect("Message-ID header");
    assert!(id.ends_with("@reseller.example"), "{id}");

    let text = parsed.body_text(0).unwrap();
    let html = parsed.body_html(0).unwrap();
    let csv_size = format!("Müşteri A.Ş. users.csv: 3 rows, {} bytes", csv.len());
    let xlsx_size = format!(
        "Müşteri A.Ş. users.xlsx: 3 rows, 4.9 KiB ({} bytes)",
        xlsx.len()
    );
    for needle in [
        "c0ffee-42",
        "1234",
        "Total users: 1234",
        "Active: 1200",
        "2024-03-05 10:15:30 UTC",
        "reports@reseller.example",
        &csv_size,
        &xlsx_size,
        "personal data",
    ] {
        assert!(text.contains(needle), "text lacks {needle:?}:\n{text}");
        assert!(html.contains(needle), "html lacks {needle:?}:\n{html}");
    }
    assert!(text.contains("Müşteri A.Ş. <R&D>"), "{text}");
    assert!(html.contains("Müşteri A.Ş. &lt;R&amp;D&gt;"), "{html}");
    assert!(!html.contains("<R&D>"), "{html}");

    let attachments: Vec<_> = parsed.attachments().collect();
    assert_eq!(attachments.len(), 3);
    let expected: [(&str, &str, &str, &[u8]); 3] = [
        ("Müşteri A.Ş. users.csv", "text", "csv", csv),
        (
            "Müşteri A.Ş. users.xlsx",
            "application",
            "vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &xlsx,
        ),
        (long_name, "text", "csv", b"a\n"),
    ];
    for (part, (name, ctype, subtype, bytes)) in attachments.iter().zip(expected) {
        assert_eq!(
            part.attachment_name(),
            Some(name),
            "Content-Disposition filename"
        );
        let content_type = part.content_type().unwrap();
        assert_eq!(content_type.ctype(), ctype);
        assert_eq!(content_type.subtype(), Some(subtype));
        assert_eq!(
            content_type.attribute("name"),
            Some(name),
            "Content-Type name"
        );
        assert_eq!(part.contents(), bytes, "{name} arrives byte for byte");
        let path: PathBuf = export
            .artifacts
            .iter()
            .find(|a| a.path.file_name().unwrap().to_str() == Some(name))
            .unwrap()
            .path
            .clone();
        assert_eq!(part.contents(), std::fs::read(path).unwrap());
    }
    assert_eq!(
        attachments[2].content_type().unwrap().attribute("charset"),
        Some("utf-8")
    );

    // No summary from the API: said so in both bodies.
    export.summary.clear();
    d.deliver(&export.report()).unwrap();
    let second = &server.messages()[1];
    let parsed = MessageParser::default().parse(&second.raw).unwrap();
    assert!(parsed
        .body_text(0)
        .unwrap()
        .contains("Count summary: not available"));
    assert!(parsed
        .body_html(0)
        .unwrap()
        .contains("Count summary: not available"));
}

#[test]
fn the_size_limit_is_checked_before_connecting() {
    let port = server::free_port(); // nothing listens here
    let export = Export::new(&[
        ("a.csv", CSV, &[b'a'; 80], 1),
        ("b.xlsx", XLSX, &[0u8; 50], 1),
    ]);
    let mut m = mail();
    m.max_attachment_bytes = 100;
    let err = delivery(smtp(port, "127.0.0.1", SmtpTls::None), m.clone())
        .deliver(&export.report())
        .unwrap_err();
    // A limit, pointing at the setting: the front end names it as its user sets it
    // (`--mail-max-attachment-size`); the sink's own words name no flag.
    let SinkError::Limit {
        message: text,
        setting: keepnet_sink::Setting::MailAttachmentLimit,
    } = &err
    else {
        panic!("expected the size error, got {err:?}");
    };
    for needle in [
        "total 130 bytes",
        "limit of 100 bytes",
        "fewer columns",
        "search filter",
        "raise the limit",
        "link",
    ] {
        assert!(text.contains(needle), "{needle:?} missing: {text}");
    }
    assert!(!text.contains("--"), "no flag in a sink's message: {text}");

    // Within the limit the same settings do connect, and say where that failed.
    m.max_attachment_bytes = DEFAULT_MAX_ATTACHMENT_BYTES;
    let err = delivery(smtp(port, "127.0.0.1", SmtpTls::None), m)
        .deliver(&export.report())
        .unwrap_err();
    let text = err.to_string();
    assert!(!matches!(err, SinkError::Invalid(_)), "{err:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("connection refused"), "{text}");
}

#[test]
fn a_missing_file_is_an_io_error() {
    let mut export = Export::small();
    export.artifacts[0].path = export.artifacts[0].path.with_file_name("gone.csv");
    let err = delivery(
        smtp(server::free_port(), "127.0.0.1", SmtpTls::None),
        mail(),
    )
    .deliver(&export.report())
    .unwrap_err();
    assert!(
        matches!(&err, SinkError::Io { path, .. } if path.ends_with("gone.csv")),
        "{err:?}"
    );
}

#[test]
fn starttls_is_required_never_downgraded() {
    let server = Server::start(&[]); // offers no STARTTLS
    let export = Export::small();
    let err = delivery(smtp(server.port, "127.0.0.1", SmtpTls::StartTls), mail())
        .deliver(&export.report())
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("does not offer STARTTLS"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port)),
        "{text}"
    );
    assert!(server.messages().is_empty(), "nothing sent in clear");
}

#[test]
fn new_validates_everything_that_needs_no_network() {
    let ok_smtp = || smtp(2525, "smtp.example.com", SmtpTls::StartTls);
    let with = |f: &dyn Fn(&mut SmtpSettings, &mut MailSettings)| {
        let (mut s, mut m) = (ok_smtp(), mail());
        f(&mut s, &mut m);
        EmailDelivery::new(s, m)
    };
    let dir = tempfile::tempdir().unwrap();
    let empty_pem = dir.path().join("empty.pem");
    std::fs::write(&empty_pem, "not a certificate\n").unwrap();
    let bad_pem = dir.path().join("bad.pem");
    std::fs::write(
        &bad_pem,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    type Change = Box<dyn Fn(&mut SmtpSettings, &mut MailSettings)>;
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "bad From",
            Box::new(|_, m| m.from = "reports at reseller".into()),
            "invalid From address",
        ),
        (
            "bad To",
            Box::new(|_, m| m.to = vec!["a@b.example, c@d.example".into()]),
            "invalid To address",
        ),
        (
            "bad Cc",
            Box::new(|_, m| m.cc = vec!["nobody".into()]),
            "invalid Cc address",
        ),
        (
            "bad Bcc",
            Box::new(|_, m| m.bcc = vec!["".into()]),
            "invalid Bcc address",
        ),
        ("no To", Box::new(|_, m| m.to.clear()), "no To recipient"),
        (
            "unknown placeholder",
            Box::new(|_, m| m.subject = "Users of {customer}".into()),
            "unknown placeholder {customer}",
        ),
        (
            "unclosed placeholder",
            Box::new(|_, m| m.subject = "Users of {company".into()),
            "without a closing",
        ),
        (
            "plain to a remote host",
            Box::new(|s, _| {
                s.tls = SmtpTls::None;
                s.ca_file = None;
            }),
            "only allowed to this machine",
        ),
        (
            "plain AUTH on loopback",
            Box::new(|s, _| {
                s.host = "127.0.0.1".into();
                s.tls = SmtpTls::None;
                s.user = Some("u".into());
                s.password = Some(SecretString::from("p4ssword"));
            }),
            "never sent unencrypted",
        ),
        (
            "user without password",
            Box::new(|s, _| s.user = Some("u".into())),
            "without a password",
        ),
        (
            "password without user",
            Box::new(|s, _| s.password = Some(SecretString::from("p4ssword"))),
            "without a user",
        ),
        (
            "unreadable CA file",
            Box::new(|s, _| s.ca_file = Some("/nonexistent/ca.pem".into())),
            "cannot read the SMTP CA file /nonexistent/ca.pem",
        ),
        (
            "CA file without certificate",
            Box::new({
                let p = empty_pem.clone();
                move |s, _| s.ca_file = Some(p.clone())
            }),
            "holds no PEM certificate",
        ),
        (
            "private key as CA file",
            Box::new(|s, _| s.ca_file = Some(server::key())),
            "holds no PEM certificate",
        ),
        (
            "broken certificate",
            Box::new({
                let p = bad_pem.clone();
                move |s, _| s.ca_file = Some(p.clone())
            }),
            "bad.pem",
        ),
        (
            "empty host",
            Box::new(|s, _| s.host = "  ".into()),
            "SMTP host is empty",
        ),
        (
            "host with port",
            Box::new(|s, _| s.host = "smtp.example.com:587".into()),
            "port separately",
        ),
        ("port 0", Box::new(|s, _| s.port = Some(0)), "port 0"),
        (
            "zero timeout",
            Box::new(|s, _| s.timeout = Duration::ZERO),
            "timeout is zero",
        ),
        (
            "zero limit",
            Box::new(|_, m| m.max_attachment_bytes = 0),
            "attachment limit is 0",
        ),
    ];
    for (what, change, expected) in cases {
        match with(&*change) {
            Err(SinkError::Invalid(text)) => {
                assert!(
                    text.contains(expected),
                    "{what}: {text:?} lacks {expected:?}"
                )
            }
            Err(other) => panic!("{what}: not Invalid: {other:?}"),
            Ok(d) => panic!("{what}: accepted: {d:?}"),
        }
    }

    // Accepted: display names (non-ASCII too), plain SMTP to every loopback form.
    let d = with(&|_, m| {
        m.to = vec!["Ayşe <a@b.c>".into(), "plain@example.com".into()];
        m.cc = vec!["\"Doe, John\" <j@d.example>".into()];
    })
    .unwrap();
    assert_eq!(d.recipients(), 3);
    for host in ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"] {
        let r = with(&|s, _| {
            s.host = host.into();
            s.tls = SmtpTls::None;
            s.ca_file = None;
        });
        assert!(r.is_ok(), "{host}: {r:?}");
    }
    assert!(with(&|s, _| s.port = None).is_ok());
}

#[test]
fn defaults() {
    let s = SmtpSettings::new("smtp.example.com");
    assert_eq!(
        (s.port, s.tls, s.timeout),
        (None, SmtpTls::StartTls, Duration::from_secs(30))
    );
    assert!(s.user.is_none() && s.password.is_none() && s.ca_file.is_none());
    let m = MailSettings::new("a@b.c", vec!["d@e.f".into()]);
    assert_eq!(m.subject, DEFAULT_SUBJECT);
    assert_eq!(DEFAULT_SUBJECT, "Target users of {company} ({date})");
    assert_eq!(m.max_attachment_bytes, 20 * 1024 * 1024);
    assert!(m.cc.is_empty() && m.bcc.is_empty());
}

#[test]
fn debug_never_shows_the_password() {
    let password = "hunter2-Secret!";
    let mut s = smtp(465, "smtp.example.com", SmtpTls::Tls);
    s.user = Some("keepnet".into());
    s.password = Some(SecretString::from(password));
    let shown = format!("{s:?} {s:#?}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(shown.contains("keepnet"), "{shown}");
    assert!(!shown.contains(password), "{shown}");

    let d = delivery(s, mail());
    let shown = format!("{d:?} {d:#?}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains(password), "{shown}");
}

#[test]
fn non_ascii_addresses_go_out_with_smtputf8() {
    let server = Server::start(&[]);
    let export = Export::small();
    let mut m = mail();
    m.to = vec!["Ayşe <ayşe@örnek.example>".into()];
    delivery(smtp(server.port, "localhost", SmtpTls::None), m)
        .deliver(&export.report())
        .unwrap();
    let msg = server.single();
    assert_eq!(msg.rcpt_tos(), ["ayşe@örnek.example"]);
    let parsed = MessageParser::default().parse(&msg.raw).unwrap();
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!(to.address(), Some("ayşe@örnek.example"));
}
