//! What Vertex AI's Cloud Monitoring metrics mean in the contract
//! (https://cloud.google.com/monitoring/api/metrics_gcp_a_b#gcp-aiplatform): the metric types
//! polled, how each is aggregated
//! server-side, and how labels become samples.

use common::source::ErrorType;
use google_cloud_monitoring_v3::model::aggregation::{Aligner, Reducer};

pub const RESOURCE_TYPE: &str = "aiplatform.googleapis.com/PublisherModel";
pub const TOKEN_COUNT: &str = "aiplatform.googleapis.com/publisher/online_serving/token_count";
pub const INVOCATION_COUNT: &str =
    "aiplatform.googleapis.com/publisher/online_serving/model_invocation_count";
pub const INVOCATION_LATENCIES: &str =
    "aiplatform.googleapis.com/publisher/online_serving/model_invocation_latencies";
pub const FIRST_TOKEN_LATENCIES: &str =
    "aiplatform.googleapis.com/publisher/online_serving/first_token_latencies";
/// "Dedicated limit in GSU": the Provisioned Throughput a model has in a location (GAUGE,
/// INT64; "Monitor Provisioned Throughput", metrics table).
pub const GSU_LIMIT: &str =
    "aiplatform.googleapis.com/publisher/online_serving/dedicated_gsu_limit";

/// The resource labels every query keeps (everything else is summed away server-side).
const MODEL_FIELDS: [&str; 4] = [
    "resource.label.model_user_id",
    "resource.label.model_version_id",
    "resource.label.publisher",
    "resource.label.location",
];

/// One timeSeries.list call per poll and project: the metric type, how each series is
/// aligned to the minute (ALIGN_DELTA for the DELTA metrics, ALIGN_MAX for the GSU gauge),
/// the labels it keeps and how the series of a group are reduced.
pub struct Query {
    pub metric_type: &'static str,
    pub aligner: Aligner,
    pub group_by: Vec<String>,
    pub reducer: Reducer,
}

/// Indexes of [`queries`].
pub const TOKENS: usize = 0;
pub const INVOCATIONS: usize = 1;
pub const LATENCIES: usize = 2;
pub const FIRST_TOKEN: usize = 3;
pub const FIRST_TOKEN_P99: usize = 4;
pub const GSU: usize = 5;

/// The six calls a poll can make per project, whatever the number of models: tokens as
/// written, three summed, the 99th percentile of time to first token, and the Provisioned
/// Throughput GSUs (the three latency calls only when the window has traffic).
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
        aligner: Aligner::AlignDelta,
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
            aligner: Aligner::AlignDelta,
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
            aligner: Aligner::AlignDelta,
            group_by: MODEL_FIELDS
                .iter()
                .filter(|f| !f.ends_with("model_version_id"))
                .map(|s| s.to_string())
                .collect(),
            reducer: Reducer::ReducePercentile99,
        },
        // The largest GSU limit of each minute: what the order provided then.
        Query {
            metric_type: GSU_LIMIT,
            aligner: Aligner::AlignMax,
            group_by: with(&[]),
            reducer: Reducer::ReduceSum,
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

/// The catalog keys a model may be priced under, in order of preference (the accumulator
/// takes the first the current catalog has). Gemini models are priced by their id; partner
/// models under `<model>@<version>`, `<publisher>/<model>` and so on, as LiteLLM names them.
pub fn price_keys(publisher: &str, model: &str, version: &str) -> Vec<String> {
    let mut candidates = Vec::new();
    if !version.is_empty() {
        candidates.push(format!("{model}@{version}"));
        candidates.push(format!("{publisher}/{model}@{version}"));
    }
    candidates.push(model.to_string());
    candidates.push(format!("{publisher}/{model}"));
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::pricing::Pricing;

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
        let first_priced = |publisher: &str, model: &str, version: &str| {
            price_keys(publisher, model, version)
                .into_iter()
                .find(|k| p.model(k).is_some())
        };
        assert_eq!(
            first_priced("google", "gemini-2.5-flash", "").as_deref(),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            first_priced("anthropic", "claude-haiku-4-5", "20251001").as_deref(),
            Some("claude-haiku-4-5@20251001")
        );
        assert_eq!(
            first_priced("meta", "llama-3.3-70b-instruct-maas", "").as_deref(),
            Some("meta/llama-3.3-70b-instruct-maas")
        );
        assert_eq!(
            price_keys("acme", "secret-model", "1")[0],
            "secret-model@1",
            "unpriced models are named by their first key"
        );
    }

    #[test]
    fn one_query_per_metric_type() {
        let q = queries();
        assert_eq!(q.len(), 6);
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
