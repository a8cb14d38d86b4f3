//! `webhook:URL`: a JSON notice (or a Teams card, a Slack message) after every other delivery,
//! through `keepnet-sink-webhook`. Its URL is a secret (Slack's and Teams' carry their
//! token): messages show it cut to its host.

use keepnet_sink::{Delivery, SinkError};
use keepnet_sink_webhook::{AuthHeader, Format, RetryPolicy, WebhookDelivery, WebhookSettings};

use crate::options::{OptionSpec, OptionType, SinkSettings};
use crate::spec::SinkSpec;

/// The kind's name.
pub const KIND: &str = "webhook";

/// For `--help` and errors.
pub const DESCRIPTION: &str = "after the other deliveries, POST a summary (JSON, Teams or \
     Slack; no personal data); URL (https, or http to this machine)";

/// The kind's options.
pub const OPTIONS: [OptionSpec; 5] = [
    OptionSpec::new(
        "format",
        OptionType::Choice(&Format::NAMES),
        "json",
        "the body: json (a versioned object), teams (an Adaptive Card) or slack (a message)",
    ),
    OptionSpec::new(
        "timeout",
        OptionType::Seconds,
        "30",
        "seconds one attempt may take: connecting, sending, reading the answer",
    ),
    OptionSpec::new(
        "header",
        OptionType::Text,
        "Authorization",
        "the header that carries KEEPNET_WEBHOOK_TOKEN, when it is set (a bare token in \
         Authorization is sent as Bearer TOKEN)",
    ),
    OptionSpec::new(
        "retries",
        OptionType::Integer { min: 0, max: 20 },
        "8",
        "retries after the first attempt on connection errors, timeouts, 408, 429 and 5xx",
    ),
    OptionSpec::new(
        "retry-time",
        OptionType::Seconds,
        "120",
        "the most time spent waiting between attempts, in all",
    ),
];

/// The webhook settings of `spec`, from the kind's options and the token secret.
pub fn settings(spec: &SinkSpec, s: &SinkSettings) -> Result<WebhookSettings, SinkError> {
    let own = s.options(KIND);
    let mut settings = WebhookSettings::new(spec.target.clone());
    settings.format = own.text("format")?.parse::<Format>()?;
    settings.timeout = own.seconds("timeout")?;
    settings.header = s
        .secrets
        .get(super::WEBHOOK_TOKEN)
        .map(|token| AuthHeader::for_token(own.nonempty("header").ok().flatten(), token.clone()));
    settings.retry = RetryPolicy {
        // Declared as 0..=20, so it fits.
        max_retries: u32::try_from(own.integer("retries")?).unwrap_or(0),
        max_elapsed: own.seconds("retry-time")?,
        ..RetryPolicy::default()
    };
    Ok(settings)
}

/// Builds the delivery.
pub fn build(spec: &SinkSpec, s: &SinkSettings) -> Result<Box<dyn Delivery>, SinkError> {
    Ok(Box::new(WebhookDelivery::new(settings(spec, s)?)?))
}

/// What building it would refuse (the URL, the header), with no request.
pub fn check(spec: &SinkSpec, s: &SinkSettings) -> Result<(), SinkError> {
    WebhookDelivery::check(&settings(spec, s)?)
}
