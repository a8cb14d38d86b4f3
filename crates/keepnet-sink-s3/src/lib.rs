#![doc = r#"S3 delivery for `keepnet-export`: after an export's files are published, upload each one to
an S3 bucket, on AWS or any S3-compatible store (MinIO, Cloudflare R2, Wasabi, moto) given by an
endpoint URL.

`--sink s3:s3://BUCKET/PREFIX/` uploads every artifact as object `PREFIX` + the file's name
([`S3Target`]); the Content-Type is the artifact's media type. [`S3Delivery`] implements
[`keepnet_sink::Delivery`]; [`S3Delivery::check`] validates [`S3Settings`] without any I/O and
[`S3Delivery::new`] also resolves the endpoint, region and credentials from the environment and
the shared credentials file (see [`credentials`] for the order), before the export starts.

Behaviour comes from the [`object_store`] crate (0.12, `aws` feature): request signing (SigV4),
retries (bounded here: [`S3Settings::retries`], short backoff), the single `PUT` for files up to
[`PART_SIZE`] and the multipart upload above it. A single `PUT` is atomic: the object appears
whole or not at all. A multipart upload becomes visible only when completed, and is aborted on
any failure (a part refused, the file not matching its published size or SHA-256), so no object
is ever left half-written. Plain `http://` endpoints are allowed for loopback hosts only
([`keepnet_net::is_loopback`]).

Secrets (the secret access key, the session token) are never formatted: settings hold none, the
delivery's `Debug` omits them, server answers are reduced to their error code and message, and
every message is scrubbed of them before it is returned."#]

pub mod credentials;
mod error;
mod target;
mod upload;

use std::fmt;
use std::time::Duration;

use keepnet_sink::{Delivery, Report, SinkError};
use url::Url;

pub use credentials::Env;
pub use error::S3Error;
pub use target::{S3Target, MAX_KEY_BYTES};

use credentials::Credentials;

/// Files larger than this are sent as a multipart upload in parts of this size: 8 MiB (S3's
/// minimum part size is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// The per-request timeout used by [`S3Settings::new`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The retries used by [`S3Settings::new`].
pub const DEFAULT_RETRIES: u32 = 2;

/// The region used when neither the setting nor `AWS_REGION` / `AWS_DEFAULT_REGION` give one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Server-side encryption asked for each object (`x-amz-server-side-encryption`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ServerSideEncryption {
    /// No header: the bucket's default encryption applies (`none`).
    #[default]
    None,
    /// SSE-S3, keys managed by the store (`AES256`).
    Aes256,
    /// SSE-KMS (`aws:kms`), with the given KMS key id or ARN, else the account's default key.
    AwsKms {
        /// `x-amz-server-side-encryption-aws-kms-key-id`.
        key_id: Option<String>,
    },
}

impl ServerSideEncryption {
    /// Parses `none`, `AES256` or `aws:kms` (the option's values), with the optional KMS key id
    /// (allowed with `aws:kms` only).
    pub fn parse(value: &str, kms_key_id: Option<&str>) -> Result<Self, SinkError> {
        let sse = match value {
            "none" | "" => ServerSideEncryption::None,
            "AES256" => ServerSideEncryption::Aes256,
            "aws:kms" => ServerSideEncryption::AwsKms {
                key_id: kms_key_id.map(str::to_owned),
            },
            other => {
                return Err(SinkError::Invalid(format!(
                    "s3.sse {other:?} is not one of none, AES256, aws:kms"
                )))
            }
        };
        if kms_key_id.is_some() && !matches!(sse, ServerSideEncryption::AwsKms { .. }) {
            return Err(SinkError::Invalid(
                "s3.kms-key-id is given but s3.sse is not aws:kms".into(),
            ));
        }
        Ok(sse)
    }

    /// The header value, `None` for [`ServerSideEncryption::None`].
    pub fn header(&self) -> Option<&'static str> {
        match self {
            ServerSideEncryption::None => None,
            ServerSideEncryption::Aes256 => Some("AES256"),
            ServerSideEncryption::AwsKms { .. } => Some("aws:kms"),
        }
    }
}

/// The settings of an `s3` delivery, filled by the runner from its options. Holds no secret:
/// credentials come from the environment or the shared credentials file only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `s3://BUCKET/PREFIX/`, placeholders already filled in.
    pub target: String,
    /// The S3 endpoint URL, e.g. `https://s3.eu-central-1.wasabisys.com` or
    /// `http://127.0.0.1:9000` (`http` for loopback hosts only). `None` (default):
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else AWS itself.
    pub endpoint: Option<String>,
    /// The region requests are signed for. `None` (default): `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`, else `us-east-1`. Stores without regions accept any (R2: `auto`).
    pub region: Option<String>,
    /// Addressing. `None` (default): virtual-hosted (`https://BUCKET.s3.REGION.amazonaws.com`)
    /// on AWS unless the bucket name has a dot, path-style (`ENDPOINT/BUCKET/KEY`) with a custom
    /// endpoint, as MinIO, R2, Wasabi and moto expect. `Some(true)`: always path-style.
    /// `Some(false)`: always virtual-hosted; with an endpoint the bucket is put before its host.
    pub path_style: Option<bool>,
    /// Server-side encryption asked for each object. Default: none (the bucket's default).
    pub server_side_encryption: ServerSideEncryption,
    /// The storage class (`STANDARD`, `STANDARD_IA`, `INTELLIGENT_TIERING`, `GLACIER_IR`...),
    /// sent as `x-amz-storage-class`. Default `None`: the bucket's default (STANDARD on AWS).
    pub storage_class: Option<String>,
    /// The timeout of each HTTP request (connecting takes at most 10 s of it). Default 120 s.
    pub timeout: Duration,
    /// Retries of a failed request (connection errors, 5xx, throttling), with a backoff of
    /// 100 ms doubling to at most 2 s. Default 2; at most 10.
    pub retries: u32,
    /// The profile of the shared credentials file to use; when set, only that profile is read
    /// (not the environment's keys). Default `None`: see [`credentials`].
    pub profile: Option<String>,
}

impl S3Settings {
    /// The settings for `target` with every default.
    pub fn new(target: impl Into<String>) -> Self {
        S3Settings {
            target: target.into(),
            endpoint: None,
            region: None,
            path_style: None,
            server_side_encryption: ServerSideEncryption::None,
            storage_class: None,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            profile: None,
        }
    }
}

/// What [`S3Delivery::new`] resolved; the store is built from it at each delivery.
#[derive(Clone)]
pub(crate) struct Resolved {
    pub target: S3Target,
    /// The endpoint as the user gave it, without trailing `/` (None: AWS).
    pub endpoint: Option<Url>,
    pub region: String,
    pub path_style: bool,
    pub sse: ServerSideEncryption,
    pub storage_class: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
    pub credentials: Credentials,
}

impl Resolved {
    /// The endpoint for messages: `http://127.0.0.1:9000` or `https://s3.REGION.amazonaws.com`.
    pub fn endpoint_label(&self) -> String {
        match &self.endpoint {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None if self.path_style => format!("https://s3.{}.amazonaws.com", self.region),
            None => format!(
                "https://{}.s3.{}.amazonaws.com",
                self.target.bucket, self.region
            ),
        }
    }
}

/// The `s3` delivery: uploads the report's artifacts to `s3://BUCKET/PREFIX/`.
pub struct S3Delivery {
    resolved: Resolved,
}

impl fmt::Debug for S3Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Delivery")
            .field("target", &self.resolved.target.to_string())
            .field("endpoint", &self.resolved.endpoint_label())
            .field("region", &self.resolved.region)
            .field("credentials", &self.resolved.credentials.origin())
            .finish_non_exhaustive()
    }
}

impl S3Delivery {
    /// Checks the settings alone, without I/O and without reading the environment: the target,
    /// the endpoint (an `http` one for a loopback host only), region, storage class, timeout,
    /// retries and profile name.
    pub fn check(settings: &S3Settings) -> Result<(), SinkError> {
        S3Target::parse(&settings.target).map_err(SinkError::Invalid)?;
        if let Some(endpoint) = &settings.endpoint {
            parse_endpoint(endpoint, "s3.endpoint")?;
        }
        if let Some(region) = &settings.region {
            check_region(region, "s3.region")?;
        }
        if let Some(class) = &settings.storage_class {
            if class.is_empty()
                || class.len() > 64
                || !class.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            {
                return Err(SinkError::Invalid(format!(
                    "s3.storage-class {class:?} is not a storage class name (STANDARD, \
                     STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR...)"
                )));
            }
        }
        if let ServerSideEncryption::AwsKms { key_id: Some(key) } = &settings.server_side_encryption
        {
            if key.is_empty() || key.len() > 2048 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(SinkError::Invalid(
                    "s3.kms-key-id must be a KMS key id, alias or ARN (printable, no spaces)"
                        .into(),
                ));
            }
        }
        if settings.timeout.is_zero() || settings.timeout > Duration::from_secs(3600) {
            return Err(SinkError::Invalid(format!(
                "s3.timeout {:?} must be more than 0 and at most 1 hour",
                settings.timeout
            )));
        }
        if settings.retries > 10 {
            return Err(SinkError::Invalid(format!(
                "s3.retries {} is more than 10",
                settings.retries
            )));
        }
        if let Some(profile) = &settings.profile {
            if profile.is_empty() || profile.contains(['[', ']', '\n', '\r']) {
                return Err(SinkError::Invalid(format!(
                    "s3.profile {profile:?} is not a profile name"
                )));
            }
        }
        Ok(())
    }

    /// Checks the settings and resolves endpoint, region and credentials from the process
    /// environment and the shared credentials file. No network I/O.
    pub fn new(settings: S3Settings) -> Result<Self, SinkError> {
        Self::with_env(settings, &Env::process()?)
    }

    /// [`S3Delivery::new`] reading environment variables from `env` instead of the process.
    pub fn with_env(settings: S3Settings, env: &Env) -> Result<Self, SinkError> {
        Self::check(&settings)?;
        let target = S3Target::parse(&settings.target).map_err(SinkError::Invalid)?;
        let endpoint = match &settings.endpoint {
            Some(endpoint) => Some(parse_endpoint(endpoint, "s3.endpoint")?),
            None => match env
                .get("AWS_ENDPOINT_URL_S3")
                .map(|v| (v, "AWS_ENDPOINT_URL_S3"))
                .or_else(|| env.get("AWS_ENDPOINT_URL").map(|v| (v, "AWS_ENDPOINT_URL")))
            {
                Some((value, name)) => Some(parse_endpoint(&value, name)?),
                None => None,
            },
        };
        let region = match &settings.region {
            Some(region) => region.clone(),
            None => match env
                .get("AWS_REGION")
                .map(|v| (v, "AWS_REGION"))
                .or_else(|| {
                    env.get("AWS_DEFAULT_REGION")
                        .map(|v| (v, "AWS_DEFAULT_REGION"))
                }) {
                Some((value, name)) => {
                    check_region(&value, name)?;
                    value
                }
                None => DEFAULT_REGION.to_owned(),
            },
        };
        let path_style = settings
            .path_style
            .unwrap_or(endpoint.is_some() || target.bucket.contains('.'));
        let credentials = credentials::resolve(settings.profile.as_deref(), env)?;
        let resolved = Resolved {
            target,
            endpoint,
            region,
            path_style,
            sse: settings.server_side_encryption,
            storage_class: settings.storage_class,
            timeout: settings.timeout,
            retries: settings.retries,
            credentials,
        };
        // Builds the client once (no request is made) so that what object_store refuses is
        // refused now.
        upload::build_store(&resolved).map_err(|e| resolved.scrub_error(e))?;
        Ok(S3Delivery { resolved })
    }

    /// The target the files go to.
    pub fn target(&self) -> &S3Target {
        &self.resolved.target
    }

    /// The endpoint requests go to, for messages (`https://BUCKET.s3.REGION.amazonaws.com`
    /// when none was given).
    pub fn endpoint(&self) -> String {
        self.resolved.endpoint_label()
    }
}

impl Delivery for S3Delivery {
    fn deliver(&mut self, report: &Report<'_>) -> Result<String, SinkError> {
        upload::deliver(&self.resolved, report)
    }
}

/// Parses and checks an endpoint URL; `setting` names where it came from.
fn parse_endpoint(endpoint: &str, setting: &str) -> Result<Url, SinkError> {
    let url = Url::parse(endpoint).map_err(|e| {
        SinkError::Invalid(format!(
            "{setting} {endpoint:?} is not a URL ({e}): give e.g. https://s3.example.com"
        ))
    })?;
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "https" => {}
        "http" if keepnet_net::is_loopback(host) => {}
        "http" => {
            return Err(SinkError::Invalid(format!(
                "{setting} {endpoint:?} is plain http to {host}, which is not this machine: \
                 use https (plain http is allowed for loopback hosts only)"
            )))
        }
        other => {
            return Err(SinkError::Invalid(format!(
                "{setting} {endpoint:?} has scheme {other:?}: use https://HOST[:PORT]"
            )))
        }
    }
    if host.is_empty() {
        return Err(SinkError::Invalid(format!(
            "{setting} {endpoint:?} has no host"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SinkError::Invalid(format!(
            "{setting} must not hold credentials (user:password@): they are read from \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the shared credentials file"
        )));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(SinkError::Invalid(format!(
            "{setting} {endpoint:?} has a path, query or fragment: give the store's base URL \
             (https://HOST[:PORT]); the bucket goes in the s3:// target"
        )));
    }
    Ok(url)
}

fn check_region(region: &str, setting: &str) -> Result<(), SinkError> {
    if region.is_empty()
        || region.len() > 64
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(SinkError::Invalid(format!(
            "{setting} {region:?} is not a region name (e.g. eu-central-1, auto)"
        )));
    }
    Ok(())
}
