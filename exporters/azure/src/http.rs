//! Authenticated JSON calls to ARM and the metrics data plane, over one reqwest client (the
//! one the credential uses too: it trusts `extra_ca_file` and honours HTTPS_PROXY/NO_PROXY).
//! Errors are mapped in error.rs; `Retry-After` is carried to the guard.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use common::error::{FailureKind, SourceError};
use serde::de::DeserializeOwned;

use crate::error::{http_error, shown, token_error, transport_error};

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
async fn read_capped(
    mut resp: reqwest::Response,
    cap: u64,
    url: &str,
) -> Result<Vec<u8>, SourceError> {
    let status = resp.status().as_u16();
    let too_big = |what: String| {
        SourceError::new(
            FailureKind::InvalidAnswer,
            format!(
                "response body of {} exceeds max_response_bytes ({cap} bytes): {what}; not read further",
                shown(url)
            ),
        )
        .with_status(status)
    };
    if let Some(len) = resp.content_length().filter(|&l| l > cap) {
        return Err(too_big(format!("Content-Length is {len}")));
    }
    let mut body = Vec::new();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| transport_error(url, "reading the body: ", e).with_status(status))?;
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
    pub async fn get<T: DeserializeOwned>(&self, url: &str, scope: &str) -> Result<T, SourceError> {
        self.send(self.http.get(url), url, scope).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        scope: &str,
        body: &serde_json::Value,
    ) -> Result<T, SourceError> {
        self.send(self.http.post(url).json(body), url, scope).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        scope: &str,
    ) -> Result<T, SourceError> {
        // The credential caches tokens until shortly before they expire.
        let token = self
            .credential
            .get_token(&[scope], None)
            .await
            .map_err(|e| token_error(scope, &self.credential_hint, &e))?;
        let resp = req
            .bearer_auth(token.token.secret())
            .send()
            .await
            .map_err(|e| transport_error(url, "", e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = read_capped(resp, self.max_body, url).await?;
        if !(200..300).contains(&status) {
            return Err(http_error(status, retry_after, &body, url));
        }
        serde_json::from_slice(&body).map_err(|e| {
            SourceError::new(
                FailureKind::InvalidAnswer,
                format!("{}: malformed response: {e}", shown(url)),
            )
        })
    }
}
