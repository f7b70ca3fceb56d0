//! Google's errors as [`SourceError`]s: the kind an operator acts on, the class the guard
//! retries by, and a message of at most about 600 bytes.
//!
//! A non-2xx answer carries Google's error body, `{"error": {"code", "message", "status"}}`,
//! whose `status` is a `google.rpc.Code` name with a documented HTTP mapping
//! (googleapis `google/rpc/code.proto`; https://cloud.google.com/apis/design/errors):
//! `RESOURCE_EXHAUSTED` 429 (throttled), `UNAUTHENTICATED` 401 and `PERMISSION_DENIED` 403
//! (denied), `NOT_FOUND` 404, `INVALID_ARGUMENT`/`FAILED_PRECONDITION`/`OUT_OF_RANGE` 400
//! (invalid request), `UNAVAILABLE` 503, `DEADLINE_EXCEEDED` 504 and `INTERNAL` 500
//! (unreachable: retried).

use common::error::{ErrorClass, FailureKind, SourceError};
use google_cloud_auth::errors::CredentialsError;
use serde_json::Value;

/// The longest message kept: bodies of malformed responses can be long, and a log line
/// needs their start only.
const MAX_MESSAGE: usize = 600;

/// An error of `kind` with `message` cut to [`MAX_MESSAGE`].
pub fn error(kind: FailureKind, message: String) -> SourceError {
    SourceError::new(kind, truncate(&message, MAX_MESSAGE))
}

/// `s` cut to at most `max` bytes (on a character boundary), marked with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// A non-2xx answer: Google's error body when there is one, else the start of whatever came.
pub fn http_error(code: u16, body: &[u8]) -> SourceError {
    let parsed: Option<(String, String)> =
        serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            let e = v.get("error")?;
            Some((
                e.get("message")?.as_str()?.to_string(),
                e.get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        });
    let (message, status) =
        parsed.unwrap_or_else(|| (String::from_utf8_lossy(body).into_owned(), String::new()));
    let throttled = code == 429 || status == "RESOURCE_EXHAUSTED";
    let outage = code >= 500
        || matches!(
            status.as_str(),
            "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "INTERNAL"
        );
    let kind = if throttled {
        FailureKind::Throttled
    } else if outage {
        FailureKind::Unreachable
    } else if matches!(status.as_str(), "UNAUTHENTICATED" | "PERMISSION_DENIED") {
        FailureKind::Denied
    } else if status == "NOT_FOUND" {
        FailureKind::NotFound
    } else {
        FailureKind::of_status(code)
    };
    // Retried: throttling and outages; any other answer (a bare 408 too) would only come
    // again.
    let class = if throttled {
        ErrorClass::Throttled
    } else if outage {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    };
    error(kind, format!("HTTP {code}: {message}"))
        .with_status(code)
        .with_class(class)
}

/// A call that got no usable answer. Timeouts, refused or reset connections and bodies cut
/// short are worth a retry (a body read that fails mid-way is reqwest's "decode" kind: "error
/// decoding response body: error reading a body from connection: Connection reset by peer");
/// anything else is a request that cannot be made.
pub fn transport_error(e: reqwest::Error) -> SourceError {
    let kind = if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode()
    {
        FailureKind::Unreachable
    } else {
        FailureKind::InvalidRequest
    };
    // reqwest's message names the URL, never a header; the guard names the API.
    error(kind, error_chain(&e))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// No credentials could be had: named with every place Google's chain looks.
pub fn credentials_error(e: &CredentialsError) -> SourceError {
    error(FailureKind::Denied, format!(
        "no usable Google credentials: tried GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default credentials file (gcloud auth application-default login) and the metadata server (GKE workload identity, GCE); set one of them ({})",
        common::config::shorten(&e.to_string(), 160)
    ))
}

/// A 2xx body that is not the answer described. A body that ends early was cut short on the
/// way (a reset, a proxy): worth a retry, and a breaker's concern. Anything else malformed is
/// not.
pub fn parse_error(api: &str, e: &serde_json::Error) -> SourceError {
    let kind = if e.is_eof() {
        FailureKind::Unreachable
    } else {
        FailureKind::InvalidAnswer
    };
    error(kind, format!("cannot parse the {api} response: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classed_as_google_documents_them() {
        let body =
            br#"{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}"#;
        let e = http_error(429, body);
        assert_eq!(e.class, ErrorClass::Throttled);
        assert_eq!(e.message, "HTTP 429: quota");
        assert_eq!(http_error(503, b"<html>").class, ErrorClass::Transient);
        assert_eq!(http_error(403, b"{}").class, ErrorClass::Permanent);
    }

    #[test]
    fn each_google_status_has_the_kind_an_operator_acts_on() {
        let kind = |code, status: &str| {
            let body =
                format!(r#"{{"error": {{"code": {code}, "message": "m", "status": "{status}"}}}}"#);
            let e = http_error(code, body.as_bytes());
            (e.kind, e.class)
        };
        use FailureKind::*;
        assert_eq!(
            kind(429, "RESOURCE_EXHAUSTED"),
            (Throttled, ErrorClass::Throttled)
        );
        assert_eq!(
            kind(403, "PERMISSION_DENIED"),
            (Denied, ErrorClass::Permanent)
        );
        assert_eq!(
            kind(401, "UNAUTHENTICATED"),
            (Denied, ErrorClass::Permanent)
        );
        assert_eq!(kind(404, "NOT_FOUND"), (NotFound, ErrorClass::Permanent));
        assert_eq!(
            kind(400, "INVALID_ARGUMENT"),
            (InvalidRequest, ErrorClass::Permanent)
        );
        assert_eq!(
            kind(503, "UNAVAILABLE"),
            (Unreachable, ErrorClass::Transient)
        );
        assert_eq!(
            kind(504, "DEADLINE_EXCEEDED"),
            (Unreachable, ErrorClass::Transient)
        );
        assert_eq!(http_error(502, b"<html>").kind, Unreachable);
        assert_eq!(http_error(408, b"").class, ErrorClass::Permanent);
        let eof = serde_json::from_slice::<Value>(b"{\"a\":").unwrap_err();
        assert_eq!(parse_error("x", &eof).kind, Unreachable);
        let bad = serde_json::from_slice::<Value>(b"]").unwrap_err();
        assert_eq!(parse_error("x", &bad).kind, InvalidAnswer);
        assert!(http_error(500, &[b'x'; 5000]).message.len() <= MAX_MESSAGE + 20);
    }
}
