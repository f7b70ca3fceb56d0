//! `impl Source` for Vertex AI in one project: one timeSeries.list per metric type, then the
//! reduced series become samples.

use std::collections::HashMap;
use std::sync::Arc;

use common::pricing::Pricing;
use common::source::{
    Billing, LatencyKind, PeriodSums, Sample, SampleKind, SeriesLabels, Source, SourceError, Window,
};
use google_cloud_monitoring_v3::model::typed_value::Value;
use google_cloud_monitoring_v3::model::{Point, TimeSeries};

use crate::monitoring::Monitoring;
use crate::vertex::{self, error_type, price_key, token_type};

pub struct VertexSource {
    pub project: String,
    pub scope: String,
    pub monitoring: Arc<Monitoring>,
    pub pricing: Arc<Pricing>,
}

fn label<'a>(ts: &'a TimeSeries, name: &str) -> &'a str {
    let resource = ts.resource.as_ref().and_then(|r| r.labels.get(name));
    let metric = ts.metric.as_ref().and_then(|m| m.labels.get(name));
    resource.or(metric).map(String::as_str).unwrap_or("")
}

/// The period a point covers: its start time, or one period before its end.
fn period_of(p: &Point, period: i64) -> Option<i64> {
    let interval = p.interval.as_ref()?;
    let start = match (&interval.start_time, &interval.end_time) {
        (Some(s), _) => s.seconds(),
        (None, Some(e)) => e.seconds() - period,
        (None, None) => return None,
    };
    Some(common::source::align_down(start, period))
}

fn number(p: &Point) -> Option<f64> {
    match p.value.as_ref()?.value.as_ref()? {
        Value::Int64Value(v) => Some(*v as f64),
        Value::DoubleValue(v) => Some(*v),
        _ => None,
    }
}

/// (mean, count) of a distribution point.
fn distribution(p: &Point) -> Option<(f64, f64)> {
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
        let [tokens, invocations, latencies, first_token]: [Vec<TimeSeries>; 4] = results
            .try_into()
            .map_err(|_| SourceError::new("expected one result per query"))?;

        let mut sums = PeriodSums::default();
        for ts in &tokens {
            let Some(t) = token_type(label(ts, "type")) else {
                continue;
            };
            let (series, labels, key) = (self.series(ts), self.labels(ts), self.price_key(ts));
            // Provisioned throughput is billed per hour, not per token.
            let provisioned = label(ts, "request_type") == "dedicated";
            for p in &ts.points {
                if let (Some(period), Some(v)) = (period_of(p, window.period), number(p)) {
                    let billing = if provisioned {
                        Billing::Provisioned
                    } else {
                        Billing::PerToken
                    };
                    sums.add(
                        &series,
                        &labels,
                        SampleKind::Tokens(t),
                        billing,
                        period,
                        v,
                        &key,
                    );
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
        // A request's latency is its model time plus the serving overhead: the means add.
        let mut latency: HashMap<(SeriesLabels, i64), f64> = HashMap::new();
        for ts in &latencies {
            let labels = self.labels(ts);
            for p in &ts.points {
                if let (Some(period), Some((mean, _))) =
                    (period_of(p, window.period), distribution(p))
                {
                    *latency.entry((labels.clone(), period)).or_default() += mean;
                }
            }
        }
        let avg = |kind| SampleKind::Latency {
            kind,
            stat: "avg".into(),
        };
        samples.extend(latency.into_iter().map(|((labels, period), ms)| {
            // Gauges are not counted: their identity is their labels.
            let id = labels.model.clone();
            Sample::new(
                id,
                labels,
                avg(LatencyKind::Invocation),
                period,
                ms / 1000.0,
            )
        }));
        for ts in &first_token {
            let labels = self.labels(ts);
            for p in &ts.points {
                if let (Some(period), Some((mean, _))) =
                    (period_of(p, window.period), distribution(p))
                {
                    samples.push(Sample::new(
                        self.series(ts),
                        labels.clone(),
                        avg(LatencyKind::FirstToken),
                        period,
                        mean / 1000.0,
                    ));
                }
            }
        }
        Ok(samples)
    }
}
