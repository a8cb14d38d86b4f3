//! `POST /connect/token`: the OAuth2 client-credentials grant, its form parsing and its
//! error answers, as `API-NOTES.md` (the sections before its Addendum) and the OpenAPI spec
//! describe them.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use super::envelope::{json_response, plain};
use super::faults::draw_fault;
use super::{bump, lock, Principal, Session, Shared};
use crate::data::{GLOBEX_ORD, RESELLER_ORD};

const PERMISSIONS: [&str; 4] = [
    "companies/search|POST",
    "target-users/search|POST",
    "target-users/search/export|POST",
    "target-users/count-summary|GET",
];

/// Form-decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XY` a
/// byte, invalid UTF-8 replaced (the token endpoint only compares the result).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

pub(super) fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn oauth_error(code: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({ "error": code }).to_string(),
    )
}

pub(super) async fn token(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    bump(&st.stats.token_requests);
    if st.with_faults(|f| f.include_token_endpoint) {
        if let Some(f) = draw_fault(&st) {
            return f;
        }
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "An unhandled exception occurred while processing the request.",
        );
    }
    let fields = parse_form(&String::from_utf8_lossy(&body));
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let (Some(grant), Some(id), Some(secret), Some(scope)) = (
        field("grant_type"),
        field("client_id"),
        field("client_secret"),
        field("scope"),
    ) else {
        return oauth_error("invalid_request");
    };
    if grant != "client_credentials" {
        return oauth_error("unsupported_grant_type");
    }
    let principal = if id == st.reseller.client_id && secret == st.reseller.client_secret {
        Principal::Reseller
    } else if id == st.admin.client_id && secret == st.admin.client_secret {
        Principal::CompanyAdmin
    } else {
        return oauth_error("invalid_client");
    };
    if scope != "api1" {
        return oauth_error("invalid_scope");
    }
    let lifetime = st.config.token_lifetime;
    let serial = st.token_serial.fetch_add(1, Ordering::Relaxed);
    let (sig, nonce) = {
        let mut rng = lock(&st.rng);
        (rng.bytes(256), rng.next_u64())
    };
    let company = st
        .dataset
        .company_by_ordinal(match principal {
            Principal::Reseller => RESELLER_ORD,
            Principal::CompanyAdmin => GLOBEX_ORD,
        })
        .expect("credential company exists");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header_json = json!({"alg": "RS256", "kid": "5A1D8C0E3B7F4A2D", "typ": "at+jwt"});
    let claims = json!({
        "iss": st.issuer,
        "nbf": now,
        "iat": now,
        "exp": now + lifetime.as_secs().max(1),
        "aud": "api1",
        "scope": ["api1"],
        "client_id": id,
        "role": match principal { Principal::Reseller => "Reseller", Principal::CompanyAdmin => "Company Admin" },
        "reseller_access": if principal == Principal::Reseller { "true" } else { "false" },
        "user_company_resourceid": company.resource_id,
        "user_company_name": company.name,
        "jti": format!("{nonce:016X}{serial:08X}"),
    });
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header_json.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    );
    {
        let now = Instant::now();
        let mut sessions = lock(&st.sessions);
        if sessions.len() > 10_000 {
            sessions.retain(|_, s| s.expires > now);
        }
        sessions.insert(
            token.clone(),
            Session {
                principal,
                expires: now + lifetime,
            },
        );
    }
    bump(&st.stats.tokens_issued);
    let body = json!({
        "access_token": token,
        "expires_in": lifetime.as_secs().max(1),
        "token_type": "Bearer",
        "scope": "api1",
        "permissions": PERMISSIONS,
    });
    json_response(StatusCode::OK, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            parse_form("a=b+c&d=%C3%BC%2B&e"),
            vec![
                ("a".into(), "b c".into()),
                ("d".into(), "ü+".into()),
                ("e".into(), String::new())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
