//! AWS's errors (CloudWatch, Bedrock, STS, the credential chain) as [`SourceError`]s: the kind
//! an operator acts on, the class the guard retries by, and a message of at most about 400
//! bytes in the SDK's words (codes, request ids, endpoints: never the raw response, never a
//! credential).
//!
//! Service errors are told apart by their code first, as the APIs document them, since the
//! same code comes with different statuses across services (AWS "Common Errors" of the
//! CloudWatch, Bedrock and STS API references: `AccessDeniedException` is 400 on some and 403
//! on others; CloudWatch answers throttling with 400 `Throttling`, Bedrock with 429
//! `ThrottlingException`):
//! - throttled: HTTP 429, any code containing `Throttl`, `TooManyRequestsException`;
//! - denied: `AccessDenied`, `AccessDeniedException`, `NotAuthorized`, `UnauthorizedOperation`,
//!   `InvalidClientTokenId`, `UnrecognizedClientException`, `SignatureDoesNotMatch`,
//!   `IncompleteSignature`, `MissingAuthenticationToken`, `ExpiredToken`,
//!   `ExpiredTokenException`, `OptInRequired`, and HTTP 401/403; a failed credential chain too;
//! - not found: `ResourceNotFoundException`, `ResourceNotFound`, HTTP 404;
//! - unreachable: timeouts, connection failures, unreadable responses, HTTP 5xx;
//! - invalid request: any other 4xx (`ValidationError`, `ValidationException`, ...).
//!
//! The class follows the SDK's variant as before: the guard retries throttling, timeouts,
//! dispatch and response failures and 5xx; everything else is permanent.

use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use common::error::{ErrorClass, FailureKind, SourceError};

/// Error codes that mean the caller is not allowed, or not authenticated.
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "NotAuthorized",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "OptInRequired",
];

/// Error codes that mean what was asked for does not exist.
const NOT_FOUND_CODES: &[&str] = &["ResourceNotFoundException", "ResourceNotFound"];

/// The kind of a service error answered with `status` and `code`.
pub fn kind_of(status: u16, code: &str) -> FailureKind {
    if status == 429 || code.contains("Throttl") || code == "TooManyRequestsException" {
        FailureKind::Throttled
    } else if DENIED_CODES.contains(&code) {
        FailureKind::Denied
    } else if NOT_FOUND_CODES.contains(&code) {
        FailureKind::NotFound
    } else {
        FailureKind::of_status(status)
    }
}

/// The class the guard gives a service error answered with `status` and `code`.
fn class_of(status: u16, code: &str) -> ErrorClass {
    if status == 429 || code.contains("Throttl") || code == "TooManyRequestsException" {
        ErrorClass::Throttled
    } else if status >= 500 {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    }
}

/// An SDK call's error.
pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // A body past max_response_bytes is no outage: the same answer would come again, so it is
    // a permanent failure of the call (never retried, never opens the breaker).
    if crate::capped::is_too_large(&err) {
        let message = DisplayErrorContext(&err).to_string();
        let message = match message.find("response body of") {
            Some(i) => message[i..]
                .split(':')
                .next()
                .unwrap_or(&message[i..])
                .to_string(),
            None => message,
        };
        return SourceError::new(
            FailureKind::InvalidAnswer,
            common::config::shorten(&message, 400),
        );
    }
    let (kind, class, status, message) = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (
            FailureKind::Unreachable,
            ErrorClass::Transient,
            None,
            DisplayErrorContext(&err).to_string(),
        ),
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("");
            // The error itself, never the raw response (its body and headers stay out of logs).
            (
                kind_of(status, code),
                class_of(status, code),
                Some(status),
                format!("HTTP {status}: {}", DisplayErrorContext(se.err())),
            )
        }
        _ => (
            FailureKind::InvalidRequest,
            ErrorClass::Permanent,
            None,
            DisplayErrorContext(&err).to_string(),
        ),
    };
    // The SDK's messages carry codes, request ids and endpoints, never credentials; but a
    // failed credential chain prints every provider's debug dump (1,300+ characters).
    let (kind, message) = if message.to_ascii_lowercase().contains("credential") {
        (FailureKind::Denied, format!(
            "no usable AWS credentials: tried environment variables (AWS_ACCESS_KEY_ID), the shared profile (AWS_PROFILE, ~/.aws), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), SSO, ECS and EC2 instance roles; configure one of them ({})",
            common::config::shorten(&message, 160)
        ))
    } else {
        (kind, common::config::shorten(&message, 400))
    };
    let mut e = SourceError::new(kind, message).with_class(class);
    e.status = status;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_are_told_apart_by_their_documented_codes() {
        use FailureKind::*;
        // CloudWatch (awsQuery): throttling and access denied come as HTTP 400.
        assert_eq!(kind_of(400, "Throttling"), Throttled);
        assert_eq!(kind_of(400, "AccessDeniedException"), Denied);
        assert_eq!(kind_of(403, "AccessDenied"), Denied);
        assert_eq!(kind_of(403, "InvalidClientTokenId"), Denied);
        assert_eq!(kind_of(403, "ExpiredToken"), Denied);
        assert_eq!(kind_of(400, "ValidationError"), InvalidRequest);
        assert_eq!(kind_of(503, "ServiceUnavailable"), Unreachable);
        assert_eq!(kind_of(500, "InternalFailure"), Unreachable);
        // Bedrock (REST JSON).
        assert_eq!(kind_of(429, "ThrottlingException"), Throttled);
        assert_eq!(kind_of(404, "ResourceNotFoundException"), NotFound);
        assert_eq!(kind_of(400, "ValidationException"), InvalidRequest);
        // A status alone.
        assert_eq!(kind_of(403, ""), Denied);
        assert_eq!(kind_of(429, ""), Throttled);
        // The guard's class is what it was: throttling and 5xx retried, the rest not.
        assert_eq!(class_of(400, "Throttling"), ErrorClass::Throttled);
        assert_eq!(class_of(503, ""), ErrorClass::Transient);
        assert_eq!(
            class_of(400, "AccessDeniedException"),
            ErrorClass::Permanent
        );
    }
}
