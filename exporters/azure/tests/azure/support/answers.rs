//! How the fake answers a metric it cannot query: Azure Monitor reports it inside a 200
//! response, as the metric's own `errorCode` / `errorMessage` with no time series
//! (metricBatch.json 2024-02-01 and metrics_API.json 2023-10-01: "'Success' or the error
//! details on query failures for this metric").

use serde_json::{json, Value};

/// Aggregations a metric supports, from "Supported metrics for
/// Microsoft.CognitiveServices/accounts": counts are `Total (Sum)` only; latencies are
/// `Minimum, Maximum, Average`.
pub fn supported_aggregations(metric: &str) -> &'static [&'static str] {
    let m = metric.to_ascii_lowercase();
    let latency = m.contains("time") || m.ends_with("inms") || m.contains("tokenpersecond");
    if latency {
        &["minimum", "maximum", "average"]
    } else {
        &["total"]
    }
}

/// Dimensions each metric has (a subset of the documented ones that the exporter may use):
/// "Supported metrics for Microsoft.CognitiveServices/accounts" lists `StatusCode`,
/// `IsSpillover`, `ServiceTierRequest` and `ServiceTierResponse` on the request metrics only,
/// and `ContextLength` on the Anthropic cache metrics only.
pub fn has_dimension(metric: &str, dimension: &str) -> bool {
    let d = dimension.to_ascii_lowercase();
    if d == "modeldeploymentname" {
        return true;
    }
    let requests = matches!(metric, "AzureOpenAIRequests" | "ModelRequests");
    let anthropic_cache = matches!(
        metric,
        "cacheReadInputTokens" | "ephemeral5mInputTokens" | "ephemeral1hInputTokens"
    );
    match d.as_str() {
        "statuscode" | "isspillover" | "servicetierrequest" | "servicetierresponse" => requests,
        "contextlength" => anthropic_cache,
        _ => false,
    }
}

/// A metric that failed: the documented shape, no data.
pub fn failed(resource: &str, metric: &str, code: &str, message: &str) -> Value {
    json!({"id": format!("{resource}/providers/Microsoft.Insights/metrics/{metric}"), "type": "Microsoft.Insights/metrics", "name": {"value": metric, "localizedValue": metric}, "unit": "Count", "errorCode": code, "errorMessage": message, "timeseries": []})
}

/// Why `metric` cannot be queried with `aggregation` (a comma list) and `dims`, if it cannot.
pub fn query_error(metric: &str, aggregation: &str, dims: &[&str]) -> Option<(String, String)> {
    if let Some(bad) = dims.iter().find(|d| !has_dimension(metric, d)) {
        return Some((
            "BadRequest".into(),
            format!("Dimension '{bad}' is not supported by metric '{metric}'."),
        ));
    }
    let supported = supported_aggregations(metric);
    let unsupported: Vec<&str> = aggregation
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty() && !supported.contains(&a.to_ascii_lowercase().as_str()))
        .collect();
    if !unsupported.is_empty() {
        return Some((
            "BadRequest".into(),
            format!(
                "Aggregation type(s) {} not supported for metric '{metric}'; supported: {}.",
                unsupported.join(","),
                supported.join(",")
            ),
        ));
    }
    None
}
