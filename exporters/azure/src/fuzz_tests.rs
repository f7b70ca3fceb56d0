//! Fuzzing of what the Azure exporter parses: the whole config (every key and value,
//! the `azure:` section included) as start-up and `--config.check` check it, the metrics time
//! series of getBatch and Metrics_List, and the ARM listings, with arbitrary JSON and mutations
//! of documented answers (1.797e308, -1, "NaN", "Infinity", timestamps of 1970 and 9999,
//! missing fields, wrong types). Promised: no panic; a bad document is an error, not a guess;
//! every value parsed is finite; config errors name the field and stay short. The conversion to
//! samples and what the accumulator rejects are covered end to end by tests/hostile.rs. Longer
//! runs: `PROPTEST_CASES=20000 cargo test -p llm-exporter-azure --bins fuzz`.

use common::config::FieldError;
use proptest::prelude::*;
use serde_json::{json, Value};
use testkit::fuzz::{any_json, check_config, mutated, readme_config};

use crate::answer::Metric;
use crate::config::AzureConfig;
use crate::discovery::{Account, Deployment};
use crate::exporter::Azure;
use crate::models::{is_openai, meaning, outcome, price_keys};

const KEYS: &str = "[a-z]{1,6}|name|value|timeseries|data|total|average|timeStamp|metadatavalues|errorCode|id|location|sku|properties|model|format|version";

/// One metric of a getBatch answer, as metricBatch.json documents it.
fn documented_metric() -> Value {
    json!({
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Insights/metrics/ProcessedPromptTokens",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": "ProcessedPromptTokens", "localizedValue": "Processed Prompt Tokens"},
        "unit": "Count",
        "errorCode": "Success",
        "timeseries": [{
            "metadatavalues": [{"name": {"value": "modeldeploymentname", "localizedValue": "modeldeploymentname"}, "value": "chat-prod"}],
            "data": [
                {"timeStamp": "2026-11-21T17:00:00Z", "total": 1000.0},
                {"timeStamp": "2026-11-21T17:01:00Z", "total": 2000.0},
                {"timeStamp": "2026-11-21T17:02:00Z"}
            ]
        }]
    })
}

fn documented_deployment() -> Value {
    json!({"name": "chat-prod", "sku": {"name": "GlobalStandard", "capacity": 10},
           "properties": {"model": {"format": "OpenAI", "name": "gpt-4o", "version": "2024-08-06"}}})
}

/// What the exporter takes from a parsed metric: names, dimensions, times and values.
fn check_metric(m: &Metric) -> Result<(), TestCaseError> {
    for ts in &m.timeseries {
        let deployment = ts.dimension("ModelDeploymentName");
        let _ = meaning(&m.name.value, true);
        let _ = meaning(&m.name.value, false);
        let _ = outcome(ts.dimension("StatusCode"));
        let _ = price_keys(None, "eastus", deployment);
        let _ = crate::billing::long_context(ts.dimension("ContextLength"));
        let _ =
            crate::billing::of_requests(ts.dimension("ServiceTierResponse"), Default::default());
        for p in &ts.data {
            if let Some(secs) = p.seconds() {
                prop_assert!(secs >= 0, "{} -> {secs}", p.time_stamp);
            }
            for v in [p.total, p.average].into_iter().flatten() {
                prop_assert!(v.is_finite(), "{v} parsed from a JSON number");
            }
        }
    }
    Ok(())
}

/// The size of the huge values in generated cases: far past the 2 KB an error may take, and
/// small enough for 256 cases in seconds (the `*_1_mb_*` tests below use 1 MB once each).
const HUGE: usize = 256 * 1024;

/// A hostile YAML value for a key of the section.
fn hostile_yaml() -> impl Strategy<Value = serde_yaml_ng::Value> {
    use serde_yaml_ng::Value as Y;
    prop_oneof![
        Just(Y::from("1001y")),
        Just(Y::from("0s")),
        Just(Y::from("18446744073709551615s")),
        Just(Y::from(-1)),
        Just(Y::from(u64::MAX)),
        Just(Y::from(f64::NAN)),
        Just(Y::from(1.797e308)),
        Just(Y::from("")),
        Just(Y::from("http://{region}.example")),
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
    fn fuzz_azure_metrics_arbitrary_json(doc in any_json(KEYS)) {
        if let Ok(m) = serde_json::from_value::<Metric>(doc.clone()) {
            check_metric(&m)?;
        }
        if let Ok(ms) = serde_json::from_value::<Vec<Metric>>(doc) {
            for m in &ms {
                check_metric(m)?;
            }
        }
    }

    #[test]
    fn fuzz_azure_metrics_mutated_answer(doc in mutated(&documented_metric())) {
        if let Ok(m) = serde_json::from_value::<Metric>(doc) {
            check_metric(&m)?;
        }
    }

    #[test]
    fn fuzz_azure_metrics_text(text in ".{0,300}") {
        if let Ok(m) = serde_json::from_str::<Metric>(&text) {
            check_metric(&m)?;
        }
    }

    #[test]
    fn fuzz_azure_arm_listings(doc in prop_oneof![any_json(KEYS), mutated(&documented_deployment())]) {
        if let Ok(d) = serde_json::from_value::<Deployment>(doc.clone()) {
            let _ = is_openai(Some(&d));
            let _ = price_keys(Some(&d), "swedencentral", "x");
            let _ = crate::billing::of_tokens(Some(&d));
            let _ = crate::billing::deployed_units(&d);
            let _ = d.created();
        }
        let _ = serde_json::from_value::<Account>(doc);
    }

    #[test]
    fn fuzz_azure_names_and_codes(name in ".{0,40}", code in ".{0,8}", region in ".{0,20}") {
        let _ = meaning(&name, true);
        let _ = outcome(&code);
        let _ = price_keys(None, &region, &name);
    }

    #[test]
    fn fuzz_azure_config_every_field(n in any::<usize>(), value in hostile_yaml()) {
        check_config::<Azure>(&testkit::fuzz::with_field_value(readme_config(), n, value))?;
    }
}

proptest! {
    // Few distinct hostile keys over a few dozen positions: 64 cases cover them.
    #![proptest_config(testkit::fuzz::cases(64))]

    #[test]
    fn fuzz_azure_config_every_key(n in any::<usize>(), key in testkit::fuzz::hostile_key()) {
        check_config::<Azure>(&testkit::fuzz::with_field_key(readme_config(), n, key))?;
    }
}

/// Found by `fuzz_azure_config_every_field`: a megabyte subscription id or endpoint came back whole
/// in the error (and on stderr).
#[test]
fn fuzz_azure_a_1_mb_subscription_or_endpoint_is_quoted_short() {
    let mut azure = AzureConfig {
        subscriptions: vec!["x".repeat(1_000_000)],
        ..AzureConfig::default()
    };
    let FieldError { message, .. } = azure.validate(true).unwrap_err();
    assert!(message.len() < 300, "{} bytes", message.len());
    azure.subscriptions = vec!["00000000-0000-0000-0000-000000000000".into()];
    azure.endpoints.metrics = "x".repeat(1_000_000);
    let FieldError { field, message } = azure.validate(true).unwrap_err();
    assert_eq!(field, "azure.endpoints.metrics");
    assert!(message.len() < 300, "{} bytes", message.len());
}
