//! How a point of a `timeSeries.list` answer is read (its period, its number or distribution),
//! and repeated points, handled as Cloud Monitoring documents them.
//!
//! - A time series is its metric (type and labels) and monitored resource (type and labels).
//!   The same series may come back in several entries: `pageSize` counts points, so a long
//!   series is split across pages. Its entries are merged, never treated as repeats.
//! - With an aligner, "all the data points in an alignment_period [are] mathematically grouped
//!   together, resulting in a single data point for each alignment_period" (Aggregation
//!   reference). Two points of one series for the same period are therefore the same point
//!   twice, not more usage: it is counted once, at the larger value (for a distribution, the
//!   one with more requests; the accumulator also keeps the largest value seen per minute),
//!   counted in `llm_exporter_samples_rejected_total{reason="duplicate"}` and logged at most
//!   once a minute.
//! - Distinct series that map to one exported series (token `type`, `request_type`,
//!   `response_code`, latency parts) are distinct usage and are still summed by the source.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::accumulator::REJECT_DUPLICATE;
use common::base::lock;
use common::metrics::SelfMetrics;
use google_cloud_monitoring_v3::model::typed_value::Value;
use google_cloud_monitoring_v3::model::{Point, TimeSeries};

/// The period a point covers: its start time, or one period before its end.
pub fn period_of(p: &Point, period: i64) -> Option<i64> {
    let interval = p.interval.as_ref()?;
    let start = match (&interval.start_time, &interval.end_time) {
        (Some(s), _) => s.seconds(),
        (None, Some(e)) => e.seconds() - period,
        (None, None) => return None,
    };
    Some(common::source::align_down(start, period))
}

pub fn number(p: &Point) -> Option<f64> {
    match p.value.as_ref()?.value.as_ref()? {
        Value::Int64Value(v) => Some(*v as f64),
        Value::DoubleValue(v) => Some(*v),
        _ => None,
    }
}

/// (mean, count) of a distribution point.
pub fn distribution(p: &Point) -> Option<(f64, f64)> {
    match p.value.as_ref()?.value.as_ref()? {
        Value::DistributionValue(d) if d.count > 0 => Some((d.mean, d.count as f64)),
        _ => None,
    }
}

/// The series with each period's point kept once, and how many repeated points were dropped.
pub fn merge(series: Vec<TimeSeries>, period: i64) -> (Vec<TimeSeries>, u64) {
    let mut out: Vec<TimeSeries> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // (series, period) -> position of its point in `out[series].points`.
    let mut kept: HashMap<(usize, i64), usize> = HashMap::new();
    let mut dropped = 0;
    for mut ts in series {
        let points = std::mem::take(&mut ts.points);
        let i = *index.entry(identity(&ts)).or_insert_with(|| {
            out.push(ts);
            out.len() - 1
        });
        for p in points {
            // A point without an interval is skipped by the source anyway.
            let Some(t) = period_of(&p, period) else {
                out[i].points.push(p);
                continue;
            };
            match kept.get(&(i, t)) {
                Some(&j) => {
                    dropped += 1;
                    if weight(&p) > weight(&out[i].points[j]) {
                        out[i].points[j] = p;
                    }
                }
                None => {
                    kept.insert((i, t), out[i].points.len());
                    out[i].points.push(p);
                }
            }
        }
    }
    (out, dropped)
}

/// The series' identity: metric and resource, types and every label.
fn identity(ts: &TimeSeries) -> String {
    let metric = ts.metric.as_ref();
    let resource = ts.resource.as_ref();
    let sorted = |m: Option<&HashMap<String, String>>| -> BTreeMap<String, String> {
        m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    format!(
        "{:?}|{:?}|{:?}|{:?}",
        metric.map(|m| m.r#type.as_str()),
        sorted(metric.map(|m| &m.labels)),
        resource.map(|r| r.r#type.as_str()),
        sorted(resource.map(|r| &r.labels)),
    )
}

/// Which of two points for one period to keep: the larger value, or the distribution with
/// more requests (NaN never wins).
fn weight(p: &Point) -> f64 {
    number(p)
        .or_else(|| distribution(p).map(|(_, count)| count))
        .filter(|v| !v.is_nan())
        .unwrap_or(f64::NEG_INFINITY)
}

/// Counts repeated points in the shared self-metric, with a rate-limited warning.
pub struct Duplicates {
    metrics: std::sync::Arc<SelfMetrics>,
    last_log: Mutex<Option<Instant>>,
}

impl Duplicates {
    pub fn new(metrics: std::sync::Arc<SelfMetrics>) -> Duplicates {
        Duplicates {
            metrics,
            last_log: Mutex::new(None),
        }
    }

    /// Counts `n` dropped points of `metric_type` (e.g. `.../token_count`).
    pub fn count(&self, project: &str, metric_type: &str, n: u64) {
        if n == 0 {
            return;
        }
        let metric = metric_type.rsplit('/').next().unwrap_or(metric_type);
        self.metrics.reject_at_source(REJECT_DUPLICATE, n);
        let mut last = lock(&self.last_log);
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(project, metric, points = n, "Cloud Monitoring returned points twice for the same series and minute: each counted once at its larger value (logged at most once a minute; see llm_exporter_samples_rejected_total{{reason=\"duplicate\"}})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn series(model: &str, t: &str, points: &[(i64, i64)]) -> TimeSeries {
        serde_json::from_value(json!({
            "metric": {"type": "aiplatform.googleapis.com/publisher/online_serving/token_count",
                       "labels": {"type": t}},
            "resource": {"type": "aiplatform.googleapis.com/PublisherModel",
                         "labels": {"model_user_id": model}},
            "points": points.iter().map(|(start, v)| json!({
                "interval": {"startTime": rfc3339(*start), "endTime": rfc3339(start + 60)},
                "value": {"int64Value": v.to_string()},
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn rfc3339(secs: i64) -> serde_json::Value {
        serde_json::to_value(google_cloud_wkt::Timestamp::clamp(secs, 0)).unwrap()
    }

    fn values(ts: &TimeSeries) -> Vec<(i64, f64)> {
        let mut v: Vec<(i64, f64)> = ts
            .points
            .iter()
            .map(|p| (period_of(p, 60).unwrap(), number(p).unwrap()))
            .collect();
        v.sort_by_key(|p| p.0);
        v
    }

    #[test]
    fn a_repeated_point_counts_once_at_its_larger_value() {
        let (out, dropped) = merge(
            vec![series(
                "gemini",
                "input",
                &[(120, 5), (60, 7), (120, 9), (60, 7)],
            )],
            60,
        );
        assert_eq!(dropped, 2);
        assert_eq!(values(&out[0]), [(60, 7.0), (120, 9.0)]);
    }

    #[test]
    fn one_series_split_across_pages_is_merged_and_a_point_repeated_across_them_counts_once() {
        let (out, dropped) = merge(
            vec![
                series("gemini", "input", &[(180, 3), (120, 2)]),
                series("gemini", "input", &[(120, 2), (60, 1)]),
            ],
            60,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(dropped, 1);
        assert_eq!(values(&out[0]), [(60, 1.0), (120, 2.0), (180, 3.0)]);
    }

    #[test]
    fn distinct_series_for_the_same_minute_are_kept_apart() {
        let (out, dropped) = merge(
            vec![
                series("gemini", "input", &[(60, 1)]),
                series("gemini", "output", &[(60, 2)]),
                series("claude", "input", &[(60, 3)]),
            ],
            60,
        );
        assert_eq!((out.len(), dropped), (3, 0));
    }

    #[test]
    fn repeats_are_handed_to_the_shared_rejection_counter() {
        let metrics = std::sync::Arc::new(SelfMetrics::new("gcp", "test"));
        let d = Duplicates::new(metrics.clone());
        d.count(
            "p",
            "aiplatform.googleapis.com/publisher/online_serving/token_count",
            2,
        );
        d.count(
            "p",
            "aiplatform.googleapis.com/publisher/online_serving/token_count",
            0,
        );
        let taken = metrics.take_source_rejects();
        assert_eq!(taken.get(REJECT_DUPLICATE), Some(&2));
        assert!(metrics.take_source_rejects().is_empty(), "taken once");
    }
}
