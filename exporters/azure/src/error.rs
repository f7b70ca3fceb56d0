//! Azure's errors (ARM, the metrics data plane, the token endpoint) as [`SourceError`]s: the
//! kind an operator acts on, the class the guard retries by, the HTTP status and
//! `Retry-After`. No token, secret or response body beyond Azure's own error message reaches
//! a message.
//!
//! ARM and Azure Monitor answer errors as `{"error": {"code", "message"}}` ("Common error
//! response for all Azure Resource Manager APIs"). By status: 429 is ARM's throttling, with
//! `Retry-After` ("Understand how Azure Resource Manager throttles requests"); 529 is the
//! metrics back-end's (Azure Monitor metrics API docs);
//! 401 (`InvalidAuthenticationToken`, `ExpiredAuthenticationToken`) and 403
//! (`AuthorizationFailed`: the role assignment is missing) are denied; 404
//! (`ResourceNotFound`, `SubscriptionNotFound`) not found; 408 and 5xx are outages, retried.

use std::time::Duration;

use common::error::{ErrorClass, FailureKind, SourceError};

/// `https://host/path?query` without the query (it can be long; it is never secret, but the
/// path is what tells which call failed).
pub fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// A non-2xx answer of `status` from `url`, with Azure's error code and message from `body`.
pub fn http_error(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    url: &str,
) -> SourceError {
    let kind = match status {
        // 429 is ARM throttling; 529 is the metrics back-end's.
        429 | 529 => FailureKind::Throttled,
        s => FailureKind::of_status(s),
    };
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            Some(format!(
                "{}: {}",
                e.get("code")?.as_str().unwrap_or(""),
                e.get("message").and_then(|m| m.as_str()).unwrap_or("")
            ))
        })
        .unwrap_or_default();
    SourceError::new(kind, format!("HTTP {status} from {} {detail}", shown(url)))
        .with_status(status)
        .with_retry_after(retry_after)
}

/// No token for `scope`: the credential named by `hint` failed. Retried (the token endpoint
/// may be passing through an outage), but denied as far as the operator is concerned: the
/// credential is what to look at.
pub fn token_error(scope: &str, hint: &str, e: &azure_core::Error) -> SourceError {
    SourceError::new(
        FailureKind::Denied,
        format!(
            "cannot get a token for {scope} ({hint}): {}",
            common::config::shorten(&e.to_string(), 300)
        ),
    )
    .with_class(ErrorClass::Transient)
}

/// No answer from `url` (connection refused or reset, timeout, a body cut short): `what`
/// failed, and reqwest's message without the URL.
pub fn transport_error(url: &str, what: &str, e: reqwest::Error) -> SourceError {
    SourceError::new(
        FailureKind::Unreachable,
        format!("{}: {what}{}", shown(url), e.without_url()),
    )
}

/// 400, 401, 403 and 404 from getBatch mean "not for you": use Metrics_List instead.
pub fn is_refusal(e: &SourceError) -> bool {
    matches!(e.status, Some(400 | 401 | 403 | 404))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_statuses_have_the_kinds_and_classes_azure_documents() {
        let url = "https://management.azure.com/subscriptions/s?api-version=1";
        let body = br#"{"error": {"code": "AuthorizationFailed", "message": "no role"}}"#;
        let e = http_error(403, None, body, url);
        assert_eq!(
            (e.kind, e.class),
            (FailureKind::Denied, ErrorClass::Permanent)
        );
        assert_eq!(
            e.message,
            "HTTP 403 from https://management.azure.com/subscriptions/s AuthorizationFailed: no role"
        );
        assert!(is_refusal(&e));
        let wait = Some(Duration::from_secs(7));
        let e = http_error(429, wait, b"", url);
        assert_eq!(
            (e.kind, e.class),
            (FailureKind::Throttled, ErrorClass::Throttled)
        );
        assert_eq!(e.retry_after, wait);
        assert_eq!(http_error(529, None, b"", url).kind, FailureKind::Throttled);
        assert_eq!(http_error(401, None, b"", url).kind, FailureKind::Denied);
        assert_eq!(http_error(404, None, b"", url).kind, FailureKind::NotFound);
        assert_eq!(
            http_error(400, None, b"", url).kind,
            FailureKind::InvalidRequest
        );
        let e = http_error(503, None, b"", url);
        assert_eq!(
            (e.kind, e.class),
            (FailureKind::Unreachable, ErrorClass::Transient)
        );
        assert_eq!(http_error(408, None, b"", url).class, ErrorClass::Transient);
        assert!(!is_refusal(&http_error(429, None, b"", url)));
    }
}
