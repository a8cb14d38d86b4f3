//! The workspace's shared test code, one crate every test depends on (a dev-dependency), so no
//! test includes another package's files by path.
//!
//! - [`smtp`]: a real SMTP server (`assets/smtp_server.py`, aiosmtpd) on loopback.
//! - [`s3`]: moto in server mode (`assets/s3_server.py`), S3 and IAM on loopback.
//! - [`sshd`]: a real OpenSSH server in its own namespace, and `ssh-agent`.
//! - [`webhook`]: a scripted HTTP receiver (tokio).
//! - [`python`]: the interpreter of `target/test-python`, which `cargo xtask setup` makes.
//! - [`closed_port`], [`sha256_hex`]: the small helpers several test crates need.
//!
//! Servers bind their listening port themselves and report it, so no port is released and
//! bound again by another process (a race with anything else picking free ports).

#![allow(missing_docs)]

use std::path::PathBuf;

pub mod python;
pub mod s3;
pub mod smtp;
pub mod sshd;
pub mod webhook;

/// This crate's `assets/` folder: the Python servers and the test certificate.
pub fn assets() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/assets"))
}

/// A loopback port nothing listens on, for tests of a refused connection: bound to find one,
/// then released. (Another process could take it meanwhile; these tests only need a refusal
/// most of the time, and a test that then fails says so.)
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

/// The lines a child prints, as a channel fed by a thread of their own (so a test can wait
/// for one with a timeout); the channel closes when the child's output does.
pub fn lines(output: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
