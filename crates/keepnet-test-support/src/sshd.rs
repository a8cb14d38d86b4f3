//! A real OpenSSH server for the tests: `/usr/sbin/sshd` on 127.0.0.1 and a free port, with a
//! fresh host key and user key in a temporary folder, killed on drop. One harness for the SFTP
//! crate's tests and the end-to-end tests. sshd binds a port by number only, so the port is
//! found free, released, and given to sshd; when something took it meanwhile, sshd says so and
//! the start is retried on another port.
//!
//! Each server runs in a private mount namespace (`unshare -m --propagation private`): a
//! tmpfs over `/run` holds the privilege separation folder `/run/sshd` sshd insists on, and
//! [`Options::disk_bytes`] mounts a small tmpfs over the upload folder to fill up. The
//! machine's own mounts are never touched, and the namespace goes away with sshd.
//!
//! Also: [`Agent`], an `ssh-agent` on a socket in its own temporary folder.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Generates an unencrypted key pair `dir/name` (and `dir/name.pub`) of `kind` (`ed25519`,
/// `ecdsa`, `rsa`) with `ssh-keygen`; returns the private key's path.
pub fn keygen(dir: &Path, name: &str, kind: &str) -> PathBuf {
    keygen_with_passphrase(dir, name, kind, "")
}

/// Like [`keygen`], with the private key encrypted by `passphrase`.
pub fn keygen_with_passphrase(dir: &Path, name: &str, kind: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("/usr/bin/ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", name, "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("run /usr/bin/ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen -t {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The `SHA256:…` fingerprint of a public key file, as `ssh-keygen -lf` prints it.
pub fn fingerprint(public_key: &Path) -> String {
    let out = Command::new("/usr/bin/ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .expect("run /usr/bin/ssh-keygen -lf");
    assert!(
        out.status.success(),
        "ssh-keygen -lf {}",
        public_key.display()
    );
    // "256 SHA256:abc… comment (ED25519)"
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_owned()
}

/// A public key file's `type base64` part (its comment dropped).
pub fn public_key_text(public_key: &Path) -> String {
    let text = std::fs::read_to_string(public_key).expect("read public key");
    let mut words = text.split_whitespace();
    format!("{} {}", words.next().unwrap(), words.next().unwrap())
}

/// How a server is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve SFTP read-only (`internal-sftp -R`): every write is refused.
    pub read_only: bool,
    /// Mount a tmpfs of this many bytes over [`Sshd::upload_dir`] (in sshd's private mount
    /// namespace): a remote disk that fills up.
    pub disk_bytes: Option<u64>,
    /// The host key's type (`ed25519` when `None`).
    pub host_key_type: Option<&'static str>,
}

/// A running `sshd`.
pub struct Sshd {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
}

impl Sshd {
    /// Starts a server with default [`Options`].
    pub fn start() -> Self {
        Self::start_with(&Options::default())
    }

    /// Starts a server and waits until it listens; on a port taken between choosing it and
    /// sshd binding it, starts again on another (at most 5 tries).
    pub fn start_with(options: &Options) -> Self {
        for _ in 0..4 {
            match Self::try_start(options) {
                Ok(server) => return server,
                Err(server) if server.log().contains("Address already in use") => continue,
                Err(server) => server.fail(),
            }
        }
        Self::try_start(options).unwrap_or_else(|server| server.fail())
    }

    /// Kills a server that did not start, and fails the test with its log.
    fn fail(mut self) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("sshd did not start:\n{}", self.log())
    }

    /// One try: the server, listening, or the one that did not start.
    fn try_start(options: &Options) -> Result<Self, Self> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let host_key = keygen(root, "host_key", options.host_key_type.unwrap_or("ed25519"));
        let user_key = keygen(root, "user_key", "ed25519");
        let authorized = root.join("authorized_keys");
        std::fs::copy(user_key.with_extension("pub"), &authorized).unwrap();
        std::fs::create_dir(root.join("upload")).unwrap();
        let port = crate::closed_port();
        let sftp = if options.read_only {
            "internal-sftp -R"
        } else {
            "internal-sftp"
        };
        let config = format!(
            "ListenAddress 127.0.0.1:{port}\n\
             HostKey {host_key}\n\
             AuthorizedKeysFile {authorized}\n\
             PidFile {pid}\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             StrictModes no\n\
             UsePAM no\n\
             PermitRootLogin prohibit-password\n\
             AllowTcpForwarding no\n\
             X11Forwarding no\n\
             LogLevel VERBOSE\n\
             Subsystem sftp {sftp}\n",
            host_key = host_key.display(),
            authorized = authorized.display(),
            pid = root.join("sshd.pid").display(),
        );
        let config_path = root.join("sshd_config");
        std::fs::write(&config_path, config).unwrap();

        // In the private namespace: /run/sshd on a fresh tmpfs, the optional small disk, then
        // sshd itself (exec: the child's pid is sshd's, so killing it ends the namespace).
        let mut script = String::from(
            "set -e; mount -t tmpfs -o mode=755,size=1m tmpfs /run; mkdir -m 755 /run/sshd; ",
        );
        if let Some(bytes) = options.disk_bytes {
            script.push_str(&format!(
                "mount -t tmpfs -o mode=755,size={bytes} tmpfs \"$1\"; "
            ));
        }
        script.push_str("exec /usr/sbin/sshd -D -e -f \"$2\"");
        let mut child = Command::new("/usr/bin/unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                &script,
                "sh",
            ])
            .arg(root.join("upload"))
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start /usr/bin/unshare … /usr/sbin/sshd");

        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("Server listening on") {
                    let _ = tx.send(());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let mut server = Sshd {
            child,
            port,
            dir,
            log,
        };
        let started = Instant::now();
        let listening = rx.recv_timeout(Duration::from_secs(20)).is_ok();
        if !listening || TcpStream::connect(("127.0.0.1", port)).is_err() {
            let _ = server.child.kill();
            let _ = server.child.wait();
            server
                .log
                .lock()
                .unwrap()
                .push(format!("(not listening after {:?})", started.elapsed()));
            return Err(server);
        }
        Ok(server)
    }

    /// The temporary folder holding the keys and the config.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An empty folder to upload into (absolute; on the small disk with
    /// [`Options::disk_bytes`]). Files in it can be read directly: the server is this machine.
    pub fn upload_dir(&self) -> PathBuf {
        self.dir.path().join("upload")
    }

    /// `remote` (a path as the server sees it) as this process sees it: through
    /// `/proc/PID/root`, so that files on the server's private tmpfs can be read too.
    pub fn seen(&self, remote: &Path) -> PathBuf {
        let relative = remote.strip_prefix("/").unwrap_or(remote);
        PathBuf::from(format!("/proc/{}/root", self.child.id())).join(relative)
    }

    /// The names in [`Sshd::upload_dir`] and below it, relative to it, sorted.
    pub fn uploaded(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                if entry.file_type().unwrap().is_dir() {
                    walk(&entry.path(), &format!("{name}/"), out);
                }
                out.push(name);
            }
        }
        let mut out = Vec::new();
        walk(&self.seen(&self.upload_dir()), "", &mut out);
        out.sort();
        out
    }

    /// The private key the server accepts (no passphrase).
    pub fn user_key(&self) -> PathBuf {
        self.dir.path().join("user_key")
    }

    /// The server's public host key file.
    pub fn host_key_pub(&self) -> PathBuf {
        self.dir.path().join("host_key.pub")
    }

    /// The host key's `SHA256:…` fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.host_key_pub())
    }

    /// The known_hosts line for this server: `[127.0.0.1]:PORT type base64`.
    pub fn known_hosts_line(&self) -> String {
        format!(
            "[127.0.0.1]:{} {}",
            self.port,
            public_key_text(&self.host_key_pub())
        )
    }

    /// Writes a known_hosts file holding [`Sshd::known_hosts_line`] into `dir`; returns it.
    pub fn write_known_hosts(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("known_hosts-{}", self.port));
        std::fs::write(&path, format!("{}\n", self.known_hosts_line())).unwrap();
        path
    }

    /// Authorizes one more public key file.
    pub fn authorize(&self, public_key: &Path) {
        let mut keys = std::fs::read_to_string(self.dir.path().join("authorized_keys")).unwrap();
        keys.push_str(&std::fs::read_to_string(public_key).unwrap());
        std::fs::write(self.dir.path().join("authorized_keys"), keys).unwrap();
    }

    /// What sshd logged so far (stderr), one line each.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `ssh-agent -D -a SOCKET`, killed on drop.
pub struct Agent {
    child: Child,
    dir: tempfile::TempDir,
}

impl Agent {
    /// Starts an agent and waits for its socket.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new("/usr/bin/ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/ssh-agent");
        let agent = Agent { child, dir };
        let started = Instant::now();
        while !agent.socket().exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "ssh-agent made no socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    /// The agent's socket, for `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }

    /// Adds a private key (no passphrase) with `ssh-add`.
    pub fn add(&self, private_key: &Path) {
        let out = Command::new("/usr/bin/ssh-add")
            .arg(private_key)
            .env("SSH_AUTH_SOCK", self.socket())
            .stdin(Stdio::null())
            .output()
            .expect("run /usr/bin/ssh-add");
        assert!(
            out.status.success(),
            "ssh-add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
