//! OAuth2 client-credentials authentication with a cached bearer token.
//!
//! Keepnet issues no refresh token: when the cached token nears `expires_in`, or a call answers
//! 401, the client asks `/connect/token` again. The cache refreshes under one lock, so many
//! concurrent callers cause exactly one token request (single flight).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::{excerpt, Error};
use crate::http;

/// A client id and secret from Keepnet's Company Settings > REST API.
///
/// `Debug` shows the client id only; the secret is held in a [`SecretString`] and never printed.
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    client_secret: SecretString,
}

impl Credentials {
    /// Credentials from a client id and secret.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        }
    }

    /// The client id (not secret).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    value: Arc<SecretString>,
    use_until: Instant,
    generation: u64,
}

impl Token {
    pub(crate) fn secret(&self) -> &str {
        self.value.expose_secret()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"[redacted]")
            .field("generation", &self.generation)
            .finish()
    }
}

/// The token endpoint's success body.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    scope: Option<String>,
    permissions: Option<Vec<String>>,
}

/// What the last token says about the credential: never the token itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenInfo {
    /// The JWT's claims (`role`, `reseller_access`, `user_company_resourceid`,
    /// `user_company_name`, `exp`, ...), empty if the token is not a JWT.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The token response's `permissions` (`"target-users/search|POST"`, ...), if sent.
    pub permissions: Option<Vec<String>>,
    /// The token response's `scope`.
    pub scope: Option<String>,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

impl TokenInfo {
    /// A claim as text (strings as they are, other values as JSON).
    pub fn claim(&self, name: &str) -> Option<String> {
        self.claims.get(name).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// The claims of a JWT (the middle, base64url part), without verifying it: the server does.
fn jwt_claims(token: &str) -> serde_json::Map<String, serde_json::Value> {
    use base64::Engine as _;
    let Some(payload) = token.split('.').nth(1) else {
        return serde_json::Map::new();
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The token endpoint's error body (RFC 6749 section 5.2).
#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

/// The longest token lifetime believed: one day.
const MAX_LIFETIME_SECS: u64 = 86_400;

/// How long before `expires_in` a token stops being used: a tenth of its lifetime, at most a
/// minute. A 3600 s token is renewed after 59 minutes, a 2 s token after 1.8 s.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

/// The token cache shared by every request of one client.
pub(crate) struct TokenCache {
    credentials: Credentials,
    current: Mutex<Option<Token>>,
    issued: AtomicU64,
    info: std::sync::Mutex<TokenInfo>,
}

impl TokenCache {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            current: Mutex::new(None),
            issued: AtomicU64::new(0),
            info: std::sync::Mutex::new(TokenInfo::default()),
        }
    }

    /// What the latest token says about the credential.
    pub(crate) fn info(&self) -> TokenInfo {
        self.info
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Number of tokens obtained so far.
    pub(crate) fn tokens_issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// A token good for at least the refresh margin, fetching one if needed. Callers that
    /// arrive during a fetch wait for it and share its result.
    pub(crate) async fn token(&self, http: &http::Transport) -> Result<Token, Error> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref() {
            if Instant::now() < token.use_until {
                return Ok(token.clone());
            }
        }
        let token = self.fetch(http).await?;
        *current = Some(token.clone());
        Ok(token)
    }

    /// Forgets `failed` after the API answered 401 to it. A token that was already replaced is
    /// left alone, so concurrent 401s on the same token cause one refresh, not many.
    pub(crate) async fn invalidate(&self, failed: &Token) {
        let mut current = self.current.lock().await;
        if current.as_ref().map(|t| t.generation) == Some(failed.generation) {
            *current = None;
        }
    }

    async fn fetch(&self, http: &http::Transport) -> Result<Token, Error> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.credentials.client_id.as_str()),
            (
                "client_secret",
                self.credentials.client_secret.expose_secret(),
            ),
            ("scope", "api1"),
        ];
        let started = Instant::now();
        let response = http.post_form("/connect/token", &form).await?;
        let status = response.status;
        tracing::debug!(
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "token request"
        );
        if status == 200 {
            let parsed: TokenResponse =
                serde_json::from_slice(&response.body).map_err(|e| Error::Malformed {
                    endpoint: "/connect/token".into(),
                    problem: format!(
                        "not a token response ({:?} error at line {} column {})",
                        e.classify(),
                        e.line(),
                        e.column()
                    ),
                    excerpt: "[token response withheld]".into(),
                })?;
            let access_token = parsed
                .access_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::Malformed {
                    endpoint: "/connect/token".into(),
                    problem: "no access_token in the token response".into(),
                    excerpt: "[token response withheld]".into(),
                })?;
            // Clamped: an absurd `expires_in` (2^63) would overflow the clock arithmetic, and a
            // token older than a day is renewed anyway on its first 401.
            let lifetime = Duration::from_secs(
                parsed
                    .expires_in
                    .unwrap_or(3600)
                    .clamp(1, MAX_LIFETIME_SECS),
            );
            *self
                .info
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = TokenInfo {
                claims: jwt_claims(&access_token),
                permissions: parsed.permissions,
                scope: parsed.scope,
                expires_in: lifetime.as_secs(),
            };
            let generation = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
            return Ok(Token {
                value: Arc::new(SecretString::from(access_token)),
                use_until: started + lifetime - refresh_margin(lifetime),
                generation,
            });
        }
        let oauth: Option<TokenError> = serde_json::from_slice(&response.body).ok();
        let code = oauth.as_ref().and_then(|e| e.error.clone());
        let detail = match (
            &code,
            oauth.as_ref().and_then(|e| e.error_description.clone()),
        ) {
            (Some(c), Some(d)) => format!("{c}: {d}"),
            (Some(c), None) => c.clone(),
            (None, _) => format!("HTTP {status}"),
        };
        if (300..=399).contains(&status) {
            return Err(crate::http::redirected("/connect/token", &response));
        }
        if status == 403 {
            if let Some("IP_RESTRICTED") = crate::envelope::error_status(&response.body).as_deref()
            {
                return Err(Error::IpRestricted {
                    message: crate::envelope::error_message(&response.body),
                });
            }
        }
        Err(match (status, code.as_deref()) {
            (401, _) | (400, Some("invalid_client" | "unauthorized_client" | "invalid_grant")) => {
                Error::InvalidCredentials { detail }
            }
            (400, _) => Error::BadRequest {
                message: format!("token endpoint refused the request: {detail}"),
            },
            (429, _) => Error::RateLimited {
                retry_after: response.retry_after,
            },
            _ => Error::Server {
                status,
                endpoint: "/connect/token".into(),
                message: excerpt(&response.body),
                retry_after: response.retry_after,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials::new("id-1", "s3cr3t-value");
        let shown = format!("{c:?}");
        assert!(shown.contains("id-1"));
        assert!(!shown.contains("s3cr3t"));
    }

    #[test]
    fn jwt_claims_are_read_without_the_signature() {
        // {"alg":"none"}.{"role":"Reseller","exp":1}.sig
        let token = "eyJhbGciOiJub25lIn0.eyJyb2xlIjoiUmVzZWxsZXIiLCJleHAiOjF9.c2ln";
        let claims = jwt_claims(token);
        assert_eq!(claims["role"], "Reseller");
        assert_eq!(claims["exp"], 1);
        assert!(jwt_claims("opaque-token").is_empty());
    }

    #[test]
    fn margin_scales_with_lifetime() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
    }
}
