//! The error every cloud call and every source returns, [`SourceError`]: what kind of failure
//! it is, as an operator acts on it ([`FailureKind`]: the `reason` of
//! `llm_exporter_target_failure_reason`, the landing page and the `poll failed` log line), how
//! the guard treats it ([`ErrorClass`]) and a short message in the cloud's words.
//!
//! Each exporter maps its cloud's errors into it in its own `error.rs`; nothing here names a
//! cloud.

use std::time::Duration;

/// How a failed call should be treated by the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The cloud asked us to slow down (429, 529, `Throttling`): retry after backoff.
    Throttled,
    /// 5xx, connection reset, timeout: retry after backoff.
    Transient,
    /// Anything a retry cannot fix (403, malformed request or response).
    Permanent,
}

/// Implemented by the error type of each cloud client.
pub trait Classify {
    fn class(&self) -> ErrorClass;
    /// A server-given wait (HTTP `Retry-After`), honoured instead of the computed backoff.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// What went wrong with a target, in the terms an operator acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// The cloud asked us to slow down (HTTP 429, AWS `Throttling`, Google
    /// `RESOURCE_EXHAUSTED`, Azure Monitor's 529), or a breaker opened after throttling.
    Throttled,
    /// Authentication or authorization failed: no usable credentials, HTTP 401/403, AWS
    /// `AccessDenied`, Google `PERMISSION_DENIED`, Azure `AuthorizationFailed`.
    Denied,
    /// The account, project or resource asked for does not exist (HTTP 404).
    NotFound,
    /// The cloud refused the request as malformed (HTTP 400 and the other 4xx): usually a
    /// configuration the cloud does not accept, such as a bad endpoint.
    InvalidRequest,
    /// No answer: connection refused or reset, timeout, HTTP 5xx, or a breaker opened after
    /// such failures.
    Unreachable,
    /// The cloud answered but says the answer may miss data (CloudWatch `PartialData`,
    /// Cloud Monitoring `executionErrors`/`unreachable`, an Azure per-metric error): nothing
    /// is counted and the window is fetched again.
    Incomplete,
    /// The answer cannot be used: malformed, over `max_response_bytes`, or endless paging.
    InvalidAnswer,
}

impl FailureKind {
    pub const ALL: [FailureKind; 7] = [
        FailureKind::Throttled,
        FailureKind::Denied,
        FailureKind::NotFound,
        FailureKind::InvalidRequest,
        FailureKind::Unreachable,
        FailureKind::Incomplete,
        FailureKind::InvalidAnswer,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Throttled => "throttled",
            FailureKind::Denied => "denied",
            FailureKind::NotFound => "not_found",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Incomplete => "incomplete",
            FailureKind::InvalidAnswer => "invalid_answer",
        }
    }

    /// How the guard treats a failure of this kind unless the cloud's mapping says otherwise:
    /// throttling and outages are retried and count towards the breaker; every other kind is
    /// an answer a retry would only repeat.
    pub fn class(self) -> ErrorClass {
        match self {
            FailureKind::Throttled => ErrorClass::Throttled,
            FailureKind::Unreachable => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }

    /// The kind of an HTTP error status without a more specific code.
    pub fn of_status(status: u16) -> FailureKind {
        match status {
            429 => FailureKind::Throttled,
            401 | 403 => FailureKind::Denied,
            404 => FailureKind::NotFound,
            408 | 500..=599 => FailureKind::Unreachable,
            400..=499 => FailureKind::InvalidRequest,
            _ => FailureKind::InvalidAnswer,
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a cloud call or a poll of a target failed. The poll is retried on the next tick;
/// nothing is counted from a failed poll, so no data is lost while the outage is shorter than
/// `max_backfill`. Displays as its message; the kind is shown beside it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub kind: FailureKind,
    /// How the guard treats it ([`FailureKind::class`] unless the mapping chose otherwise).
    pub class: ErrorClass,
    /// In the cloud's words, never a credential or a raw response body.
    pub message: String,
    /// The HTTP status the cloud answered with, if it answered.
    pub status: Option<u16>,
    /// The cloud's `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl SourceError {
    /// An error of `kind`, treated by the guard as the kind says.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        SourceError {
            kind,
            class: kind.class(),
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }

    /// An HTTP error answer of `status`, of the kind the status says.
    pub fn http(status: u16, message: impl Into<String>) -> Self {
        SourceError::new(FailureKind::of_status(status), message).with_status(status)
    }

    /// The same error, treated by the guard as `class`.
    pub fn with_class(mut self, class: ErrorClass) -> Self {
        self.class = class;
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// The same error with `context` before its message (`context: message`).
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl Classify for SourceError {
    fn class(&self) -> ErrorClass {
        self.class
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_reason_and_the_guard_retries_only_outages_and_throttling() {
        let reasons: std::collections::BTreeSet<&str> =
            FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(reasons.len(), FailureKind::ALL.len());
        for kind in FailureKind::ALL {
            let e = SourceError::new(kind, "m");
            let retried = e.class() != ErrorClass::Permanent;
            assert_eq!(
                retried,
                matches!(kind, FailureKind::Throttled | FailureKind::Unreachable),
                "{kind}"
            );
        }
    }

    #[test]
    fn http_statuses_map_to_the_kinds_an_operator_acts_on() {
        let kind = |s| SourceError::http(s, "m").kind;
        assert_eq!(kind(429), FailureKind::Throttled);
        assert_eq!(kind(401), FailureKind::Denied);
        assert_eq!(kind(403), FailureKind::Denied);
        assert_eq!(kind(404), FailureKind::NotFound);
        assert_eq!(kind(400), FailureKind::InvalidRequest);
        assert_eq!(kind(409), FailureKind::InvalidRequest);
        assert_eq!(kind(408), FailureKind::Unreachable);
        assert_eq!(kind(503), FailureKind::Unreachable);
        assert_eq!(kind(302), FailureKind::InvalidAnswer);
        assert_eq!(SourceError::http(403, "m").status, Some(403));
    }

    #[test]
    fn context_keeps_the_kind_and_the_message_shows_without_it() {
        let e = SourceError::http(403, "HTTP 403: AccessDenied").context("ListMetrics");
        assert_eq!(e.to_string(), "ListMetrics: HTTP 403: AccessDenied");
        assert_eq!(e.kind, FailureKind::Denied);
    }
}

/// A value that fails a check serde cannot make (an exporter's section validation): names
/// the field by its path in the file, e.g. `aws.regions[0]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// The message is cut short as `ConfigError::field` cuts it (it may quote a value).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: crate::base::shorten(&field.into(), 200),
            message: crate::base::shorten(&message.into(), 300),
        }
    }
}
