//! A real SMTP server for the tests: `assets/smtp_server.py` (aiosmtpd), on a port it binds
//! and reports itself, killed on drop. Shared by the e-mail crate's tests and the end-to-end
//! tests, so there is one harness.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test server certificate (CN/SAN localhost and 127.0.0.1).
pub fn cert() -> PathBuf {
    crate::assets().join("test-smtp.crt")
}

/// The certificate's private key (PEM, no certificate in it).
pub fn key() -> PathBuf {
    crate::assets().join("test-smtp.key")
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
        let mut cmd = Command::new(crate::python::interpreter());
        cmd.arg(crate::assets().join("smtp_server.py"))
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
            .expect("start smtp_server.py with target/test-python");
        let stdout = child.stdout.take().unwrap();
        let rx = crate::lines(stdout);
        let ready = rx.recv_timeout(Duration::from_secs(20));
        let port = ready
            .as_ref()
            .ok()
            .and_then(|line| line.strip_prefix("READY "))
            .and_then(|port| port.trim().parse().ok());
        let server = Server {
            child,
            port: port.unwrap_or(0),
            dir,
        };
        match port {
            Some(_) => server,
            None => {
                let other = ready;
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
