//! `max_response_bytes` for every AWS call. The SDK reads response bodies itself, so the cap
//! sits in its HTTP client: a wrapper around the one SDK client (`aws-smithy-http-client`)
//! refuses a response whose `Content-Length` is over the cap before reading any of it, and
//! wraps every other body so that reading fails at the first byte past the cap. Nothing past
//! the cap is ever buffered.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// A body past the cap; its message names the key a user changes.
#[derive(Debug)]
pub struct TooLarge {
    pub api: String,
    pub max: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "response body of {} exceeds max_response_bytes ({} bytes); raise max_response_bytes in the config file if such answers are expected",
            self.api, self.max
        )
    }
}

impl std::error::Error for TooLarge {}

/// True when `err` or any error it wraps is a [`TooLarge`].
pub fn is_too_large(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    // Bounded: error chains are short; 32 links is far beyond any the SDK builds.
    for _ in 0..32 {
        match next {
            Some(e) if e.is::<TooLarge>() => return true,
            Some(e) => next = e.source(),
            None => return false,
        }
    }
    false
}

/// The SDK's HTTP client, with every response body capped at `max` bytes.
#[derive(Debug, Clone)]
pub struct CappedClient {
    inner: SharedHttpClient,
    max: u64,
}

impl CappedClient {
    pub fn wrap(inner: SharedHttpClient, max: u64) -> SharedHttpClient {
        SharedHttpClient::new(CappedClient { inner, max })
    }
}

impl HttpClient for CappedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CappedConnector {
            inner: self.inner.http_connector(settings, components),
            max: self.max,
        })
    }
}

#[derive(Debug)]
struct CappedConnector {
    inner: SharedHttpConnector,
    max: u64,
}

/// The API a request calls, for the message: the Smithy RPC v2 operation
/// (`/service/.../operation/GetMetricData`), else the request path (REST: Bedrock).
fn api_of(uri: &str) -> String {
    let path = uri
        .split_once("://")
        .map(|(_, rest)| rest.find('/').map(|i| &rest[i..]).unwrap_or("/"))
        .unwrap_or(uri);
    let path = path.split('?').next().unwrap_or(path);
    let api = path
        .rsplit_once("/operation/")
        .map(|(_, op)| op)
        .unwrap_or(path);
    common::config::shorten(api, 80).to_string()
}

impl HttpConnector for CappedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let api = api_of(request.uri());
        let max = self.max;
        let response = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let response = response.await?;
            let declared = response
                .headers()
                .get("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|len| len > max) {
                // A user error: the SDK does not retry it, and nothing of the body is read.
                return Err(ConnectorError::user(Box::new(TooLarge { api, max })));
            }
            Ok(response.map(move |body| {
                SdkBody::from_body_1_x(Capped {
                    inner: Box::pin(body),
                    left: max,
                    api: api.clone(),
                    max,
                })
            }))
        })
    }
}

/// A body that fails once more than `max` bytes came through it.
struct Capped {
    inner: Pin<Box<SdkBody>>,
    left: u64,
    api: String,
    max: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Body for Capped {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = match self.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.left {
                self.left = 0;
                let err = TooLarge {
                    api: self.api.clone(),
                    max: self.max,
                };
                return Poll::Ready(Some(Err(Box::new(err))));
            }
            self.left -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(body: SdkBody, max: u64) -> SdkBody {
        SdkBody::from_body_1_x(Capped {
            inner: Box::pin(body),
            left: max,
            api: "GetMetricData".into(),
            max,
        })
    }

    async fn read_all(body: SdkBody) -> Result<usize, BoxError> {
        let mut body = Box::pin(body);
        let mut n = 0;
        // Bounded by the test bodies' sizes.
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            if let Some(d) = frame?.data_ref() {
                n += d.len();
            }
        }
        Ok(n)
    }

    /// A streamed body (no length known in advance) of `left` bytes in 1 KiB chunks.
    struct Chunks {
        left: usize,
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let n = self.left.min(1024);
            self.left -= n;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
        }
    }

    fn streamed(total: usize) -> SdkBody {
        SdkBody::from_body_1_x(Chunks { left: total })
    }

    #[tokio::test]
    async fn a_streamed_body_fails_at_the_cap_naming_the_key() {
        let err = read_all(capped(streamed(1 << 20), 4096)).await.unwrap_err();
        assert!(is_too_large(err.as_ref()), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("GetMetricData") && msg.contains("max_response_bytes (4096 bytes)"),
            "{msg}"
        );
        assert_eq!(read_all(capped(streamed(4096), 4096)).await.unwrap(), 4096);
        assert_eq!(
            read_all(capped(SdkBody::from("abc"), 4096)).await.unwrap(),
            3
        );
    }

    #[test]
    fn the_api_is_the_operation_or_the_path() {
        assert_eq!(
            api_of(
                "http://127.0.0.1:1/service/GraniteServiceVersion20100801/operation/GetMetricData"
            ),
            "GetMetricData"
        );
        assert_eq!(
            api_of("https://bedrock.us-east-1.amazonaws.com/inference-profiles?type=APPLICATION"),
            "/inference-profiles"
        );
    }
}
