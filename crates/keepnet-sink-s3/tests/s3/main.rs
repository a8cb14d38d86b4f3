//! The S3 delivery against a real S3 implementation: moto in server mode.

use keepnet_test_support::s3;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keepnet_sink::{Artifact, Delivery, ExportInfo, Report, SinkError, Timestamp};
use keepnet_sink_s3::{Env, S3Delivery, S3Settings, ServerSideEncryption, PART_SIZE};
use s3::Moto;

fn info() -> ExportInfo {
    ExportInfo {
        company_name: "Acme".into(),
        company_id: "c-1".into(),
        started_at: Timestamp {
            year: 2026,
            month: 1,
            day: 2,
            hour: 3,
            minute: 4,
            second: 5,
            millisecond: 0,
        },
        expected_rows: Some(2),
    }
}

fn artifact(dir: &Path, name: &str, media_type: &str, bytes: &[u8]) -> Artifact {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    Artifact {
        path,
        media_type: media_type.into(),
        bytes: bytes.len() as u64,
        rows: 2,
        sha256: Some(keepnet_test_support::sha256_hex(bytes)),
    }
}

fn deliver(delivery: &mut S3Delivery, artifacts: &[Artifact]) -> Result<String, SinkError> {
    let export = info();
    let report = Report {
        export: &export,
        rows: 2,
        artifacts,
        published: artifacts,
        encryption: None,
        summary: &[],
        figures: None,
        changes: None,
        before: &[],
    };
    delivery.deliver(&report)
}

/// Environment with these keys only: no profile file, no instance metadata.
fn env_with(id: &str, secret: &str, home: &Path) -> Env {
    Env::from_pairs(&[
        ("AWS_ACCESS_KEY_ID", id),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("HOME", home.to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ])
}

fn settings(moto_endpoint: &str, target: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(moto_endpoint.to_owned()),
        timeout: Duration::from_secs(20),
        ..S3Settings::new(target)
    }
}

fn delivery(settings: S3Settings, home: &Path) -> S3Delivery {
    S3Delivery::with_env(settings, &env_with("AKIDTEST", "SECRETTEST", home)).unwrap()
}

fn two_files(dir: &Path) -> Vec<Artifact> {
    vec![
        artifact(dir, "Acme.csv", "text/csv", b"email,name\na@acme.test,A\n"),
        artifact(
            dir,
            "Acme.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &[0x50, 0x4b, 3, 4, 0, 1, 2, 255],
        ),
    ]
}

#[test]
fn uploads_two_files_with_their_bytes_and_content_types() {
    let moto = Moto::start();
    moto.create_bucket("exports");
    let dir = tempfile::tempdir().unwrap();
    let files = two_files(dir.path());
    let mut d = delivery(
        settings(&moto.endpoint(), "s3://exports/acme/2026-01-02"),
        dir.path(),
    );
    let line = deliver(&mut d, &files).unwrap();
    assert_eq!(
        line,
        format!(
            "uploaded 2 files (33 bytes) to s3://exports/acme/2026-01-02/ via {}",
            moto.endpoint()
        )
    );
    assert_eq!(
        moto.keys("exports", ""),
        ["acme/2026-01-02/Acme.csv", "acme/2026-01-02/Acme.xlsx"]
    );
    for file in &files {
        let name = file.path.file_name().unwrap().to_str().unwrap();
        let object = moto.get("exports", &format!("acme/2026-01-02/{name}"));
        assert_eq!(object.bytes.unwrap(), std::fs::read(&file.path).unwrap());
        assert_eq!(object.headers["content-type"], file.media_type);
    }
    // Delivering again overwrites, atomically.
    deliver(&mut d, &files).unwrap();
    assert_eq!(moto.keys("exports", "").len(), 2);
}

#[test]
fn prefix_rules() {
    let moto = Moto::start();
    moto.create_bucket("root-bucket");
    let dir = tempfile::tempdir().unwrap();
    let files = vec![artifact(dir.path(), "Acme.csv", "text/csv", b"x\n")];
    for (target, key) in [
        ("s3://root-bucket", "Acme.csv"),
        ("s3://root-bucket/", "Acme.csv"),
        ("s3://root-bucket/no-slash", "no-slash/Acme.csv"),
        ("s3://root-bucket/with/slash/", "with/slash/Acme.csv"),
        ("s3://root-bucket/Acme Ltd/2026", "Acme Ltd/2026/Acme.csv"),
    ] {
        let mut d = delivery(settings(&moto.endpoint(), target), dir.path());
        deliver(&mut d, &files).unwrap();
        assert!(moto.head("root-bucket", key).is_some(), "{target}: {key}");
    }
    assert_eq!(moto.keys("root-bucket", "").len(), 4);
    // Two artifacts with one name would overwrite each other: refused before any upload.
    let other = tempfile::tempdir().unwrap();
    let twice = vec![
        files[0].clone(),
        artifact(other.path(), "Acme.csv", "text/csv", b"y\n"),
    ];
    let mut d = delivery(
        settings(&moto.endpoint(), "s3://root-bucket/twice"),
        dir.path(),
    );
    let err = deliver(&mut d, &twice).unwrap_err();
    assert!(matches!(err, SinkError::Invalid(_)), "{err}");
    assert!(
        err.to_string()
            .contains("two files to send are named `Acme.csv`: one would replace the other in s3://root-bucket/twice/"),
        "{err}"
    );
    assert!(moto.keys("root-bucket", "twice/").is_empty());
}

#[test]
fn encryption_and_storage_class_are_on_the_object() {
    let moto = Moto::start();
    moto.create_bucket("secure");
    let dir = tempfile::tempdir().unwrap();
    let files = two_files(dir.path());
    let mut d = delivery(
        S3Settings {
            server_side_encryption: ServerSideEncryption::Aes256,
            storage_class: Some("STANDARD_IA".into()),
            ..settings(&moto.endpoint(), "s3://secure/x/")
        },
        dir.path(),
    );
    deliver(&mut d, &files).unwrap();
    let head = moto.head("secure", "x/Acme.csv").unwrap();
    assert_eq!(head["x-amz-server-side-encryption"], "AES256");
    assert_eq!(head["x-amz-storage-class"], "STANDARD_IA");
    assert_eq!(head["content-type"], "text/csv");
}

#[test]
fn large_files_go_multipart_and_a_failure_leaves_nothing() {
    let moto = Moto::start();
    moto.create_bucket("big");
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..PART_SIZE * 2 + 12345)
        .map(|i| (i % 251) as u8)
        .collect();
    let good = artifact(dir.path(), "Big.csv", "text/csv", &bytes);
    let mut d = delivery(
        S3Settings {
            server_side_encryption: ServerSideEncryption::Aes256,
            storage_class: Some("STANDARD_IA".into()),
            ..settings(&moto.endpoint(), "s3://big/p")
        },
        dir.path(),
    );
    let line = deliver(&mut d, std::slice::from_ref(&good)).unwrap();
    assert!(line.contains("(16.0 MiB)"), "{line}");
    let object = moto.get("big", "p/Big.csv");
    assert_eq!(object.size, bytes.len() as u64);
    assert_eq!(Some(object.sha256), good.sha256);
    assert_eq!(object.headers["content-type"], "text/csv");
    let head = moto.head("big", "p/Big.csv").unwrap();
    assert_eq!(head["x-amz-server-side-encryption"], "AES256");
    assert_eq!(head["x-amz-storage-class"], "STANDARD_IA");

    // The file no longer matches what was published: found after two parts were sent, so the
    // multipart upload is aborted and no object appears.
    let mut changed = artifact(dir.path(), "Changed.csv", "text/csv", &bytes);
    changed.sha256 = Some("0".repeat(64));
    let err = deliver(&mut d, &[changed]).unwrap_err().to_string();
    assert!(err.contains("s3://big/p/Changed.csv"), "{err}");
    assert!(err.contains("SHA-256"), "{err}");
    assert!(moto.head("big", "p/Changed.csv").is_none());
    assert!(
        moto.pending_uploads("big").is_empty(),
        "{:?}",
        moto.pending_uploads("big")
    );
}

#[test]
fn a_small_file_that_changed_is_not_uploaded() {
    let moto = Moto::start();
    moto.create_bucket("small");
    let dir = tempfile::tempdir().unwrap();
    let mut file = artifact(dir.path(), "Acme.csv", "text/csv", b"abc\n");
    file.bytes = 5;
    let mut d = delivery(settings(&moto.endpoint(), "s3://small"), dir.path());
    let err = deliver(&mut d, &[file]).unwrap_err().to_string();
    assert!(err.contains("has 4 bytes where 5 were published"), "{err}");
    assert!(moto.keys("small", "").is_empty());
}

#[test]
fn works_from_spawn_blocking_in_a_runtime() {
    let moto = Moto::start();
    moto.create_bucket("blocking");
    let dir = tempfile::tempdir().unwrap();
    let files = two_files(dir.path());
    let mut d = delivery(settings(&moto.endpoint(), "s3://blocking/a"), dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let line = runtime
        .block_on(async move {
            tokio::task::spawn_blocking(move || deliver(&mut d, &files))
                .await
                .unwrap()
        })
        .unwrap();
    assert!(line.starts_with("uploaded 2 files"), "{line}");
    assert_eq!(moto.keys("blocking", "a/").len(), 2);
}

#[test]
fn unreachable_endpoint_fails_fast_and_precisely() {
    let port = keepnet_test_support::closed_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let files = two_files(dir.path());
    let mut d = delivery(
        S3Settings {
            timeout: Duration::from_secs(5),
            ..settings(&endpoint, "s3://nowhere/p/")
        },
        dir.path(),
    );
    let started = Instant::now();
    let err = deliver(&mut d, &files).unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.contains("s3://nowhere/p/Acme.csv"), "{err}");
    assert!(
        err.contains(&format!("could not connect to {endpoint}")),
        "{err}"
    );
    assert!(err.contains("gave up after 2 retries"), "{err}");
    assert!(!err.contains("SECRETTEST"), "{err}");
}

#[test]
fn missing_bucket_is_named() {
    let moto = Moto::start();
    moto.create_bucket("exists");
    let dir = tempfile::tempdir().unwrap();
    let files = two_files(dir.path());
    let mut d = delivery(
        settings(&moto.endpoint(), "s3://does-not-exist/p"),
        dir.path(),
    );
    let err = deliver(&mut d, &files).unwrap_err().to_string();
    assert!(err.contains("s3://does-not-exist/p/Acme.csv"), "{err}");
    assert!(err.contains("404"), "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");
    assert!(
        err.contains("bucket \"does-not-exist\" does not exist"),
        "{err}"
    );
    assert!(err.contains(&moto.endpoint()), "{err}");
}

#[test]
fn credentials_and_policies_are_checked() {
    let moto = Moto::start_with_auth();
    moto.create_bucket("guarded");
    let dir = tempfile::tempdir().unwrap();
    let files = two_files(dir.path());
    let s = settings(&moto.endpoint(), "s3://guarded/in/");
    let with_key = |id: &str, secret: &str| {
        S3Delivery::with_env(s.clone(), &env_with(id, secret, dir.path())).unwrap()
    };

    let writer = moto.key("writer");
    deliver(&mut with_key(&writer.id, &writer.secret), &files).unwrap();
    // (moto's signature check trips on boto3's list query: HEAD instead.)
    assert!(moto.head("guarded", "in/Acme.csv").is_some());
    assert!(moto.head("guarded", "in/Acme.xlsx").is_some());

    // A policy that denies s3:PutObject.
    let denied = moto.key("denied");
    let mut d = with_key(&denied.id, &denied.secret);
    let err = deliver(&mut d, &files[..1]).map(|_| ()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("403") && text.contains("AccessDenied"),
        "{text}"
    );
    assert!(
        text.contains("may not write \"in/Acme.csv\" in bucket \"guarded\""),
        "{text}"
    );
    assert!(!text.contains(&denied.secret), "{text}");
    let mut d = with_key(&denied.id, &denied.secret);
    let other = artifact(dir.path(), "Denied.csv", "text/csv", b"no\n");
    assert!(deliver(&mut d, &[other]).is_err());
    assert!(moto.head("guarded", "in/Denied.csv").is_none());

    // An access key id the server does not know.
    let err = deliver(&mut with_key("AKIANOTKNOWN0000", "whatever-secret"), &files)
        .unwrap_err()
        .to_string();
    assert!(err.contains("InvalidAccessKeyId"), "{err}");
    assert!(err.contains("is not known to"), "{err}");
    assert!(!err.contains("whatever-secret"), "{err}");

    // A known id with the wrong secret.
    let wrong = "wrongSECRETwrongSECRETwrongSECRET";
    let err = deliver(&mut with_key(&writer.id, wrong), &files)
        .unwrap_err()
        .to_string();
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(!err.contains(wrong), "{err}");
    assert!(!err.contains(&writer.secret), "{err}");
}

#[test]
fn credentials_from_a_profile_file() {
    let moto = Moto::start_with_auth();
    moto.create_bucket("profiled");
    let dir = tempfile::tempdir().unwrap();
    let writer = moto.key("writer");
    let denied = moto.key("denied");
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n\n[ci]\n\
             aws_access_key_id = {}\naws_secret_access_key = {}\n",
            denied.id, denied.secret, writer.id, writer.secret
        ),
    )
    .unwrap();
    let env = Env::from_pairs(&[
        ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    let files = two_files(dir.path());
    let s = settings(&moto.endpoint(), "s3://profiled");
    let mut d = S3Delivery::with_env(
        S3Settings {
            profile: Some("ci".into()),
            ..s.clone()
        },
        &env,
    )
    .unwrap();
    deliver(&mut d, &files).unwrap();
    // The default profile is the denied one.
    let mut d = S3Delivery::with_env(s, &env).unwrap();
    let err = deliver(&mut d, &files).unwrap_err().to_string();
    assert!(err.contains("profile \"default\" of"), "{err}");
    assert!(!err.contains(&denied.secret), "{err}");
}

fn invalid(result: Result<S3Delivery, SinkError>) -> String {
    match result {
        Err(SinkError::Invalid(message)) => message,
        Err(other) => panic!("not Invalid: {other:?}"),
        Ok(d) => panic!("accepted: {d:?}"),
    }
}

#[test]
fn refused_when_built() {
    let home = PathBuf::from("/nonexistent-home-for-tests");
    let env = env_with("AKIDTEST", "SECRETTEST", &home);
    let build = |s: S3Settings| S3Delivery::with_env(s, &env);
    let plain = S3Settings {
        endpoint: Some("http://s3.example.com".into()),
        ..S3Settings::new("s3://bucket/p")
    };
    assert!(S3Delivery::check(&plain).is_err());
    let err = invalid(build(plain));
    assert!(err.contains("plain http to s3.example.com"), "{err}");
    for endpoint in [
        "http://localhost:9000",
        "http://[::1]:9000",
        "https://s3.example.com",
    ] {
        let s = S3Settings {
            endpoint: Some(endpoint.into()),
            ..S3Settings::new("s3://bucket/p")
        };
        S3Delivery::check(&s).unwrap();
        build(s).unwrap();
    }
    // From the environment too.
    let env = Env::from_pairs(&[
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "SECRETTEST"),
        ("AWS_ENDPOINT_URL", "http://10.1.2.3:9000"),
        ("HOME", "/nonexistent-home-for-tests"),
    ]);
    let err = invalid(S3Delivery::with_env(S3Settings::new("s3://bucket"), &env));
    assert!(
        err.contains("AWS_ENDPOINT_URL") && err.contains("10.1.2.3"),
        "{err}"
    );

    for (s, why) in [
        (S3Settings::new("bucket/p"), "must start with s3://"),
        (
            S3Settings {
                endpoint: Some("https://s3.example.com/bucket".into()),
                ..S3Settings::new("s3://bucket")
            },
            "has a path",
        ),
        (
            S3Settings {
                endpoint: Some("https://user:pw@s3.example.com".into()),
                ..S3Settings::new("s3://bucket")
            },
            "must not hold credentials",
        ),
        (
            S3Settings {
                storage_class: Some("cheap".into()),
                ..S3Settings::new("s3://bucket")
            },
            "not a storage class",
        ),
        (
            S3Settings {
                region: Some("EU West".into()),
                ..S3Settings::new("s3://bucket")
            },
            "not a region",
        ),
        (
            S3Settings {
                timeout: Duration::ZERO,
                ..S3Settings::new("s3://bucket")
            },
            "s3.timeout",
        ),
    ] {
        assert!(S3Delivery::check(&s).is_err(), "{why}");
        let err = invalid(build(s));
        assert!(err.contains(why), "{why}: {err}");
    }
    assert!(ServerSideEncryption::parse("AES256", Some("k")).is_err());
    assert!(ServerSideEncryption::parse("aes", None).is_err());
    assert_eq!(
        ServerSideEncryption::parse("aws:kms", Some("alias/x")).unwrap(),
        ServerSideEncryption::AwsKms {
            key_id: Some("alias/x".into())
        }
    );

    // No credentials anywhere.
    let env = Env::from_pairs(&[
        ("HOME", "/nonexistent-home-for-tests"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    match S3Delivery::with_env(S3Settings::new("s3://bucket"), &env) {
        Err(err @ SinkError::Unset { .. }) => {
            assert!(err.to_string().contains("no AWS credentials"), "{err}");
            assert_eq!(
                err.setting(),
                Some(keepnet_sink::Setting::Option("s3.profile"))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_secret_in_debug() {
    let env = Env::from_pairs(&[
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "SUPERSECRETKEY"),
        ("AWS_SESSION_TOKEN", "SUPERSECRETTOKEN"),
        ("HOME", "/nonexistent-home-for-tests"),
    ]);
    let s = S3Settings::new("s3://bucket/p");
    let d = S3Delivery::with_env(s.clone(), &env).unwrap();
    let shown = format!("{d:?} {s:?} {env:?}");
    assert!(!shown.contains("SUPERSECRET"), "{shown}");
    assert!(shown.contains("s3://bucket/p/"), "{shown}");
    assert_eq!(d.endpoint(), "https://bucket.s3.us-east-1.amazonaws.com");
}
