//! The HTTP transport: one pooled reqwest client, URL building, bounded body reads.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Url};

use crate::error::Error;
use crate::{CompanyId, COMPANY_HEADER, COMPANY_HEADER_UI};

/// A response read into memory, within the size bound.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) retry_after: Option<Duration>,
}

/// Timeouts and limits of the transport.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) max_json_body: usize,
    pub(crate) max_file_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            // Shorter than the common 60-75 s server keep-alive, so a pooled connection is
            // dropped by us before the server closes it under a request.
            pool_idle_timeout: Duration::from_secs(30),
            max_json_body: 64 << 20,
            max_file_body: 1 << 30,
        }
    }
}

/// What kind of body a request expects back, which sets its size bound.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    Json,
    File,
}

pub(crate) struct Transport {
    client: reqwest::Client,
    base: Url,
    limits: Limits,
    sent: std::sync::atomic::AtomicU64,
}

impl Transport {
    pub(crate) fn new(base_url: &str, limits: Limits, user_agent: &str) -> Result<Self, Error> {
        let base = validate_base_url(base_url)?;
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.request_timeout)
            .pool_idle_timeout(limits.pool_idle_timeout)
            .https_only(base.scheme() == "https")
            // Every call carries a credential (the client secret or a token): a redirect would
            // hand it to whatever host the answer names. Redirects are reported, never followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base,
            limits,
            sent: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// HTTP requests sent so far (every attempt counts).
    pub(crate) fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url
    }

    /// POST a form (the token endpoint only accepts `application/x-www-form-urlencoded`).
    pub(crate) async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<RawResponse, Error> {
        let url = self.url(path);
        let request = self.client.post(url.clone()).form(form);
        self.execute(request, &url, Expect::Json).await
    }

    /// An authenticated API call, scoped to `company` when given.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        company: Option<&CompanyId>,
        body: Option<&serde_json::Value>,
        expect: Expect,
    ) -> Result<RawResponse, Error> {
        let url = self.url(path);
        let mut auth = HeaderValue::from_str(&format!("Bearer {bearer}"))
            .map_err(|_| Error::Config("the access token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let mut request = self
            .client
            .request(method, url.clone())
            .header(AUTHORIZATION, auth);
        if let Some(company) = company {
            // CompanyId is validated to [A-Za-z0-9_-]{1,64}, always a valid header value. Sent
            // under both names Keepnet's own clients use, so one header dropped on the way
            // still scopes the call.
            request = request
                .header(COMPANY_HEADER, company.as_str())
                .header(COMPANY_HEADER_UI, company.as_str());
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(body).expect("a JSON value always serialises"));
        }
        self.execute(request, &url, expect).await
    }

    async fn execute(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
        expect: Expect,
    ) -> Result<RawResponse, Error> {
        let network = |e: reqwest::Error| Error::Network {
            url: url.to_string(),
            detail: error_chain(&e),
            timeout: e.is_timeout(),
        };
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut response = request.send().await.map_err(network)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = match expect {
            Expect::Json => self.limits.max_json_body,
            Expect::File => self.limits.max_file_body,
        };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large(url, limit));
        }
        let mut body = BytesMut::with_capacity(
            response
                .content_length()
                .map_or(0, |n| n as usize)
                .min(limit),
        );
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large(url, limit));
            }
            body.extend_from_slice(&chunk);
        }
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| keepnet_net::retry::parse_retry_after(v, std::time::SystemTime::now()));
        Ok(RawResponse {
            status,
            headers,
            body: body.freeze(),
            retry_after,
        })
    }
}

/// The error for a 3xx answer: where it pointed (scheme, host and port only), not followed.
pub(crate) fn redirected(endpoint: &str, response: &RawResponse) -> Error {
    let target = response
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|location| match Url::parse(location) {
            Ok(url) => match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
                (Some(host), None) => format!("{}://{host}", url.scheme()),
                _ => "an address without a host".to_owned(),
            },
            // A relative location stays on this host.
            Err(_) => "another path on the same host".to_owned(),
        })
        .unwrap_or_else(|| "no address (no Location header)".to_owned());
    Error::Redirected {
        endpoint: endpoint.to_owned(),
        status: response.status,
        target,
    }
}

fn too_large(url: &Url, limit: usize) -> Error {
    Error::Malformed {
        endpoint: url.path().to_owned(),
        problem: format!("the response is larger than the {} MiB limit", limit >> 20),
        excerpt: String::new(),
    }
}

/// The error and its sources on one line: reqwest's top-level message alone ("error sending
/// request") does not say what happened.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Accepts `https://` anywhere and `http://` only on loopback: credentials and tokens must not
/// cross a network in clear.
fn validate_base_url(text: &str) -> Result<Url, Error> {
    let url = Url::parse(text.trim())
        .map_err(|e| Error::Config(format!("base URL {text:?} is not a valid URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "base URL {text:?} must not have a query or fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "base URL must not carry credentials; use KEEPNET_CLIENT_ID and KEEPNET_CLIENT_SECRET"
                .into(),
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if url.host_str().is_some_and(keepnet_net::is_loopback) => Ok(url),
        "http" => Err(Error::Config(format!(
            "base URL {text:?} uses plain http to a non-loopback host; credentials only travel \
             over TLS, use https://"
        ))),
        other => Err(Error::Config(format!(
            "base URL {text:?} has scheme {other:?}; use https://"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert!(validate_base_url("https://api.keepnetlabs.com").is_ok());
        assert!(validate_base_url("http://127.0.0.1:8080").is_ok());
        assert!(validate_base_url("http://localhost:1").is_ok());
        assert!(validate_base_url("http://[::1]:1").is_ok());
        for bad in [
            "http://api.keepnetlabs.com",
            "http://10.0.0.1",
            "ftp://x",
            "not a url",
            "https://u:p@host",
            "https://host?x=1",
        ] {
            assert!(
                matches!(validate_base_url(bad), Err(Error::Config(_))),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn url_join_keeps_base_path() {
        let t = Transport::new("https://h/prefix/", Limits::default(), "t").unwrap();
        assert_eq!(t.url("/api/x").as_str(), "https://h/prefix/api/x");
        let t = Transport::new("https://h", Limits::default(), "t").unwrap();
        assert_eq!(t.url("/connect/token").as_str(), "https://h/connect/token");
    }
}
