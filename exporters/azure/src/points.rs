//! Which of Azure's datapoints count. A metrics answer (getBatch or Metrics - List) holds, per
//! resource and metric, one time series per combination of dimension values (its
//! `metadatavalues`), each with one point per time grain (`data`, one `timeStamp` each:
//! metricBatch.json / metrics_API.json, "TimeSeriesElement"). So:
//!
//! - points of the same minute in time series with *different* dimension values are different
//!   slices of that minute (e.g. requests by `StatusCode`): they are summed;
//! - a second point for a minute already given by the same resource, metric and dimension
//!   values (the same series repeated, a point repeated inside one series, or a metric listed
//!   twice) is not a new slice but the same one again: it is dropped, never summed, and logged.
//!
//! Dimension names and values compare case-insensitively, as Azure treats them (responses
//! lower-case dimension names; the exporter's series identity lower-cases deployment names).

use std::collections::HashSet;

use common::source::align_down;

use crate::answer::Metric;

/// A slice of a minute: metric (lower-case), dimension (name, value) pairs (lower-case,
/// sorted), minute.
type Slice = (String, Vec<(String, String)>, i64);

/// Removes from `metrics` (one resource's) every point repeating a minute (of `period`
/// seconds) already given for the same metric and dimension values; returns how many.
/// The first point given for a minute is kept.
pub fn drop_repeated(metrics: &mut [Metric], period: i64) -> usize {
    let mut seen: HashSet<Slice> = HashSet::new();
    let mut dropped = 0;
    for metric in metrics.iter_mut() {
        let name = metric.name.value.to_ascii_lowercase();
        for ts in &mut metric.timeseries {
            let mut dims: Vec<(String, String)> = ts
                .metadatavalues
                .iter()
                .map(|m| {
                    (
                        m.name.value.to_ascii_lowercase(),
                        m.value.as_deref().unwrap_or("").to_ascii_lowercase(),
                    )
                })
                .collect();
            dims.sort();
            ts.data.retain(|point| {
                // A point without a readable time is left for the caller to skip.
                let Some(minute) = point.seconds().map(|s| align_down(s, period)) else {
                    return true;
                };
                let fresh = seen.insert((name.clone(), dims.clone(), minute));
                if !fresh {
                    dropped += 1;
                }
                fresh
            });
        }
    }
    dropped
}

/// Removes from `metrics` every point dated before 1970 (Azure has answered
/// `0001-01-01T00:00:00Z`, .NET's `DateTime.MinValue`); returns how many. Such a point has no
/// Unix time, lies before any window, and is counted as rejected (`before_window`) by the
/// caller rather than silently skipped. Points whose time cannot be read at all are left for
/// the caller to skip.
pub fn drop_before_epoch(metrics: &mut [Metric]) -> usize {
    let mut dropped = 0;
    for ts in metrics.iter_mut().flat_map(|m| m.timeseries.iter_mut()) {
        ts.data.retain(|point| {
            let before = point.seconds().is_none() && is_before_epoch(&point.time_stamp);
            dropped += usize::from(before);
            !before
        });
    }
    dropped
}

/// True for an RFC 3339 time whose year (its first four characters) is before 1970.
fn is_before_epoch(time: &str) -> bool {
    let year = time.trim().get(..4).and_then(|y| y.parse::<u32>().ok());
    year.is_some_and(|y| y < 1970) && time.trim().as_bytes().get(4) == Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(json: &str) -> Vec<Metric> {
        serde_json::from_str(json).unwrap()
    }

    fn totals(m: &[Metric]) -> Vec<f64> {
        m.iter()
            .flat_map(|m| &m.timeseries)
            .flat_map(|ts| &ts.data)
            .filter_map(|p| p.total)
            .collect()
    }

    #[test]
    fn different_dimension_values_are_summed_repeats_are_dropped() {
        let mut m = metrics(
            r#"[{"name": {"value": "AzureOpenAIRequests"}, "timeseries": [
                {"metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": "chat"},
                                    {"name": {"value": "statuscode"}, "value": "200"}],
                 "data": [{"timeStamp": "2026-11-21T10:00:00Z", "total": 5},
                          {"timeStamp": "2026-11-21T10:00:00Z", "total": 5},
                          {"timeStamp": "2026-11-21T10:01:00Z", "total": 1}]},
                {"metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": "chat"},
                                    {"name": {"value": "statuscode"}, "value": "429"}],
                 "data": [{"timeStamp": "2026-11-21T10:00:00Z", "total": 2}]},
                {"metadatavalues": [{"name": {"value": "StatusCode"}, "value": "429"},
                                    {"name": {"value": "ModelDeploymentName"}, "value": "CHAT"}],
                 "data": [{"timeStamp": "2026-11-21T10:00:00Z", "total": 2}]}]},
              {"name": {"value": "azureopenairequests"}, "timeseries": [
                {"metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": "chat"},
                                    {"name": {"value": "statuscode"}, "value": "200"}],
                 "data": [{"timeStamp": "2026-11-21T10:00:00Z", "total": 5}]}]}]"#,
        );
        assert_eq!(drop_repeated(&mut m, 60), 3);
        // 200: 5 once (the repeat inside the series and the metric listed again dropped),
        // 10:01 kept; 429: 2 once (the same dimension values in other case and order).
        assert_eq!(totals(&m), vec![5.0, 1.0, 2.0]);
    }

    #[test]
    fn a_second_point_inside_the_same_minute_is_a_repeat() {
        let mut m = metrics(
            r#"[{"name": {"value": "GeneratedTokens"}, "timeseries": [
                {"metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": "chat"}],
                 "data": [{"timeStamp": "2026-11-21T10:00:00Z", "total": 7},
                          {"timeStamp": "2026-11-21T10:00:30Z", "total": 7},
                          {"timeStamp": "not a time", "total": 1}]},
                {"metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": "other"}],
                 "data": [{"timeStamp": "2026-11-21T10:00:00Z", "total": 3}]}]}]"#,
        );
        assert_eq!(drop_repeated(&mut m, 60), 1);
        assert_eq!(totals(&m), vec![7.0, 1.0, 3.0]);
    }

    #[test]
    fn points_before_1970_are_taken_out_and_counted() {
        let mut m = metrics(
            r#"[{"name": {"value": "GeneratedTokens"}, "timeseries": [
                {"metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": "chat"}],
                 "data": [{"timeStamp": "0001-01-01T00:00:00Z", "total": 9},
                          {"timeStamp": "1969-12-31T23:59:00Z", "total": 8},
                          {"timeStamp": "2026-11-21T10:00:00Z", "total": 7},
                          {"timeStamp": "not a time", "total": 1}]}]}]"#,
        );
        assert_eq!(drop_before_epoch(&mut m), 2);
        assert_eq!(totals(&m), vec![7.0, 1.0]);
    }
}
