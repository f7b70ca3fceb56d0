//! What Vertex AI's Cloud Monitoring metrics mean in the contract
//! (shared/reference/cloud-apis.md §3): the metric types polled, how each is aggregated
//! server-side, and how labels become samples.

use common::pricing::Pricing;
use common::source::ErrorType;
use google_cloud_monitoring_v3::model::aggregation::Reducer;

pub const RESOURCE_TYPE: &str = "aiplatform.googleapis.com/PublisherModel";
pub const TOKEN_COUNT: &str = "aiplatform.googleapis.com/publisher/online_serving/token_count";
pub const INVOCATION_COUNT: &str =
    "aiplatform.googleapis.com/publisher/online_serving/model_invocation_count";
pub const INVOCATION_LATENCIES: &str =
    "aiplatform.googleapis.com/publisher/online_serving/model_invocation_latencies";
pub const FIRST_TOKEN_LATENCIES: &str =
    "aiplatform.googleapis.com/publisher/online_serving/first_token_latencies";

/// The resource labels every query keeps (everything else is summed away server-side).
const MODEL_FIELDS: [&str; 4] = [
    "resource.label.model_user_id",
    "resource.label.model_version_id",
    "resource.label.publisher",
    "resource.label.location",
];

/// One timeSeries.list call per poll and project: the metric type, the labels it keeps and
/// how the series of a group are reduced (every query aligns with ALIGN_DELTA).
pub struct Query {
    pub metric_type: &'static str,
    pub group_by: Vec<String>,
    pub reducer: Reducer,
}

/// The five calls a poll makes per project, whatever the number of models: tokens as
/// written, three summed, and the 99th percentile of time to first token.
pub fn queries() -> Vec<Query> {
    let with = |extra: &[&str]| {
        MODEL_FIELDS
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let summed = |metric_type, group_by| Query {
        metric_type,
        group_by,
        reducer: Reducer::ReduceSum,
    };
    vec![
        // Tokens are not reduced: every label that decides how they are billed comes back
        // (`request_type`, `source`, `max_token_size` and, where Vertex writes it,
        // `shared_request_type`; billing.rs), and no series is left out for lacking a label
        // a grouping would name. Raw series are few (one per type, modality and bucket in
        // use) and billed like reduced ones, per series returned.
        Query {
            metric_type: TOKEN_COUNT,
            group_by: Vec::new(),
            reducer: Reducer::ReduceNone,
        },
        summed(
            INVOCATION_COUNT,
            with(&["metric.label.response_code", "metric.label.error_category"]),
        ),
        summed(INVOCATION_LATENCIES, with(&["metric.label.latency_type"])),
        summed(FIRST_TOKEN_LATENCIES, with(&[])),
        // Percentiles cannot be averaged or added afterwards: Cloud Monitoring merges the
        // distributions of a model's versions (no model_version_id in the grouping) and
        // computes the percentile server-side. Invocation latency has none: it is reported as
        // two distributions (model, overhead) whose percentiles do not add up.
        Query {
            metric_type: FIRST_TOKEN_LATENCIES,
            group_by: MODEL_FIELDS
                .iter()
                .filter(|f| !f.ends_with("model_version_id"))
                .map(|s| s.to_string())
                .collect(),
            reducer: Reducer::ReducePercentile99,
        },
    ]
}

pub fn filter(metric_type: &str) -> String {
    format!("metric.type = \"{metric_type}\" AND resource.type = \"{RESOURCE_TYPE}\"")
}

/// How an invocation ended. `None` is a success. 429 and `capacity` errors are throttling.
pub fn error_type(response_code: &str, error_category: &str) -> Option<ErrorType> {
    if response_code == "429" || error_category == "capacity" {
        return Some(ErrorType::Throttled);
    }
    match response_code.parse::<u16>() {
        Ok(400..=499) => Some(ErrorType::Client),
        Ok(500..=599) => Some(ErrorType::Server),
        Ok(_) => None,
        // No numeric code: trust the category.
        Err(_) => match error_category {
            "user" => Some(ErrorType::Client),
            "system" => Some(ErrorType::Server),
            _ => None,
        },
    }
}

/// The catalog key a model is priced under. Gemini models are priced by their id; partner
/// models under `<model>@<version>`, `<publisher>/<model>` and so on, as LiteLLM names them.
pub fn price_key(pricing: &Pricing, publisher: &str, model: &str, version: &str) -> String {
    let mut candidates = Vec::new();
    if !version.is_empty() {
        candidates.push(format!("{model}@{version}"));
        candidates.push(format!("{publisher}/{model}@{version}"));
    }
    candidates.push(model.to_string());
    candidates.push(format!("{publisher}/{model}"));
    candidates
        .into_iter()
        .find(|k| pricing.model(k).is_some())
        .unwrap_or_else(|| model.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes_map_to_the_contract() {
        assert_eq!(error_type("200", ""), None);
        assert_eq!(error_type("429", "capacity"), Some(ErrorType::Throttled));
        assert_eq!(error_type("503", "capacity"), Some(ErrorType::Throttled));
        assert_eq!(error_type("400", "user"), Some(ErrorType::Client));
        assert_eq!(error_type("500", "system"), Some(ErrorType::Server));
        assert_eq!(error_type("", "user"), Some(ErrorType::Client));
    }

    #[test]
    fn partner_models_find_their_vertex_price() {
        let p = Pricing::load("gcp", None).unwrap();
        assert_eq!(
            price_key(&p, "google", "gemini-2.5-flash", ""),
            "gemini-2.5-flash"
        );
        assert_eq!(
            price_key(&p, "anthropic", "claude-haiku-4-5", "20251001"),
            "claude-haiku-4-5@20251001"
        );
        assert_eq!(
            price_key(&p, "meta", "llama-3.3-70b-instruct-maas", ""),
            "meta/llama-3.3-70b-instruct-maas"
        );
        assert_eq!(
            price_key(&p, "acme", "secret-model", "1"),
            "secret-model",
            "unpriced models keep their id"
        );
    }

    #[test]
    fn one_query_per_metric_type() {
        let q = queries();
        assert_eq!(q.len(), 5);
        assert_eq!(q[4].reducer, Reducer::ReducePercentile99);
        assert_eq!(q[4].group_by.len(), 3, "versions merged");
        assert_eq!(
            (q[0].reducer.clone(), q[0].group_by.len()),
            (Reducer::ReduceNone, 0),
            "tokens come back with every label"
        );
        assert!(filter(TOKEN_COUNT)
            .contains("resource.type = \"aiplatform.googleapis.com/PublisherModel\""));
    }
}
