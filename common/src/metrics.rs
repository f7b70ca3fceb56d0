//! Every metric an exporter serves. The contract's names and labels (DESIGN.md, "Metric
//! contract") are written here once; the README's metric table is checked against them by a
//! test.
//!
//! Usage series live in the [`Accumulator`] (it owns totals and revision state, and writes the
//! state file), so they are rendered from it by [`UsageRenderer`] once per publish (after the
//! state file is written, see [`crate::publish`]) instead of being mirrored into a second set
//! of counters. The exporter's own health metrics are plain
//! `prometheus` crate metrics in [`SelfMetrics`].
//!
//! We use the tikv `prometheus` crate rather than `prometheus-client` because the latter only
//! writes OpenMetrics names (`# TYPE x counter` with samples `x_total`), which
//! `promtool check metrics` reports as lint errors in the Prometheus text format.

use prometheus::core::Collector;
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{
    Counter, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::accumulator::{
    Accumulator, CounterMetric, REJECT_REASONS, SKIP_LATE_DISCOVERY, SKIP_OUTAGE,
};
use crate::config::Config;
use crate::source::{LatencyKind, SeriesLabels, TokenType};

/// Metric names of the contract.
pub mod names {
    pub const TOKENS: &str = "llm_tokens_total";
    pub const INVOCATIONS: &str = "llm_invocations_total";
    pub const INVOCATION_ERRORS: &str = "llm_invocation_errors_total";
    pub const COST: &str = "llm_estimated_cost_usd_total";
    pub const LATENCY: &str = "llm_invocation_latency_seconds";
    pub const TTFT: &str = "llm_time_to_first_token_seconds";
    pub const PRICE: &str = "llm_model_price_usd_per_token";
    pub const CATALOG_INFO: &str = "llm_pricing_catalog_info";
    pub const UNPRICED_INFO: &str = "llm_unpriced_model_info";
    pub const CATALOG_TIMESTAMP: &str = "llm_pricing_catalog_timestamp_seconds";
    pub const BUDGET: &str = "llm_budget_usd";
    pub const BUDGET_ALERT_RATIO: &str = "llm_budget_alert_ratio";

    pub const BUILD_INFO: &str = "llm_exporter_build_info";
    pub const UP: &str = "llm_exporter_up";
    pub const TARGET_UP: &str = "llm_exporter_target_up";
    pub const LAST_SUCCESS: &str = "llm_exporter_last_success_timestamp_seconds";
    pub const POLL_DURATION: &str = "llm_exporter_poll_duration_seconds";
    pub const POLLS: &str = "llm_exporter_polls_total";
    pub const API_REQUESTS: &str = "llm_exporter_api_requests_total";
    pub const API_DURATION: &str = "llm_exporter_api_request_duration_seconds";
    pub const API_COST: &str = "llm_exporter_api_cost_usd_total";
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

    /// Every name above, for the README drift test.
    pub const ALL: &[&str] = &[
        TOKENS,
        INVOCATIONS,
        INVOCATION_ERRORS,
        COST,
        LATENCY,
        TTFT,
        PRICE,
        CATALOG_INFO,
        UNPRICED_INFO,
        CATALOG_TIMESTAMP,
        BUDGET,
        BUDGET_ALERT_RATIO,
        BUILD_INFO,
        UP,
        TARGET_UP,
        LAST_SUCCESS,
        POLL_DURATION,
        POLLS,
        API_REQUESTS,
        API_DURATION,
        API_COST,
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
    ];
}

/// The exporter's own health metrics.
pub struct SelfMetrics {
    pub registry: Registry,
    pub up: IntGauge,
    pub target_up: IntGaugeVec,
    pub last_success: Gauge,
    pub poll_duration: Histogram,
    pub polls: IntCounterVec,
    pub api_requests: IntCounterVec,
    pub api_duration: HistogramVec,
    pub api_cost: Counter,
    pub circuit_state: IntGaugeVec,
    pub cache_requests: IntCounterVec,
    pub target_last_success: GaugeVec,
    pub state_writes: IntCounterVec,
}

const DURATION_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl SelfMetrics {
    pub fn new(exporter: &str, version: &str) -> SelfMetrics {
        let registry = Registry::new();
        // Registration only fails on duplicate names, which this fixed list cannot have.
        let reg =
            |c: Box<dyn Collector>| registry.register(c).expect("self-metric names are unique");

        let build_info = GaugeVec::new(
            Opts::new(
                names::BUILD_INFO,
                "A metric with a constant '1' value labeled by the exporter's name and version.",
            ),
            &["exporter", "version"],
        )
        .expect("valid metric");
        build_info.with_label_values(&[exporter, version]).set(1.0);
        reg(Box::new(build_info));

        let up = IntGauge::new(
            names::UP,
            "1 if the last poll of every target succeeded, else 0.",
        )
        .expect("valid metric");
        reg(Box::new(up.clone()));
        let target_up = IntGaugeVec::new(Opts::new(names::TARGET_UP, "1 if the last poll of this target (account and region, subscription, project) succeeded."), &["target"]).expect("valid metric");
        reg(Box::new(target_up.clone()));
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

        SelfMetrics {
            registry,
            up,
            target_up,
            last_success,
            poll_duration,
            polls,
            api_requests,
            api_duration,
            api_cost,
            circuit_state,
            cache_requests,
            target_last_success,
            state_writes,
        }
    }

    /// Renders the self-metrics in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        encode(&self.registry.gather())
    }
}

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn encode(families: &[MetricFamily]) -> String {
    let mut buf = Vec::with_capacity(64 * 1024);
    // Encoding into a Vec cannot fail for well-formed families.
    if let Err(e) = TextEncoder::new().encode(families, &mut buf) {
        tracing::error!(error = %e, "encoding /metrics failed");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Renders the accumulator's counters and gauges, the price catalog, the budgets and the
/// accumulator's own counts. Called by the publisher once per publish, never per scrape.
pub struct UsageRenderer {
    series_labels: Vec<&'static str>,
    budgets: Vec<(String, Option<f64>, f64)>,
}

struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
}

const FAMILIES: &[Family] = &[
    Family {
        name: names::TOKENS,
        help: "Tokens the cloud reported, by token type.",
        kind: MetricType::COUNTER,
    },
    Family {
        name: names::INVOCATIONS,
        help: "Requests the cloud accepted.",
        kind: MetricType::COUNTER,
    },
    Family {
        name: names::INVOCATION_ERRORS,
        help: "Failed or throttled requests, by error type (client, server, throttled).",
        kind: MetricType::COUNTER,
    },
    Family {
        name: names::COST,
        help: "Estimated cost in USD: tokens times the catalog's list price.",
        kind: MetricType::COUNTER,
    },
    Family {
        name: names::LATENCY,
        help: "Invocation latency of the newest complete period, by statistic.",
        kind: MetricType::GAUGE,
    },
    Family {
        name: names::TTFT,
        help: "Time to first token of the newest complete period, by statistic.",
        kind: MetricType::GAUGE,
    },
];

impl UsageRenderer {
    pub fn new(config: &Config) -> Self {
        let mut series_labels = vec!["cloud", "account", "region", "model", "deployment"];
        if !config.tenants.is_empty() {
            series_labels.push("tenant");
        }
        UsageRenderer {
            series_labels,
            budgets: config
                .tenants
                .iter()
                .map(|t| (t.name.clone(), t.monthly_budget_usd, t.alert_ratio))
                .collect(),
        }
    }

    /// The usage exposition in the Prometheus text format.
    pub fn render(&self, acc: &Accumulator) -> String {
        let mut families = self.families(acc);
        // The encoder refuses a family without samples (as Registry::gather drops them).
        families.retain(|f| !f.get_metric().is_empty());
        encode(&families)
    }

    fn series_pairs(
        &self,
        cloud: &str,
        labels: &SeriesLabels,
        tenant: &str,
        extra: &[(&str, &str)],
    ) -> Vec<LabelPair> {
        let mut pairs = Vec::with_capacity(self.series_labels.len() + extra.len());
        let values = [
            cloud,
            &labels.account,
            &labels.region,
            &labels.model,
            &labels.deployment,
            tenant,
        ];
        for (name, value) in self.series_labels.iter().zip(values) {
            pairs.push(label(name, value));
        }
        pairs.extend(extra.iter().map(|(n, v)| label(n, v)));
        pairs
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

fn family(name: &str, help: &str, kind: MetricType) -> MetricFamily {
    let mut mf = MetricFamily::default();
    mf.set_name(name.to_string());
    mf.set_help(help.to_string());
    mf.set_field_type(kind);
    mf
}

fn metric(labels: Vec<LabelPair>, kind: MetricType, value: f64) -> proto::Metric {
    let mut m = proto::Metric::default();
    m.set_label(labels);
    if kind == MetricType::COUNTER {
        let mut c = proto::Counter::default();
        c.set_value(value);
        m.set_counter(c);
    } else {
        let mut g = proto::Gauge::default();
        g.set_value(value);
        m.set_gauge(g);
    }
    m
}

impl UsageRenderer {
    fn families(&self, acc: &Accumulator) -> Vec<MetricFamily> {
        let cloud = acc.cloud().to_string();
        let mut fams: Vec<MetricFamily> = FAMILIES
            .iter()
            .map(|f| family(f.name, f.help, f.kind))
            .collect();
        for (key, value) in acc.counters() {
            let (idx, extra): (usize, [(&str, &str); 1]) = match &key.metric {
                CounterMetric::Tokens(t) => (0, [("token_type", t.as_str())]),
                CounterMetric::Invocations => (1, [("", "")]),
                CounterMetric::Errors(e) => (2, [("error_type", e.as_str())]),
                CounterMetric::Cost(t) => (3, [("token_type", t.as_str())]),
            };
            let extra: &[(&str, &str)] = if extra[0].0.is_empty() { &[] } else { &extra };
            let labels = self.series_pairs(&cloud, &key.labels, &value.tenant, extra);
            fams[idx]
                .mut_metric()
                .push(metric(labels, MetricType::COUNTER, value.total));
        }
        for (key, value) in acc.gauges() {
            let idx = match key.kind {
                LatencyKind::Invocation => 4,
                LatencyKind::FirstToken => 5,
            };
            let labels =
                self.series_pairs(&cloud, &key.labels, &value.tenant, &[("stat", &key.stat)]);
            fams[idx]
                .mut_metric()
                .push(metric(labels, MetricType::GAUGE, value.value));
        }

        let mut price = family(
            names::PRICE,
            "List price in USD per token of the models seen, from the loaded catalog.",
            MetricType::GAUGE,
        );
        for model in acc.priced() {
            if let Some(p) = acc.pricing().model(model) {
                for t in TokenType::PRICED {
                    if let Some(v) = p.get(t) {
                        price.mut_metric().push(metric(
                            vec![
                                label("cloud", &cloud),
                                label("model", model),
                                label("token_type", t.as_str()),
                            ],
                            MetricType::GAUGE,
                            v,
                        ));
                    }
                }
            }
        }
        fams.push(price);

        let mut info = family(
            names::CATALOG_INFO,
            "The price catalogs loaded (bundled, then the pricing file).",
            MetricType::GAUGE,
        );
        for s in acc.pricing().sources() {
            info.mut_metric().push(metric(
                vec![label("source", &s.source), label("version", &s.version)],
                MetricType::GAUGE,
                1.0,
            ));
        }
        fams.push(info);

        let mut built = family(
            names::CATALOG_TIMESTAMP,
            "Unix time the loaded price catalogs were published (alert when they grow old).",
            MetricType::GAUGE,
        );
        for s in acc.pricing().sources() {
            if let Some(t) = s.built_at {
                built.mut_metric().push(metric(
                    vec![label("source", &s.source), label("version", &s.version)],
                    MetricType::GAUGE,
                    t as f64,
                ));
            }
        }
        fams.push(built);

        let mut unpriced = family(
            names::UNPRICED_INFO,
            "Models whose tokens were counted without a price for this token type.",
            MetricType::GAUGE,
        );
        for (model, t) in acc.unpriced() {
            unpriced.mut_metric().push(metric(
                vec![
                    label("cloud", &cloud),
                    label("model", model),
                    label("token_type", t.as_str()),
                ],
                MetricType::GAUGE,
                1.0,
            ));
        }
        fams.push(unpriced);

        let mut budget = family(
            names::BUDGET,
            "Configured tenant budgets in USD.",
            MetricType::GAUGE,
        );
        let mut ratio = family(
            names::BUDGET_ALERT_RATIO,
            "Fraction of the budget at which budget alerts fire.",
            MetricType::GAUGE,
        );
        for (tenant, usd, alert_ratio) in &self.budgets {
            if let Some(usd) = usd {
                budget.mut_metric().push(metric(
                    vec![label("tenant", tenant), label("period", "monthly")],
                    MetricType::GAUGE,
                    *usd,
                ));
            }
            ratio.mut_metric().push(metric(
                vec![label("tenant", tenant)],
                MetricType::GAUGE,
                *alert_ratio,
            ));
        }
        fams.push(budget);
        fams.push(ratio);

        let stats = acc.stats();
        let plain = |name: &str, help: &str, kind: MetricType, v: f64| {
            let mut f = family(name, help, kind);
            f.mut_metric().push(metric(vec![], kind, v));
            f
        };
        fams.push(plain(
            names::LATE_DATA,
            "Periods whose value grew after they were first counted.",
            MetricType::COUNTER,
            stats.late_data as f64,
        ));
        fams.push(plain(
            names::DOWNWARD_REVISIONS,
            "Periods the cloud revised downwards (never subtracted from counters).",
            MetricType::COUNTER,
            stats.downward_revisions as f64,
        ));
        let mut skipped = family(
            names::PERIODS_SKIPPED,
            "Periods given up, by reason: outage (an outage outlasted max_backfill), late_discovery (a series discovered later than max_backfill after counting started).",
            MetricType::COUNTER,
        );
        for reason in [SKIP_OUTAGE, SKIP_LATE_DISCOVERY] {
            let v = stats.periods_skipped.get(reason).copied().unwrap_or(0);
            skipped.mut_metric().push(metric(
                vec![label("reason", reason)],
                MetricType::COUNTER,
                v as f64,
            ));
        }
        fams.push(skipped);
        fams.push(plain(
            names::LATE_SERIES,
            "Cloud series first seen after their first minute had passed the lookback (discovery lag); counted back from that minute.",
            MetricType::COUNTER,
            stats.late_series as f64,
        ));
        let mut rejected = family(
            names::SAMPLES_REJECTED,
            "Samples from the cloud not used, by reason: non_finite, negative, implausible (above max_value_per_minute), future (held until their minute is reached), before_window.",
            MetricType::COUNTER,
        );
        for reason in REJECT_REASONS {
            let v = stats.rejected.get(reason).copied().unwrap_or(0);
            rejected.mut_metric().push(metric(
                vec![label("reason", reason)],
                MetricType::COUNTER,
                v as f64,
            ));
        }
        fams.push(rejected);
        fams.push(plain(
            names::CLOCK_REPAIRS,
            "Times the host clock was found to have stepped back and open periods were fetched again.",
            MetricType::COUNTER,
            stats.clock_repairs as f64,
        ));
        fams.push(plain(
            names::SERIES,
            "Usage series held in memory.",
            MetricType::GAUGE,
            acc.series() as f64,
        ));
        fams.push(plain(
            names::SERIES_DROPPED,
            "Samples of new series refused by the max_series cap.",
            MetricType::COUNTER,
            stats.series_dropped as f64,
        ));
        fams
    }
}
