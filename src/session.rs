//! Turns the global flags into a connected API client (or one pointed at the in-process
//! sandbox), validating them first.

use std::path::Path;

use std::time::Duration;

use keepnet_api::{Client, ClientBuilder, Credentials, RetryPolicy};
use keepnet_sandbox::Sandbox;

use crate::cli::GlobalArgs;
use crate::exit::Failure;

/// A client ready to use, and the in-process sandbox behind it when `--sandbox` was given.
pub struct Session {
    /// The API client.
    pub client: Client,
    sandbox: Option<Sandbox>,
}

/// Where the client secret came from, for the process-list warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// `--client-secret` on the command line.
    CommandLine,
    /// The environment, a file, or nowhere.
    Other,
}

impl Session {
    /// Builds the client from the flags, or starts the sandbox and uses its credentials.
    pub async fn connect(
        global: &GlobalArgs,
        secret_source: SecretSource,
    ) -> Result<Self, Failure> {
        let user_agent = concat!("keepnet-export/", env!("CARGO_PKG_VERSION"));
        if global.sandbox {
            let sandbox = Sandbox::start(keepnet_sandbox::Config::default())
                .await
                .map_err(|e| {
                    Failure::new(crate::exit::INTERNAL, e)
                        .context_msg("cannot start the built-in sandbox")
                })?;
            let creds = sandbox.reseller();
            tracing::info!(base_url = %sandbox.base_url(), "using the built-in sandbox");
            let client = configure(Client::builder(sandbox.base_url()), global)
                .credentials(Credentials::new(creds.client_id, creds.client_secret))
                .user_agent(user_agent)
                .build()?;
            return Ok(Self {
                client,
                sandbox: Some(sandbox),
            });
        }
        if secret_source == SecretSource::CommandLine {
            tracing::warn!(
                "--client-secret on the command line is visible to other users in the process \
                 list; prefer KEEPNET_CLIENT_SECRET or --client-secret-file"
            );
        }
        let client_id = global
            .client_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                Failure::usage(
                    "no client id: set KEEPNET_CLIENT_ID or pass --client-id \
                 (or add --sandbox to try the tool against the built-in sandbox)",
                )
            })?;
        let secret =
            match (&global.client_secret_file, &global.client_secret) {
                (Some(path), _) => read_secret_file(path)?,
                (None, Some(secret)) => trimmed_secret(secret.clone().into_inner())?,
                (None, None) => return Err(Failure::usage(
                    "no client secret: set KEEPNET_CLIENT_SECRET or pass --client-secret-file PATH",
                )),
            };
        let client = configure(Client::builder(global.base_url.clone()), global)
            .credentials(Credentials::new(client_id, secret))
            .user_agent(user_agent)
            .build()?;
        Ok(Self {
            client,
            sandbox: None,
        })
    }

    /// Stops the in-process sandbox, if any.
    pub async fn close(self) {
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
    }
}

/// Timeouts and retries from the flags.
fn configure(builder: ClientBuilder, global: &GlobalArgs) -> ClientBuilder {
    builder
        .retry(RetryPolicy {
            max_retries: global.retries,
            initial_backoff: Duration::from_millis(global.retry_initial_backoff_ms),
            max_backoff: Duration::from_secs(global.retry_max_backoff),
            max_elapsed: Duration::from_secs(global.retry_max_elapsed),
        })
        .concurrency(usize::from(global.concurrency))
        .max_rps(global.max_rps)
        .request_timeout(Duration::from_secs(global.timeout.max(1)))
        .connect_timeout(Duration::from_secs(global.connect_timeout.max(1)))
}

/// A secret from the environment or the command line, trimmed like a secret file's first line:
/// a trailing newline is a common copy-paste slip, and the API would refuse it (exit 3).
fn trimmed_secret(secret: String) -> Result<String, Failure> {
    let trimmed = secret.trim();
    if trimmed.is_empty() {
        return Err(Failure::usage(
            "the client secret is empty (or only white space): set KEEPNET_CLIENT_SECRET",
        ));
    }
    if trimmed.len() != secret.len() {
        tracing::warn!(
            "the client secret had white space (a newline?) around it; it was trimmed, as a \
             secret file's line is"
        );
    }
    Ok(trimmed.to_owned())
}

/// A secret file holds one line: 64 KiB is far more than any secret.
const MAX_SECRET_FILE: u64 = 64 << 10;

/// The first line of a secret file, trimmed; an unreadable, oversize, non-regular (a FIFO,
/// `/dev/zero`) or empty file is a usage error.
/// The deliveries' secrets, from their environment variables (and the encryption password
/// from `password_file` when given): never from a flag or a job file.
pub(crate) fn delivery_secrets(
    secrets: &mut keepnet_export_core::options::Secrets,
    password_file: Option<&Path>,
) -> Result<(), Failure> {
    use keepnet_export_core::kinds;
    let password = match password_file {
        Some(path) => Some(read_secret_file(path)?),
        None => secret_var("KEEPNET_ENCRYPT_PASSWORD")?,
    };
    let found = [
        (keepnet_export_core::sinks::ENCRYPT_PASSWORD, password),
        (
            kinds::SFTP_KEY_PASSPHRASE,
            secret_var("KEEPNET_SFTP_KEY_PASSPHRASE")?,
        ),
        (kinds::WEBHOOK_TOKEN, secret_var("KEEPNET_WEBHOOK_TOKEN")?),
    ];
    for (key, value) in found {
        if let Some(value) = value {
            secrets.set(key, secrecy::SecretString::from(value));
        }
    }
    Ok(())
}

/// A secret from the environment variable `name`: `None` when it is unset or empty. Set but
/// not UTF-8 is an error, never "unset": a run would otherwise go on without the secret (a
/// webhook posted without its token, an encryption reported missing).
pub(crate) fn secret_var(name: &str) -> Result<Option<String>, Failure> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value).filter(|v| !v.is_empty())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::usage(format!(
            "the environment variable {name} is set but is not UTF-8 text: set it to the \
             secret as text, or unset it"
        ))),
    }
}

pub(crate) fn read_secret_file(path: &Path) -> Result<String, Failure> {
    let bytes = keepnet_sink::read_regular_file(path, MAX_SECRET_FILE).map_err(|e| {
        Failure::usage(format!(
            "cannot read the secret file {}: {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let secret = text.lines().next().unwrap_or("").trim().to_owned();
    if secret.is_empty() {
        return Err(Failure::usage(format!(
            "the secret file {} is empty",
            path.display()
        )));
    }
    Ok(secret)
}
