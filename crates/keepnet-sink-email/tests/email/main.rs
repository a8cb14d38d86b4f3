//! `EmailDelivery` against a real SMTP server (aiosmtpd): plain, STARTTLS, implicit TLS, AUTH,
//! envelopes, refusals, message contents, limits and validation.

use keepnet_test_support::smtp as server;

use std::path::PathBuf;
use std::time::Duration;

use keepnet_sink::{
    Artifact, Changes, Delivery, ExportInfo, Figures, Report, SinkError, Timestamp,
};
use keepnet_sink_email::{
    EmailDelivery, MailSettings, Preview, SmtpSettings, SmtpTls, DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_SUBJECT, LOGO_CONTENT_ID, MAX_LOGO_BYTES,
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
            published: &self.artifacts,
            encryption: None,
            summary: &self.summary,
            figures: None,
            changes: None,
            before: &[],
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
    let port = keepnet_test_support::closed_port(); // nothing listens here
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
        smtp(
            keepnet_test_support::closed_port(),
            "127.0.0.1",
            SmtpTls::None,
        ),
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

// The summary e-mail: figures, changes, the chart, branding, the preview.

/// A 1x1 PNG (a real image: signature, IHDR, IDAT, IEND).
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn png() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap()
}

const MONTHLY: [(&str, u64); 4] = [
    ("2026-07", 4),
    ("2026-08", 10),
    ("2026-09", 0),
    ("2026-10", 5),
];

fn figures() -> Figures {
    Figures {
        active: Some(412),
        inactive: Some(30),
        deleted: Some(5),
        licence_limit: Some(500),
        monthly: MONTHLY.iter().map(|(m, n)| (m.to_string(), *n)).collect(),
    }
}

/// 7 joined (3 named), 5 left (all named), 3 changed, and the published list.
fn changes(list: PathBuf) -> Changes {
    Changes {
        baseline: false,
        joined: 7,
        left: 5,
        changed: 3,
        joined_names: vec![
            "Ayşe Yılmaz <ayse@customer.example>".into(),
            "Bob <b&b> Builder".into(),
            "carol@customer.example".into(),
        ],
        left_names: (1..=5)
            .map(|i| format!("Leaver {i} <leaver{i}@customer.example>"))
            .collect(),
        list: Some(list),
    }
}

/// An export whose second file is the change list.
fn export_with_list() -> Export {
    Export::new(&[
        ("users.csv", CSV, b"email\na@x.example\n", 1),
        (
            "changes.csv",
            CSV,
            b"change,email\njoined,ayse@customer.example\n",
            15,
        ),
    ])
}

fn report<'a>(
    export: &'a Export,
    figures: Option<&'a Figures>,
    changes: Option<&'a Changes>,
) -> Report<'a> {
    Report {
        figures,
        changes,
        ..export.report()
    }
}

/// Settings with a header, a two-line footer and the logo at `logo`.
fn branded(logo: PathBuf) -> MailSettings {
    let mut m = mail();
    m.header = Some("Acme MSSP <Security> Reports".into());
    m.footer = Some("Acme MSSP, 1 Example Street\nsupport@mssp.example".into());
    m.logo = Some(logo);
    m
}

/// Every chart row of an HTML body: (month, data-count, bar width in percent, count text).
fn bars(html: &str) -> Vec<(String, u64, u64, u64)> {
    fn attr<'t>(text: &'t str, name: &str) -> Option<&'t str> {
        let start = text.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + text[start..].find('"')?;
        Some(&text[start..end])
    }
    html.lines()
        .filter(|line| line.starts_with("<tr data-month="))
        .map(|row| {
            let month = attr(row, "data-month").unwrap().to_owned();
            let count = attr(row, "data-count").unwrap().parse().unwrap();
            let width = row.find("class=\"bar\"").map_or(0, |i| {
                let w = attr(&row[i..], "width").unwrap();
                w.strip_suffix('%').unwrap().parse().unwrap()
            });
            // The last cell holds the count as text.
            let last = row.strip_suffix("</td></tr>").unwrap();
            let text = last[last.rfind('>').unwrap() + 1..].parse().unwrap();
            (month, count, width, text)
        })
        .collect()
}

#[test]
fn summary_with_figures_changes_chart_and_branding() {
    let server = Server::start(&[]);
    let export = export_with_list();
    let logo_dir = tempfile::tempdir().unwrap();
    let logo = logo_dir.path().join("logo.png");
    std::fs::write(&logo, png()).unwrap();
    let figures = figures();
    let changes = changes(export.artifacts[1].path.clone());
    let mut d = delivery(
        smtp(server.port, "127.0.0.1", SmtpTls::None),
        branded(logo.clone()),
    );
    d.deliver(&report(&export, Some(&figures), Some(&changes)))
        .unwrap();

    let msg = server.single();
    assert!(msg.raw.is_ascii(), "everything is encoded");
    let parsed = MessageParser::default().parse(&msg.raw).unwrap();
    // The bodies travel with CRLF line endings.
    let text = parsed.body_text(0).unwrap().replace("\r\n", "\n");
    let html = parsed.body_html(0).unwrap().replace("\r\n", "\n");

    // Counts, licence, changes: in both bodies.
    for needle in [
        "412 of 500 licences in use (82%)",
        "First report",
        "Over the licence limit",
    ] {
        let expected = needle.starts_with("412");
        assert_eq!(text.contains(needle), expected, "text {needle:?}:\n{text}");
        assert_eq!(html.contains(needle), expected, "html {needle:?}:\n{html}");
    }
    for (label, value) in [
        ("Active", 412),
        ("Inactive", 30),
        ("Deleted", 5),
        ("Joined", 7),
        ("Left", 5),
        ("Changed", 3),
    ] {
        let plain = format!("{:<10}{value}", format!("{label}:"));
        assert!(text.contains(&plain), "text lacks {plain:?}:\n{text}");
        let cell = format!(
            "<th align=\"left\" style=\"padding-right:16px\">{label}</th><td align=\"right\">{value}</td>"
        );
        assert!(html.contains(&cell), "html lacks {cell:?}:\n{html}");
    }
    assert!(text.contains("Changes since the last report:"), "{text}");
    assert!(html.contains("Changes since the last report"), "{html}");
    for name in &changes.joined_names {
        assert!(text.contains(&format!("    - {name}\n")), "{name}: {text}");
    }
    for name in &changes.left_names {
        assert!(text.contains(&format!("    - {name}\n")), "{name}: {text}");
    }
    assert!(
        html.contains("<li>Ayşe Yılmaz &lt;ayse@customer.example&gt;</li>"),
        "{html}"
    );
    assert!(
        html.contains("<li>Bob &lt;b&amp;b&gt; Builder</li>"),
        "{html}"
    );
    assert!(
        html.contains("<li>Leaver 5 &lt;leaver5@customer.example&gt;</li>"),
        "{html}"
    );
    let more = "and 4 more — full list attached: changes.csv";
    assert!(text.contains(more), "{text}");
    assert!(html.contains(more), "{html}");
    assert_eq!(
        html.matches("more — full list").count(),
        1,
        "all who left are named"
    );
    assert!(!html.contains("<b&b>"), "{html}");
    // The count summary as the API labels it is still there.
    assert!(
        text.contains("Count summary:\n  Total users: 3\n"),
        "{text}"
    );
    assert!(html.contains("<li>Total users: 3</li>"), "{html}");

    // The chart: one row per month, widths proportional, the largest 100%.
    let rows = bars(&html);
    let expected: Vec<(String, u64, u64, u64)> = [
        ("2026-07", 4, 40),
        ("2026-08", 10, 100),
        ("2026-09", 0, 0),
        ("2026-10", 5, 50),
    ]
    .iter()
    .map(|(m, n, w)| (m.to_string(), *n, *w, *n))
    .collect();
    assert_eq!(rows, expected, "{html}");
    let max = MONTHLY.iter().map(|m| m.1).max().unwrap();
    for ((_, count), (_, _, width, _)) in MONTHLY.iter().zip(&rows) {
        assert_eq!(width * max, count * 100, "proportional");
    }
    assert!(text.contains("Users added per month:"), "{text}");
    assert!(
        text.contains(&format!("  2026-08  {}  10\n", "#".repeat(30))),
        "{text}"
    );
    assert!(
        text.contains(&format!("  2026-07  {:<30}  4\n", "#".repeat(12))),
        "{text}"
    );
    assert!(
        text.contains(&format!("  2026-09  {:<30}  0\n", "")),
        "{text}"
    );
    // No remote content, no style sheet.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert!(!html.contains("<style"), "{html}");

    // Branding: header and footer in both bodies, the default footer replaced.
    assert!(text.starts_with("Acme MSSP <Security> Reports\n"), "{text}");
    assert!(
        html.contains("Acme MSSP &lt;Security&gt; Reports"),
        "{html}"
    );
    assert!(
        text.ends_with("-- \nAcme MSSP, 1 Example Street\nsupport@mssp.example\n"),
        "{text}"
    );
    assert!(
        html.contains("-- <br>Acme MSSP, 1 Example Street<br>support@mssp.example</p>"),
        "{html}"
    );
    assert!(!text.contains("Sent by keepnet-export"), "{text}");
    assert!(!html.contains("Sent by keepnet-export"), "{html}");

    // The logo: an inline part of a multipart/related with the HTML, referenced by its
    // Content-ID, its bytes those of the file.
    let cid = format!("cid:{LOGO_CONTENT_ID}");
    assert!(html.contains(&format!("<img src=\"{cid}\"")), "{html}");
    let related = parsed
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "multipart" && c.subtype() == Some("related"))
        })
        .expect("a multipart/related part");
    let mail_parser::PartType::Multipart(children) = &related.body else {
        panic!("multipart/related has children");
    };
    let image = parsed
        .parts
        .iter()
        .find(|p| p.content_id().is_some())
        .expect("a part with a Content-ID");
    assert_eq!(
        image.content_id().unwrap().trim_matches(['<', '>']),
        LOGO_CONTENT_ID
    );
    let content_type = image.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("image", Some("png"))
    );
    assert_eq!(image.contents(), std::fs::read(&logo).unwrap());
    let image_index = parsed
        .parts
        .iter()
        .position(|p| p.content_id().is_some())
        .unwrap() as u32;
    assert!(
        children.contains(&image_index),
        "the logo is inside the related part"
    );
    let html_index = parsed.html_body[0];
    assert!(children.contains(&html_index), "and so is the HTML");

    // The change list is attached, byte for byte.
    let list = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some("changes.csv"))
        .expect("the change list is attached");
    assert_eq!(
        list.contents(),
        std::fs::read(&export.artifacts[1].path).unwrap()
    );
}

#[test]
fn a_logo_is_checked_when_the_delivery_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let build = |logo: PathBuf| {
        EmailDelivery::new(
            smtp(2525, "smtp.example.com", SmtpTls::StartTls),
            branded(logo),
        )
    };
    let big = dir.path().join("big.png");
    let mut bytes = png();
    bytes.resize(MAX_LOGO_BYTES as usize + 1, 0);
    std::fs::write(&big, &bytes).unwrap();
    let svg = dir.path().join("logo.svg");
    std::fs::write(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let cases = [
        (big.clone(), "over the logo limit of 512.0 KiB"),
        (svg.clone(), "is not a PNG, JPEG or GIF image"),
        (dir.path().join("gone.png"), "cannot read the e-mail logo"),
        (dir.path().to_path_buf(), "is not a file"),
    ];
    for (path, expected) in cases {
        match build(path.clone()) {
            Err(SinkError::Invalid(text)) => {
                assert!(
                    text.contains(expected),
                    "{path:?}: {text:?} lacks {expected:?}"
                );
                assert!(
                    text.contains(&path.display().to_string()),
                    "{path:?}: {text:?}"
                );
            }
            other => panic!("{path:?}: {other:?}"),
        }
    }
    // At the limit, and each of the three formats, are accepted.
    bytes.truncate(MAX_LOGO_BYTES as usize);
    std::fs::write(&big, &bytes).unwrap();
    assert!(build(big).is_ok());
    for (name, magic) in [
        ("a.jpg", &[0xFF, 0xD8, 0xFF, 0xE0][..]),
        ("a.gif", b"GIF89a\x01\x00\x01\x00"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, magic).unwrap();
        assert!(build(path).is_ok(), "{name}");
    }
}

/// The preview of a report, from a loopback delivery (nothing is contacted).
fn preview_of(mail: MailSettings, figures: Option<&Figures>, changes: Option<&Changes>) -> Preview {
    let export = Export::small();
    delivery(
        smtp(
            keepnet_test_support::closed_port(),
            "127.0.0.1",
            SmtpTls::None,
        ),
        mail,
    )
    .preview(&report(&export, figures, changes))
    .unwrap()
}

#[test]
fn the_first_report_says_it_is_the_baseline() {
    let baseline = Changes {
        baseline: true,
        ..Changes::default()
    };
    let p = preview_of(mail(), None, Some(&baseline));
    let wording =
        "First report: this run is the baseline; changes will be reported from the next run.";
    assert!(p.html.contains(wording), "{}", p.html);
    let parsed = MessageParser::default().parse(&p.eml).unwrap();
    assert!(parsed.body_text(0).unwrap().contains(wording));
    assert!(!p.html.contains("Joined"), "{}", p.html);
    // Without figures: the count summary as before, no chart; no logo.
    assert!(p.html.contains("Count summary:"), "{}", p.html);
    assert!(!p.html.contains("Licences"), "{}", p.html);
    assert!(!p.html.contains("data-month"), "{}", p.html);
    assert!(!p.html.contains("<img"), "{}", p.html);
    assert!(
        p.html.contains("-- <br>Sent by keepnet-export"),
        "{}",
        p.html
    );

    // Nothing changed since the last report.
    let none = Changes::default();
    let p = preview_of(mail(), None, Some(&none));
    assert!(
        p.html.contains("None: no user joined, left or changed."),
        "{}",
        p.html
    );
    // No state kept: no changes section at all.
    let p = preview_of(mail(), None, None);
    assert!(!p.html.contains("Changes since"), "{}", p.html);
}

#[test]
fn over_the_licence_limit_is_said_clearly() {
    let over = Figures {
        active: Some(512),
        ..figures()
    };
    let p = preview_of(mail(), Some(&over), None);
    let line = "Over the licence limit: 12 more active users than the 500 licences allow.";
    assert!(p.html.contains(line), "{}", p.html);
    assert!(
        p.html.contains("512 of 500 licences in use (102%)"),
        "{}",
        p.html
    );
    let parsed = MessageParser::default().parse(&p.eml).unwrap();
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains(&format!("!! {line}")), "{text}");

    let exactly = Figures {
        active: Some(500),
        ..figures()
    };
    let p = preview_of(mail(), Some(&exactly), None);
    assert!(!p.html.contains("Over the licence limit"), "{}", p.html);
    assert!(
        p.html.contains("500 of 500 licences in use (100%)"),
        "{}",
        p.html
    );
}

#[test]
fn preview_is_the_message_a_delivery_sends() {
    let server = Server::start(&[]);
    let export = export_with_list();
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, png()).unwrap();
    let figures = figures();
    let changes = changes(export.artifacts[1].path.clone());
    let mut m = branded(logo);
    m.bcc = vec!["Hidden <hidden@reseller.example>".into()];
    let mut d = delivery(smtp(server.port, "127.0.0.1", SmtpTls::None), m);
    let r = report(&export, Some(&figures), Some(&changes));
    let preview = d.preview(&r).unwrap();
    d.deliver(&r).unwrap();
    let sent = server.single();

    let raw = String::from_utf8_lossy(&preview.eml).to_lowercase();
    assert!(
        !raw.contains("\r\nbcc:") && !raw.starts_with("bcc:"),
        "{raw}"
    );
    assert!(!raw.contains("hidden@"), "{raw}");
    let mut rcpt = sent.rcpt_tos();
    rcpt.sort();
    assert_eq!(rcpt, ["ayse@customer.example", "hidden@reseller.example"]);

    let a = MessageParser::default().parse(&preview.eml).unwrap();
    let b = MessageParser::default().parse(&sent.raw).unwrap();
    assert_eq!(
        a.body_html(0).unwrap().replace("\r\n", "\n"),
        preview.html,
        "html is the HTML part (which travels with CRLF line endings)"
    );
    assert_eq!(a.body_html(0), b.body_html(0));
    assert_eq!(a.body_text(0), b.body_text(0));
    assert_eq!(a.subject(), b.subject());
    assert_eq!(a.from(), b.from());
    assert_eq!(a.to(), b.to());
    let shape = |m: &mail_parser::Message<'_>| -> Vec<(String, Option<String>, Vec<u8>)> {
        m.parts
            .iter()
            .map(|p| {
                let ct = p.content_type().map_or_else(String::new, |c| {
                    format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default())
                });
                let contents = match &p.body {
                    mail_parser::PartType::Multipart(_) => Vec::new(),
                    _ => p.contents().to_vec(),
                };
                (ct, p.content_id().map(str::to_owned), contents)
            })
            .collect()
    };
    assert_eq!(shape(&a), shape(&b), "the same parts, byte for byte");
    assert!(
        shape(&a).len() >= 7,
        "mixed, alternative, text, related, html, logo, 2 files"
    );
}
