//! `impl Source` for Vertex AI in one project: one timeSeries.list per metric type, then the
//! series become samples. Tokens are revised per billing part of a model version
//! (billing.rs); a part this process has not fetched before is fetched back to the window's
//! `backfill_start` with one more call, so its minutes count from when counting started.
//!
//! Each exporter has the same files for the same roles (docs/architecture.md, "File map").
//! Vertex's own: `token_types.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::error::SourceError;
use common::idle::{Idle, Plan};
use common::source::{
    BillingMode, LatencyKind, PeriodSums, Sample, SampleKind, ScopeFetch, SeriesLabels, Source,
    Window, Windows,
};
use google_cloud_monitoring_v3::model::TimeSeries;

use crate::billing::{self, WarnOnce};
use crate::metrics_api::Monitoring;
use crate::models::{self, error_type, price_keys};
use crate::points::{distribution, number, period_of};
use crate::token_types::UnknownTypes;
use common::base::lock;

/// Part ids remembered as fetched; past this many the set starts again (each part is then
/// fetched back once more, and counted once: the accumulator keeps what it counted).
const MAX_FETCHED: usize = 100_000;

pub struct VertexSource {
    pub project: String,
    pub scope: String,
    pub monitoring: Arc<Monitoring>,
    pub unknown_types: Arc<UnknownTypes>,
    pub unread: Arc<WarnOnce>,
    /// Token part ids fetched by an earlier successful poll.
    pub fetched: Mutex<HashSet<String>>,
    /// Whether the project is idle (watched once per `gcp.idle_poll_interval`).
    pub idle: Idle,
    /// Whether the last fetch returned a token or an invocation.
    pub traffic: Mutex<bool>,
}

fn label<'a>(ts: &'a TimeSeries, name: &str) -> &'a str {
    let resource = ts.resource.as_ref().and_then(|r| r.labels.get(name));
    let metric = ts.metric.as_ref().and_then(|m| m.labels.get(name));
    resource.or(metric).map(String::as_str).unwrap_or("")
}

/// Request-weighted means in milliseconds per exported series and period: the model versions
/// of one model (not a label) are averaged by their request counts, never added.
#[derive(Default)]
struct Weighted(HashMap<(SeriesLabels, i64), (f64, f64)>);

impl Weighted {
    fn add(&mut self, labels: SeriesLabels, period: i64, mean_ms: f64, count: f64) {
        let e = self.0.entry((labels, period)).or_default();
        e.0 += mean_ms * count;
        e.1 += count;
    }

    fn samples(self, kind: LatencyKind) -> impl Iterator<Item = Sample> {
        self.0
            .into_iter()
            .map(move |((labels, period), (sum, count))| {
                // Gauges are not counted: their identity is their labels.
                Sample::new(
                    labels.model.clone(),
                    labels,
                    SampleKind::Latency {
                        kind,
                        stat: "avg".into(),
                    },
                    period,
                    sum / count / 1000.0,
                )
            })
    }
}

impl VertexSource {
    fn labels(&self, ts: &TimeSeries) -> SeriesLabels {
        SeriesLabels {
            account: self.project.clone(),
            region: label(ts, "location").to_string(),
            model: label(ts, "model_user_id").to_string(),
            deployment: String::new(),
            ..SeriesLabels::default()
        }
    }

    /// The cloud's identity of a series: the PublisherModel resource labels (the model
    /// version included, so two versions are revised and priced apart).
    fn series(&self, ts: &TimeSeries) -> String {
        format!(
            "{}|{}|{}|{}",
            label(ts, "location"),
            label(ts, "publisher"),
            label(ts, "model_user_id"),
            label(ts, "model_version_id")
        )
    }

    fn price_keys(&self, ts: &TimeSeries) -> Vec<String> {
        price_keys(
            label(ts, "publisher"),
            label(ts, "model_user_id"),
            label(ts, "model_version_id"),
        )
    }

    /// Adds the points of raw `token_count` series to `sums`, each under its billing part's
    /// series id, for the parts `keep` accepts; returns the part ids seen.
    fn add_tokens(
        &self,
        sums: &mut PeriodSums,
        series: &[TimeSeries],
        period: i64,
        keep: &dyn Fn(&str) -> bool,
    ) -> HashSet<String> {
        let mut ids = HashSet::new();
        for ts in series {
            let t = self
                .unknown_types
                .classify(label(ts, "type"), models::TOKEN_COUNT);
            let (part, unread) = billing::part(&billing::Labels {
                request_type: label(ts, "request_type"),
                source: label(ts, "source"),
                max_token_size: label(ts, "max_token_size"),
                shared_request_type: label(ts, "shared_request_type"),
                location: label(ts, "location"),
            });
            if let Some(u) = unread {
                self.unread
                    .note(u, label(ts, "source"), label(ts, "max_token_size"));
            }
            let id = format!("{}{}", self.series(ts), part.suffix);
            if !keep(&id) {
                continue;
            }
            let mut labels = self.labels(ts);
            labels.billing = part.billing;
            let keys = self.price_keys(ts);
            for p in &ts.points {
                if let (Some(start), Some(v)) = (period_of(p, period), number(p)) {
                    sums.add(&id, &labels, SampleKind::Tokens(t), start, v, &keys);
                }
            }
            ids.insert(id);
        }
        ids
    }

    /// Provisioned Throughput GSUs per minute as unit-hours (GSUs x minutes / 60), under
    /// `<series>#capacity`, priced at the entry's `provisioned_usd_per_unit_hour`.
    fn add_capacity(&self, sums: &mut PeriodSums, series: &[TimeSeries], period: i64) {
        for ts in series {
            let id = format!("{}#capacity", self.series(ts));
            let mut labels = self.labels(ts);
            labels.billing.mode = BillingMode::Provisioned;
            labels.billing.regional = labels.region != "global";
            let keys = self.price_keys(ts);
            for p in &ts.points {
                if let (Some(start), Some(units)) = (period_of(p, period), number(p)) {
                    if units.is_finite() && units > 0.0 {
                        let hours = units * period as f64 / 3600.0;
                        sums.add(
                            &id,
                            &labels,
                            SampleKind::CapacityUnitHours,
                            start,
                            hours,
                            &keys,
                        );
                    }
                }
            }
        }
    }
}

impl Source for VertexSource {
    fn scope(&self) -> &str {
        &self.scope
    }

    /// An idle project is not asked at all between its watches (see [`common::idle`]): every
    /// poll asks for every counter (tokens, invocations, GSUs), so a watch is a whole poll,
    /// and the minutes skipped stay open for it.
    async fn fetch_scopes(&self, windows: &(dyn Windows + '_)) -> Vec<ScopeFetch> {
        let now = Instant::now();
        if self.idle.plan(&self.scope, now) == Plan::Skip {
            return Vec::new();
        }
        let window = windows.window(&self.scope);
        let result = self.fetch(window).await;
        if result.is_ok() {
            let traffic = *lock(&self.traffic);
            self.idle.polled(&self.scope, Plan::Full, traffic, now);
        }
        vec![ScopeFetch {
            scope: self.scope.clone(),
            window,
            result,
        }]
    }

    async fn fetch(&self, window: Window) -> Result<Vec<Sample>, SourceError> {
        let queries = models::queries();
        let queries = &queries;
        let list = |q: usize| async move {
            self.monitoring
                .list(&self.project, &queries[q], window)
                .await
        };
        let tokens = list(models::TOKENS).await?;
        let invocations = list(models::INVOCATIONS).await?;
        let gsu = list(models::GSU).await?;
        // Latencies are distributions of requests: a window without a token or an invocation
        // has none, and asking would still bill one series per call. They are gauges, so a
        // latency Vertex publishes before its invocation count is read at the next poll.
        let traffic = !tokens.is_empty() || !invocations.is_empty();
        *lock(&self.traffic) = traffic;
        let (latencies, first_token, first_token_p99) = if traffic {
            (
                list(models::LATENCIES).await?,
                list(models::FIRST_TOKEN).await?,
                list(models::FIRST_TOKEN_P99).await?,
            )
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };

        let mut sums = PeriodSums::default();
        let seen = self.add_tokens(&mut sums, &tokens, window.period, &|_| true);
        let new: HashSet<String> = {
            let fetched = lock(&self.fetched);
            seen.difference(&fetched).cloned().collect()
        };
        if !new.is_empty() && window.backfill_start < window.start {
            // The closed minutes since counting started, for the new parts only (the
            // accumulator counts them for series it has never seen). One call, billed per
            // series returned, made only when a part appears.
            let older = Window {
                start: window.backfill_start,
                end: window.start,
                ..window
            };
            let series = self
                .monitoring
                .list(&self.project, &queries[models::TOKENS], older)
                .await?;
            tracing::debug!(project = %self.project, parts = new.len(), from = window.backfill_start, "new token parts fetched from when counting started");
            self.add_tokens(&mut sums, &series, window.period, &|id| new.contains(id));
        }
        self.add_capacity(&mut sums, &gsu, window.period);
        for ts in &invocations {
            let (series, labels) = (self.series(ts), self.labels(ts));
            let error = error_type(label(ts, "response_code"), label(ts, "error_category"));
            for p in &ts.points {
                if let (Some(period), Some(v)) = (period_of(p, window.period), number(p)) {
                    sums.add_requests(&series, &labels, period, v, error);
                }
            }
        }

        let mut samples: Vec<Sample> = sums.into_samples().collect();
        // A request's latency is its model time plus the serving overhead, so the two means
        // add within one model version; versions are then weighted by their request counts.
        let mut per_version: HashMap<(String, i64), (SeriesLabels, f64, f64)> = HashMap::new();
        for ts in &latencies {
            let labels = self.labels(ts);
            for p in &ts.points {
                if let (Some(period), Some((mean, count))) =
                    (period_of(p, window.period), distribution(p))
                {
                    let e = per_version
                        .entry((self.series(ts), period))
                        .or_insert_with(|| (labels.clone(), 0.0, 0.0));
                    e.1 += mean;
                    // Every request has both parts: the counts agree; take the larger.
                    e.2 = e.2.max(count);
                }
            }
        }
        let mut invocation = Weighted::default();
        for ((_, period), (labels, mean, count)) in per_version {
            invocation.add(labels, period, mean, count);
        }
        let mut first = Weighted::default();
        for ts in &first_token {
            let labels = self.labels(ts);
            for p in &ts.points {
                if let (Some(period), Some((mean, count))) =
                    (period_of(p, window.period), distribution(p))
                {
                    first.add(labels.clone(), period, mean, count);
                }
            }
        }
        samples.extend(invocation.samples(LatencyKind::Invocation));
        samples.extend(first.samples(LatencyKind::FirstToken));
        for ts in &first_token_p99 {
            let labels = self.labels(ts);
            for p in &ts.points {
                if let (Some(period), Some(ms)) = (period_of(p, window.period), number(p)) {
                    if !ms.is_finite() || ms < 0.0 {
                        continue;
                    }
                    samples.push(Sample::new(
                        labels.model.clone(),
                        labels.clone(),
                        SampleKind::Latency {
                            kind: LatencyKind::FirstToken,
                            stat: "p99".into(),
                        },
                        period,
                        ms / 1000.0,
                    ));
                }
            }
        }
        let mut fetched = lock(&self.fetched);
        if fetched.len() + seen.len() > MAX_FETCHED {
            fetched.clear();
        }
        fetched.extend(seen);
        Ok(samples)
    }
}

#[cfg(test)]
mod layer_tests {
    /// The crate's layers, lowest first: a module uses only modules before it.
    const LAYERS: &[&str] = &[
        "error",
        "models",
        "billing",
        "token_types",
        "points",
        "http",
        "metrics_api",
        "demo",
        "source",
    ];

    #[test]
    fn modules_import_each_other_one_way() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        testkit::layers::assert_one_way(&src, LAYERS);
    }
}
