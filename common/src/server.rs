//! HTTP: the telemetry path (`/metrics` by default), `/-/healthy`, `/-/ready` (true after the
//! first successful poll) and a small landing page. Everything is served from memory.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

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
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(&state.telemetry_path, get(metrics))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/", get(landing))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    // The self-metrics are small and change between polls; the usage part is ready text.
    let mut body = s.metrics.render();
    body.push_str(&s.publisher.usage());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
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
    Html(format!(
        "<!doctype html><html><head><title>LLM usage exporter ({0})</title></head><body>\
         <h1>LLM usage exporter: {0}</h1><p>Version {1}</p><ul>\
         <li><a href=\"{2}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li>\
         <li><a href=\"/-/ready\">Readiness</a></li></ul></body></html>\n",
        s.exporter, s.version, s.telemetry_path
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
