//! Building the object_store client and uploading the artifacts.

use std::collections::HashSet;
use std::time::Duration;

use keepnet_sink::{Artifact, Report, SinkError};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, RetryConfig,
};
use secrecy::ExposeSecret;
use tokio::io::AsyncReadExt;

use crate::credentials::Credentials;
use crate::error::describe;
use crate::{Resolved, S3Error, ServerSideEncryption, PART_SIZE};

/// Builds the client. Makes no request.
pub(crate) fn build_store(r: &Resolved) -> Result<AmazonS3, S3Error> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&r.target.bucket)
        .with_region(&r.region)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: r.retries as usize,
            retry_timeout: r.timeout.min(Duration::from_secs(300)),
        })
        .with_client_options(
            ClientOptions::new()
                .with_timeout(r.timeout)
                .with_connect_timeout(r.timeout.min(Duration::from_secs(10)))
                .with_allow_http(r.endpoint.as_ref().is_some_and(|u| u.scheme() == "http")),
        )
        .with_virtual_hosted_style_request(!r.path_style);
    if let Some(url) = &r.endpoint {
        let mut url = url.clone();
        if !r.path_style {
            // object_store takes a virtual-hosted endpoint as the bucket's own.
            let host = format!("{}.{}", r.target.bucket, url.host_str().unwrap_or(""));
            url.set_host(Some(&host)).map_err(|e| S3Error::Client {
                target: r.target.to_string(),
                reason: format!("cannot put the bucket before the endpoint's host: {e}"),
            })?;
        }
        builder = builder.with_endpoint(url.as_str().trim_end_matches('/'));
    }
    match &r.sse {
        ServerSideEncryption::None => {}
        ServerSideEncryption::Aes256 => {
            builder = builder.with_config(sse_key(), "AES256");
        }
        ServerSideEncryption::AwsKms { key_id: Some(key) } => {
            builder = builder.with_sse_kms_encryption(key);
        }
        ServerSideEncryption::AwsKms { key_id: None } => {
            builder = builder.with_config(sse_key(), "aws:kms");
        }
    }
    match &r.credentials {
        Credentials::Static(c) => {
            builder = builder
                .with_access_key_id(&c.key_id)
                .with_secret_access_key(c.secret.expose_secret());
            if let Some(token) = &c.token {
                builder = builder.with_token(token.expose_secret());
            }
        }
        Credentials::Ambient {
            container,
            metadata_endpoint,
        } => {
            for (name, value) in container {
                let key = match *name {
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" => {
                        AmazonS3ConfigKey::ContainerCredentialsRelativeUri
                    }
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI" => {
                        AmazonS3ConfigKey::ContainerCredentialsFullUri
                    }
                    _ => AmazonS3ConfigKey::ContainerAuthorizationTokenFile,
                };
                builder = builder.with_config(key, value);
            }
            if let Some(endpoint) = metadata_endpoint {
                builder = builder.with_metadata_endpoint(endpoint);
            }
        }
    }
    builder.build().map_err(|e| S3Error::Client {
        target: r.target.to_string(),
        reason: r.scrub(&e.to_string()),
    })
}

/// The `aws_server_side_encryption` key (its enum is not exported by object_store 0.12).
fn sse_key() -> AmazonS3ConfigKey {
    "aws_server_side_encryption"
        .parse()
        .expect("object_store knows aws_server_side_encryption")
}

/// One file to send.
struct Job<'a> {
    artifact: &'a Artifact,
    key: String,
}

/// Uploads every artifact; on a current-thread runtime of its own.
pub(crate) fn deliver(r: &Resolved, report: &Report<'_>) -> Result<String, SinkError> {
    let mut jobs = Vec::new();
    let mut keys = HashSet::new();
    let names = keepnet_sink::delivered_names(report.artifacts, &r.target.to_string())?;
    for (artifact, name) in report.artifacts.iter().zip(names) {
        let key = r
            .target
            .key(name)
            .map_err(|why| SinkError::Invalid(format!("{}: {why}", artifact.path.display())))?;
        ObjectPath::parse(&key)
            .map_err(|e| SinkError::Invalid(format!("object key {key:?} is not usable: {e}")))?;
        if !keys.insert(key.clone()) {
            return Err(SinkError::Invalid(format!(
                "two files would be uploaded to {}: give them different names",
                r.target.url_of(&key)
            )));
        }
        jobs.push(Job { artifact, key });
    }
    if jobs.is_empty() {
        return Ok(format!("no file to upload to {}", r.target));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SinkError::io("tokio runtime", e))?;
    let result = runtime.block_on(async {
        let store = build_store(r).map_err(|e| r.scrub_error(e))?;
        let mut done: Vec<String> = Vec::new();
        let mut total = 0u64;
        for job in &jobs {
            match upload_one(&store, r, job).await {
                Ok(bytes) => {
                    total += bytes;
                    done.push(r.target.url_of(&job.key));
                }
                Err(Failure::Io(e)) => return Err(e),
                Err(Failure::Upload(reason)) => {
                    let done = if done.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; {} of {} files {} uploaded before: {}",
                            done.len(),
                            jobs.len(),
                            if done.len() == 1 { "was" } else { "were" },
                            done.join(", ")
                        )
                    };
                    return Err(r.scrub_error(S3Error::Upload {
                        file: job.artifact.path.display().to_string(),
                        url: r.target.url_of(&job.key),
                        endpoint: r.endpoint_label(),
                        reason,
                        done,
                    }));
                }
            }
        }
        Ok(format!(
            "uploaded {} {} ({}) to {} via {}",
            jobs.len(),
            if jobs.len() == 1 { "file" } else { "files" },
            keepnet_sink::human_size(total),
            r.target,
            r.endpoint_label()
        ))
    });
    drop(runtime);
    result
}

enum Failure {
    /// Reading the local file failed.
    Io(SinkError),
    /// The upload failed (the reason, unscrubbed).
    Upload(String),
}

fn attributes(r: &Resolved, artifact: &Artifact) -> Attributes {
    let mut attributes = Attributes::new();
    if !artifact.media_type.is_empty() {
        attributes.insert(Attribute::ContentType, artifact.media_type.clone().into());
    }
    if let Some(class) = &r.storage_class {
        attributes.insert(Attribute::StorageClass, class.clone().into());
    }
    attributes
}

/// Checks what was read against what was published (the shared rule every delivery follows).
fn verify(artifact: &Artifact, read: keepnet_sink::ReadBack) -> Result<(), String> {
    artifact
        .verify(read)
        .map_err(|e| format!("{e}: it changed since it was published, nothing was uploaded"))
}

/// Reads up to `buf.len()` bytes, fewer only at the end of the file.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

async fn upload_one(store: &AmazonS3, r: &Resolved, job: &Job<'_>) -> Result<u64, Failure> {
    let path = &job.artifact.path;
    let io = |e| Failure::Io(SinkError::io(path, e));
    let location = ObjectPath::from(job.key.as_str());
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut read = keepnet_sink::ReadBack::default();
    let mut buf = vec![0u8; PART_SIZE];
    let first = read_full(&mut file, &mut buf).await.map_err(io)?;
    read.update(&buf[..first]);
    if first < PART_SIZE {
        // One PUT: atomic, the object appears whole or not at all.
        verify(job.artifact, read).map_err(Failure::Upload)?;
        buf.truncate(first);
        let options = PutOptions {
            attributes: attributes(r, job.artifact),
            ..PutOptions::default()
        };
        store
            .put_opts(&location, PutPayload::from(buf), options)
            .await
            .map_err(|e| Failure::Upload(describe(&e, r, &job.key)))?;
        return Ok(first as u64);
    }
    // Multipart: invisible until completed, aborted on any failure.
    let options = PutMultipartOptions {
        attributes: attributes(r, job.artifact),
        ..PutMultipartOptions::default()
    };
    let mut upload = store
        .put_multipart_opts(&location, options)
        .await
        .map_err(|e| Failure::Upload(describe(&e, r, &job.key)))?;
    let outcome: Result<u64, Failure> = async {
        let mut total = first as u64;
        let mut current = buf;
        loop {
            let mut next = vec![0u8; PART_SIZE];
            let n = read_full(&mut file, &mut next).await.map_err(io)?;
            read.update(&next[..n]);
            total += n as u64;
            if n == 0 {
                // `current` is the last part: check the whole file before sending it.
                verify(job.artifact, read.clone()).map_err(Failure::Upload)?;
                put_part(&mut upload, current, r, &job.key).await?;
                break;
            }
            put_part(&mut upload, current, r, &job.key).await?;
            next.truncate(n);
            current = next;
            if n < PART_SIZE {
                verify(job.artifact, read.clone()).map_err(Failure::Upload)?;
                put_part(&mut upload, current, r, &job.key).await?;
                break;
            }
        }
        upload
            .complete()
            .await
            .map_err(|e| Failure::Upload(describe(&e, r, &job.key)))?;
        Ok(total)
    }
    .await;
    if outcome.is_err() {
        if let Err(e) = upload.abort().await {
            if let Err(Failure::Upload(reason)) = outcome {
                return Err(Failure::Upload(format!(
                    "{reason}; aborting the multipart upload failed too ({}): remove it with \
                     an S3 lifecycle rule or `aws s3api abort-multipart-upload`",
                    describe(&e, r, &job.key)
                )));
            }
        }
    }
    outcome
}

async fn put_part(
    upload: &mut Box<dyn object_store::MultipartUpload>,
    part: Vec<u8>,
    r: &Resolved,
    key: &str,
) -> Result<(), Failure> {
    upload
        .put_part(PutPayload::from(part))
        .await
        .map_err(|e| Failure::Upload(describe(&e, r, key)))
}
