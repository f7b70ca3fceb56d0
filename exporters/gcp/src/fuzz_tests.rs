//! Fuzzing of what the GCP exporter parses: Cloud Monitoring's `timeSeries.list`
//! answers (TimeSeries and ListTimeSeriesResponse in the REST shape), the labels that become
//! token types, error types, price keys and billing parts, and the whole config (every key and
//! value), with arbitrary JSON and mutations of a documented answer (1.797e308, -1, "NaN",
//! "Infinity", timestamps of 1970 and 9999, missing fields, wrong types). Promised: no panic; a
//! bad document is an error; config errors name the field and stay short. The conversion to
//! samples and what the accumulator rejects are covered end to end by tests/hostile.rs. Longer
//! runs: `PROPTEST_CASES=20000 cargo test -p llm-exporter-gcp --bins fuzz`.

use common::config::FieldError;
use google_cloud_monitoring_v3::model::typed_value::Value as Typed;
use google_cloud_monitoring_v3::model::{ListTimeSeriesResponse, TimeSeries};
use proptest::prelude::*;
use serde_json::{json, Value};
use testkit::fuzz::{any_json, check_config, mutated, readme_config};

use crate::billing;
use crate::config::GcpConfig;
use crate::exporter::Gcp;
use crate::models::{error_type, price_keys};
use crate::token_types::{known, UnknownTypes};

const KEYS: &str = "[a-z]{1,6}|metric|resource|labels|type|points|interval|startTime|endTime|value|int64Value|doubleValue|distributionValue|count|mean|timeSeries|nextPageToken|executionErrors|unreachable";

/// A token_count series as Cloud Monitoring's REST API returns it (int64 as strings).
fn documented_series() -> Value {
    json!({
        "metric": {"type": "aiplatform.googleapis.com/publisher/online_serving/token_count",
                   "labels": {"type": "input", "request_type": "shared"}},
        "resource": {"type": "aiplatform.googleapis.com/PublisherModel",
                     "labels": {"model_user_id": "gemini-2.5-flash", "model_version_id": "",
                                "publisher": "google", "location": "us-central1"}},
        "metricKind": "DELTA",
        "valueType": "INT64",
        "points": [
            {"interval": {"startTime": "2026-11-21T17:01:00Z", "endTime": "2026-11-21T17:02:00Z"},
             "value": {"int64Value": "2000"}},
            {"interval": {"startTime": "2026-11-21T17:00:00Z", "endTime": "2026-11-21T17:01:00Z"},
             "value": {"doubleValue": 1000.0}},
            {"interval": {"endTime": "2026-11-21T17:00:00Z"},
             "value": {"distributionValue": {"count": "3", "mean": 120.5}}}
        ]
    })
}

/// What the exporter reads from a parsed series: labels, times and values.
fn check_series(ts: &TimeSeries) -> Result<(), TestCaseError> {
    let labels = |name: &str| {
        let r = ts.resource.as_ref().and_then(|r| r.labels.get(name));
        let m = ts.metric.as_ref().and_then(|m| m.labels.get(name));
        r.or(m).cloned().unwrap_or_default()
    };
    let _ = known(&labels("type"));
    let _ = error_type(&labels("response_code"), &labels("error_category"));
    let _ = price_keys(
        &labels("publisher"),
        &labels("model_user_id"),
        &labels("model_version_id"),
    );
    let _ = billing::part(&billing::Labels {
        request_type: &labels("request_type"),
        source: &labels("source"),
        max_token_size: &labels("max_token_size"),
        shared_request_type: &labels("shared_request_type"),
        location: &labels("location"),
    });
    for p in &ts.points {
        if let Some(i) = &p.interval {
            for t in [&i.start_time, &i.end_time].into_iter().flatten() {
                // Cloud Monitoring's range (years 1 to 9999): no overflow when a period is
                // subtracted or added.
                prop_assert!(t.seconds().checked_sub(86_400).is_some());
            }
        }
        if let Some(Typed::DistributionValue(d)) = p.value.as_ref().and_then(|v| v.value.as_ref()) {
            let _ = d.count as f64 * d.mean;
        }
    }
    Ok(())
}

/// The size of the huge values in generated cases: far past the 2 KB an error may take, and
/// small enough for 256 cases in seconds (the `*_1_mb_*` tests below use 1 MB once each).
const HUGE: usize = 256 * 1024;

fn hostile_yaml() -> impl Strategy<Value = serde_yaml_ng::Value> {
    use serde_yaml_ng::Value as Y;
    prop_oneof![
        Just(Y::from("1001y")),
        Just(Y::from("0s")),
        Just(Y::from("18446744073709551615s")),
        Just(Y::from(-1)),
        Just(Y::from(u64::MAX)),
        Just(Y::from(f64::NAN)),
        Just(Y::from("")),
        Just(Y::from("ftp://x")),
        Just(Y::from("x".repeat(HUGE))),
        Just(Y::Sequence(vec![Y::from("x".repeat(HUGE))])),
        Just(Y::Null),
        Just(Y::from(true)),
        ".{0,12}".prop_map(Y::from),
        any::<i64>().prop_map(Y::from),
    ]
}

proptest! {
    #[test]
    fn fuzz_gcp_time_series_arbitrary_json(doc in any_json(KEYS)) {
        if let Ok(ts) = serde_json::from_value::<TimeSeries>(doc.clone()) {
            check_series(&ts)?;
        }
        if let Ok(page) = serde_json::from_value::<ListTimeSeriesResponse>(doc) {
            for ts in &page.time_series {
                check_series(ts)?;
            }
        }
    }

    #[test]
    fn fuzz_gcp_time_series_mutated_answer(doc in mutated(&documented_series())) {
        if let Ok(ts) = serde_json::from_value::<TimeSeries>(doc) {
            check_series(&ts)?;
        }
    }

    #[test]
    fn fuzz_gcp_time_series_text(text in ".{0,300}") {
        if let Ok(ts) = serde_json::from_str::<TimeSeries>(&text) {
            check_series(&ts)?;
        }
    }

    #[test]
    fn fuzz_gcp_labels(code in ".{0,6}", category in ".{0,10}", publisher in ".{0,12}", model in ".{0,30}", version in ".{0,8}") {
        let _ = error_type(&code, &category);
        let _ = price_keys(&publisher, &model, &version);
        let _ = known(&model);
        // Billing labels: any text is a part (standard where unreadable), never a panic.
        let _ = billing::long_context(&model);
        let _ = billing::part(&billing::Labels {
            request_type: &code,
            source: &model,
            max_token_size: &category,
            shared_request_type: &version,
            location: &publisher,
        });
    }

    #[test]
    fn fuzz_gcp_config_every_field(n in any::<usize>(), value in hostile_yaml()) {
        check_config::<Gcp>(&testkit::fuzz::with_field_value(readme_config(), n, value))?;
    }
}

proptest! {
    // Few distinct hostile keys over a few dozen positions: 64 cases cover them.
    #![proptest_config(testkit::fuzz::cases(64))]

    #[test]
    fn fuzz_gcp_config_every_key(n in any::<usize>(), key in testkit::fuzz::hostile_key()) {
        check_config::<Gcp>(&testkit::fuzz::with_field_key(readme_config(), n, key))?;
    }
}

/// A cloud sending endless new token types must not grow memory or labels: at most 100 are
/// remembered, whatever arrives.
#[test]
fn fuzz_gcp_unknown_token_types_stay_bounded() {
    let registry = prometheus::Registry::new();
    let types = UnknownTypes::register(&registry);
    for i in 0..10_000 {
        types.classify(
            &format!("new_type_{i}_{}", "x".repeat(i % 300)),
            "token_count",
        );
    }
    let families = registry.gather();
    let series: usize = families.iter().map(|f| f.get_metric().len()).sum();
    assert!(series <= 100, "{series} info series");
}

/// Found by `fuzz_gcp_config_every_field`: a megabyte project id or endpoint came back whole in
/// the error (and on stderr).
#[test]
fn fuzz_gcp_a_1_mb_project_or_endpoint_is_quoted_short() {
    let mut gcp = GcpConfig {
        projects: vec!["x".repeat(1_000_000)],
        ..GcpConfig::default()
    };
    let FieldError { message, .. } = gcp.validate(true).unwrap_err();
    assert!(message.len() < 300, "{} bytes", message.len());
    gcp.projects = vec!["my-project".into()];
    gcp.monitoring_endpoint = "x".repeat(1_000_000);
    let FieldError { field, message } = gcp.validate(true).unwrap_err();
    assert_eq!(field, "gcp.monitoring_endpoint");
    assert!(message.len() < 300, "{} bytes", message.len());
}
