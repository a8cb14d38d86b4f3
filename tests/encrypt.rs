//! `--encrypt`: deliveries send encrypted copies, opened here with the real tools (7-Zip for
//! the AES ZIP, the `age` CLI), byte-identical to the published files; the password is never
//! in the message, the published files stay plain.

use std::path::Path;
use std::process::Command;

use mail_parser::{MessageParser, MimeHeaders};

use crate::smtp::Server;
use crate::util::{plain_smtp_args, Env, Run};

const COMPANY: &str = "Initech";
const PASSWORD: &str = "correct horse battery staple";

fn users(env: &Env, smtp: u16, extra: &[&str], vars: &[(&str, &str)]) -> (Run, String) {
    let csv = env.path("Initech.csv");
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        COMPANY.into(),
        "--sink".into(),
        format!("csv:{}", csv.display()),
        "--sink".into(),
        "email:it@initech.example".into(),
        "--summary-json".into(),
        env.path("summary.json").display().to_string(),
    ];
    args.extend(plain_smtp_args(smtp, "reports@mssp.example"));
    args.extend(extra.iter().map(|s| s.to_string()));
    (env.run_with(&args, vars), csv.display().to_string())
}

/// The one attachment of the one message: its name and bytes; and the message's text.
fn attachment(server: &Server) -> (String, Vec<u8>, String) {
    let received = server.single();
    let message = MessageParser::default().parse(&received.raw).unwrap();
    let attachments: Vec<_> = message.attachments().collect();
    assert_eq!(attachments.len(), 1);
    let a = attachments[0];
    let raw = String::from_utf8_lossy(&received.raw).into_owned();
    (
        a.attachment_name().unwrap().to_owned(),
        a.contents().to_vec(),
        raw,
    )
}

fn run_tool(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn zip_aes_attachments_open_with_7zip_to_the_published_bytes_and_carry_no_password() {
    let env = Env::small(30, 10);
    let server = Server::start(&[]);
    let (run, csv) = users(
        &env,
        server.port,
        &["--encrypt", "zip-aes"],
        &[("KEEPNET_ENCRYPT_PASSWORD", PASSWORD)],
    );
    run.ok();
    let (name, bytes, raw) = attachment(&server);
    assert_eq!(name, "Initech.csv.zip");
    assert!(!raw.contains(PASSWORD), "the password is not in the e-mail");
    assert!(raw.contains("AES-256"), "the message says how to open it");
    let published = std::fs::read(&csv).unwrap();
    assert!(
        published.starts_with(b"resourceId") || published.contains(&b','),
        "the published file stays plain"
    );

    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join(&name);
    std::fs::write(&zip, &bytes).unwrap();
    let listing = run_tool(Command::new("7z").arg("l").arg("-slt").arg(&zip));
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("AES-256"), "{listing}");
    let out = dir.path().join("out");
    run_tool(
        Command::new("7z")
            .arg("x")
            .arg(format!("-p{PASSWORD}"))
            .arg(format!("-o{}", out.display()))
            .arg(&zip),
    );
    assert_eq!(std::fs::read(out.join("Initech.csv")).unwrap(), published);
    let wrong = Command::new("7z")
        .arg("x")
        .arg("-pnot-the-password")
        .arg(format!("-o{}", dir.path().join("wrong").display()))
        .arg(&zip)
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a wrong password opens nothing");

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("summary.json")).unwrap()).unwrap();
    let delivery = &summary["companies"][0]["deliveries"][0];
    assert_eq!(delivery["kind"], "email");
    assert_eq!(delivery["encryption"], "zip-aes");
    assert_eq!(delivery["files"][0]["name"], "Initech.csv.zip");
    assert_eq!(
        delivery["files"][0]["bytes"].as_u64(),
        Some(bytes.len() as u64)
    );
    assert_eq!(
        summary["companies"][0]["files"][0]["path"],
        serde_json::json!(csv),
        "the published file is listed as published"
    );
}

#[test]
fn age_attachments_decrypt_with_the_age_cli_for_each_recipient() {
    let env = Env::small(30, 10);
    let server = Server::start(&[]);
    let keys = tempfile::tempdir().unwrap();
    let recipients: Vec<String> = ["a", "b"]
        .iter()
        .map(|k| {
            let file = keys.path().join(k);
            let out = run_tool(Command::new("age-keygen").arg("-o").arg(&file));
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            text.trim()
                .rsplit(' ')
                .next()
                .expect("age-keygen prints the public key")
                .to_owned()
        })
        .collect();
    let method = format!("age:{}", recipients.join(","));
    let (run, csv) = users(&env, server.port, &["--encrypt", &method], &[]);
    run.ok();
    let (name, bytes, _) = attachment(&server);
    assert_eq!(name, "Initech.csv.age");
    let file = keys.path().join(&name);
    std::fs::write(&file, &bytes).unwrap();
    for key in ["a", "b"] {
        let out = run_tool(
            Command::new("age")
                .arg("-d")
                .arg("-i")
                .arg(keys.path().join(key))
                .arg(&file),
        );
        assert_eq!(out.stdout, std::fs::read(&csv).unwrap(), "identity {key}");
    }
}

#[test]
fn zip_aes_without_a_password_or_a_delivery_fails_before_any_request() {
    let env = Env::small(5, 10);
    let server = Server::start(&[]);
    let (run, csv) = users(&env, server.port, &["--encrypt", "zip-aes"], &[]);
    run.fails_with(2, &["KEEPNET_ENCRYPT_PASSWORD"]);
    assert!(!Path::new(&csv).exists(), "nothing was exported");
    let (run, _) = users(
        &env,
        server.port,
        &["--encrypt", "zip-aes"],
        &[("KEEPNET_ENCRYPT_PASSWORD", "short")],
    );
    run.fails_with(2, &["12"]);
    let csv = env.path("plain.csv");
    let run = env.run(&[
        "users",
        "--company",
        COMPANY,
        "--sink",
        &format!("csv:{}", csv.display()),
        "--encrypt",
        "zip-aes",
    ]);
    run.fails_with(2, &["--encrypt", "nothing to encrypt"]);
    let run = env.run(&[
        "users",
        "--company",
        COMPANY,
        "--sink",
        &format!("csv:{}", csv.display()),
        "--sink",
        "email:it@initech.example",
        "--encrypt",
        "rot13",
    ]);
    run.fails_with(2, &["rot13"]);
    assert!(server.messages().is_empty(), "nothing was sent");
}
