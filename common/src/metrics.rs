//! Every metric an exporter serves. The contract's names and labels (what dashboards and
//! alerts query) are written here once; the metric table of docs/metrics.md is checked against them by a
//! test.
//!
//! Usage series live in the [`Accumulator`](crate::accumulator::Accumulator) (it owns totals
//! and revision state, and writes the state file), so they are rendered from it by
//! `UsageRenderer` ([`crate::exposition`]) once per publish (after the state file is
//! written, see [`crate::publish`]) instead of being mirrored into a second set of counters.
//! The exporter's own health metrics are plain `prometheus` crate metrics in [`SelfMetrics`],
//! rendered per scrape (they are small and some change between polls).
//!
//! We use the tikv `prometheus` crate rather than `prometheus-client` because the latter only
//! writes OpenMetrics names (`# TYPE x counter` with samples `x_total`), which
//! `promtool check metrics` reports as lint errors in the Prometheus text format.

use prometheus::core::Collector;
use prometheus::{
    Counter, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::base::lock;
use crate::base::unix_now;
use crate::error::FailureKind;

/// Metric names of the contract.
pub mod names {
    pub const TOKENS: &str = "llm_tokens_total";
    pub const INVOCATIONS: &str = "llm_invocations_total";
    pub const INVOCATION_ERRORS: &str = "llm_invocation_errors_total";
    pub const COST: &str = "llm_estimated_cost_usd_total";
    pub const CAPACITY_SECONDS: &str = "llm_provisioned_unit_seconds_total";
    pub const LATENCY: &str = "llm_invocation_latency_seconds";
    pub const TTFT: &str = "llm_time_to_first_token_seconds";
    pub const PRICE: &str = "llm_model_price_usd_per_token";
    pub const CATALOG_INFO: &str = "llm_pricing_catalog_info";
    pub const UNPRICED_INFO: &str = "llm_unpriced_model_info";
    pub const CATALOG_TIMESTAMP: &str = "llm_pricing_catalog_timestamp_seconds";
    pub const BUDGET: &str = "llm_budget_usd";
    pub const BUDGET_ALERT_RATIO: &str = "llm_budget_alert_ratio";

    pub const BUILD_INFO: &str = "llm_exporter_build_info";
    pub const SHARD: &str = "llm_exporter_shard";
    pub const UP: &str = "llm_exporter_up";
    pub const TARGET_UP: &str = "llm_exporter_target_up";
    pub const TARGET_FAILURE: &str = "llm_exporter_target_failure_reason";
    pub const LAST_SUCCESS: &str = "llm_exporter_last_success_timestamp_seconds";
    pub const POLL_DURATION: &str = "llm_exporter_poll_duration_seconds";
    pub const POLLS: &str = "llm_exporter_polls_total";
    pub const API_REQUESTS: &str = "llm_exporter_api_requests_total";
    pub const API_DURATION: &str = "llm_exporter_api_request_duration_seconds";
    pub const API_COST: &str = "llm_exporter_api_cost_usd_total";
    pub const API_BILLABLE_UNITS: &str = "llm_exporter_api_billable_units_total";
    pub const API_BUDGET: &str = "llm_exporter_api_budget_usd_per_month";
    pub const API_COST_PROJECTED: &str = "llm_exporter_api_cost_projected_usd_per_month";
    pub const API_SLOWDOWN: &str = "llm_exporter_api_poll_slowdown_factor";
    pub const CIRCUIT_STATE: &str = "llm_exporter_circuit_state";
    pub const CACHE_REQUESTS: &str = "llm_exporter_cache_requests_total";
    pub const LATE_DATA: &str = "llm_exporter_late_data_total";
    pub const DOWNWARD_REVISIONS: &str = "llm_exporter_downward_revisions_total";
    pub const PERIODS_SKIPPED: &str = "llm_exporter_backfill_skipped_periods_total";
    pub const SERIES: &str = "llm_exporter_series";
    pub const SERIES_DROPPED: &str = "llm_exporter_series_dropped_total";
    pub const LATE_SERIES: &str = "llm_exporter_late_series_total";
    pub const CLOCK_REPAIRS: &str = "llm_exporter_clock_repairs_total";
    pub const STATE_WRITES: &str = "llm_exporter_state_writes_total";
    pub const TARGET_LAST_SUCCESS: &str = "llm_exporter_target_last_success_timestamp_seconds";
    pub const SAMPLES_REJECTED: &str = "llm_exporter_samples_rejected_total";
    pub const AUTH_FAILURES: &str = "llm_exporter_http_auth_failures_total";
    pub const CONFIG_RELOAD_SUCCESSFUL: &str = "llm_exporter_config_last_reload_successful";
    pub const CONFIG_RELOAD_TIMESTAMP: &str =
        "llm_exporter_config_last_reload_success_timestamp_seconds";
    /// Registered by the Azure exporter only (which metrics API serves a region).
    pub const AZURE_METRICS_API: &str = "llm_exporter_azure_metrics_api";

    /// Every name above, for the test that checks docs/metrics.md.
    pub const ALL: &[&str] = &[
        TOKENS,
        INVOCATIONS,
        INVOCATION_ERRORS,
        COST,
        CAPACITY_SECONDS,
        LATENCY,
        TTFT,
        PRICE,
        CATALOG_INFO,
        UNPRICED_INFO,
        CATALOG_TIMESTAMP,
        BUDGET,
        BUDGET_ALERT_RATIO,
        BUILD_INFO,
        SHARD,
        UP,
        TARGET_UP,
        TARGET_FAILURE,
        LAST_SUCCESS,
        POLL_DURATION,
        POLLS,
        API_REQUESTS,
        API_DURATION,
        API_COST,
        API_BILLABLE_UNITS,
        CIRCUIT_STATE,
        CACHE_REQUESTS,
        LATE_DATA,
        DOWNWARD_REVISIONS,
        PERIODS_SKIPPED,
        SERIES,
        SERIES_DROPPED,
        LATE_SERIES,
        CLOCK_REPAIRS,
        STATE_WRITES,
        TARGET_LAST_SUCCESS,
        SAMPLES_REJECTED,
        AUTH_FAILURES,
        CONFIG_RELOAD_SUCCESSFUL,
        CONFIG_RELOAD_TIMESTAMP,
        AZURE_METRICS_API,
        API_BUDGET,
        API_COST_PROJECTED,
        API_SLOWDOWN,
    ];
}

/// The exporter's own health metrics.
pub struct SelfMetrics {
    pub registry: Registry,
    pub shard: IntGaugeVec,
    pub up: IntGauge,
    pub target_up: IntGaugeVec,
    /// 1 for the kind of a failing target's last failure; no series while it succeeds.
    pub target_failure: IntGaugeVec,
    pub last_success: Gauge,
    pub poll_duration: Histogram,
    pub polls: IntCounterVec,
    pub api_requests: IntCounterVec,
    pub api_duration: HistogramVec,
    pub api_cost: Counter,
    pub api_billable_units: IntCounterVec,
    pub circuit_state: IntGaugeVec,
    pub cache_requests: IntCounterVec,
    pub target_last_success: GaugeVec,
    pub state_writes: IntCounterVec,
    pub auth_failures: IntCounterVec,
    /// The API budget and the current slowdown ([`crate::budget`]).
    pub budget: crate::budget::Budget,
    /// `api_budget_usd_per_month` (no series without one).
    pub api_budget: GaugeVec,
    /// The projected monthly API bill (no series until two polls are apart in time).
    pub api_cost_projected: GaugeVec,
    pub api_slowdown: Gauge,
    pub config_reload_successful: IntGauge,
    pub config_reload_timestamp: Gauge,
    /// Points sources set aside, by reason, until the poller hands them to the accumulator
    /// (which renders `llm_exporter_samples_rejected_total` with its own reasons).
    source_rejects: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

const DURATION_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl SelfMetrics {
    /// Self-metrics of a build whose git revision is not known (tests, library users).
    pub fn new(exporter: &str, version: &str) -> SelfMetrics {
        SelfMetrics::with_revision(exporter, version, "unknown")
    }

    /// Self-metrics with `llm_exporter_build_info{exporter, version, revision}`.
    pub fn with_revision(exporter: &str, version: &str, revision: &str) -> SelfMetrics {
        let registry = Registry::new();
        // Registration only fails on duplicate names, which this fixed list cannot have.
        let reg =
            |c: Box<dyn Collector>| registry.register(c).expect("self-metric names are unique");

        let build_info = GaugeVec::new(
            Opts::new(
                names::BUILD_INFO,
                "A metric with a constant '1' value labeled by the exporter's name, version and git revision.",
            ),
            &["exporter", "version", "revision"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[exporter, version, revision])
            .set(1.0);
        reg(Box::new(build_info));
        let shard = IntGaugeVec::new(
            Opts::new(
                names::SHARD,
                "Scopes this replica polls, labeled by its --shard and --total-shards.",
            ),
            &["shard", "total_shards"],
        )
        .expect("valid metric");
        reg(Box::new(shard.clone()));

        let up = IntGauge::new(
            names::UP,
            "1 if the last poll of every target succeeded, else 0.",
        )
        .expect("valid metric");
        reg(Box::new(up.clone()));
        let target_up = IntGaugeVec::new(Opts::new(names::TARGET_UP, "1 if the last poll of this target (account and region, subscription, project) succeeded."), &["target"]).expect("valid metric");
        reg(Box::new(target_up.clone()));
        let target_failure = IntGaugeVec::new(
            Opts::new(
                names::TARGET_FAILURE,
                "1 with the reason the last poll of this target failed (throttled, denied, not_found, invalid_request, unreachable, incomplete, invalid_answer); absent while its polls succeed.",
            ),
            &["target", "reason"],
        )
        .expect("valid metric");
        reg(Box::new(target_failure.clone()));
        let last_success = Gauge::new(
            names::LAST_SUCCESS,
            "Unix time of the last successful poll of any target.",
        )
        .expect("valid metric");
        reg(Box::new(last_success.clone()));
        let poll_duration = Histogram::with_opts(
            HistogramOpts::new(names::POLL_DURATION, "Duration of one poll of one target.")
                .buckets(DURATION_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        reg(Box::new(poll_duration.clone()));
        let polls = IntCounterVec::new(
            Opts::new(
                names::POLLS,
                "Polls of the cloud, by outcome (success, error).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        reg(Box::new(polls.clone()));
        let api_requests = IntCounterVec::new(
            Opts::new(names::API_REQUESTS, "Calls to cloud APIs by API and outcome (success, error, timeout, throttled, rejected by the open circuit or rate limiter)."),
            &["api", "outcome"],
        )
        .expect("valid metric");
        reg(Box::new(api_requests.clone()));
        let api_duration = HistogramVec::new(
            HistogramOpts::new(names::API_DURATION, "Duration of calls to cloud APIs.")
                .buckets(DURATION_BUCKETS.to_vec()),
            &["api"],
        )
        .expect("valid metric");
        reg(Box::new(api_duration.clone()));
        let api_cost = Counter::new(names::API_COST, "Estimated USD the exporter's own queries cost (e.g. CloudWatch GetMetricData at $0.01 per 1,000 metrics requested).").expect("valid metric");
        reg(Box::new(api_cost.clone()));
        let api_billable_units = IntCounterVec::new(
            Opts::new(
                names::API_BILLABLE_UNITS,
                "Units the clouds bill the exporter's own queries by, per API and unit (e.g. GetMetricData metrics requested, getBatch calls, Cloud Monitoring time series returned).",
            ),
            &["api", "unit"],
        )
        .expect("valid metric");
        reg(Box::new(api_billable_units.clone()));
        let circuit_state = IntGaugeVec::new(
            Opts::new(
                names::CIRCUIT_STATE,
                "Circuit breaker state per API and target (empty: shared by every target): 0 closed, 1 half-open, 2 open.",
            ),
            &["api", "target"],
        )
        .expect("valid metric");
        reg(Box::new(circuit_state.clone()));
        let cache_requests = IntCounterVec::new(
            Opts::new(
                names::CACHE_REQUESTS,
                "Lookups in the discovery and metadata caches, by cache and result (hit, miss).",
            ),
            &["cache", "result"],
        )
        .expect("valid metric");
        reg(Box::new(cache_requests.clone()));
        let target_last_success = GaugeVec::new(
            Opts::new(
                names::TARGET_LAST_SUCCESS,
                "Unix time of the last successful poll of this target.",
            ),
            &["target"],
        )
        .expect("valid metric");
        reg(Box::new(target_last_success.clone()));
        let state_writes = IntCounterVec::new(
            Opts::new(
                names::STATE_WRITES,
                "Writes of the state file by outcome (success, error). While writes fail, usage counters are not published.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        reg(Box::new(state_writes.clone()));
        let auth_failures = IntCounterVec::new(
            Opts::new(
                names::AUTH_FAILURES,
                "Requests refused by basic authentication, by reason: malformed (credentials not in the Basic scheme), unknown_user, wrong_password. Requests without credentials (a challenge) are not counted.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        reg(Box::new(auth_failures.clone()));
        let config_reload_successful = IntGauge::new(
            names::CONFIG_RELOAD_SUCCESSFUL,
            "1 if the last config reload (SIGHUP, POST /-/reload) succeeded, 0 if the running config was kept.",
        )
        .expect("valid metric");
        config_reload_successful.set(1);
        reg(Box::new(config_reload_successful.clone()));
        let config_reload_timestamp = Gauge::new(
            names::CONFIG_RELOAD_TIMESTAMP,
            "Unix time of the last successful config load (start-up or reload).",
        )
        .expect("valid metric");
        config_reload_timestamp.set(unix_now() as f64);
        reg(Box::new(config_reload_timestamp.clone()));

        let api_budget = GaugeVec::new(
            Opts::new(names::API_BUDGET, "The configured monthly budget in USD for the exporter's own API bill (api_budget_usd_per_month); absent without one."),
            &[],
        )
        .expect("valid metric");
        reg(Box::new(api_budget.clone()));
        let api_cost_projected = GaugeVec::new(
            Opts::new(names::API_COST_PROJECTED, "The exporter's own API bill projected over 30 days from the last hour's rate of llm_exporter_api_cost_usd_total."),
            &[],
        )
        .expect("valid metric");
        reg(Box::new(api_cost_projected.clone()));
        let api_slowdown = Gauge::new(names::API_SLOWDOWN, "How much less often the exporter polls to keep its API bill within api_budget_usd_per_month (1 = the configured pace).").expect("valid metric");
        api_slowdown.set(1.0);
        reg(Box::new(api_slowdown.clone()));

        SelfMetrics {
            registry,
            shard,
            up,
            target_up,
            target_failure,
            last_success,
            poll_duration,
            polls,
            api_requests,
            api_duration,
            api_cost,
            api_billable_units,
            circuit_state,
            cache_requests,
            target_last_success,
            state_writes,
            auth_failures,
            config_reload_successful,
            config_reload_timestamp,
            budget: Default::default(),
            api_budget,
            api_cost_projected,
            api_slowdown,
            source_rejects: Default::default(),
        }
    }

    /// Records the outcome of a target's last poll: `llm_exporter_target_up`, and
    /// `llm_exporter_target_failure_reason` with the failure's kind (only that one series; none
    /// after a success).
    pub fn target_polled(&self, target: &str, failure: Option<FailureKind>) {
        self.target_up
            .with_label_values(&[target])
            .set(failure.is_none() as i64);
        for kind in FailureKind::ALL {
            if Some(kind) == failure {
                self.target_failure
                    .with_label_values(&[target, kind.as_str()])
                    .set(1);
            } else {
                // Absent already, for most: nothing to remove then.
                let _ = self
                    .target_failure
                    .remove_label_values(&[target, kind.as_str()]);
            }
        }
    }

    /// Counts `n` cloud points a source did not turn into samples, under `reason` (one of
    /// `accumulator::REJECT_REASONS`, e.g. `duplicate`): they show in
    /// `llm_exporter_samples_rejected_total` after the poll.
    pub fn reject_at_source(&self, reason: &'static str, n: u64) {
        let mut pending = lock(&self.source_rejects);
        *pending.entry(reason).or_default() += n;
    }

    /// What sources set aside since the last call (the poller's).
    pub fn take_source_rejects(&self) -> std::collections::BTreeMap<&'static str, u64> {
        std::mem::take(&mut *lock(&self.source_rejects))
    }

    /// Counts `units` billable units of `api` (e.g. "getBatch", "calls") and adds what they
    /// cost at `usd_per_unit` to `llm_exporter_api_cost_usd_total`, so both stay in step.
    pub fn bill(&self, api: &str, unit: &str, units: u64, usd_per_unit: f64) {
        self.api_billable_units
            .with_label_values(&[api, unit])
            .inc_by(units);
        self.api_cost.inc_by(units as f64 * usd_per_unit);
    }

    /// After a poll that started at `now` (Unix seconds): projects the API bill, updates the
    /// slowdown and exports both with the budget.
    pub fn record_spend(&self, now: i64) {
        let seen = self.budget.observe(now, self.api_cost.get());
        if let Some(p) = seen.projected_usd_per_month {
            self.api_cost_projected
                .with_label_values::<&str>(&[])
                .set(p);
        }
        if let Some(b) = self.budget.budget() {
            self.api_budget.with_label_values::<&str>(&[]).set(b);
        }
        self.api_slowdown.set(seen.factor);
    }

    /// Renders the self-metrics in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(8 * 1024);
        self.render_into(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the self-metrics to `out` (a few KB: rendered per scrape, so they are fresh).
    pub fn render_into(&self, out: &mut Vec<u8>) {
        // Encoding into a Vec cannot fail for well-formed families.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), out) {
            tracing::error!(error = %e, "encoding the self-metrics failed");
        }
    }
}

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
