//! Authenticated JSON calls to ARM and the metrics data plane, over one reqwest client (the
//! one the credential uses too: it trusts `extra_ca_file` and honours HTTPS_PROXY/NO_PROXY).
//! Errors are classified for the guard; `Retry-After` is carried to it. No token, secret or
//! response body beyond Azure's own error message reaches an error.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use common::guard::{Classify, ErrorClass};
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub struct AzError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub message: String,
}

impl fmt::Display for AzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Classify for AzError {
    fn class(&self) -> ErrorClass {
        self.class
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl AzError {
    fn permanent(message: String) -> Self {
        AzError {
            class: ErrorClass::Permanent,
            status: None,
            retry_after: None,
            message,
        }
    }

    /// 400, 403 and 404 from getBatch mean "not for you": use Metrics_List instead.
    pub fn is_refusal(&self) -> bool {
        matches!(self.status, Some(400 | 401 | 403 | 404))
    }
}

/// `https://host/path?query` without the query (it can be long; it is never secret, but the
/// path is what tells which call failed).
fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

pub struct AzClient {
    pub http: reqwest::Client,
    pub credential: Arc<dyn TokenCredential>,
    /// Which credential is used and why, added to token errors: the one thing to know when
    /// none works.
    pub credential_hint: String,
    /// `max_response_bytes`: the most read from one response body.
    pub max_body: u64,
}

/// The body of `resp`, refused as soon as it is known to pass `cap` bytes: by its
/// Content-Length before reading anything, else while reading chunk by chunk, so a huge or
/// endless body never sits in memory. A refused body is a permanent error of
/// that call: asking again would get the same body.
async fn read_capped(mut resp: reqwest::Response, cap: u64, url: &str) -> Result<Vec<u8>, AzError> {
    let status = resp.status().as_u16();
    let too_big = |what: String| {
        AzError {
        class: ErrorClass::Permanent,
        status: Some(status),
        retry_after: None,
        message: format!(
            "response body of {} exceeds max_response_bytes ({cap} bytes): {what}; not read further",
            shown(url)
        ),
    }
    };
    if let Some(len) = resp.content_length().filter(|&l| l > cap) {
        return Err(too_big(format!("Content-Length is {len}")));
    }
    let mut body = Vec::new();
    loop {
        let chunk = resp.chunk().await.map_err(|e| AzError {
            class: ErrorClass::Transient,
            status: Some(status),
            retry_after: None,
            message: format!("{}: reading the body: {}", shown(url), e.without_url()),
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(too_big("more arrived".to_string()));
        }
        body.extend_from_slice(&chunk);
    }
}

impl AzClient {
    pub async fn get<T: DeserializeOwned>(&self, url: &str, scope: &str) -> Result<T, AzError> {
        self.send(self.http.get(url), url, scope).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        scope: &str,
        body: &serde_json::Value,
    ) -> Result<T, AzError> {
        self.send(self.http.post(url).json(body), url, scope).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        scope: &str,
    ) -> Result<T, AzError> {
        // The credential caches tokens until shortly before they expire.
        let token = self
            .credential
            .get_token(&[scope], None)
            .await
            .map_err(|e| AzError {
                class: ErrorClass::Transient,
                status: None,
                retry_after: None,
                message: format!(
                    "cannot get a token for {scope} ({}): {}",
                    self.credential_hint,
                    common::config::shorten(&e.to_string(), 300)
                ),
            })?;
        let resp = req
            .bearer_auth(token.token.secret())
            .send()
            .await
            .map_err(|e| AzError {
                class: ErrorClass::Transient,
                status: None,
                retry_after: None,
                message: format!("{}: {}", shown(url), e.without_url()),
            })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = read_capped(resp, self.max_body, url).await?;
        if !(200..300).contains(&status) {
            // 429 is ARM throttling; 529 is the metrics back-end's.
            let class = match status {
                429 | 529 => ErrorClass::Throttled,
                500..=599 | 408 => ErrorClass::Transient,
                _ => ErrorClass::Permanent,
            };
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
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
            return Err(AzError {
                class,
                status: Some(status),
                retry_after,
                message: format!("HTTP {status} from {} {detail}", shown(url)),
            });
        }
        serde_json::from_slice(&body)
            .map_err(|e| AzError::permanent(format!("{}: malformed response: {e}", shown(url))))
    }
}
