//! The transport of azure_identity's token requests: the shared reqwest client, with each
//! response body read chunk by chunk and refused once past `max_response_bytes`, as every
//! other Azure response is (see `http::read_capped`). The token endpoint is ours to name
//! (`azure.endpoints.authority_host`, or a managed-identity endpoint), so it gets the same
//! bound.

use async_trait::async_trait;
use azure_core::error::{Error, ErrorKind};
use azure_core::http::{AsyncRawResponse, HttpClient, Request};
use futures_util::StreamExt;

#[derive(Debug)]
pub struct CappedHttp {
    pub inner: reqwest::Client,
    /// `max_response_bytes`.
    pub cap: u64,
}

#[async_trait]
impl HttpClient for CappedHttp {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let response = HttpClient::execute_request(&self.inner, request).await?;
        let (status, headers, mut body) = response.deconstruct();
        let mut read = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if (read.len() + chunk.len()) as u64 > self.cap {
                // Only the host and path: the query of a token request is never secret, but
                // it is not needed to say which call failed.
                let url = request.url();
                return Err(Error::with_message(
                    ErrorKind::Other,
                    format!(
                        "response body of {}{} exceeds max_response_bytes ({} bytes); not read further",
                        url.host_str().unwrap_or(""),
                        url.path(),
                        self.cap
                    ),
                ));
            }
            read.extend_from_slice(&chunk);
        }
        Ok(AsyncRawResponse::from_bytes(status, headers, read))
    }
}
