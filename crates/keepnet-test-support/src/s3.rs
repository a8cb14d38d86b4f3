//! A real S3 implementation for the tests: moto in server mode (`assets/s3_server.py`), on a
//! 127.0.0.1 port it binds and reports itself, killed on drop (it also stops by itself when its
//! stdin closes, so a test process that dies leaves nothing running). Shared by the S3 crate's
//! tests and the end-to-end tests.
//!
//! Runs in the tests' Python environment (moto 5, boto3). Helpers talk to the server through
//! the script, with boto3 (path-style, region us-east-1).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// An IAM user's access key, made by [`Moto::start_with_auth`].
#[derive(Debug, Clone)]
pub struct Key {
    /// The access key id.
    pub id: String,
    /// The secret access key.
    pub secret: String,
}

/// An object read back: its bytes (when at most 1 MiB), size, SHA-256 and response headers
/// (lower-case names).
#[derive(Debug)]
pub struct Object {
    /// The bytes; `None` above 1 MiB (compare `sha256` then).
    pub bytes: Option<Vec<u8>>,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Response headers (`content-type`, `x-amz-server-side-encryption`, ...).
    pub headers: HashMap<String, String>,
}

struct Io {
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

/// A running moto server.
pub struct Moto {
    child: Child,
    io: Mutex<Io>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    users: serde_json::Value,
    dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto without IAM checks: any credentials are accepted.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Starts moto with IAM checks on and three users: `admin` (everything, used by the
    /// helpers), `writer` (s3:*) and `denied` (s3:* but s3:PutObject denied); see
    /// [`Moto::key`].
    pub fn start_with_auth() -> Self {
        Self::launch(true)
    }

    fn launch(auth: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut cmd = Command::new(crate::python::interpreter());
        cmd.arg(crate::assets().join("s3_server.py"));
        if auth {
            cmd.arg("--auth");
        }
        let mut child = cmd
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start s3_server.py with target/test-python");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let rx = crate::lines(stdout);
        let mut moto = Moto {
            child,
            io: Mutex::new(Io { stdin, lines: rx }),
            port: 0,
            users: serde_json::Value::Null,
            dir,
        };
        let first = moto
            .io
            .lock()
            .unwrap()
            .lines
            .recv_timeout(Duration::from_secs(60));
        match first {
            Ok(line) if line.starts_with("READY ") => {
                // READY PORT {users}
                let (port, users) = line["READY ".len()..]
                    .split_once(' ')
                    .expect("READY PORT USERS");
                moto.port = port.parse().expect("READY's port");
                moto.users = serde_json::from_str(users).unwrap();
                moto
            }
            other => {
                let _ = moto.child.kill();
                let _ = moto.child.wait();
                panic!(
                    "s3_server.py did not start ({other:?}): {}",
                    moto.stderr_log()
                );
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The access key of an IAM user made by [`Moto::start_with_auth`].
    pub fn key(&self, user: &str) -> Key {
        let user = &self.users[user];
        Key {
            id: user["id"]
                .as_str()
                .expect("a user of start_with_auth")
                .to_owned(),
            secret: user["secret"].as_str().unwrap().to_owned(),
        }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr_log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.path().join("stderr.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    fn call(&self, command: serde_json::Value) -> serde_json::Value {
        let mut io = self.io.lock().unwrap();
        writeln!(io.stdin, "{command}").expect("write to s3_server.py");
        io.stdin.flush().unwrap();
        let line = io
            .lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("no answer to {command} ({e}): {}", self.stderr_log()));
        let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["ok"], true, "{command}: {reply}");
        reply
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) {
        self.call(serde_json::json!({"op": "create_bucket", "bucket": bucket}));
    }

    /// The object's HEAD headers (lower-case names), `None` when there is no such object.
    pub fn head(&self, bucket: &str, key: &str) -> Option<HashMap<String, String>> {
        let reply = self.call(serde_json::json!({"op": "head", "bucket": bucket, "key": key}));
        if reply["found"] != true {
            return None;
        }
        Some(headers(&reply["headers"]))
    }

    /// The object's bytes and GET headers. Panics when it does not exist.
    pub fn get(&self, bucket: &str, key: &str) -> Object {
        let reply = self.call(serde_json::json!({"op": "get", "bucket": bucket, "key": key}));
        Object {
            bytes: reply["hex"].as_str().map(unhex),
            size: reply["size"].as_u64().unwrap(),
            sha256: reply["sha256"].as_str().unwrap().to_owned(),
            headers: headers(&reply["headers"]),
        }
    }

    /// The keys in the bucket under `prefix`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let reply =
            self.call(serde_json::json!({"op": "keys", "bucket": bucket, "prefix": prefix}));
        let mut keys: Vec<String> = reply["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        keys.sort();
        keys
    }

    /// The keys of multipart uploads started and neither completed nor aborted.
    pub fn pending_uploads(&self, bucket: &str) -> Vec<String> {
        let reply = self.call(serde_json::json!({"op": "uploads", "bucket": bucket}));
        reply["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    }
}

fn headers(value: &serde_json::Value) -> HashMap<String, String> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned()))
        .collect()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
