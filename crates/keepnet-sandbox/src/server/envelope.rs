//! Response bodies: plain and JSON answers, the JSON envelope in each `EnvelopeStyle` (the
//! OpenAPI spec's, the quickstart prose's, the PascalCase one), its failure and input-error
//! forms, and the bare 401 of a missing, unknown or expired token.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::{bump, AppState};
use crate::query::InputError;
use crate::EnvelopeStyle;

pub(super) fn plain(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(super) fn json_response(status: StatusCode, body: String) -> Response {
    plain(status, "application/json; charset=utf-8", body)
}

fn js(s: &str) -> String {
    serde_json::to_string(s).expect("string serialises")
}

fn envelope(
    style: EnvelopeStyle,
    ok: bool,
    status: &str,
    data: &str,
    message: Option<&str>,
    validation: &[String],
) -> String {
    let msg = message.map_or_else(|| "null".to_string(), js);
    let val = if validation.is_empty() {
        "null".to_string()
    } else {
        serde_json::to_string(validation).expect("strings serialise")
    };
    match style {
        EnvelopeStyle::Spec => format!(
            r#"{{"data":{data},"status":{},"message":{msg},"validationMessages":{val}}}"#,
            js(status)
        ),
        EnvelopeStyle::Pascal => format!(
            r#"{{"Data":{data},"Status":{},"Message":{msg},"ValidationMessages":{val}}}"#,
            js(status)
        ),
        EnvelopeStyle::Quickstart => {
            let mut messages: Vec<&str> = message.into_iter().collect();
            messages.extend(validation.iter().map(String::as_str));
            format!(
                r#"{{"isSuccess":{ok},"data":{data},"messages":{}}}"#,
                serde_json::to_string(&messages).expect("strings serialise")
            )
        }
    }
}

pub(super) fn success(st: &AppState, data: String) -> Response {
    json_response(
        StatusCode::OK,
        envelope(st.config.envelope, true, "SUCCESS", &data, None, &[]),
    )
}

pub(super) fn failure(
    st: &AppState,
    http: StatusCode,
    status: &str,
    message: &str,
    validation: &[String],
) -> Response {
    json_response(
        http,
        envelope(
            st.config.envelope,
            false,
            status,
            "null",
            Some(message),
            validation,
        ),
    )
}

pub(super) fn input_error(st: &AppState, e: InputError) -> Response {
    input_error_as(st, StatusCode::BAD_REQUEST, e)
}

/// An `INPUT_ERROR` envelope with this HTTP status (200 for a refusal that
/// only the envelope reports).
pub(super) fn input_error_as(st: &AppState, http: StatusCode, e: InputError) -> Response {
    failure(st, http, "INPUT_ERROR", &e.message, &e.validation)
}

pub(super) fn unauthorized(st: &AppState) -> Response {
    bump(&st.stats.unauthorized);
    let mut r = plain(StatusCode::UNAUTHORIZED, "text/plain", Body::empty());
    r.headers_mut().remove(header::CONTENT_TYPE);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}
