//! One upload: connect, check the host key, log in, upload every file under a temporary name,
//! then rename them all into place.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::MethodSet;
use russh_sftp::client::error::Error as SftpFailure;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};

use crate::error::Reason;
use crate::known_hosts::{self, Verdict};
use crate::target::{join, Target};

/// The size of one SFTP write: what every server accepts (OpenSSH takes up to 255 KiB).
const CHUNK: usize = 32 * 1024;
/// Writes in flight at once, so that the round trip does not set the pace.
const IN_FLIGHT: usize = 16;
/// The OpenSSH extension that renames over an existing file, atomically (rename(2)).
const POSIX_RENAME: &str = "posix-rename@openssh.com";
/// The OpenSSH extension that flushes a file to disk (fsync(2)).
const FSYNC: &str = "fsync@openssh.com";

/// How the server's host key is checked.
#[derive(Debug, Clone)]
pub(crate) enum HostCheck {
    /// Against this known_hosts file.
    KnownHosts(PathBuf),
    /// It must have this `SHA256:…` fingerprint.
    Fingerprint(String),
}

/// How to log in.
#[derive(Clone)]
pub(crate) enum Login {
    /// With this private key, read from this file.
    Key(PathBuf, Arc<PrivateKey>),
    /// With the keys of the SSH agent at this socket.
    Agent(PathBuf),
}

/// Everything an upload needs, checked.
#[derive(Clone)]
pub(crate) struct Plan {
    pub target: Target,
    pub port: u16,
    pub host_check: HostCheck,
    pub login: Login,
    pub timeout: Duration,
    pub mkdir: bool,
}

/// A published file to upload under `name`.
pub(crate) struct Upload {
    pub artifact: keepnet_sink::Artifact,
    pub name: String,
}

/// What an upload did.
pub(crate) struct Done {
    pub files: usize,
    pub bytes: u64,
    /// Whether a plain rename (remove, then rename) replaced an existing file.
    pub non_atomic: bool,
}

/// Checks the server's key as [`HostCheck`] says; a refusal is kept for the error message.
struct Checker {
    name: String,
    host: String,
    port: u16,
    check: HostCheck,
    refusal: Arc<Mutex<Option<Reason>>>,
}

impl Checker {
    fn verdict(&self, key: &PublicKey) -> Option<Reason> {
        let key_type = key.algorithm().as_str().to_owned();
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        match &self.check {
            HostCheck::Fingerprint(expected) => {
                (fingerprint != *expected).then(|| Reason::FingerprintMismatch {
                    name: self.name.clone(),
                    key_type,
                    fingerprint,
                    expected: expected.clone(),
                })
            }
            HostCheck::KnownHosts(path) => {
                let text = match std::fs::read_to_string(path) {
                    Ok(text) => text,
                    Err(e) => {
                        return Some(Reason::Local {
                            path: path.clone(),
                            source: e,
                        })
                    }
                };
                let blob = key.to_bytes().unwrap_or_default();
                match known_hosts::check(&text, &self.host, self.port, &blob) {
                    Verdict::Known => None,
                    Verdict::Unknown => Some(Reason::UnknownHostKey {
                        name: self.name.clone(),
                        host: self.host.clone(),
                        port_arg: match self.port {
                            22 => String::new(),
                            port => format!(" -p {port}"),
                        },
                        key_type,
                        fingerprint,
                        known_hosts: path.clone(),
                    }),
                    Verdict::Changed(lines) => Some(Reason::ChangedHostKey {
                        name: self.name.clone(),
                        key_type,
                        fingerprint,
                        known_hosts: path.clone(),
                        lines: lines
                            .iter()
                            .map(|(line, kind)| format!("{line}: {kind}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    }),
                    Verdict::Revoked(line) => Some(Reason::RevokedHostKey {
                        name: self.name.clone(),
                        key_type,
                        fingerprint,
                        known_hosts: path.clone(),
                        line,
                    }),
                }
            }
        }
    }
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let refusal = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verdict(key),
            PublicKeyOrCertificate::Certificate(cert) => Some(Reason::HostCertificate {
                name: self.name.clone(),
                fingerprint: cert.public_key().fingerprint(HashAlg::Sha256).to_string(),
            }),
        };
        let accepted = refusal.is_none();
        *self.refusal.lock().unwrap() = refusal;
        Ok(accepted)
    }
}

/// Runs `future` within the plan's timeout; `step` names it in the error.
async fn within<T>(
    timeout: Duration,
    step: impl FnOnce() -> String,
    future: impl Future<Output = T>,
) -> Result<T, Reason> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| Reason::Timeout {
            step: step(),
            timeout,
        })
}

/// The server's answer to an SFTP request, for a message.
fn answer(error: &SftpFailure) -> String {
    match error {
        SftpFailure::Status(status) => {
            let code = status.status_code.to_string();
            let said = status.error_message.trim();
            if said.is_empty() || said.eq_ignore_ascii_case(&code) {
                format!("the server answered \"{code}\"")
            } else {
                format!("the server answered \"{code}\": {said}")
            }
        }
        SftpFailure::Timeout => "no answer from the server in time".to_owned(),
        other => other.to_string(),
    }
}

fn status_of(error: &SftpFailure) -> Option<StatusCode> {
    match error {
        SftpFailure::Status(status) => Some(status.status_code),
        _ => None,
    }
}

/// A random suffix for temporary names (the standard library's per-process random keys).
fn random_suffix() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

/// The SSH string encoding (length, bytes) of each of `parts`, for an extension's data.
fn ssh_strings(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// Connects and logs in; returns the SSH handle.
async fn connect(plan: &Plan) -> Result<Handle<Checker>, Reason> {
    let host = plan.target.host.as_str();
    let authority = plan.target.authority(plan.port);
    let tcp = within(
        plan.timeout,
        || format!("connecting to {authority}"),
        tokio::net::TcpStream::connect((host, plan.port)),
    )
    .await?
    .map_err(|source| Reason::Connect {
        authority: authority.clone(),
        source,
    })?;
    let _ = tcp.set_nodelay(true);

    let refusal = Arc::new(Mutex::new(None));
    let checker = Checker {
        name: known_hosts::lookup_name(host, plan.port),
        host: host.to_owned(),
        port: plan.port,
        check: plan.host_check.clone(),
        refusal: refusal.clone(),
    };
    let config = Arc::new(client::Config {
        client_id: russh::SshId::Standard(
            concat!("SSH-2.0-keepnet-export_", env!("CARGO_PKG_VERSION")).into(),
        ),
        ..client::Config::default()
    });
    let handshake = within(
        plan.timeout,
        || format!("the SSH handshake with {authority}"),
        client::connect_stream(config, tcp, checker),
    )
    .await?;
    let mut handle = match handshake {
        Ok(handle) => handle,
        Err(error) => {
            if let Some(reason) = refusal.lock().unwrap().take() {
                return Err(reason);
            }
            return Err(Reason::Handshake {
                authority,
                message: error.to_string(),
            });
        }
    };
    login(plan, &mut handle).await?;
    Ok(handle)
}

/// What the server would accept after a refusal, for the message.
fn remaining(methods: &MethodSet) -> String {
    let names: Vec<&str> = methods.iter().map(<&str>::from).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("; it accepts: {}", names.join(", "))
    }
}

async fn login(plan: &Plan, handle: &mut Handle<Checker>) -> Result<(), Reason> {
    let authority = plan.target.authority(plan.port);
    let user = plan.target.user.clone();
    let ssh_error = |e: russh::Error| Reason::Connection {
        authority: authority.clone(),
        message: e.to_string(),
    };
    let step = || format!("logging in to {authority}");
    match &plan.login {
        Login::Key(path, key) => {
            let hash = within(plan.timeout, step, handle.best_supported_rsa_hash())
                .await?
                .map_err(ssh_error)?
                .flatten();
            let offered = PrivateKeyWithHashAlg::new(key.clone(), hash);
            let result = within(
                plan.timeout,
                step,
                handle.authenticate_publickey(user.clone(), offered),
            )
            .await?
            .map_err(ssh_error)?;
            match result {
                client::AuthResult::Success => Ok(()),
                client::AuthResult::Failure {
                    remaining_methods, ..
                } => Err(Reason::Auth {
                    authority: authority.clone(),
                    user,
                    tried: format!(
                        "key {} ({} {})",
                        path.display(),
                        key.algorithm().as_str(),
                        key.fingerprint(HashAlg::Sha256)
                    ),
                    remaining: remaining(&remaining_methods),
                }),
            }
        }
        Login::Agent(socket) => {
            let agent_error = |message: String| Reason::Agent {
                socket: socket.clone(),
                message,
            };
            let mut agent = within(plan.timeout, step, AgentClient::connect_uds(socket))
                .await?
                .map_err(|e| agent_error(format!("cannot connect: {e}")))?;
            let identities = within(plan.timeout, step, agent.request_identities())
                .await?
                .map_err(|e| agent_error(format!("cannot list its keys: {e}")))?;
            let keys: Vec<PublicKey> = identities
                .into_iter()
                .filter_map(|identity| match identity {
                    AgentIdentity::PublicKey { key, .. } => Some(key),
                    _ => None,
                })
                .collect();
            if keys.is_empty() {
                return Err(agent_error(
                    "it holds no key (add one with `ssh-add`, or give the identity setting)"
                        .to_owned(),
                ));
            }
            let hash = within(plan.timeout, step, handle.best_supported_rsa_hash())
                .await?
                .map_err(ssh_error)?
                .flatten();
            let mut remaining_methods = MethodSet::empty();
            let mut tried = Vec::new();
            for key in keys {
                tried.push(format!(
                    "{} {}",
                    key.algorithm().as_str(),
                    key.fingerprint(HashAlg::Sha256)
                ));
                let result = within(
                    plan.timeout,
                    step,
                    handle.authenticate_publickey_with(user.clone(), key, hash, &mut agent),
                )
                .await?
                .map_err(|e| agent_error(format!("signing failed: {e}")))?;
                match result {
                    client::AuthResult::Success => return Ok(()),
                    client::AuthResult::Failure {
                        remaining_methods: methods,
                        ..
                    } => remaining_methods = methods,
                }
            }
            Err(Reason::Auth {
                authority: authority.clone(),
                user,
                tried: format!("the SSH agent's keys ({})", tried.join(", ")),
                remaining: remaining(&remaining_methods),
            })
        }
    }
}

/// An SFTP session on a logged-in connection.
struct Sftp<'a> {
    plan: &'a Plan,
    raw: RawSftpSession,
    extensions: std::collections::HashMap<String, String>,
}

impl Sftp<'_> {
    /// Runs one request within the timeout; a refusal becomes [`Reason::Sftp`].
    async fn request<T>(
        &self,
        action: &str,
        path: &str,
        future: impl Future<Output = Result<T, SftpFailure>>,
    ) -> Result<T, Reason> {
        within(
            self.plan.timeout,
            || format!("`{action} {path}` on {}", self.plan.target.host),
            future,
        )
        .await?
        .map_err(|e| Reason::Sftp {
            action: action.to_owned(),
            path: path.to_owned(),
            message: answer(&e),
        })
    }

    /// Makes sure `folder` exists, creating it and missing parents when the plan says so.
    async fn ensure_folder(&self, folder: &str) -> Result<(), Reason> {
        let trimmed = folder.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(()); // the login folder, or `/`
        }
        let mut missing = Vec::new();
        let mut current = trimmed.to_owned();
        loop {
            match within(
                self.plan.timeout,
                || format!("`stat {current}`"),
                self.raw.stat(current.clone()),
            )
            .await?
            {
                Ok(attrs) => {
                    if !attrs.attrs.is_dir() {
                        return Err(Reason::Folder {
                            folder: current,
                            problem: "is not a folder".to_owned(),
                        });
                    }
                    break;
                }
                Err(e) if status_of(&e) == Some(StatusCode::NoSuchFile) => {
                    if !self.plan.mkdir {
                        return Err(Reason::Folder {
                            folder: trimmed.to_owned(),
                            problem: "does not exist (the mkdir setting is off)".to_owned(),
                        });
                    }
                    missing.push(current.clone());
                    match current.rfind('/') {
                        Some(0) | None => break, // `/a` or `a`: the parent is `/` or the login folder
                        Some(slash) => current.truncate(slash),
                    }
                }
                Err(e) => {
                    return Err(Reason::Sftp {
                        action: "stat".to_owned(),
                        path: current,
                        message: answer(&e),
                    })
                }
            }
        }
        for folder in missing.iter().rev() {
            let made = within(
                self.plan.timeout,
                || format!("`mkdir {folder}`"),
                self.raw.mkdir(folder.clone(), FileAttributes::empty()),
            )
            .await?;
            if let Err(e) = made {
                // Someone else may have made it meanwhile.
                let exists =
                    matches!(self.raw.stat(folder.clone()).await, Ok(a) if a.attrs.is_dir());
                if !exists {
                    return Err(Reason::Sftp {
                        action: "create the folder".to_owned(),
                        path: folder.clone(),
                        message: answer(&e),
                    });
                }
            }
        }
        Ok(())
    }

    /// Free space in `folder`, for a failed write's message, if the server tells.
    async fn free_space(&self, folder: &str) -> Option<u64> {
        if !self.extensions.contains_key("statvfs@openssh.com") {
            return None;
        }
        let folder = if folder.is_empty() { "." } else { folder };
        let fs = tokio::time::timeout(self.plan.timeout, self.raw.statvfs(folder))
            .await
            .ok()?
            .ok()?;
        Some(fs.blocks_avail.saturating_mul(fs.fragment_size))
    }

    /// Uploads `file` to the temporary path `temp` (created, never overwriting); returns the
    /// bytes written.
    async fn write_file(&self, file: &Upload, temp: &str) -> Result<u64, Reason> {
        let mut local =
            std::fs::File::open(&file.artifact.path).map_err(|source| Reason::Local {
                path: file.artifact.path.clone(),
                source,
            })?;
        let handle = self
            .request(
                "create",
                temp,
                self.raw.open(
                    temp,
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE,
                    FileAttributes::empty(),
                ),
            )
            .await?
            .handle;
        let written = self.write_chunks(&mut local, file, &handle, temp).await;
        let written = match written {
            Ok(n) => n,
            Err(e) => {
                let _ = tokio::time::timeout(self.plan.timeout, self.raw.close(handle)).await;
                return Err(e);
            }
        };
        if self.extensions.contains_key(FSYNC) {
            if let Err(e) = self
                .request("flush to disk", temp, self.raw.fsync(handle.clone()))
                .await
            {
                let _ = tokio::time::timeout(self.plan.timeout, self.raw.close(handle)).await;
                return Err(e);
            }
        }
        self.request("close", temp, self.raw.close(handle)).await?;
        Ok(written)
    }

    async fn write_chunks(
        &self,
        local: &mut std::fs::File,
        file: &Upload,
        handle: &str,
        temp: &str,
    ) -> Result<u64, Reason> {
        // Read sequentially, write with several requests in flight; what is read is hashed, to
        // hold against what was published before the file gets its name.
        let mut offset = 0u64;
        let mut failed_read = None;
        let mut read = keepnet_sink::ReadBack::default();
        let chunks = std::iter::from_fn(|| {
            let mut buf = vec![0; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                match local.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed_read = Some(e);
                        return None;
                    }
                }
            }
            if filled == 0 {
                return None;
            }
            buf.truncate(filled);
            read.update(&buf);
            let at = offset;
            offset += filled as u64;
            Some((at, buf))
        });
        let mut writes = futures::stream::iter(chunks)
            .map(|(at, data)| {
                let handle = handle.to_owned();
                async move {
                    let len = data.len() as u64;
                    within(
                        self.plan.timeout,
                        || format!("writing `{temp}` on {}", self.plan.target.host),
                        self.raw.write(handle, at, data),
                    )
                    .await
                    .map(|r| r.map(|_| len))
                }
            })
            .buffer_unordered(IN_FLIGHT);
        let mut written = 0u64;
        while let Some(result) = writes.next().await {
            match result? {
                Ok(len) => written += len,
                Err(e) => {
                    let mut message = answer(&e);
                    drop(writes);
                    if let Some(free) = self.free_space(&self.plan.target.folder).await {
                        message.push_str(&format!(
                            " ({} free on the server's disk there, {} to write)",
                            crate::size(free),
                            crate::size(file.artifact.bytes)
                        ));
                    }
                    return Err(Reason::Sftp {
                        action: "write".to_owned(),
                        path: temp.to_owned(),
                        message,
                    });
                }
            }
        }
        drop(writes);
        if let Some(e) = failed_read {
            return Err(Reason::Local {
                path: file.artifact.path.clone(),
                source: e,
            });
        }
        file.artifact.verify(read).map_err(Reason::Changed)?;
        Ok(written)
    }

    /// Renames `temp` over `path`; returns whether the fallback (not atomic) was used.
    async fn publish(&self, temp: &str, path: &str) -> Result<bool, Reason> {
        let action = format!("rename `{temp}` to");
        if self.extensions.contains_key(POSIX_RENAME) {
            let reply = self
                .request(
                    &action,
                    path,
                    self.raw.extended(POSIX_RENAME, ssh_strings(&[temp, path])),
                )
                .await?;
            return match reply {
                russh_sftp::protocol::Packet::Status(status)
                    if status.status_code == StatusCode::Ok =>
                {
                    Ok(false)
                }
                russh_sftp::protocol::Packet::Status(status) => Err(Reason::Sftp {
                    action,
                    path: path.to_owned(),
                    message: answer(&SftpFailure::Status(status)),
                }),
                _ => Err(Reason::Sftp {
                    action,
                    path: path.to_owned(),
                    message: "unexpected answer to posix-rename@openssh.com".to_owned(),
                }),
            };
        }
        // Plain SFTP rename refuses an existing target: remove it first. Between the two there
        // is no file under the final name, but never a partial one.
        match self
            .request(&action, path, self.raw.rename(temp, path))
            .await
        {
            Ok(_) => Ok(false),
            Err(first) => {
                let exists = matches!(
                    tokio::time::timeout(self.plan.timeout, self.raw.lstat(path)).await,
                    Ok(Ok(_))
                );
                if !exists {
                    return Err(first);
                }
                self.request("remove the old", path, self.raw.remove(path))
                    .await?;
                self.request(&action, path, self.raw.rename(temp, path))
                    .await?;
                Ok(true)
            }
        }
    }

    /// Removes temporary files, best effort.
    async fn clean(&self, temps: &[String]) {
        for temp in temps {
            let _ = tokio::time::timeout(self.plan.timeout, self.raw.remove(temp.as_str())).await;
        }
    }
}

/// Uploads `files` into the plan's folder: each under a temporary name first, then (all
/// written) renamed into place in order.
pub(crate) async fn upload(plan: &Plan, files: &[Upload]) -> Result<Done, Reason> {
    let authority = plan.target.authority(plan.port);
    let handle = connect(plan).await?;
    let step = || format!("starting SFTP on {authority}");
    let subsystem_error = |message: String| Reason::Subsystem {
        authority: authority.clone(),
        message,
    };
    let channel = within(plan.timeout, step, handle.channel_open_session())
        .await?
        .map_err(|e| subsystem_error(format!("cannot open a session channel: {e}")))?;
    within(plan.timeout, step, channel.request_subsystem(true, "sftp"))
        .await?
        .map_err(|e| subsystem_error(e.to_string()))?;
    let raw = RawSftpSession::new(channel.into_stream());
    // The library's own per-request timeout, in whole seconds, as a backstop to ours.
    raw.set_timeout(plan.timeout.as_secs() + 1);
    let version = within(plan.timeout, step, raw.init()).await?.map_err(|e| {
        subsystem_error(format!(
            "no SFTP version answer ({e}); is the sftp subsystem enabled on the server?"
        ))
    })?;
    let sftp = Sftp {
        plan,
        raw,
        extensions: version.extensions,
    };
    let result = upload_all(&sftp, files).await;
    let _ = sftp.raw.close_session();
    let _ = tokio::time::timeout(
        Duration::from_secs(1).min(plan.timeout),
        handle.disconnect(russh::Disconnect::ByApplication, "", "en"),
    )
    .await;
    result
}

async fn upload_all(sftp: &Sftp<'_>, files: &[Upload]) -> Result<Done, Reason> {
    let folder = &sftp.plan.target.folder;
    sftp.ensure_folder(folder).await?;
    let mut temps: Vec<String> = Vec::new();
    let mut bytes = 0;
    for file in files {
        let temp = join(folder, &format!(".{}.part-{}", file.name, random_suffix()));
        temps.push(temp.clone());
        match sftp.write_file(file, &temp).await {
            Ok(n) => bytes += n,
            Err(e) => {
                sftp.clean(&temps).await;
                return Err(e);
            }
        }
    }
    let mut non_atomic = false;
    for (index, (file, temp)) in files.iter().zip(&temps).enumerate() {
        match sftp.publish(temp, &join(folder, &file.name)).await {
            Ok(fallback) => non_atomic |= fallback,
            Err(e) => {
                sftp.clean(&temps[index..]).await;
                return Err(e);
            }
        }
    }
    Ok(Done {
        files: files.len(),
        bytes,
        non_atomic,
    })
}
