//! A real SMTP server for the tests: `tests/support/smtp_server.py` (aiosmtpd), started on a
//! free port and killed on drop. Shared by the e-mail crate's tests and the end-to-end tests
//! (each includes this file with `#[path]`), so there is one harness.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The workspace's `tests/support` folder, found upwards from the package being tested.
pub fn support() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/support"))
        .find(|dir| dir.join("smtp_server.py").exists())
        .expect("tests/support/smtp_server.py above the package")
}

/// The test server certificate (CN/SAN localhost and 127.0.0.1).
pub fn cert() -> PathBuf {
    support().join("test-smtp.crt")
}

/// The certificate's private key (PEM, no certificate in it).
pub fn key() -> PathBuf {
    support().join("test-smtp.key")
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// What the server saved for one message.
pub struct Received {
    /// The message exactly as received.
    pub raw: Vec<u8>,
    /// `mail_from`, `rcpt_tos`, `tls`, `auth`.
    pub meta: serde_json::Value,
}

impl Received {
    /// The envelope recipients.
    pub fn rcpt_tos(&self) -> Vec<String> {
        self.meta["rcpt_tos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }
}

/// A running `smtp_server.py`.
pub struct Server {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

/// Options of the server.
pub enum Opt<'a> {
    /// Offer STARTTLS with the test certificate.
    StartTls,
    /// TLS from the first byte with the test certificate.
    ImplicitTls,
    /// Require AUTH with `user:password`.
    Auth(&'a str),
    /// Answer 550 to this recipient.
    Refuse(&'a str),
}

impl Server {
    /// Starts the server and waits for its `READY` line.
    pub fn start(options: &[Opt<'_>]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(crate::python::interpreter());
        cmd.arg(support().join("smtp_server.py"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path());
        for option in options {
            match option {
                Opt::StartTls => {
                    cmd.arg("--starttls").arg(cert()).arg(key());
                }
                Opt::ImplicitTls => {
                    cmd.arg("--implicit-tls").arg(cert()).arg(key());
                }
                Opt::Auth(pair) => {
                    cmd.arg("--auth").arg(pair);
                }
                Opt::Refuse(address) => {
                    cmd.arg("--refuse").arg(address);
                }
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tests/support/smtp_server.py with target/test-python");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Server { child, port, dir };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.starts_with("READY") => server,
            other => {
                let mut server = server;
                let _ = server.child.kill();
                let mut err = String::new();
                if let Some(mut stderr) = server.child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                panic!("smtp_server.py did not start ({other:?}): {err}");
            }
        }
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for n in 1.. {
            let eml = self.dir.path().join(format!("msg-{n}.eml"));
            if !eml.exists() {
                break;
            }
            let json = self.dir.path().join(format!("msg-{n}.json"));
            out.push(Received {
                raw: std::fs::read(eml).unwrap(),
                meta: serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap(),
            });
        }
        out
    }

    /// The only message received.
    pub fn single(&self) -> Received {
        let mut messages = self.messages();
        assert_eq!(messages.len(), 1, "expected exactly one message");
        messages.remove(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
