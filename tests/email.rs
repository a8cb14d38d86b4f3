//! `--sink email:`: the run's files delivered to a real SMTP server (aiosmtpd), after they
//! were published; failures keep the files and exit 6.

use mail_parser::{MessageParser, MimeHeaders};

use crate::smtp::{Opt, Server};
use crate::util::{plain_smtp_args, Env};
use keepnet_test_support::closed_port as free_port;

const COMPANY: &str = "Müşteri A.Ş.";

fn env() -> Env {
    Env::small(21, 10)
}

fn smtp_args(server_port: u16) -> Vec<String> {
    plain_smtp_args(server_port, "MSSP Reports <reports@mssp.example>")
}

fn run(env: &Env, args: &[String]) -> crate::util::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&args)
}

#[test]
fn files_are_mailed_after_publication_byte_identical_with_their_names() {
    let env = env();
    let server = Server::start(&[]);
    let csv = env.path("Müşteri A.Ş. users.csv");
    let xlsx = env.path("Müşteri A.Ş. users.xlsx");
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        COMPANY.into(),
        "--sink".into(),
        format!("csv:{}", csv.display()),
        "--sink".into(),
        format!("xlsx:{}", xlsx.display()),
        "--sink".into(),
        "email:it@musteri.example,security@musteri.example".into(),
        "--mail-cc".into(),
        "am@mssp.example".into(),
        "--mail-bcc".into(),
        "archive@mssp.example".into(),
        "--mail-subject".into(),
        "Users of {company} ({rows})".into(),
    ];
    args.extend(smtp_args(server.port));
    let run = run(&env, &args);
    run.ok();
    assert!(
        run.stderr.contains("sent to 4 recipients"),
        "{}",
        run.stderr
    );

    let received = server.single();
    let mut envelope = received.rcpt_tos();
    envelope.sort();
    assert_eq!(
        envelope,
        [
            "am@mssp.example",
            "archive@mssp.example",
            "it@musteri.example",
            "security@musteri.example"
        ]
    );
    let message = MessageParser::default().parse(&received.raw).unwrap();
    let id = env.company_id(COMPANY);
    let current = env.served(&id).len();
    assert!(current < 21, "deleted users are not exported");
    assert_eq!(
        message.subject(),
        Some(format!("Users of Müşteri A.Ş. ({current})").as_str())
    );
    let raw = String::from_utf8_lossy(&received.raw);
    assert!(
        !raw.to_lowercase().contains("archive@mssp.example"),
        "Bcc is not in the message"
    );
    let text = message.body_text(0).unwrap();
    let html = message.body_html(0).unwrap();
    let all = env.served_all(&id);
    let active = all
        .iter()
        .filter(|u| !crate::util::is_deleted(u) && u["status"] == "Active")
        .count();
    let deleted = all.len() - current;
    for body in [&text, &html] {
        assert!(body.contains("Müşteri A.Ş."), "{body}");
        assert!(body.contains(&current.to_string()), "{body}");
        // The count summary as labelled figures, and which users were exported.
        assert!(body.contains(&format!("Active users: {active}")), "{body}");
        assert!(
            body.contains(&format!("Deleted users: {deleted}")),
            "{body}"
        );
        assert!(body.contains("Users added in November 2026: "), "{body}");
        assert!(
            body.contains("active and inactive users (deleted users excluded)"),
            "{body}"
        );
        assert!(!body.contains("totalNumberOf"), "no raw keys: {body}");
        assert!(body.contains("reports@mssp.example"), "sender: {body}");
    }
    let attachments: Vec<_> = message.attachments().collect();
    assert_eq!(attachments.len(), 2);
    for (attachment, path, media) in [
        (&attachments[0], &csv, "text/csv"),
        (
            &attachments[1],
            &xlsx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ] {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            attachment.attachment_name(),
            Some(name),
            "non-ASCII name intact"
        );
        assert_eq!(
            attachment.contents(),
            std::fs::read(path).unwrap(),
            "byte-identical to {name}"
        );
        let ct = attachment.content_type().unwrap();
        assert_eq!(
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")),
            media
        );
    }
}

#[test]
fn with_no_file_sink_a_csv_is_attached_and_no_copy_is_kept() {
    let env = env();
    let server = Server::start(&[]);
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        COMPANY.into(),
        "--sink".into(),
        "email:it@musteri.example".into(),
    ];
    args.extend(smtp_args(server.port));
    run(&env, &args).ok();
    let received = server.single();
    let message = MessageParser::default().parse(&received.raw).unwrap();
    let attachment = message.attachments().next().unwrap();
    let name = attachment.attachment_name().unwrap();
    assert!(
        name.starts_with("Müşteri A.Ş. target users ") && name.ends_with(".csv"),
        "{name}"
    );
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(attachment.contents())
        .records()
        .map(Result::unwrap)
        .collect();
    let served = env.served(&env.company_id(COMPANY));
    assert_eq!(rows.len(), served.len(), "every user in the attached CSV");
    assert!(
        std::fs::read_dir(env.dir.path()).unwrap().next().is_none(),
        "nothing written locally"
    );
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("keepnet-export-mail-")
        })
        .count();
    assert_eq!(leftovers, 0, "the attachment's scratch folder is removed");
}

#[test]
fn starttls_with_auth_and_a_private_ca() {
    let env = env();
    let server = Server::start(&[Opt::StartTls, Opt::Auth("reports:S3cret-smtp")]);
    let out = env.path("u.csv");
    let mut cmd = env.command_as(&env.sandbox.reseller());
    cmd.env("KEEPNET_SMTP_PASSWORD", "S3cret-smtp");
    let port = server.port.to_string();
    let ca = crate::smtp::cert();
    let run = Env::run_cmd(
        cmd,
        &[
            "-vv",
            "users",
            "--company",
            COMPANY,
            "--sink",
            &format!("csv:{}", out.display()),
            "--sink",
            "email:it@musteri.example",
            "--smtp-host",
            "localhost",
            "--smtp-port",
            &port,
            "--smtp-user",
            "reports",
            "--smtp-ca-file",
            ca.to_str().unwrap(),
            "--mail-from",
            "reports@mssp.example",
        ],
    );
    run.ok();
    let received = server.single();
    assert_eq!(received.meta["tls"], true);
    assert_eq!(received.meta["auth"], true);
    assert!(!run.stderr.contains("S3cret-smtp") && !run.stdout.contains("S3cret-smtp"));
}

#[test]
fn a_refused_recipient_fails_with_6_and_the_files_stay() {
    let env = env();
    let server = Server::start(&[Opt::Refuse("gone@musteri.example")]);
    let out = env.path("u.csv");
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        COMPANY.into(),
        "--sink".into(),
        format!("csv:{}", out.display()),
        "--sink".into(),
        "email:it@musteri.example,gone@musteri.example".into(),
    ];
    args.extend(smtp_args(server.port));
    run(&env, &args).fails_with(6, &["gone@musteri.example", "still on disk", "u.csv"]);
    assert!(out.exists(), "the published file stays");
    assert!(
        server.messages().is_empty(),
        "nobody got a partial delivery"
    );
}

#[test]
fn over_the_size_limit_is_refused_before_connecting() {
    let env = env();
    let out = env.path("u.csv");
    // Nothing listens on this port: a connection attempt would fail differently.
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        COMPANY.into(),
        "--sink".into(),
        format!("csv:{}", out.display()),
        "--sink".into(),
        "email:it@musteri.example".into(),
        "--mail-max-attachment-size".into(),
        "1KiB".into(),
    ];
    args.extend(smtp_args(free_port()));
    run(&env, &args).fails_with(
        6,
        &["over the attachment limit", "--columns", "still on disk"],
    );
    assert!(out.exists());
}

#[test]
fn an_unreachable_server_exits_6_and_keeps_the_files() {
    let env = env();
    let out = env.path("u.xlsx");
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        COMPANY.into(),
        "--sink".into(),
        format!("xlsx:{}", out.display()),
        "--sink".into(),
        "email:it@musteri.example".into(),
    ];
    args.extend(smtp_args(free_port()));
    run(&env, &args).fails_with(6, &["connection refused", "still on disk", "u.xlsx"]);
    assert!(out.exists());
}

#[test]
fn bad_mail_settings_are_usage_errors_before_any_request() {
    let env = env();
    let before = env.sandbox.stats().requests;
    let base = [
        "users",
        "--company",
        COMPANY,
        "--mail-from",
        "r@mssp.example",
    ];
    for (extra, needle) in [
        (
            vec![
                "--sink",
                "email:not an address",
                "--smtp-host",
                "127.0.0.1",
                "--smtp-tls",
                "none",
            ],
            "not an address",
        ),
        (vec!["--sink", "email:a@b.example"], "--smtp-host"),
        (
            vec![
                "--sink",
                "email:a@b.example",
                "--smtp-host",
                "smtp.example.com",
                "--smtp-tls",
                "none",
            ],
            "only allowed to this machine",
        ),
        (
            vec![
                "--sink",
                "email:a@b.example",
                "--smtp-host",
                "127.0.0.1",
                "--smtp-tls",
                "none",
                "--smtp-user",
                "u",
            ],
            "password",
        ),
        (
            vec![
                "--sink",
                "email:a@b.example",
                "--smtp-host",
                "h",
                "--mail-max-attachment-size",
                "lots",
            ],
            "size",
        ),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra);
        env.run(&args).fails_with(2, &[needle]);
    }
    assert_eq!(env.sandbox.stats().requests, before, "nothing was fetched");
}
