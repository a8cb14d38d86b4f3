//! Why an upload failed, after the settings were found usable.

use std::path::PathBuf;
use std::time::Duration;

/// An upload that failed: where to, and why. Reaches the runner as
/// [`SinkError::Other`](keepnet_sink::SinkError::Other); its text never holds a secret.
#[derive(Debug, thiserror::Error)]
#[error("{destination}: {reason}")]
pub struct SftpError {
    /// `sftp://user@host:port/folder/`.
    pub destination: String,
    /// What went wrong.
    pub reason: Reason,
}

/// What went wrong in an upload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// The TCP connection failed (refused, no route, name not resolved).
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// A step took longer than the `timeout` setting.
    #[error("{step} took longer than {timeout:?} (the timeout setting)")]
    Timeout {
        /// What was being done, e.g. `connecting to files.example.com:22`.
        step: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The SSH handshake failed (not an SSH server, no common algorithm, connection closed).
    #[error("SSH handshake with {authority} failed: {message}")]
    Handshake {
        /// `host:port`.
        authority: String,
        /// What the SSH library said.
        message: String,
    },
    /// The server's host key is in no known_hosts line for it.
    #[error(
        "the host key of {name} is not known: {key_type} {fingerprint} is in no line of {known_hosts} for {name}. \
         If this is the server's key (compare with `ssh-keygen -lf` of its host key, asked of the server's administrator), \
         accept it: give the setting host-key-fingerprint={fingerprint}, or add the server's line to {known_hosts} \
         (`ssh-keyscan{port_arg} {host} >> {known_hosts}`, then check it)"
    )]
    UnknownHostKey {
        /// The name looked up: `host`, or `[host]:port`.
        name: String,
        /// `host`, for the `ssh-keyscan` hint.
        host: String,
        /// ` -p PORT` when not 22, for the `ssh-keyscan` hint.
        port_arg: String,
        /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `rsa-sha2-512`…
        key_type: String,
        /// `SHA256:…`, as `ssh-keygen -lf` prints it.
        fingerprint: String,
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
    },
    /// The server's host key differs from the one(s) known_hosts holds for it.
    #[error(
        "HOST KEY CHANGED for {name}: the server sent {key_type} {fingerprint}, but {known_hosts} holds another key for it \
         (line {lines}). Someone may be intercepting the connection, or the server's key was replaced: \
         ask the server's administrator; if the new key is genuine, remove the old line(s) \
         (`ssh-keygen -R '{name}' -f {known_hosts}`) and add the new one, or give host-key-fingerprint={fingerprint}"
    )]
    ChangedHostKey {
        /// The name looked up: `host`, or `[host]:port`.
        name: String,
        /// The key type the server sent.
        key_type: String,
        /// The key's `SHA256:…` fingerprint.
        fingerprint: String,
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
        /// The line numbers holding other keys for the host, e.g. `3, 7`.
        lines: String,
    },
    /// The server's host key is marked `@revoked` in known_hosts.
    #[error("the host key of {name}, {key_type} {fingerprint}, is marked @revoked on line {line} of {known_hosts}")]
    RevokedHostKey {
        /// The name looked up.
        name: String,
        /// The key type.
        key_type: String,
        /// The key's fingerprint.
        fingerprint: String,
        /// The known_hosts file.
        known_hosts: PathBuf,
        /// The 1-based line.
        line: usize,
    },
    /// The server's host key does not have the fingerprint the settings require.
    #[error(
        "the host key of {name} is {key_type} {fingerprint}, not {expected} as the host-key-fingerprint setting requires: \
         the server's key changed or someone is intercepting the connection; ask the server's administrator"
    )]
    FingerprintMismatch {
        /// The name of the server.
        name: String,
        /// The key type the server sent.
        key_type: String,
        /// The fingerprint of the key the server sent.
        fingerprint: String,
        /// The fingerprint the settings require.
        expected: String,
    },
    /// The server presented a host certificate; only plain host keys are checked.
    #[error("{name} presented an SSH host certificate ({fingerprint}); host certificates are not supported: give host-key-fingerprint of its plain host key")]
    HostCertificate {
        /// The name of the server.
        name: String,
        /// The certificate's key fingerprint.
        fingerprint: String,
    },
    /// The server refused the login.
    #[error("{authority} refused the login of user {user} with {tried}{remaining}")]
    Auth {
        /// `host:port`.
        authority: String,
        /// The user.
        user: String,
        /// What was offered, e.g. `key /home/me/.ssh/id_ed25519 (ssh-ed25519 SHA256:…)`.
        tried: String,
        /// What the server would accept, e.g. `; it accepts: publickey`.
        remaining: String,
    },
    /// The SSH agent could not be used.
    #[error("SSH agent at {socket}: {message}")]
    Agent {
        /// The agent's socket (`SSH_AUTH_SOCK`).
        socket: PathBuf,
        /// What failed.
        message: String,
    },
    /// The server did not start its SFTP subsystem.
    #[error("{authority} did not start SFTP: {message}")]
    Subsystem {
        /// `host:port`.
        authority: String,
        /// What failed.
        message: String,
    },
    /// An SFTP request failed: the server's answer.
    #[error("cannot {action} `{path}`: {message}")]
    Sftp {
        /// What was done: `create`, `write`, `rename … over`…
        action: String,
        /// The remote path.
        path: String,
        /// The server's status and message (and free space when a write failed).
        message: String,
    },
    /// The remote folder does not exist and `mkdir` is off, or is not a folder.
    #[error("remote folder `{folder}` {problem}")]
    Folder {
        /// The folder.
        folder: String,
        /// `does not exist (the mkdir setting is off)`, `is not a folder`.
        problem: String,
    },
    /// Reading a local file to upload failed.
    #[error("{}: {source}", .path.display())]
    Local {
        /// The local file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A file is no longer the one published: nothing of it was published on the server.
    #[error("{0}")]
    Changed(keepnet_sink::SinkError),
    /// The SSH connection failed after the login.
    #[error("SSH connection to {authority}: {message}")]
    Connection {
        /// `host:port`.
        authority: String,
        /// What the SSH library said.
        message: String,
    },
}
