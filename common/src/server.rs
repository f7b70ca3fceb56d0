//! HTTP: the telemetry path (`/metrics` by default), `/-/healthy`, `/-/ready` (true after the
//! first successful poll) and a small landing page. Everything is served from memory.
//!
//! A scrape serves the self-metrics, rendered per scrape (a few KB: they hold what changes
//! between polls, such as failed logins, and must be fresh), followed by the usage
//! exposition exactly as last published ([`crate::publish::Exposition`]): with
//! `Accept-Encoding: gzip` the self-metrics are compressed as a small gzip member and the
//! usage part is the member compressed at publish time, so the large part is never copied,
//! rendered or compressed per scrape. Connections are accepted by [`crate::edge`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::gzip;
use crate::metrics::{SelfMetrics, CONTENT_TYPE};
use crate::publish::Publisher;

#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<SelfMetrics>,
    /// The usage exposition, published after each poll (never rendered per scrape).
    pub publisher: Arc<Publisher>,
    /// True after the first successful poll.
    pub polled: Arc<AtomicBool>,
    pub exporter: String,
    pub version: String,
    pub telemetry_path: String,
    /// Set with `--web.enable-lifecycle`: `POST /-/reload` reloads the config.
    pub reloader: Option<Arc<crate::reload::Reloader>>,
    /// For the landing page: each target's last error, the series held, the config.
    pub errors: Arc<crate::poller::TargetErrors>,
    pub accumulator: Arc<std::sync::Mutex<crate::accumulator::Accumulator>>,
    pub summary: Arc<Vec<(String, String)>>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(&state.telemetry_path, get(metrics))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/", get(landing))
        .route("/-/reload", axum::routing::post(reload).put(reload))
        .with_state(state)
}

async fn reload(State(s): State<AppState>) -> Response {
    // Prometheus' answer without its lifecycle flag (web/web.go): 403, and the reason.
    let Some(reloader) = s.reloader.clone() else {
        return (
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle, or send it SIGHUP.\n",
        )
            .into_response();
    };
    match tokio::task::spawn_blocking(move || reloader.reload()).await {
        Ok(Ok(())) => (StatusCode::OK, "Reloaded\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed, the running config is kept: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "reload failed\n").into_response(),
    }
}

async fn metrics(State(s): State<AppState>, request: HeaderMap) -> Response {
    let usage = s.publisher.exposition();
    let mut own = Vec::with_capacity(16 * 1024);
    s.metrics.render_into(&mut own);
    let gzip = accepts_gzip(&request);
    let body = if gzip {
        let [first, usage, trailer] = gzip::member_around(&own, &usage.deflated);
        Chunks([Some(first), Some(usage), Some(trailer)])
    } else {
        Chunks([Some(Bytes::from(own)), Some(usage.plain()), None])
    };
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// True when the client accepts gzip (RFC 9110 section 12.5.3): `gzip` (or `x-gzip`) with a
/// q-value above 0, or `*` above 0 without gzip refused by name.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                .next()
                .unwrap_or(1.0);
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if coding == "*" {
                any = Some(q);
            }
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// A response body of ready buffers, sent without joining them (the published exposition is
/// shared by every scrape). Its exact length becomes Content-Length.
struct Chunks([Option<Bytes>; 3]);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self
            .0
            .iter_mut()
            .find_map(|c| c.take().filter(|b| !b.is_empty()));
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.iter().flatten().all(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().flatten().map(|b| b.len() as u64).sum())
    }
}

async fn ready(State(s): State<AppState>) -> Response {
    if !s.publisher.state_ok() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: the state file cannot be written\n",
        )
            .into_response()
    } else if s.polled.load(Ordering::Acquire) {
        (StatusCode::OK, "Ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: no successful poll yet\n",
        )
            .into_response()
    }
}

async fn landing(State(s): State<AppState>) -> Html<String> {
    Html(crate::landing::render(
        &s.exporter,
        &s.version,
        &s.telemetry_path,
        &s.metrics,
        &s.errors,
        &s.accumulator,
        &s.summary,
    ))
}

/// Parses a Prometheus-style listen address: `:9745` means every interface.
pub fn parse_listen_address(addr: &str) -> Result<SocketAddr, String> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    };
    full.parse()
        .map_err(|_| format!("--web.listen-address {addr:?} is not HOST:PORT or :PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        accepts_gzip(&h)
    }

    #[test]
    fn gzip_is_negotiated_from_accept_encoding() {
        // What Prometheus sends.
        assert!(accept(&["gzip"]));
        assert!(accept(&["deflate, GZIP;q=0.5"]));
        assert!(accept(&["br", "x-gzip"]));
        assert!(accept(&["*"]));
        assert!(!accept(&[]));
        assert!(!accept(&["identity"]));
        assert!(!accept(&["gzip;q=0"]));
        assert!(!accept(&["*, gzip; q=0"]));
        assert!(!accept(&["br, deflate"]));
    }

    #[test]
    fn listen_addresses_follow_exporter_conventions() {
        assert_eq!(
            parse_listen_address(":9745").unwrap().to_string(),
            "0.0.0.0:9745"
        );
        assert_eq!(parse_listen_address("127.0.0.1:0").unwrap().port(), 0);
        assert_eq!(
            parse_listen_address("[::1]:80").unwrap().to_string(),
            "[::1]:80"
        );
        assert!(parse_listen_address("localhost")
            .unwrap_err()
            .contains("localhost"));
    }
}
