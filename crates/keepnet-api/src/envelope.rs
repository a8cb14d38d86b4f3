//! The two response envelopes Keepnet uses, and what counts as failure inside a 200.
//!
//! Spec shape: `{"data": .., "status": "SUCCESS", "message": null, "validationMessages": null}`
//! (keys sometimes PascalCase). Quickstart shape: `{"isSuccess": true, "data": .., "messages": []}`.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Either envelope, read leniently: every key optional, both key casings accepted.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub(crate) struct Envelope<T> {
    #[serde(alias = "Data")]
    data: Option<T>,
    #[serde(alias = "Status")]
    status: Option<Value>,
    #[serde(rename = "isSuccess", alias = "IsSuccess")]
    is_success: Option<bool>,
    #[serde(alias = "Message")]
    message: Option<Value>,
    #[serde(alias = "Messages")]
    messages: Option<Value>,
    #[serde(rename = "validationMessages", alias = "ValidationMessages")]
    validation_messages: Option<Value>,
}

/// What an envelope said, once opened.
#[derive(Debug, PartialEq)]
pub(crate) enum Opened<T> {
    /// Success, with `data` (which may legitimately be absent, e.g. a null count summary).
    Success(Option<T>),
    /// The envelope reported failure.
    Failure {
        /// The status text, or `isSuccess=false`.
        status: String,
        /// Every message the server gave, joined with "; ".
        message: String,
    },
    /// The body had none of the envelope's keys.
    NotAnEnvelope,
}

impl<T: DeserializeOwned> Envelope<T> {
    /// Judges success. `isSuccess: false` fails; a status fails when it names an error, or
    /// when it is unknown and no data came with it.
    pub(crate) fn open(self) -> Opened<T> {
        let status_text = match &self.status {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if self.data.is_none()
            && self.status.is_none()
            && self.is_success.is_none()
            && self.message.is_none()
            && self.messages.is_none()
            && self.validation_messages.is_none()
        {
            return Opened::NotAnEnvelope;
        }
        let failed = match (self.is_success, status_text.as_deref()) {
            (Some(false), _) => true,
            (_, Some(status)) => match status_verdict(status) {
                Some(ok) => !ok,
                None => self.data.is_none(),
            },
            _ => false,
        };
        if !failed {
            return Opened::Success(self.data);
        }
        let mut parts = Vec::new();
        for value in [&self.message, &self.messages, &self.validation_messages]
            .into_iter()
            .flatten()
        {
            collect_messages(value, &mut parts);
        }
        if parts.is_empty() {
            parts.push("no message given".to_owned());
        }
        Opened::Failure {
            status: status_text.unwrap_or_else(|| "isSuccess=false".to_owned()),
            message: parts.join("; "),
        }
    }
}

/// `Some(true)` for a known success status, `Some(false)` for a known failure, `None` when
/// the status is not recognised.
fn status_verdict(status: &str) -> Option<bool> {
    let s = status.trim().to_ascii_uppercase();
    match s.as_str() {
        "SUCCESS" | "SUCCEEDED" | "OK" | "0" | "200" => Some(true),
        _ if [
            "ERROR",
            "FAIL",
            "INVALID",
            "FORBIDDEN",
            "UNAUTHORIZED",
            "NOT_FOUND",
            "NOTFOUND",
        ]
        .iter()
        .any(|bad| s.contains(bad)) =>
        {
            Some(false)
        }
        _ => None,
    }
}

/// Flattens a message value (string, list of strings, or objects with a message field).
fn collect_messages(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::String(s) if s.trim().is_empty() => {}
        Value::String(s) => out.push(s.trim().to_owned()),
        Value::Array(items) => items.iter().for_each(|v| collect_messages(v, out)),
        Value::Object(map) => {
            let text = [
                "message",
                "Message",
                "description",
                "Description",
                "errorMessage",
            ]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str));
            match text {
                Some(t) => out.push(t.to_owned()),
                None => out.push(value.to_string()),
            }
        }
        other => out.push(other.to_string()),
    }
}

/// Opens the envelope in `body`, reading `data` as `T`. A body that is not an envelope at all is
/// read as `T` itself, so a server that answers bare data still works.
///
/// The body's UTF-8 is checked once, up front, and the JSON is then read from `&str`, whose
/// strings serde_json does not check again (from bytes, it checks every string it reads).
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<Opened<T>, serde_json::Error> {
    // JSON exchanged between systems must be UTF-8 (RFC 8259, section 8.1).
    let text = std::str::from_utf8(body).map_err(|e| {
        <serde_json::Error as serde::de::Error>::custom(format_args!(
            "the body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let envelope: Envelope<T> = serde_json::from_str(text)?;
    match envelope.open() {
        Opened::NotAnEnvelope => match serde_json::from_str::<T>(text) {
            Ok(bare) => Ok(Opened::Success(Some(bare))),
            Err(_) => Ok(Opened::NotAnEnvelope),
        },
        opened => Ok(opened),
    }
}

/// The server's messages from an error body, if it is an envelope that has any.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    match parse::<Value>(body) {
        Ok(Opened::Failure { message, .. }) if message != "no message given" => Some(message),
        _ => None,
    }
}

/// The status text of an error body (`IP_RESTRICTED`, `PRIVACY_ERROR`, ...), if it has one.
pub(crate) fn error_status(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let map = value.as_object()?;
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("status"))
        .and_then(|(_, v)| v.as_str())
        .map(|s| s.trim().to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn open(v: Value) -> Opened<Value> {
        parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_body_that_is_not_utf8_is_an_error_even_in_a_field_nobody_reads() {
        let body = b"{\"data\": 1, \"status\": \"SUCCESS\", \"note\": \"\xff\"}";
        let err = parse::<Value>(body).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn spec_envelope_success() {
        let o = open(
            json!({"data": {"a": 1}, "status": "SUCCESS", "message": null, "validationMessages": null}),
        );
        assert_eq!(o, Opened::Success(Some(json!({"a": 1}))));
    }

    #[test]
    fn pascal_case_envelope_success() {
        let o = open(json!({"Data": [1, 2], "Status": "SUCCESS", "Message": null}));
        assert_eq!(o, Opened::Success(Some(json!([1, 2]))));
    }

    #[test]
    fn quickstart_envelope_success_and_failure() {
        assert_eq!(
            open(json!({"isSuccess": true, "data": 5, "messages": []})),
            Opened::Success(Some(json!(5)))
        );
        assert_eq!(
            open(
                json!({"isSuccess": false, "data": null, "messages": ["Company not found", {"message": "try again"}]})
            ),
            Opened::Failure {
                status: "isSuccess=false".into(),
                message: "Company not found; try again".into()
            }
        );
    }

    #[test]
    fn spec_failure_inside_200_carries_messages() {
        let o = open(
            json!({"data": null, "status": "INPUT_ERROR", "message": "bad input",
                            "validationMessages": ["PageSize is required", "OrderBy is required"]}),
        );
        assert_eq!(
            o,
            Opened::Failure {
                status: "INPUT_ERROR".into(),
                message: "bad input; PageSize is required; OrderBy is required".into()
            }
        );
        let o = open(json!({"Data": null, "Status": "INTERNAL_SERVER_ERROR", "Message": null}));
        assert!(
            matches!(o, Opened::Failure { ref status, .. } if status == "INTERNAL_SERVER_ERROR")
        );
    }

    #[test]
    fn unknown_status_is_success_only_with_data() {
        assert_eq!(
            open(json!({"data": 1, "status": "WEIRD"})),
            Opened::Success(Some(json!(1)))
        );
        assert!(matches!(
            open(json!({"data": null, "status": "WEIRD"})),
            Opened::Failure { .. }
        ));
    }

    #[test]
    fn null_data_with_success_is_success() {
        assert_eq!(
            open(json!({"data": null, "status": "SUCCESS"})),
            Opened::Success(None)
        );
    }

    #[test]
    fn bare_data_is_accepted() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Thing {
            x: u8,
        }
        let o: Opened<Thing> = parse(br#"{"x": 3}"#).unwrap();
        assert_eq!(o, Opened::Success(Some(Thing { x: 3 })));
        let o: Opened<Thing> = parse(br#"{"y": 3}"#).unwrap();
        assert_eq!(o, Opened::NotAnEnvelope);
    }

    #[test]
    fn non_json_is_an_error() {
        assert!(parse::<Value>(b"<html>502 Bad Gateway</html>").is_err());
    }

    #[test]
    fn error_message_reads_both_shapes() {
        assert_eq!(
            error_message(br#"{"status":"FORBIDDEN","message":"not yours"}"#).as_deref(),
            Some("not yours")
        );
        assert_eq!(error_message(b"oops"), None);
        assert_eq!(
            error_status(br#"{"Status":"ip_restricted","message":"no"}"#).as_deref(),
            Some("IP_RESTRICTED")
        );
        assert_eq!(error_status(b"[1]"), None);
    }
}
