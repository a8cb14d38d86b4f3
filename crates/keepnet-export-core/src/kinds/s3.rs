//! `s3:s3://BUCKET/PREFIX/`: S3-compatible object storage (AWS, MinIO, R2, Wasabi) through
//! `keepnet-sink-s3` (the `object_store` crate). Credentials come only from the standard AWS
//! variables and the shared credentials file, never from an option.

use keepnet_sink::{Delivery, SinkError};
use keepnet_sink_s3::{S3Delivery, S3Settings, ServerSideEncryption};

use crate::options::{OptionSpec, OptionType, SinkSettings};
use crate::spec::SinkSpec;

/// The kind's name.
pub const KIND: &str = "s3";

/// For `--help` and errors.
pub const DESCRIPTION: &str = "upload the run's files to S3-compatible storage once \
     published; s3://BUCKET/PREFIX/ (credentials from AWS_* variables or ~/.aws/credentials)";

/// The kind's options.
pub const OPTIONS: [OptionSpec; 9] = [
    OptionSpec::new(
        "endpoint",
        OptionType::Text,
        "",
        "an S3-compatible endpoint URL (MinIO, R2, Wasabi); plain http only to this machine \
         [default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS]",
    ),
    OptionSpec::new(
        "region",
        OptionType::Text,
        "",
        "the region to sign for (auto for R2) [default: AWS_REGION, AWS_DEFAULT_REGION, else \
         us-east-1]",
    ),
    OptionSpec::new(
        "path-style",
        OptionType::Choice(&["auto", "true", "false"]),
        "auto",
        "path-style addressing (true) or virtual-hosted (false); auto: virtual-hosted on AWS, \
         path-style with an endpoint",
    ),
    OptionSpec::new(
        "sse",
        OptionType::Choice(&["none", "AES256", "aws:kms"]),
        "none",
        "server-side encryption asked for each object",
    ),
    OptionSpec::new(
        "kms-key-id",
        OptionType::Text,
        "",
        "the KMS key id, alias or ARN, with sse=aws:kms",
    ),
    OptionSpec::new(
        "storage-class",
        OptionType::Text,
        "",
        "STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR... [default: the bucket's]",
    ),
    OptionSpec::new(
        "timeout",
        OptionType::Seconds,
        "120",
        "seconds each request may take",
    ),
    OptionSpec::new(
        "retries",
        OptionType::Integer { min: 0, max: 10 },
        "2",
        "retries of a failed request",
    ),
    OptionSpec::new(
        "profile",
        OptionType::Text,
        "",
        "the shared-credentials profile; when given, only it is used [default: AWS_PROFILE, \
         else the AWS variables, then default]",
    ),
];

/// The S3 settings of `spec`, from the kind's options.
pub fn settings(spec: &SinkSpec, s: &SinkSettings) -> Result<S3Settings, SinkError> {
    let own = s.options(KIND);
    let text = |name: &str| -> Result<Option<String>, SinkError> {
        Ok(own.nonempty(name)?.map(str::to_owned))
    };
    let mut settings = S3Settings::new(spec.target.clone());
    settings.endpoint = text("endpoint")?;
    settings.region = text("region")?;
    settings.path_style = match own.text("path-style")? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    settings.server_side_encryption =
        ServerSideEncryption::parse(own.text("sse")?, own.nonempty("kms-key-id")?)?;
    settings.storage_class = text("storage-class")?;
    settings.timeout = own.seconds("timeout")?;
    // Declared as 0..=10, so it fits.
    settings.retries = u32::try_from(own.integer("retries")?).unwrap_or(0);
    settings.profile = text("profile")?;
    Ok(settings)
}

/// Builds the delivery: the settings checked, the credentials found (nothing is sent yet).
pub fn build(spec: &SinkSpec, s: &SinkSettings) -> Result<Box<dyn Delivery>, SinkError> {
    Ok(Box::new(S3Delivery::new(settings(spec, s)?)?))
}

/// What building it would refuse in its settings (the URL, the endpoint, the encryption).
pub fn check(spec: &SinkSpec, s: &SinkSettings) -> Result<(), SinkError> {
    S3Delivery::check(&settings(spec, s)?)
}
