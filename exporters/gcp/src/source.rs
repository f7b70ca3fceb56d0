//! `impl Source` for Vertex AI in one project: one timeSeries.list per metric type, then the
//! reduced series become samples.

use std::collections::HashMap;
use std::sync::Arc;

use common::pricing::Pricing;
use common::source::{
    Billing, BillingMode, LatencyKind, PeriodSums, Sample, SampleKind, SeriesLabels, Source,
    SourceError, Window, PROVISIONED_PART,
};
use google_cloud_monitoring_v3::model::typed_value::Value;
use google_cloud_monitoring_v3::model::{Point, TimeSeries};

use crate::monitoring::Monitoring;
use crate::token_types::UnknownTypes;
use crate::vertex::{self, error_type, price_key};

pub struct VertexSource {
    pub project: String,
    pub scope: String,
    pub monitoring: Arc<Monitoring>,
    pub pricing: Arc<Pricing>,
    pub unknown_types: Arc<UnknownTypes>,
}

fn label<'a>(ts: &'a TimeSeries, name: &str) -> &'a str {
    let resource = ts.resource.as_ref().and_then(|r| r.labels.get(name));
    let metric = ts.metric.as_ref().and_then(|m| m.labels.get(name));
    resource.or(metric).map(String::as_str).unwrap_or("")
}

/// The period a point covers: its start time, or one period before its end.
pub(crate) fn period_of(p: &Point, period: i64) -> Option<i64> {
    let interval = p.interval.as_ref()?;
    let start = match (&interval.start_time, &interval.end_time) {
        (Some(s), _) => s.seconds(),
        (None, Some(e)) => e.seconds() - period,
        (None, None) => return None,
    };
    Some(common::source::align_down(start, period))
}

pub(crate) fn number(p: &Point) -> Option<f64> {
    match p.value.as_ref()?.value.as_ref()? {
        Value::Int64Value(v) => Some(*v as f64),
        Value::DoubleValue(v) => Some(*v),
        _ => None,
    }
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

/// (mean, count) of a distribution point.
pub(crate) fn distribution(p: &Point) -> Option<(f64, f64)> {
    match p.value.as_ref()?.value.as_ref()? {
        Value::DistributionValue(d) if d.count > 0 => Some((d.mean, d.count as f64)),
        _ => None,
    }
}

impl VertexSource {
    fn labels(&self, ts: &TimeSeries) -> SeriesLabels {
        SeriesLabels {
            account: self.project.clone(),
            region: label(ts, "location").to_string(),
            model: label(ts, "model_user_id").to_string(),
            deployment: String::new(),
            billing: Billing::default(),
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

    fn price_key(&self, ts: &TimeSeries) -> String {
        price_key(
            &self.pricing,
            label(ts, "publisher"),
            label(ts, "model_user_id"),
            label(ts, "model_version_id"),
        )
    }
}

impl Source for VertexSource {
    fn scope(&self) -> &str {
        &self.scope
    }

    async fn fetch(&self, window: Window) -> Result<Vec<Sample>, SourceError> {
        let queries = vertex::queries();
        let mut results = Vec::with_capacity(queries.len());
        for q in &queries {
            let series = self
                .monitoring
                .list(&self.project, q, window)
                .await
                .map_err(|e| SourceError::new(e.to_string()))?;
            results.push(series);
        }
        let [tokens, invocations, latencies, first_token, first_token_p99]: [Vec<TimeSeries>; 5] =
            results
                .try_into()
                .map_err(|_| SourceError::new("expected one result per query"))?;

        let mut sums = PeriodSums::default();
        for ts in &tokens {
            let t = self
                .unknown_types
                .classify(label(ts, "type"), vertex::TOKEN_COUNT);
            let (mut series, mut labels, key) =
                (self.series(ts), self.labels(ts), vec![self.price_key(ts)]);
            // Provisioned throughput is billed per hour, not per token; its tokens are a part
            // of the model's usage the cloud reports apart.
            if label(ts, "request_type") == "dedicated" {
                labels.billing.mode = BillingMode::Provisioned;
                series.push_str(PROVISIONED_PART);
            }
            for p in &ts.points {
                if let (Some(period), Some(v)) = (period_of(p, window.period), number(p)) {
                    sums.add(&series, &labels, SampleKind::Tokens(t), period, v, &key);
                }
            }
        }
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
        Ok(samples)
    }
}
