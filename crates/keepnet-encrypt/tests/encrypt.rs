//! Encrypted copies opened by real tools: 7-Zip (`7z`, Debian's p7zip-full), Python's
//! `pyzipper` (from the tests' Python environment), and the `age`/`age-keygen` CLIs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keepnet_encrypt::{encrypt, EncryptError, Encryption};
use keepnet_sink::Artifact;
use secrecy::SecretString;

use keepnet_sink::conformance::files_in as names;
use keepnet_test_support::{python, sha256_hex};

const PASSWORD: &str = "correct-horse-battery-staple-42";

fn secret(s: &str) -> Option<SecretString> {
    Some(SecretString::from(s.to_owned()))
}

fn zip_aes() -> Encryption {
    Encryption::parse("zip-aes", secret(PASSWORD)).unwrap()
}

/// Runs a tool, failing the test with what to install when it is missing.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): `cargo xtask setup` installs what the tests need")
        })
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Deterministic incompressible bytes (xorshift64).
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn csv_bytes() -> Vec<u8> {
    let mut csv = String::from("First name,Last name,E-mail,Phone\n");
    for i in 0..2_000 {
        csv.push_str(&format!(
            "Zoë {i},Müller-Łukasz,user{i}@example.com,+90 555 {i:04}\n"
        ));
    }
    csv.into_bytes()
}

/// A published file `dir/name` holding `bytes`, as a sink would report it.
fn published(dir: &Path, name: &str, bytes: &[u8], rows: u64) -> Artifact {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    Artifact {
        path,
        media_type: "text/csv".into(),
        bytes: bytes.len() as u64,
        rows,
        sha256: Some(sha256_hex(bytes)),
    }
}

/// Checks the returned artifact against the file on disk.
fn check_artifact(copy: &Artifact, expected_path: &Path, media_type: &str, rows: u64) {
    assert_eq!(copy.path, expected_path);
    assert_eq!(copy.media_type, media_type);
    assert_eq!(copy.rows, rows);
    let written = std::fs::read(&copy.path).unwrap();
    assert_eq!(copy.bytes, written.len() as u64);
    assert_eq!(copy.sha256.as_deref(), Some(sha256_hex(&written).as_str()));
}

/// `7z x` with `password` into a new folder; the extracted entry's bytes, or 7z's output.
fn extract_7z(archive: &Path, password: &str, entry: &str) -> Result<Vec<u8>, String> {
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        "7z",
        &[
            "x",
            &format!("-p{password}"),
            &format!("-o{}", s(out_dir.path())),
            "-y",
            s(archive),
        ],
    );
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    assert_eq!(
        names(out_dir.path()),
        [entry],
        "one entry, named as the source"
    );
    Ok(std::fs::read(out_dir.path().join(entry)).unwrap())
}

/// pyzipper's reading of the one entry, written to a file.
fn extract_pyzipper(archive: &Path, password: &str, entry: &str) -> Result<Vec<u8>, String> {
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("out.bin");
    let script = "import sys, pyzipper\n\
        with pyzipper.AESZipFile(sys.argv[1]) as z:\n\
        \x20   names = z.namelist()\n\
        \x20   assert names == [sys.argv[3]], names\n\
        \x20   info = z.getinfo(sys.argv[3])\n\
        \x20   assert info.compress_type == pyzipper.ZIP_DEFLATED, info.compress_type\n\
        \x20   z.setpassword(sys.argv[2].encode())\n\
        \x20   data = z.read(sys.argv[3])\n\
        open(sys.argv[4], 'wb').write(data)\n";
    let python = python::interpreter();
    let out = run(
        s(&python),
        &["-c", script, s(archive), password, entry, s(&out_file)],
    );
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    // age creates its output on the first byte written: an empty plaintext leaves no file.
    match std::fs::read(&out_file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        read => Ok(read.unwrap()),
    }
}

fn zip_round_trip(name: &str, bytes: &[u8], rows: u64) {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let source = published(src.path(), name, bytes, rows);
    let copy = encrypt(&zip_aes(), &source, dest.path()).unwrap();
    check_artifact(
        &copy,
        &dest.path().join(format!("{name}.zip")),
        "application/zip",
        rows,
    );
    assert_eq!(
        names(dest.path()),
        [format!("{name}.zip")],
        "no temp file left"
    );

    assert_eq!(extract_7z(&copy.path, PASSWORD, name).unwrap(), bytes);
    assert_eq!(extract_pyzipper(&copy.path, PASSWORD, name).unwrap(), bytes);

    let listing = ok(&run(
        "7z",
        &["l", "-slt", &format!("-p{PASSWORD}"), s(&copy.path)],
    ));
    let method = listing
        .lines()
        .find(|l| l.starts_with("Method = "))
        .unwrap_or_else(|| panic!("no method in\n{listing}"));
    assert_eq!(method, "Method = AES-256 Deflate", "{listing}");
    assert!(listing.contains("Encrypted = +"), "{listing}");
    assert!(listing.contains(&format!("Path = {name}")), "{listing}");

    // AE-2: the AES extra field (0x9901) says vendor version 2, and the CRC is zero.
    let raw = std::fs::read(&copy.path).unwrap();
    let field = raw
        .windows(2)
        .position(|w| w == [0x01, 0x99])
        .expect("AES extra field");
    assert_eq!(&raw[field + 4..field + 6], [2, 0], "vendor version AE-2");
    assert_eq!(&raw[field + 6..field + 8], b"AE");
    assert_eq!(raw[field + 8], 3, "AES-256");
    assert_eq!(&raw[field + 9..field + 11], [8, 0], "deflated");

    let wrong = "wrong-password-123";
    assert!(
        extract_7z(&copy.path, wrong, name).is_err(),
        "7z with a wrong password"
    );
    let err = extract_pyzipper(&copy.path, wrong, name).unwrap_err();
    assert!(err.to_lowercase().contains("password"), "{err}");
}

#[test]
fn zip_aes_csv_opens_in_7z_and_pyzipper() {
    zip_round_trip("Acme Ltd.csv", &csv_bytes(), 2_000);
}

#[test]
fn zip_aes_binary_opens_in_7z_and_pyzipper() {
    zip_round_trip("Acme.xlsx", &random_bytes(400 * 1024, 0x5eed), 123);
}

#[test]
fn zip_aes_empty_file() {
    zip_round_trip("empty.csv", b"", 0);
}

/// A new identity file and its public key.
fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    ok(&run("age-keygen", &["-o", s(&key)]));
    let public = ok(&run("age-keygen", &["-y", s(&key)]));
    (key, public.trim().to_owned())
}

fn age_decrypt(file: &Path, identity: &Path) -> Result<Vec<u8>, String> {
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("out.bin");
    let out = run(
        "age",
        &["-d", "-i", s(identity), "-o", s(&out_file), s(file)],
    );
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    // age creates its output on the first byte written: an empty plaintext leaves no file.
    match std::fs::read(&out_file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        read => Ok(read.unwrap()),
    }
}

#[test]
fn age_to_one_recipient() {
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = age_key(keys.path(), "key.txt");
    let (other_key, _) = age_key(keys.path(), "other.txt");
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let bytes = csv_bytes();
    let source = published(src.path(), "Acme.csv", &bytes, 2_000);
    let encryption = Encryption::parse(&format!("age:{public}"), None).unwrap();
    assert_eq!(encryption.name(), "age");
    let copy = encrypt(&encryption, &source, dest.path()).unwrap();
    check_artifact(
        &copy,
        &dest.path().join("Acme.csv.age"),
        "application/octet-stream",
        2_000,
    );
    assert_eq!(names(dest.path()), ["Acme.csv.age"]);
    let raw = std::fs::read(&copy.path).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1\n"), "binary age");
    assert_eq!(age_decrypt(&copy.path, &key).unwrap(), bytes);
    assert!(
        age_decrypt(&copy.path, &other_key).is_err(),
        "not to others"
    );
}

/// Sizes at the payload's 64 KiB chunk boundaries: empty, one byte, exactly one chunk (the last
/// chunk full), one past it, several chunks. The real `age` refuses a file whose last-chunk
/// flag, counter or tag is wrong, so each round trip checks the STREAM framing.
#[test]
fn age_round_trips_at_chunk_boundaries() {
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = age_key(keys.path(), "key.txt");
    let encryption = Encryption::parse(&format!("age:{public}"), None).unwrap();
    const CHUNK: usize = 64 * 1024;
    for (i, len) in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17]
        .into_iter()
        .enumerate()
    {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let bytes = random_bytes(len, 100 + i as u64);
        let source = published(src.path(), "Acme.csv", &bytes, 1);
        let copy = encrypt(&encryption, &source, dest.path()).unwrap();
        let decrypted = age_decrypt(&copy.path, &key).unwrap_or_else(|e| panic!("{len}: {e}"));
        assert!(decrypted == bytes, "{len} bytes came back different");
        // Cut short by one byte: age must refuse it (the last chunk's tag is incomplete).
        let raw = std::fs::read(&copy.path).unwrap();
        let cut = dest.path().join("cut.age");
        std::fs::write(&cut, &raw[..raw.len() - 1]).unwrap();
        assert!(age_decrypt(&cut, &key).is_err(), "{len}: a truncated file");
    }
}

#[test]
fn age_to_two_recipients() {
    let keys = tempfile::tempdir().unwrap();
    let (key1, public1) = age_key(keys.path(), "one.txt");
    let (key2, public2) = age_key(keys.path(), "two.txt");
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let bytes = random_bytes(300 * 1024, 7);
    let source = published(src.path(), "Acme.xlsx", &bytes, 9);
    let encryption = Encryption::parse(&format!("age: {public1} , {public2},"), None).unwrap();
    match &encryption {
        Encryption::Age { recipients } => assert_eq!(recipients.len(), 2),
        other => panic!("{other:?}"),
    }
    let copy = encrypt(&encryption, &source, dest.path()).unwrap();
    check_artifact(
        &copy,
        &dest.path().join("Acme.xlsx.age"),
        "application/octet-stream",
        9,
    );
    assert_eq!(age_decrypt(&copy.path, &key1).unwrap(), bytes);
    assert_eq!(age_decrypt(&copy.path, &key2).unwrap(), bytes);
}

#[test]
fn an_existing_copy_is_replaced() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    std::fs::write(dest.path().join("Acme.csv.zip"), "stale").unwrap();
    let source = published(src.path(), "Acme.csv", b"a,b\n1,2\n", 1);
    let copy = encrypt(&zip_aes(), &source, dest.path()).unwrap();
    assert_eq!(
        extract_7z(&copy.path, PASSWORD, "Acme.csv").unwrap(),
        b"a,b\n1,2\n"
    );
    assert_eq!(names(dest.path()), ["Acme.csv.zip"]);
}

#[test]
fn a_missing_dir_is_created_private() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("private/encrypted");
    let source = published(src.path(), "Acme.csv", b"x\n", 1);
    let copy = encrypt(&zip_aes(), &source, &dir).unwrap();
    assert_eq!(copy.path, dir.join("Acme.csv.zip"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&copy.path), 0o600);
    }
}

fn parse_error(text: &str, password: Option<&str>) -> String {
    let err = Encryption::parse(text, password.and_then(secret)).unwrap_err();
    let message = err.to_string();
    if let Some(password) = password {
        assert!(!message.contains(password), "{message}");
        assert!(!format!("{err:?}").contains(password), "{err:?}");
    }
    message
}

#[test]
fn parse_accepts_and_names() {
    let zip = zip_aes();
    assert_eq!(zip.name(), "zip-aes");
    assert!(matches!(
        Encryption::parse(" ZIP-AES ", secret("twelve chars")).unwrap(),
        Encryption::ZipAes { .. }
    ));
    // Duplicates kept once.
    let key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    match Encryption::parse(&format!("age:{key},{key}"), None).unwrap() {
        Encryption::Age { recipients } => {
            assert_eq!(recipients.len(), 1);
            assert_eq!(recipients[0].to_string(), key);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parse_rejects_missing_and_weak_passwords() {
    let missing = parse_error("zip-aes", None);
    assert!(missing.contains("KEEPNET_ENCRYPT_PASSWORD"), "{missing}");
    assert!(missing.contains("password file"), "{missing}");
    let short = parse_error("zip-aes", Some("eleven char"));
    assert!(short.contains("at least 12 characters"), "{short}");
    assert!(short.contains("KEEPNET_ENCRYPT_PASSWORD"), "{short}");
    let newline = parse_error("zip-aes", Some("a long enough password\n"));
    assert!(newline.contains("line break"), "{newline}");
    // Twelve characters, not twelve bytes.
    assert!(parse_error("zip-aes", Some("ççççççççççç")).contains("too short"));
}

#[test]
fn parse_rejects_bad_methods_and_recipients() {
    let unknown = parse_error("gpg", None);
    assert!(
        unknown.contains("zip-aes") && unknown.contains("age:"),
        "{unknown}"
    );
    for text in ["age", "age:", "age: , "] {
        let none = parse_error(text, None);
        assert!(none.contains("at least one recipient"), "{text}: {none}");
    }
    let typo = parse_error("age:age1notakey", None);
    assert!(
        typo.contains("age1notakey") && typo.contains("X25519"),
        "{typo}"
    );
    let ssh = parse_error("age:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample", None);
    assert!(ssh.contains("SSH keys are not supported"), "{ssh}");
    let plugin = parse_error("age:age1yubikey1qwertyuiop", None);
    assert!(plugin.contains("plugin"), "{plugin}");
    let private = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let secret_key = parse_error(&format!("age:{private}"), None);
    assert!(!secret_key.contains(private), "a private key is not echoed");
    assert!(secret_key.contains("private key"), "{secret_key}");
    // One bad recipient among good ones fails the whole option.
    let good = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    assert!(parse_error(&format!("age:{good},bogus"), None).contains("\"bogus\""));
}

#[test]
fn the_password_is_never_shown() {
    let zip = zip_aes();
    let debug = format!("{zip:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");

    // Errors while encrypting do not carry it either.
    let src = tempfile::tempdir().unwrap();
    let source = published(src.path(), "Acme.csv", b"x\n", 1);
    let blocker = src.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let err = encrypt(&zip, &source, &blocker.join("sub")).unwrap_err();
    assert!(!err.to_string().contains(PASSWORD));
    assert!(!format!("{err:?}").contains(PASSWORD));
}

#[test]
fn a_failed_write_leaves_nothing() {
    let src = tempfile::tempdir().unwrap();
    let source = published(src.path(), "Acme.csv", &csv_bytes(), 2_000);

    // The destination "folder" is under a regular file.
    let blocker = src.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let dir = blocker.join("encrypted");
    let err = encrypt(&zip_aes(), &source, &dir).unwrap_err();
    assert!(matches!(err, EncryptError::Publish { .. }), "{err:?}");
    assert!(
        err.to_string().contains("Acme.csv.zip"),
        "names the file: {err}"
    );
    assert_eq!(names(src.path()), ["Acme.csv", "not-a-dir"]);

    // The copy's name is taken by a folder.
    let dest = tempfile::tempdir().unwrap();
    std::fs::create_dir(dest.path().join("Acme.csv.age")).unwrap();
    let age = Encryption::parse(
        "age:age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        None,
    )
    .unwrap();
    let err = encrypt(&age, &source, dest.path()).unwrap_err();
    assert!(err.to_string().contains("Acme.csv.age"), "{err}");
    assert_eq!(names(dest.path()), ["Acme.csv.age"]);
    assert_eq!(
        names(&dest.path().join("Acme.csv.age")),
        Vec::<String>::new()
    );
}

#[test]
fn unreadable_sources_are_refused() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let mut source = published(src.path(), "Acme.csv", b"x\n", 1);
    source.path = src.path().join("gone.csv");
    let err = encrypt(&zip_aes(), &source, dest.path()).unwrap_err();
    assert!(matches!(err, EncryptError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("gone.csv"), "{err}");

    source.path = src.path().to_path_buf();
    let err = encrypt(&zip_aes(), &source, dest.path()).unwrap_err();
    assert!(
        matches!(err, EncryptError::NotRegularFile { .. }),
        "{err:?}"
    );
    assert_eq!(names(dest.path()), Vec::<String>::new(), "nothing written");
}

/// 50 MB through both formats: streamed (the crate never reads a file whole), then checked
/// with the tools.
#[test]
fn a_large_file_streams() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let path = src.path().join("big.csv");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let row = random_bytes(1000, 99);
        for i in 0..50_000u32 {
            file.write_all(&i.to_le_bytes()).unwrap();
            file.write_all(&row).unwrap();
        }
    }
    let bytes = std::fs::metadata(&path).unwrap().len();
    let source = Artifact {
        path,
        media_type: "text/csv".into(),
        bytes,
        rows: 50_000,
        sha256: None,
    };
    let zip = encrypt(&zip_aes(), &source, dest.path()).unwrap();
    ok(&run("7z", &["t", &format!("-p{PASSWORD}"), s(&zip.path)]));

    let keys = tempfile::tempdir().unwrap();
    let (key, public) = age_key(keys.path(), "key.txt");
    let age = Encryption::parse(&format!("age:{public}"), None).unwrap();
    let copy = encrypt(&age, &source, dest.path()).unwrap();
    let decrypted = age_decrypt(&copy.path, &key).unwrap();
    assert_eq!(decrypted.len() as u64, bytes);
    assert_eq!(decrypted, std::fs::read(&source.path).unwrap());
}
