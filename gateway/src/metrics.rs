//! The gateway's own metrics, served at /metrics (Prometheus text format 0.0.4). /metrics
//! needs no key, so what it shows names no tenant; the per-tenant families live in a second
//! registry, added to /metrics only for the admin key.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// The per-tenant families: for the admin key only.
    tenant_registry: Registry,
    /// By `route` (REST path or `mcp:<tool>`) and `outcome` (`ok`, `partial`,
    /// `unauthorized`, `forbidden`, `rate_limited`, `bad_request`, `error`).
    requests: IntCounterVec,
    /// The same by `tenant` as well.
    tenant_requests: IntCounterVec,
    tenant_rate_limited: IntCounterVec,
    pub request_duration: HistogramVec,
    /// By `result`: `hit` or `miss`.
    pub cache: IntCounterVec,
    /// By `upstream` and `outcome` (`success`, `error`, `timeout`, `circuit_open`, `bad_query`).
    pub upstream_requests: IntCounterVec,
    pub upstream_duration: HistogramVec,
    /// 0 closed, 1 half-open, 2 open.
    pub circuit_state: IntGaugeVec,
    rate_limited: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "llm_gateway_requests_total",
                "Requests by route and outcome.",
            ),
            &["route", "outcome"],
        )
        .expect("valid metric");
        let tenant_requests = IntCounterVec::new(
            Opts::new(
                "llm_gateway_tenant_requests_total",
                "Requests by route, tenant and outcome (admin key only).",
            ),
            &["route", "tenant", "outcome"],
        )
        .expect("valid metric");
        let tenant_rate_limited = IntCounterVec::new(
            Opts::new(
                "llm_gateway_tenant_rate_limited_total",
                "Requests refused by the rate limit, by tenant and cloud (admin key only).",
            ),
            &["tenant", "cloud"],
        )
        .expect("valid metric");
        let tenant_registry = Registry::new();
        for c in [tenant_requests.clone(), tenant_rate_limited.clone()] {
            tenant_registry
                .register(Box::new(c))
                .expect("unique metric");
        }
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "llm_gateway_request_duration_seconds",
                "Time to answer a request, by route.",
            ),
            &["route"],
        )
        .expect("valid metric");
        let cache = IntCounterVec::new(
            Opts::new(
                "llm_gateway_cache_requests_total",
                "Upstream query cache lookups by result (hit, miss).",
            ),
            &["result"],
        )
        .expect("valid metric");
        let upstream_requests = IntCounterVec::new(
            Opts::new(
                "llm_gateway_upstream_requests_total",
                "Requests to upstream Prometheus servers by upstream and outcome.",
            ),
            &["upstream", "outcome"],
        )
        .expect("valid metric");
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "llm_gateway_upstream_request_duration_seconds",
                "Upstream Prometheus request latency.",
            ),
            &["upstream"],
        )
        .expect("valid metric");
        let circuit_state = IntGaugeVec::new(
            Opts::new(
                "llm_gateway_circuit_state",
                "Breaker per upstream: 0 closed, 1 half-open, 2 open.",
            ),
            &["upstream"],
        )
        .expect("valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "llm_gateway_rate_limited_total",
                "Requests refused by the rate limit, by cloud.",
            ),
            &["cloud"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_duration.clone()),
            Box::new(cache.clone()),
            Box::new(upstream_requests.clone()),
            Box::new(upstream_duration.clone()),
            Box::new(circuit_state.clone()),
            Box::new(rate_limited.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        let build = IntGaugeVec::new(
            Opts::new(
                "llm_gateway_build_info",
                "Constant 1, by version and git revision.",
            ),
            &["version", "revision"],
        )
        .expect("valid metric");
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("GIT_REVISION")])
            .set(1);
        registry.register(Box::new(build)).expect("unique metric");
        Metrics {
            registry,
            tenant_registry,
            requests,
            tenant_requests,
            tenant_rate_limited,
            request_duration,
            cache,
            upstream_requests,
            upstream_duration,
            circuit_state,
            rate_limited,
        }
    }

    /// Registers a family owned elsewhere (the billing families).
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) {
        self.registry.register(c).expect("unique metric");
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, tenant: &str, outcome: &str) {
        self.requests.with_label_values(&[route, outcome]).inc();
        self.tenant_requests
            .with_label_values(&[route, tenant, outcome])
            .inc();
    }

    /// Counts one request refused by the rate limit.
    pub fn rate_limited(&self, tenant: &str, cloud: &str) {
        self.rate_limited.with_label_values(&[cloud]).inc();
        self.tenant_rate_limited
            .with_label_values(&[tenant, cloud])
            .inc();
    }

    /// The text of /metrics; with `tenants` (the admin key) the per-tenant families too.
    pub fn render(&self, tenants: bool) -> String {
        let mut families = self.registry.gather();
        if tenants {
            families.extend(self.tenant_registry.gather());
        }
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&families, &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_page_names_no_tenant() {
        let m = Metrics::new();
        m.request("/api/v1/budget", "secret-team", "ok");
        m.rate_limited("secret-team", "aws");
        let open = m.render(false);
        assert!(!open.contains("secret-team"), "{open}");
        assert!(
            open.contains("llm_gateway_requests_total{outcome=\"ok\",route=\"/api/v1/budget\"} 1"),
            "{open}"
        );
        let admin = m.render(true);
        assert!(admin.contains("tenant=\"secret-team\""), "{admin}");
    }
}
