//! Application inference profiles and the rate they are billed at: one created from a
//! cross-Region (geo) profile is billed at that geo profile's rate, one created from a
//! foundation model at the model's. The real binary against LocalStack's CloudWatch and a fake
//! Bedrock control plane answering ListInferenceProfiles in its documented restJson1 shape.

mod support;

use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use support::*;

const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
const US_HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const EU_HAIKU: &str = "eu.anthropic.claude-haiku-4-5-20251001-v1:0";
const NOVA: &str = "amazon.nova-premier-v1:0";
// Ids: 12 lowercase letters and digits, as Bedrock makes them.
const US_COPY: &str = "uscopy000001";
const EU_COPY: &str = "eucopy000001";
const ONE_REGION: &str = "oneregion001";
const NOVA_US_COPY: &str = "novauscopy01";
// USD per token, from shared/reference/cloud-apis.md §4.2 and the catalog (LiteLLM 1.109.1):
// the geo profiles of Claude Haiku 4.5 cost 10 % more than the in-Region model.
const HAIKU_IN: f64 = 1.00e-6;
const US_HAIKU_IN: f64 = 1.10e-6;
const NOVA_IN: f64 = 2.50e-6;

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:000000000000:application-inference-profile/{id}")
}

/// An `InferenceProfileSummary` (Bedrock API reference, ListInferenceProfiles): a profile
/// copied from a cross-Region profile lists the foundation model in each Region it routes to.
fn summary(name: &str, id: &str, model: &str, regions: &[&str]) -> serde_json::Value {
    let models: Vec<serde_json::Value> = regions
        .iter()
        .map(|r| serde_json::json!({"modelArn": format!("arn:aws:bedrock:{r}::foundation-model/{model}")}))
        .collect();
    serde_json::json!({
        "inferenceProfileName": name,
        "description": format!("{name} cost tracking"),
        "createdAt": "2026-01-15T10:00:00Z",
        "updatedAt": "2026-01-15T10:00:00Z",
        "inferenceProfileArn": arn(id),
        "models": models,
        "inferenceProfileId": id,
        "status": "ACTIVE",
        "type": "APPLICATION"
    })
}

fn fake_bedrock() -> Server {
    async fn list(
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Json<serde_json::Value> {
        assert_eq!(q.get("type").map(String::as_str), Some("APPLICATION"));
        let us = ["us-east-1", "us-east-2", "us-west-2"];
        let eu = ["eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"];
        Json(match q.get("nextToken").map(String::as_str) {
            None => serde_json::json!({
                "inferenceProfileSummaries": [
                    summary("chat-us", US_COPY, HAIKU, &us),
                    summary("chat-local", ONE_REGION, HAIKU, &["us-east-1"]),
                ],
                "nextToken": "p2"
            }),
            Some("p2") => serde_json::json!({
                "inferenceProfileSummaries": [
                    summary("chat-eu", EU_COPY, HAIKU, &eu),
                    // The catalog has no us.amazon.nova-premier entry: priced at the model's rate.
                    summary("nova-us", NOVA_US_COPY, NOVA, &us),
                ]
            }),
            Some(other) => panic!("unexpected nextToken {other}"),
        })
    }
    Server::start(Router::new().route("/inference-profiles", get(list)))
}

fn cost(s: &Scrape, deployment: &str) -> Option<f64> {
    s.value(
        "llm_estimated_cost_usd_total",
        &[("deployment", deployment), ("token_type", "input")],
    )
}

fn model_of(s: &Scrape, deployment: &str) -> String {
    let m = s.matching(
        "llm_tokens_total",
        &[("deployment", deployment), ("token_type", "input")],
    );
    assert_eq!(m.len(), 1, "{deployment}: {m:?}");
    m[0].1["model"].clone()
}

#[test]
fn a_profile_copied_from_a_geo_profile_is_priced_at_the_geo_rate() {
    let ls = LocalStack::start();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let bedrock = fake_bedrock();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "poll_interval: 1s\nlookback: 10m\naws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let exporter = start_exporter(
        &["--config.file", &config],
        &[
            ("AWS_ENDPOINT_URL", ls.url.as_str()),
            ("AWS_ENDPOINT_URL_BEDROCK", &bedrock.url()),
        ],
    );
    exporter.wait_for("the first poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now() / 60 * 60 - 120;
    // CloudWatch reports an application inference profile's traffic under its ARN.
    let (us, eu, one, nova) = (
        arn(US_COPY),
        arn(EU_COPY),
        arn(ONE_REGION),
        arn(NOVA_US_COPY),
    );
    put(
        &rt,
        &cw,
        &[
            ("InputTokenCount", us.as_str(), m + 1, 1000.0),
            ("InputTokenCount", eu.as_str(), m + 1, 2000.0),
            ("InputTokenCount", one.as_str(), m + 1, 3000.0),
            ("InputTokenCount", nova.as_str(), m + 1, 4000.0),
        ],
    );
    let s = exporter.wait_for("the profiles' minute", Duration::from_secs(60), |s| {
        s.matching("llm_tokens_total", &[("token_type", "input")])
            .len()
            == 4
            && s.matching("llm_tokens_total", &[("token_type", "input")])
                .iter()
                .map(|x| x.2)
                .sum::<f64>()
                == 10_000.0
    });
    assert_eq!(model_of(&s, "chat-us"), US_HAIKU, "the geo model id");
    assert_eq!(model_of(&s, "chat-eu"), EU_HAIKU);
    assert_eq!(model_of(&s, "chat-local"), HAIKU, "one Region: the model");
    assert_eq!(model_of(&s, "nova-us"), format!("us.{NOVA}"));
    assert!(close(cost(&s, "chat-us"), 1000.0 * US_HAIKU_IN));
    // eu. Haiku 4.5 is listed at the same rate as us. (LiteLLM 1.109.1).
    assert!(close(cost(&s, "chat-eu"), 2000.0 * US_HAIKU_IN));
    assert!(close(cost(&s, "chat-local"), 3000.0 * HAIKU_IN));
    assert!(
        close(cost(&s, "nova-us"), 4000.0 * NOVA_IN),
        "no geo entry in the catalog: the model's rate, not unpriced"
    );
    assert_eq!(
        s.matching("llm_unpriced_model_info", &[]).len(),
        0,
        "{}",
        s.text
    );
}
