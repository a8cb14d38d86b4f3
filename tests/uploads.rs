//! `--sink sftp:` and `--sink s3:`: the run's files uploaded, after they were published, to a
//! real OpenSSH server and a real S3 implementation (moto), byte-identical; refusals (an
//! unknown host key, a denied write, a full disk, an unreachable endpoint) exit 6 with the
//! files kept on disk and nothing half-written remotely.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::s3::Moto;
use crate::sshd::{Options, Sshd};
use crate::util::{Env, Run};

const INITECH: &str = "Initech";
const MUSTERI: &str = "Müşteri A.Ş.";

/// The SFTP options that reach `server` as its test user, host key checked.
fn sftp_options(server: &Sshd, known_hosts: &Path) -> Vec<String> {
    vec![
        "--sink-option".into(),
        format!("sftp.known-hosts={}", known_hosts.display()),
        "--sink-option".into(),
        format!("sftp.identity={}", server.user_key().display()),
        "--sink-option".into(),
        "sftp.timeout=10".into(),
    ]
}

/// `users` of Initech to `csv` and to `server`'s upload folder, host key checked.
fn csv_to_sftp(csv: &Path, server: &Sshd, known_hosts: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        INITECH.into(),
        "--sink".into(),
        format!("csv:{}", csv.display()),
        "--sink".into(),
        format!(
            "sftp:sftp://root@127.0.0.1:{}{}/",
            server.port,
            server.upload_dir().display()
        ),
    ];
    args.extend(sftp_options(server, known_hosts));
    args
}

fn run(env: &Env, args: &[String], vars: &[(&str, &str)]) -> Run {
    env.run_with(args, vars)
}

fn summary(env: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.path("summary.json")).unwrap()).unwrap()
}

#[test]
fn monthly_xlsx_lands_in_each_customers_sftp_folder_byte_identical() {
    let env = Env::small(25, 10);
    let server = Sshd::start();
    let known = server.write_known_hosts(env.dir.path());
    let remote = server.upload_dir();
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        INITECH.into(),
        "--company".into(),
        MUSTERI.into(),
        "--sink".into(),
        format!("xlsx:{}/{{company}}.xlsx", env.dir.path().display()),
        "--sink".into(),
        format!("sftp:root@127.0.0.1:{}/{{company}}/", remote.display()),
        "--sink-option".into(),
        format!("sftp.port={}", server.port),
        "--summary-json".into(),
        env.path("summary.json").display().to_string(),
    ];
    args.extend(sftp_options(&server, &known));
    let run = run(&env, &args, &[]);
    run.ok();
    let local: Vec<PathBuf> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xlsx"))
        .collect();
    assert_eq!(local.len(), 2, "{local:?}");
    let uploaded = server.uploaded();
    for file in &local {
        let name = file.file_name().unwrap().to_str().unwrap();
        let company = name.strip_suffix(".xlsx").unwrap();
        let there = server.seen(&remote.join(company).join(name));
        assert_eq!(
            std::fs::read(&there).unwrap(),
            std::fs::read(file).unwrap(),
            "{name} arrived byte-identical"
        );
    }
    assert!(
        uploaded.iter().all(|n| !n.contains(".part-")),
        "no temporary name is left: {uploaded:?}"
    );
    assert!(run.stderr.contains("uploaded 1 file"), "{}", run.stderr);
    let summary = summary(&env);
    for company in summary["companies"].as_array().unwrap() {
        let delivery = &company["deliveries"][0];
        assert_eq!(delivery["kind"], "sftp");
        assert_eq!(delivery["encryption"], serde_json::Value::Null);
        assert_eq!(
            delivery["files"][0]["sha256"], company["files"][0]["sha256"],
            "the file sent is the file published"
        );
    }
}

#[test]
fn an_unknown_host_key_is_refused_with_exit_6_its_fingerprint_and_the_file_kept() {
    let env = Env::small(10, 10);
    let server = Sshd::start();
    let known = env.path("known_hosts");
    std::fs::write(&known, "").unwrap();
    let csv = env.path("Initech.csv");
    let mut args = csv_to_sftp(&csv, &server, &known);
    let run = run(&env, &args, &[]);
    run.fails_with(6, &["delivery failed", "host key", &server.fingerprint()]);
    assert!(csv.exists(), "the published file is kept");
    assert!(run.stderr.contains(&csv.display().to_string()));
    assert!(server.uploaded().is_empty(), "nothing was written remotely");

    // The fingerprint it printed, given back, is accepted.
    args.extend([
        "--sink-option".into(),
        format!("sftp.host-key-fingerprint={}", server.fingerprint()),
    ]);
    let again = crate::uploads::run(&env, &args, &[]);
    again.ok();
    assert_eq!(server.uploaded(), ["Initech.csv"]);
}

#[test]
fn a_refused_key_and_an_unreachable_server_exit_6_with_the_file_kept() {
    let env = Env::small(10, 10);
    let server = Sshd::start();
    let known = server.write_known_hosts(env.dir.path());
    let csv = env.path("Initech.csv");
    let stranger = crate::sshd::keygen(env.dir.path(), "stranger", "ed25519");
    let mut args = csv_to_sftp(&csv, &server, &known);
    args.extend([
        "--sink-option".into(),
        format!("sftp.identity={}", stranger.display()),
    ]);
    run(&env, &args, &[]).fails_with(6, &["delivery failed", "root@127.0.0.1"]);
    assert!(csv.exists(), "the published file is kept");
    let closed = keepnet_test_support::closed_port();
    args[6] = args[6].replace(&format!(":{}/", server.port), &format!(":{closed}/"));
    run(&env, &args, &[]).fails_with(6, &["delivery failed", &closed.to_string()]);
    assert!(csv.exists());
    assert!(server.uploaded().is_empty());
}

#[test]
fn a_denied_write_and_a_full_remote_disk_exit_6_with_nothing_half_written() {
    let env = Env::small(400, 100);
    let csv = env.path("Initech.csv");
    for (options, needle) in [
        (
            Options {
                read_only: true,
                ..Options::default()
            },
            "permission denied",
        ),
        (
            Options {
                disk_bytes: Some(16 * 1024),
                ..Options::default()
            },
            "free",
        ),
    ] {
        let server = Sshd::start_with(&options);
        let known = server.write_known_hosts(env.dir.path());
        let args = csv_to_sftp(&csv, &server, &known);
        let run = run(&env, &args, &[]);
        run.fails_with(6, &["delivery failed", needle]);
        assert!(csv.exists(), "the published file is kept");
        assert_eq!(
            server.uploaded(),
            Vec::<String>::new(),
            "no partial file remains"
        );
    }
}

#[test]
fn an_encrypted_upload_decrypts_with_7zip_to_the_published_bytes() {
    let env = Env::small(30, 10);
    let server = Sshd::start();
    let known = server.write_known_hosts(env.dir.path());
    let csv = env.path("Initech.csv");
    let password = env.path("zip-password");
    let secret = "a long shared secret";
    std::fs::write(&password, format!("{secret}\n")).unwrap();
    let mut args = csv_to_sftp(&csv, &server, &known);
    args.extend([
        "--encrypt".into(),
        "zip-aes".into(),
        "--encrypt-password-file".into(),
        password.display().to_string(),
    ]);
    run(&env, &args, &[]).ok();
    assert_eq!(server.uploaded(), ["Initech.csv.zip"]);
    let zip = server.seen(&server.upload_dir().join("Initech.csv.zip"));
    let out = env.path("opened");
    let status = Command::new("7z")
        .arg("x")
        .arg(format!("-p{secret}"))
        .arg(format!("-o{}", out.display()))
        .arg(&zip)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(
        std::fs::read(out.join("Initech.csv")).unwrap(),
        std::fs::read(&csv).unwrap()
    );
}

/// The AWS variables for `moto` with a key, and nothing from this machine's own setup.
fn aws_env(key: (&str, &str), shared: &Path) -> Vec<(String, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID".into(), key.0.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), key.1.into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            shared.display().to_string(),
        ),
    ]
}

fn s3_args(env: &Env, moto: &Moto, target: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "users".into(),
        "--company".into(),
        INITECH.into(),
        "--sink".into(),
        format!("csv:{}", env.path("Initech.csv").display()),
        "--sink".into(),
        format!("xlsx:{}", env.path("Initech.xlsx").display()),
        "--sink".into(),
        format!("s3:{target}"),
        "--sink-option".into(),
        format!("s3.endpoint={}", moto.endpoint()),
        "--summary-json".into(),
        env.path("summary.json").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn with_vars(env: &Env, args: &[String], vars: &[(String, String)]) -> Run {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run(env, args, &vars)
}

#[test]
fn s3_objects_are_the_published_bytes_with_encryption_and_storage_class() {
    let env = Env::small(30, 10);
    let moto = Moto::start();
    moto.create_bucket("reports");
    let vars = aws_env(("test", "test-secret"), &env.path("no-credentials"));
    let args = s3_args(
        &env,
        &moto,
        "s3://reports/{company}/{date}/",
        &[
            "--sink-option",
            "s3.sse=AES256",
            "--sink-option",
            "s3.storage-class=STANDARD_IA",
        ],
    );
    let run = with_vars(&env, &args, &vars);
    run.ok();
    let keys = moto.keys("reports", "Initech/");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for (name, media) in [
        ("Initech.csv", "text/csv"),
        (
            "Initech.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ] {
        let key = keys.iter().find(|k| k.ends_with(name)).unwrap();
        let object = moto.get("reports", key);
        assert_eq!(
            object.bytes.unwrap(),
            std::fs::read(env.path(name)).unwrap(),
            "{key}"
        );
        assert_eq!(object.headers["content-type"], media);
        assert_eq!(object.headers["x-amz-server-side-encryption"], "AES256");
        assert_eq!(object.headers["x-amz-storage-class"], "STANDARD_IA");
    }
    assert!(!run.stderr.contains("test-secret"), "{}", run.stderr);
    let summary = summary(&env);
    assert_eq!(summary["companies"][0]["deliveries"][0]["kind"], "s3");
}

#[test]
fn s3_refusals_exit_6_name_the_cause_and_keep_the_files() {
    let env = Env::small(10, 10);
    let moto = Moto::start_with_auth();
    moto.create_bucket("reports");
    let shared = env.path("no-credentials");
    let denied = moto.key("denied");
    // The target, the variables, what the message names.
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "s3://reports/x/",
            aws_env((&denied.id, &denied.secret), &shared),
            "AccessDenied",
        ),
        (
            "s3://reports/x/",
            aws_env((&denied.id, "not-the-secret"), &shared),
            "SignatureDoesNotMatch",
        ),
        (
            "s3://no-such-bucket/x/",
            aws_env(
                (&moto.key("writer").id, &moto.key("writer").secret),
                &shared,
            ),
            "NoSuchBucket",
        ),
    ];
    for (target, vars, needle) in cases {
        let run = with_vars(&env, &s3_args(&env, &moto, target, &[]), &vars);
        run.fails_with(6, &["delivery failed", needle]);
        assert!(env.path("Initech.csv").exists(), "the files are kept");
        assert!(!run.stderr.contains("not-the-secret"), "{}", run.stderr);
        assert!(!run.stderr.contains(&denied.secret), "{}", run.stderr);
    }
    assert!(
        moto.keys("reports", "").is_empty(),
        "nothing was written remotely"
    );

    // Nothing listens there: refused quickly, precisely.
    let closed = keepnet_test_support::closed_port();
    let mut args = s3_args(&env, &moto, "s3://reports/x/", &[]);
    args.extend([
        "--sink-option".into(),
        format!("s3.endpoint=http://127.0.0.1:{closed}"),
    ]);
    let run = with_vars(&env, &args, &aws_env(("a", "b"), &shared));
    run.fails_with(6, &["delivery failed", "could not connect"]);
}

#[test]
fn s3_needs_credentials_and_refuses_them_as_flags() {
    let env = Env::small(5, 10);
    let moto = Moto::start();
    let args = s3_args(&env, &moto, "s3://reports/x/", &[]);
    let vars = vec![
        ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
        (
            "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
            env.path("none").display().to_string(),
        ),
    ];
    let run = with_vars(&env, &args, &vars);
    run.fails_with(2, &["credentials"]);
    assert!(
        !env.path("Initech.csv").exists(),
        "checked before the export"
    );
    let mut args = s3_args(&env, &moto, "s3://reports/x/", &[]);
    args.extend(["--sink-option".into(), "s3.secret-access-key=x".into()]);
    with_vars(&env, &args, &vars).fails_with(2, &["secret-access-key"]);
}

/// The README's recipe: a job per customer, each to its own SFTP folder (one encrypted), and
/// a Teams card per customer to the account team.
#[test]
fn the_readme_recipe_runs_each_customer_to_its_sftp_folder_with_a_teams_card() {
    let env = Env::small(20, 10);
    let server = Sshd::start();
    let known = server.write_known_hosts(env.dir.path());
    let receiver = crate::webhook::Receiver::start(vec![]);
    let hook = receiver.url("/workflows/secret-sig");
    let upload = server.upload_dir();
    let job = |name: &str, company: &str, folder: &str, extra: &str| {
        format!(
            r#"
[[job]]
name = "{name}"
companies = ["{company}"]
sinks = [
  "xlsx:{out}/{{date}}/{{company}}.xlsx",
  "sftp:sftp://root@127.0.0.1:{port}{upload}/{folder}/",
  "webhook:{hook}",
]
[job.options.sftp]
identity = "{identity}"
known-hosts = "{known}"
{extra}
[job.options.webhook]
format = "teams"
"#,
            out = env.dir.path().display(),
            port = server.port,
            upload = upload.display(),
            identity = server.user_key().display(),
            known = known.display(),
        )
    };
    let file = env.path("sftp-reports.toml");
    std::fs::write(
        &file,
        job("initech", INITECH, "initech", "")
            + &job("musteri", MUSTERI, "gelen", "encrypt = \"zip-aes\""),
    )
    .unwrap();
    let file = file.display().to_string();
    let vars = [("KEEPNET_ENCRYPT_PASSWORD", "agreed with the customer")];
    let check = run(&env, &["run".into(), "--check".into(), file.clone()], &vars);
    assert!(
        check.ok().contains("webhook:http://127.0.0.1:"),
        "{}",
        check.stdout
    );
    assert!(!check.stdout.contains("secret-sig"), "{}", check.stdout);
    let done = run(&env, &["run".into(), file], &vars);
    done.ok();
    assert!(!done.stderr.contains("secret-sig"), "{}", done.stderr);
    let uploaded = server.uploaded();
    assert!(
        uploaded.contains(&"initech/Initech.xlsx".to_owned()),
        "{uploaded:?}"
    );
    assert!(
        // The safe file name drops the name's trailing dot.
        uploaded.contains(&"gelen/Müşteri A.Ş.xlsx.zip".to_owned()),
        "{uploaded:?}"
    );
    let cards: Vec<serde_json::Value> = receiver.requests().iter().map(|r| r.json()).collect();
    assert_eq!(cards.len(), 2);
    for card in &cards {
        assert_eq!(card["type"], "message");
        let text = serde_json::to_string(card).unwrap();
        assert!(text.contains("sftp ok"), "{text}");
    }
}
