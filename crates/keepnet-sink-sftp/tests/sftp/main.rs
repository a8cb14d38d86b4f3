//! `SftpDelivery` against a real OpenSSH server (`keepnet_test_support::sshd`): uploads, atomic
//! replacement, host key checks, logins (key, agent), refusals, timeouts and a full disk.

use keepnet_test_support::sshd;

use std::path::Path;
use std::time::{Duration, Instant};

use keepnet_sink::{Artifact, Delivery, ExportInfo, Report, Setting, SinkError, Timestamp};
use keepnet_sink_sftp::{Reason, SftpDelivery, SftpError, SftpSettings};
use secrecy::SecretString;

use sshd::{Agent, Options, Sshd};

/// Local files to upload and what the delivery is told about the export.
struct Export {
    _dir: tempfile::TempDir,
    info: ExportInfo,
    artifacts: Vec<Artifact>,
}

impl Export {
    fn new(files: &[(&str, &[u8])]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let artifacts = files
            .iter()
            .map(|(name, bytes)| {
                let path = dir.path().join(name);
                std::fs::write(&path, bytes).unwrap();
                Artifact {
                    path,
                    media_type: "text/csv".into(),
                    bytes: bytes.len() as u64,
                    rows: 1,
                    sha256: None,
                }
            })
            .collect();
        Self {
            _dir: dir,
            info: ExportInfo {
                company_name: "Acme".into(),
                company_id: "c0ffee".into(),
                started_at: Timestamp::parse("2024-03-05T10:15:30Z").unwrap(),
                expected_rows: None,
            },
            artifacts,
        }
    }

    fn report(&self) -> Report<'_> {
        Report {
            export: &self.info,
            rows: 1,
            artifacts: &self.artifacts,
            published: &self.artifacts,
            encryption: None,
            summary: &[],
            figures: None,
            changes: None,
            before: &[],
        }
    }
}

/// Bytes that are not all alike, `len` of them.
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// Settings for `server`'s upload folder (plus `sub`), its key and a known_hosts file with
/// its line, written into `dir`.
fn settings(server: &Sshd, sub: &str, dir: &Path) -> SftpSettings {
    let folder = server.upload_dir().join(sub);
    let mut s = SftpSettings::new(format!(
        "sftp://root@127.0.0.1:{}{}/",
        server.port,
        folder.display().to_string().trim_end_matches('/')
    ));
    s.known_hosts = Some(server.write_known_hosts(dir));
    s.identity = Some(server.user_key());
    s.agent_socket = None;
    s.timeout = Duration::from_secs(10);
    s
}

fn sftp_error(err: &SinkError) -> &SftpError {
    match err {
        SinkError::Other(e) => e.downcast_ref::<SftpError>().expect("an SftpError"),
        other => panic!("expected SinkError::Other(SftpError), got {other:?}"),
    }
}

fn deliver(settings: SftpSettings, export: &Export) -> Result<String, SinkError> {
    SftpDelivery::new(settings)?.deliver(&export.report())
}

#[test]
fn uploads_files_byte_for_byte() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let csv = data(100_000, 1);
    let xlsx = data(300_001, 2);
    let export = Export::new(&[("Acme.csv", &csv), ("Acme.xlsx", &xlsx)]);
    let s = settings(&server, "Acme", keys.path());
    let line = deliver(s, &export).unwrap();
    assert_eq!(
        line,
        format!(
            "uploaded 2 files (390.6 KiB) to sftp://root@127.0.0.1:{}{}/",
            server.port,
            server.upload_dir().join("Acme").display()
        )
    );
    assert_eq!(
        server.uploaded(),
        ["Acme", "Acme/Acme.csv", "Acme/Acme.xlsx"],
        "no temporary file remains"
    );
    let remote = server.seen(&server.upload_dir().join("Acme"));
    assert_eq!(std::fs::read(remote.join("Acme.csv")).unwrap(), csv);
    assert_eq!(std::fs::read(remote.join("Acme.xlsx")).unwrap(), xlsx);
}

#[test]
fn replaces_an_existing_file_and_leaves_no_temporary_file() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let upload = server.seen(&server.upload_dir());
    std::fs::write(
        upload.join("Acme.csv"),
        b"old contents, longer than the new ones",
    )
    .unwrap();
    std::fs::write(upload.join("other.txt"), b"untouched").unwrap();
    let export = Export::new(&[("Acme.csv", b"email\na@x\n")]);
    let line = deliver(settings(&server, "", keys.path()), &export).unwrap();
    assert!(
        line.starts_with("uploaded 1 file (10 bytes) to sftp://"),
        "{line}"
    );
    assert!(!line.contains("not atomic"), "posix-rename is used: {line}");
    assert_eq!(
        std::fs::read(upload.join("Acme.csv")).unwrap(),
        b"email\na@x\n"
    );
    assert_eq!(server.uploaded(), ["Acme.csv", "other.txt"]);
    // And again: the file is replaced each time.
    let export = Export::new(&[("Acme.csv", b"second\n")]);
    deliver(settings(&server, "", keys.path()), &export).unwrap();
    assert_eq!(std::fs::read(upload.join("Acme.csv")).unwrap(), b"second\n");
    assert_eq!(server.uploaded(), ["Acme.csv", "other.txt"]);
}

#[test]
fn a_file_changed_since_it_was_published_is_not_uploaded() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let upload = server.seen(&server.upload_dir());
    std::fs::write(upload.join("Acme.csv"), b"the earlier upload").unwrap();
    let mut export = Export::new(&[("Acme.csv", b"email\na@x\n")]);
    // Published as other bytes: the file at the path is not the one published.
    export.artifacts[0].sha256 = Some("0".repeat(64));
    let err = deliver(settings(&server, "", keys.path()), &export).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("SHA-256") && text.contains("it was not sent"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(upload.join("Acme.csv")).unwrap(),
        b"the earlier upload",
        "the earlier upload is kept"
    );
    assert_eq!(server.uploaded(), ["Acme.csv"], "no temporary file left");
}

#[test]
fn scp_like_target_and_relative_folder() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let mut s = settings(&server, "", keys.path());
    // root's login folder is /root: a relative folder lands there, so use an absolute one in
    // the scp-like form, with the port as a setting.
    s.target = format!("root@127.0.0.1:{}/a/b", server.upload_dir().display());
    s.port = Some(server.port);
    let export = Export::new(&[("x.csv", b"1\n")]);
    deliver(s, &export).unwrap();
    assert_eq!(server.uploaded(), ["a", "a/b", "a/b/x.csv"]);
}

#[test]
fn missing_folder_without_mkdir_is_refused() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let mut s = settings(&server, "missing/deeper", keys.path());
    s.mkdir = false;
    let export = Export::new(&[("x.csv", b"1\n")]);
    let err = deliver(s, &export).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(sftp_error(&err).reason, Reason::Folder { .. }),
        "{text}"
    );
    assert!(
        text.contains("missing/deeper` does not exist (the mkdir setting is off)"),
        "{text}"
    );
    assert!(server.uploaded().is_empty());
}

#[test]
fn unknown_host_key_is_refused_with_its_fingerprint() {
    let server = Sshd::start();
    let other = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let mut s = settings(&server, "", keys.path());
    // A known_hosts file that knows another server only.
    s.known_hosts = Some(other.write_known_hosts(keys.path()));
    let export = Export::new(&[("x.csv", b"1\n")]);
    let err = deliver(s, &export).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(sftp_error(&err).reason, Reason::UnknownHostKey { .. }),
        "{text}"
    );
    let name = format!("[127.0.0.1]:{}", server.port);
    assert!(
        text.contains(&format!("the host key of {name} is not known")),
        "{text}"
    );
    assert!(
        text.contains(&format!("ssh-ed25519 {}", server.fingerprint())),
        "{text}"
    );
    assert!(
        text.contains(&format!("host-key-fingerprint={}", server.fingerprint())),
        "{text}"
    );
    assert!(
        text.contains(&format!("ssh-keyscan -p {} 127.0.0.1", server.port)),
        "{text}"
    );
    assert!(server.uploaded().is_empty());
}

#[test]
fn changed_host_key_is_refused() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let mut s = settings(&server, "", keys.path());
    let old = sshd::keygen(keys.path(), "old_host_key", "ed25519");
    let known = keys.path().join("known_hosts");
    std::fs::write(
        &known,
        format!(
            "# earlier\n[127.0.0.1]:{} {}\n",
            server.port,
            sshd::public_key_text(&old.with_extension("pub"))
        ),
    )
    .unwrap();
    s.known_hosts = Some(known);
    let err = deliver(s, &Export::new(&[("x.csv", b"1\n")])).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(sftp_error(&err).reason, Reason::ChangedHostKey { .. }),
        "{text}"
    );
    assert!(text.contains("HOST KEY CHANGED"), "{text}");
    assert!(text.contains(&server.fingerprint()), "{text}");
    assert!(text.contains("line 2: ssh-ed25519"), "{text}");
    assert!(server.uploaded().is_empty());
}

#[test]
fn hashed_known_hosts_entry_is_accepted() {
    let server = Sshd::start_with(&Options {
        host_key_type: Some("ecdsa"),
        ..Options::default()
    });
    let keys = tempfile::tempdir().unwrap();
    let s = settings(&server, "", keys.path());
    let known = s.known_hosts.clone().unwrap();
    let out = std::process::Command::new("/usr/bin/ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&known)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    deliver(s, &Export::new(&[("x.csv", b"1\n")])).unwrap();
    assert_eq!(server.uploaded(), ["x.csv"]);
}

#[test]
fn fingerprint_setting_accepts_the_right_key_only() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let mut s = settings(&server, "", keys.path());
    // No known_hosts needed, not even one that exists.
    s.known_hosts = Some(keys.path().join("absent"));
    s.host_key_fingerprint = Some(server.fingerprint());
    deliver(s.clone(), &Export::new(&[("x.csv", b"1\n")])).unwrap();
    assert_eq!(server.uploaded(), ["x.csv"]);

    let wrong = sshd::keygen(keys.path(), "wrong", "ed25519");
    let wrong = sshd::fingerprint(&wrong.with_extension("pub"));
    s.host_key_fingerprint = Some(wrong.clone());
    let err = deliver(s, &Export::new(&[("y.csv", b"1\n")])).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(sftp_error(&err).reason, Reason::FingerprintMismatch { .. }),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "is ssh-ed25519 {}, not {wrong}",
            server.fingerprint()
        )),
        "{text}"
    );
    assert_eq!(server.uploaded(), ["x.csv"]);
}

#[test]
fn key_the_server_does_not_know_is_refused() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let mut s = settings(&server, "", keys.path());
    let stranger = sshd::keygen(keys.path(), "stranger", "ed25519");
    s.identity = Some(stranger.clone());
    let err = deliver(s, &Export::new(&[("x.csv", b"1\n")])).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(sftp_error(&err).reason, Reason::Auth { .. }),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "127.0.0.1:{} refused the login of user root with key {} (ssh-ed25519 {})",
            server.port,
            stranger.display(),
            sshd::fingerprint(&stranger.with_extension("pub"))
        )),
        "{text}"
    );
    assert!(text.contains("it accepts: publickey"), "{text}");
}

#[test]
fn ecdsa_rsa_and_encrypted_keys_log_in() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    for (name, kind, passphrase) in [
        ("ecdsa", "ecdsa", ""),
        ("rsa", "rsa", ""),
        ("locked", "ed25519", "correct horse battery staple"),
    ] {
        let key = sshd::keygen_with_passphrase(keys.path(), name, kind, passphrase);
        server.authorize(&key.with_extension("pub"));
        let mut s = settings(&server, name, keys.path());
        s.identity = Some(key);
        if !passphrase.is_empty() {
            s.passphrase = Some(SecretString::from(passphrase));
        }
        deliver(s, &Export::new(&[("x.csv", b"1\n")]))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", server.log()));
    }
    assert_eq!(
        server.uploaded(),
        [
            "ecdsa",
            "ecdsa/x.csv",
            "locked",
            "locked/x.csv",
            "rsa",
            "rsa/x.csv"
        ]
    );
}

#[test]
fn agent_keys_log_in_when_no_identity_is_given() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let agent = Agent::start();
    let mut s = settings(&server, "", keys.path());
    s.identity = None;
    s.agent_socket = Some(agent.socket());

    // An agent without keys: said so, before anything is sent.
    let err = deliver(s.clone(), &Export::new(&[("x.csv", b"1\n")])).unwrap_err();
    assert!(err.to_string().contains("it holds no key"), "{err}");

    // One key the server does not know, then the one it does: the second is used.
    let stranger = sshd::keygen(keys.path(), "stranger", "ed25519");
    agent.add(&stranger);
    agent.add(&server.user_key());
    deliver(s, &Export::new(&[("x.csv", b"1\n")])).unwrap();
    assert_eq!(server.uploaded(), ["x.csv"]);
}

#[test]
fn unreachable_port_fails_fast_and_precisely() {
    let keys = tempfile::tempdir().unwrap();
    let key = sshd::keygen(keys.path(), "k", "ed25519");
    let port = keepnet_test_support::closed_port();
    let known = keys.path().join("known_hosts");
    std::fs::write(&known, "").unwrap();
    let mut s = SftpSettings::new(format!("sftp://u@127.0.0.1:{port}/x/"));
    s.known_hosts = Some(known);
    s.identity = Some(key);
    s.timeout = Duration::from_secs(3);
    let started = Instant::now();
    let err = deliver(s, &Export::new(&[("x.csv", b"1\n")])).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "sftp://u@127.0.0.1:{port}/x/: cannot connect to 127.0.0.1:{port}: "
        )),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
}

#[test]
fn silent_server_times_out_within_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let keys = tempfile::tempdir().unwrap();
    let key = sshd::keygen(keys.path(), "k", "ed25519");
    let known = keys.path().join("known_hosts");
    std::fs::write(&known, "").unwrap();
    let mut s = SftpSettings::new("u@127.0.0.1:/x/");
    s.port = Some(port);
    s.known_hosts = Some(known);
    s.identity = Some(key);
    s.timeout = Duration::from_millis(700);
    let started = Instant::now();
    let err = deliver(s, &Export::new(&[("x.csv", b"1\n")])).unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "the SSH handshake with 127.0.0.1:{port} took longer than 700ms (the timeout setting)"
        )),
        "{text}"
    );
    drop(listener);
}

#[test]
fn read_only_server_refuses_the_write() {
    let server = Sshd::start_with(&Options {
        read_only: true,
        ..Options::default()
    });
    let keys = tempfile::tempdir().unwrap();
    let export = Export::new(&[("Acme.csv", b"1\n")]);
    let err = deliver(settings(&server, "", keys.path()), &export).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(sftp_error(&err).reason, Reason::Sftp { .. }),
        "{text}"
    );
    let temp = format!("{}/.Acme.csv.part-", server.upload_dir().display());
    assert!(text.contains(&format!("cannot create `{temp}")), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(server.uploaded().is_empty());
}

#[test]
fn full_remote_disk_fails_and_leaves_nothing() {
    let server = Sshd::start_with(&Options {
        disk_bytes: Some(64 * 1024),
        ..Options::default()
    });
    let keys = tempfile::tempdir().unwrap();
    let upload = server.seen(&server.upload_dir());
    std::fs::write(upload.join("Acme.csv"), b"yesterday's\n").unwrap();
    let export = Export::new(&[
        ("Acme.csv", &data(8_000, 3)),
        ("Acme.xlsx", &data(300_000, 4)),
    ]);
    let err = deliver(settings(&server, "", keys.path()), &export).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(sftp_error(&err).reason, Reason::Sftp { .. }),
        "{text}"
    );
    assert!(text.contains("cannot write `"), "{text}");
    assert!(text.contains(".Acme.xlsx.part-"), "{text}");
    assert!(
        text.contains("free on the server's disk there, 293.0 KiB to write"),
        "{text}"
    );
    // The first file was written, but not renamed: yesterday's file stays, no temporary file.
    assert_eq!(server.uploaded(), ["Acme.csv"]);
    assert_eq!(
        std::fs::read(upload.join("Acme.csv")).unwrap(),
        b"yesterday's\n"
    );
}

#[test]
fn works_inside_spawn_blocking() {
    let server = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let s = settings(&server, "", keys.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let line = runtime.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let export = Export::new(&[("x.csv", b"1\n")]);
            deliver(s, &export)
        })
        .await
        .unwrap()
    });
    assert!(line.unwrap().starts_with("uploaded 1 file"));
    assert_eq!(server.uploaded(), ["x.csv"]);
}

#[test]
fn no_artifacts_means_no_connection() {
    let keys = tempfile::tempdir().unwrap();
    let key = sshd::keygen(keys.path(), "k", "ed25519");
    let mut s = SftpSettings::new("u@127.0.0.1:/x/");
    s.port = Some(keepnet_test_support::closed_port());
    s.host_key_fingerprint = Some(sshd::fingerprint(&key.with_extension("pub")));
    s.identity = Some(key);
    let line = deliver(s, &Export::new(&[])).unwrap();
    assert!(
        line.starts_with("no files to upload to sftp://u@127.0.0.1:"),
        "{line}"
    );
}

/// Settings `check` and `new` refuse, with no network.
mod check {
    use super::*;

    fn base(dir: &Path) -> SftpSettings {
        let key = sshd::keygen(dir, "k", "ed25519");
        let known = dir.join("known_hosts");
        std::fs::write(&known, "").unwrap();
        let mut s = SftpSettings::new("u@files.example.com:/drop/");
        s.known_hosts = Some(known);
        s.identity = Some(key);
        s.agent_socket = None;
        s
    }

    fn invalid(s: &SftpSettings) -> String {
        match SftpDelivery::check(s) {
            Err(SinkError::Invalid(message)) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn good_settings_pass() {
        let dir = tempfile::tempdir().unwrap();
        let s = base(dir.path());
        SftpDelivery::check(&s).unwrap();
        let d = SftpDelivery::new(s).unwrap();
        assert_eq!(d.destination(), "sftp://u@files.example.com:22/drop/");
    }

    #[test]
    fn target_port_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = base(dir.path());
        s.target = "files.example.com:/drop/".into();
        assert!(invalid(&s).contains("no user"));
        s.target = "sftp://u@h:2222/x/".into();
        s.port = Some(2200);
        assert!(invalid(&s).contains("says port 2222 but the port setting says 2200"));
        s.port = Some(2222);
        SftpDelivery::check(&s).unwrap();
        s.timeout = Duration::ZERO;
        assert!(invalid(&s).contains("timeout is 0"));
    }

    #[test]
    fn fingerprint_form() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = base(dir.path());
        s.host_key_fingerprint = Some("MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48".into());
        assert!(invalid(&s).contains("MD5"));
        s.host_key_fingerprint = Some("SHA256:abc".into());
        assert!(invalid(&s).contains("not 32 bytes"));
        s.host_key_fingerprint = Some("uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into());
        assert!(invalid(&s).contains("does not start with SHA256:"));
        s.host_key_fingerprint = Some("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into());
        s.known_hosts = Some(dir.path().join("absent"));
        SftpDelivery::check(&s).unwrap();
    }

    #[test]
    fn known_hosts_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = base(dir.path());
        s.known_hosts = Some(dir.path().join("absent"));
        match SftpDelivery::check(&s) {
            Err(SinkError::Io { path, .. }) => assert_eq!(path, dir.path().join("absent")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_and_agent() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = base(dir.path());
        let locked = sshd::keygen_with_passphrase(dir.path(), "locked", "ed25519", "sekrit-pass");
        s.identity = Some(locked);
        let err = SftpDelivery::check(&s).unwrap_err();
        assert_eq!(
            err.setting(),
            Some(Setting::Option("sftp.key-passphrase")),
            "{err}"
        );
        s.passphrase = Some(SecretString::from("wrong-pass"));
        let message = invalid(&s);
        assert!(message.contains("wrong passphrase"), "{message}");
        assert!(!message.contains("wrong-pass"), "{message}");
        s.passphrase = Some(SecretString::from("sekrit-pass"));
        SftpDelivery::check(&s).unwrap();
        let shown = format!("{s:?} {:?}", SftpDelivery::new(s.clone()).unwrap());
        assert!(shown.contains("passphrase: Some([redacted])"), "{shown}");
        assert!(!shown.contains("sekrit"), "{shown}");

        let not_a_key = dir.path().join("k.pub");
        s.identity = Some(not_a_key);
        assert!(invalid(&s).contains("is not an OpenSSH private key"));

        s.identity = None;
        let err = SftpDelivery::check(&s).unwrap_err();
        assert_eq!(
            err.setting(),
            Some(Setting::Option("sftp.identity")),
            "{err}"
        );
        s.agent_socket = Some(dir.path().join("no-agent.sock"));
        assert!(invalid(&s).contains("no SSH agent at"));
    }
}
