//! One upstream Prometheus: its HTTP API client (instant queries and the readiness probe, the
//! only endpoints ever called), with a timeout and a circuit breaker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::config::{self, BreakerConfig, Cloud};
use crate::metrics::Metrics;
use common::breaker::{Breaker, BreakerState};

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("circuit open after repeated failures")]
    CircuitOpen,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("unreachable: {0}")]
    Transport(String),
    #[error("HTTP {0}")]
    Status(u16),
    /// Prometheus refused the query itself (the caller's PromQL): not the upstream's fault.
    #[error("query refused: {0}")]
    BadQuery(String),
    /// Prometheus stopped the query at the `timeout` sent with it: the caller's cost.
    #[error("the query ran past this key's limit of {0:?} in Prometheus: ask for less")]
    QueryTimeout(Duration),
    /// The caller's queries timed out repeatedly on this upstream: paused for the caller.
    #[error("this key's recent queries timed out repeatedly: paused for {} s", .0.as_secs().max(1))]
    TenantPaused(Duration),
    /// The caller already has its limit of queries in flight.
    #[error("this key already has {0} queries in flight: retry when they finish")]
    TenantBusy(u32),
}

impl UpstreamError {
    pub fn is_bad_query(&self) -> bool {
        matches!(self, UpstreamError::BadQuery(_))
    }

    /// Caused by the caller's own queries, not by the upstream's health.
    pub fn is_tenants_own(&self) -> bool {
        matches!(
            self,
            UpstreamError::QueryTimeout(_)
                | UpstreamError::TenantPaused(_)
                | UpstreamError::TenantBusy(_)
        )
    }

    /// What a tenant is told: the kind of failure without the upstream's addresses or
    /// messages (the admin and the log get `to_string()`).
    pub fn public(&self) -> String {
        match self {
            UpstreamError::Transport(_) => "unreachable".into(),
            UpstreamError::Status(code) => format!("upstream answered HTTP {code}"),
            UpstreamError::Timeout(_) => "timed out".into(),
            other => other.to_string(),
        }
    }
}

/// How Prometheus' JSON answer names a query stopped at its `timeout` (with HTTP 503).
const TIMEOUT_ERROR: &str = "\"errorType\":\"timeout\"";

/// How Prometheus names a query stopped at its `timeout` while it was reading series (HTTP
/// 422, errorType `execution`).
const DEADLINE_ERROR: &str = "context deadline exceeded";

/// The largest upstream answer read.
const MAX_ANSWER: usize = 32 << 20;

pub struct Upstream {
    pub name: String,
    pub clouds: Vec<Cloud>,
    /// Holds several clouds: queries get a `cloud` matcher.
    pub shared: bool,
    base: reqwest::Url,
    timeout: Duration,
    client: reqwest::Client,
    breaker: Breaker,
    metrics: Arc<Metrics>,
}

#[derive(Deserialize)]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Value,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

impl Upstream {
    pub fn new(u: &config::Upstream, breaker: &BreakerConfig, metrics: Arc<Metrics>) -> Upstream {
        // reqwest's rustls needs a process-wide provider (no-op when already installed).
        common::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(u.timeout)
            .connect_timeout(u.timeout)
            .build()
            .unwrap_or_default();
        let up = Upstream {
            name: u.name.clone(),
            clouds: u.clouds.clone(),
            shared: u.shared,
            base: u.url.clone(),
            timeout: u.timeout,
            client,
            breaker: Breaker::new(breaker.failures, breaker.open_for),
            metrics,
        };
        up.publish_state();
        up
    }

    pub fn breaker_state(&self) -> BreakerState {
        let s = self.breaker.state();
        self.metrics
            .circuit_state
            .with_label_values(&[&self.name])
            .set(s.gauge());
        s
    }

    fn publish_state(&self) {
        let _ = self.breaker_state();
    }

    fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
        url
    }

    /// `GET /api/v1/query`: the `data` object of a successful answer. `timeout` is the
    /// caller's limit: sent to Prometheus as the query's `timeout` (capped below this
    /// upstream's own), and the gateway waits at most a second longer. A query still running
    /// then, or stopped by Prometheus, cost too much: `QueryTimeout`, the caller's failure,
    /// which leaves this upstream's breaker alone. Prometheus does not check its deadline
    /// everywhere (a subquery over `vector(1)` runs to its end), so the gateway's own wait
    /// is what bounds the caller.
    pub async fn query(
        &self,
        promql: &str,
        time: Option<f64>,
        timeout: Duration,
    ) -> Result<Value, UpstreamError> {
        let timeout = timeout
            .min(self.timeout * 9 / 10)
            .max(Duration::from_millis(1));
        let wait = self.wait_for(timeout);
        let mut params = vec![
            ("query", promql.to_string()),
            ("timeout", format!("{}ms", timeout.as_millis())),
        ];
        if let Some(t) = time {
            params.push(("time", format!("{t:.3}")));
        }
        let body = match self.call("/api/v1/query", &params, Some(wait)).await {
            Err(UpstreamError::Timeout(_)) => return Err(UpstreamError::QueryTimeout(timeout)),
            other => other?,
        };
        let parsed: ApiResponse = serde_json::from_str(&body)
            .map_err(|e| UpstreamError::Transport(format!("not a Prometheus answer: {e}")))?;
        if parsed.status == "success" {
            Ok(parsed.data)
        } else if parsed.error_type.as_deref() == Some("timeout")
            || parsed
                .error
                .as_deref()
                .is_some_and(|e| e.contains(DEADLINE_ERROR))
        {
            // 503 "query timed out in expression evaluation", or 422 "expanding series:
            // context deadline exceeded": both Prometheus stopping the query at `timeout`.
            Err(UpstreamError::QueryTimeout(timeout))
        } else {
            Err(UpstreamError::BadQuery(format!(
                "{}: {}",
                parsed.error_type.unwrap_or_default(),
                parsed.error.unwrap_or_default()
            )))
        }
    }

    /// `GET /-/ready` through the breaker: the health probe.
    pub async fn probe(&self) -> Result<(), UpstreamError> {
        self.call("/-/ready", &[], None).await.map(|_| ())
    }

    /// How long the gateway waits for a query Prometheus was told to stop after `timeout`.
    pub fn wait_for(&self, timeout: Duration) -> Duration {
        (timeout + Duration::from_secs(1)).min(self.timeout)
    }

    /// `wait`: a caller's query, given this long; running out of it is the caller's cost,
    /// not a failure of this upstream. None: this upstream's own timeout, which counts.
    async fn call(
        &self,
        path: &str,
        params: &[(&str, String)],
        wait: Option<Duration>,
    ) -> Result<String, UpstreamError> {
        if self.breaker.try_acquire().is_err() {
            self.count("circuit_open");
            self.publish_state();
            return Err(UpstreamError::CircuitOpen);
        }
        let start = Instant::now();
        let result = self.send(path, params, wait).await;
        self.metrics
            .upstream_duration
            .with_label_values(&[&self.name])
            .observe(start.elapsed().as_secs_f64());
        match &result {
            Ok(body) => {
                // Prometheus answered, also when it stopped the caller's query at its
                // `timeout` (the caller's cost, not the upstream's health).
                self.breaker.record(true);
                self.count(
                    if body.contains(TIMEOUT_ERROR) || body.contains(DEADLINE_ERROR) {
                        "query_timeout"
                    } else {
                        "success"
                    },
                );
            }
            Err(e) if e.is_bad_query() => {
                // Prometheus answered: it is healthy.
                self.breaker.record(true);
                self.count("bad_query");
            }

            Err(UpstreamError::Timeout(_)) if wait.is_some() => {
                self.breaker.release();
                self.count("query_timeout");
            }
            Err(e) => {
                self.breaker.record(false);
                self.count(if matches!(e, UpstreamError::Timeout(_)) {
                    "timeout"
                } else {
                    "error"
                });
                tracing::warn!(upstream = %self.name, error = %e, "upstream request failed");
            }
        }
        self.publish_state();
        result
    }

    async fn send(
        &self,
        path: &str,
        params: &[(&str, String)],
        wait: Option<Duration>,
    ) -> Result<String, UpstreamError> {
        let response = self
            .client
            .get(self.url(path))
            .query(params)
            .timeout(wait.unwrap_or(self.timeout))
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        // Read at most MAX_ANSWER bytes: a query selecting everything the caller may see must
        // not take the gateway's memory with it.
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(UpstreamError::BadQuery(format!(
                    "the answer is larger than {} MiB: narrow the query",
                    MAX_ANSWER >> 20
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&bytes).into_owned();
        // 400 and 422 are Prometheus refusing the query (JSON error body); other non-2xx
        // answers are the server's (or a proxy's) trouble.
        let json_error = status.as_u16() == 503 && body.contains(TIMEOUT_ERROR);
        if status.is_success() || status.as_u16() == 400 || status.as_u16() == 422 || json_error {
            if !status.is_success() && !body.trim_start().starts_with('{') {
                return Err(UpstreamError::Status(status.as_u16()));
            }
            Ok(body)
        } else {
            Err(UpstreamError::Status(status.as_u16()))
        }
    }

    fn classify(&self, e: reqwest::Error) -> UpstreamError {
        if e.is_timeout() {
            UpstreamError::Timeout(self.timeout)
        } else {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg = format!("{msg}: {s}");
                source = s.source();
            }
            UpstreamError::Transport(msg)
        }
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .upstream_requests
            .with_label_values(&[&self.name, outcome])
            .inc();
    }
}
