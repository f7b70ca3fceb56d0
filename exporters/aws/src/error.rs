//! One error type for every AWS call (CloudWatch, Bedrock, STS), classified for the guard.

use std::fmt;

use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use common::guard::{Classify, ErrorClass};

#[derive(Debug)]
pub struct AwsError {
    pub class: ErrorClass,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AwsError {}

impl Classify for AwsError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

impl AwsError {
    pub fn permanent(message: impl Into<String>) -> Self {
        AwsError {
            class: ErrorClass::Permanent,
            message: message.into(),
        }
    }
}

impl<E> From<SdkError<E, HttpResponse>> for AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(err: SdkError<E, HttpResponse>) -> Self {
        // A body past max_response_bytes is no outage: the same answer would come again, so
        // it is a permanent failure of the call (never retried, never opens the breaker).
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
            return AwsError::permanent(common::config::shorten(&message, 400));
        }
        let (class, message) = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => {
                (ErrorClass::Transient, DisplayErrorContext(&err).to_string())
            }
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                let code = se.err().code().unwrap_or("");
                let class = if status == 429
                    || code.contains("Throttl")
                    || code == "TooManyRequestsException"
                {
                    ErrorClass::Throttled
                } else if status >= 500 {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Permanent
                };
                // The error itself, never the raw response (its body and headers stay out of logs).
                (
                    class,
                    format!("HTTP {status}: {}", DisplayErrorContext(se.err())),
                )
            }
            _ => (ErrorClass::Permanent, DisplayErrorContext(&err).to_string()),
        };
        // The SDK's messages carry codes, request ids and endpoints, never credentials; but a
        // failed credential chain prints every provider's debug dump (1,300+ characters).
        let message = if message.to_ascii_lowercase().contains("credential") {
            format!(
                "no usable AWS credentials: tried environment variables (AWS_ACCESS_KEY_ID), the shared profile (AWS_PROFILE, ~/.aws), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), SSO, ECS and EC2 instance roles; configure one of them ({})",
                common::config::shorten(&message, 160)
            )
        } else {
            common::config::shorten(&message, 400)
        };
        AwsError { class, message }
    }
}
