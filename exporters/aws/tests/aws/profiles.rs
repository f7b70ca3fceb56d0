//! What Bedrock's control plane tells about billing. Application inference profiles: one
//! created from a cross-Region (geo) profile is billed at that geo profile's rate, one created
//! from a foundation model at the model's. Provisioned Throughputs: billed per model unit and
//! hour, their tokens never per token. The real binary against LocalStack's CloudWatch and a
//! fake Bedrock control plane answering ListInferenceProfiles and
//! ListProvisionedModelThroughputs in their documented restJson1 shapes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};

const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
const US_HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const EU_HAIKU: &str = "eu.anthropic.claude-haiku-4-5-20251001-v1:0";
const NOVA: &str = "amazon.nova-premier-v1:0";
// Ids: 12 lowercase letters and digits, as Bedrock makes them.
const US_COPY: &str = "uscopy000001";
const EU_COPY: &str = "eucopy000001";
const ONE_REGION: &str = "oneregion001";
const NOVA_US_COPY: &str = "novauscopy01";
// USD per token, from the catalog (LiteLLM 1.109.1's model_prices_and_context_window.json):
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
    let ls = start_localstack();
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

/// A `ProvisionedModelSummary` (Bedrock API reference, ListProvisionedModelThroughputs).
fn throughput(
    name: &str,
    id: &str,
    model: &str,
    units: u32,
    status: &str,
    created: i64,
) -> serde_json::Value {
    let fm = format!("arn:aws:bedrock:us-east-1::foundation-model/{model}");
    serde_json::json!({
        "commitmentDuration": "OneMonth",
        "commitmentExpirationTime": rfc3339(created + 30 * 86400),
        "creationTime": rfc3339(created),
        "desiredModelArn": fm,
        "desiredModelUnits": units,
        "foundationModelArn": fm,
        "lastModifiedTime": rfc3339(created),
        "modelArn": fm,
        "modelUnits": units,
        "provisionedModelArn": pt_arn(id),
        "provisionedModelName": name,
        "status": status
    })
}

fn pt_arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:000000000000:provisioned-model/{id}")
}

/// A fake Bedrock whose Provisioned Throughputs are `listed` (two pages when there are two).
fn fake_bedrock_with_throughputs(listed: Arc<Mutex<Vec<serde_json::Value>>>) -> Server {
    async fn list(
        State(listed): State<Arc<Mutex<Vec<serde_json::Value>>>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Json<serde_json::Value> {
        let all = listed.lock().unwrap().clone();
        Json(match q.get("nextToken").map(String::as_str) {
            None if all.len() > 1 => {
                serde_json::json!({"provisionedModelSummaries": [all[0]], "nextToken": "p2"})
            }
            None => serde_json::json!({"provisionedModelSummaries": all}),
            Some("p2") => serde_json::json!({"provisionedModelSummaries": all[1..]}),
            Some(other) => panic!("unexpected nextToken {other}"),
        })
    }
    async fn profiles() -> Json<serde_json::Value> {
        Json(serde_json::json!({"inferenceProfileSummaries": []}))
    }
    Server::start(
        Router::new()
            .route("/provisioned-model-throughputs", get(list))
            .route("/inference-profiles", get(profiles))
            .with_state(listed),
    )
}

// Claude 2.1 in us-east-1 on a one-month commitment: $63.00 per model unit and hour
// (exporters/aws/pricing/capacity-aws.yaml).
const CLAUDE_V2: &str = "anthropic.claude-v2:1";
const CLAUDE_V2_MONTH_USD_PER_UNIT_HOUR: f64 = 63.0;

#[test]
fn provisioned_throughput_costs_its_model_units_by_the_hour_and_its_tokens_nothing_more() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let listed = Arc::new(Mutex::new(Vec::new()));
    let bedrock = fake_bedrock_with_throughputs(listed.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "poll_interval: 1s\nlookback: 10m\naws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n  profile_ttl: 1s\n",
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
    // Bought two minutes ago (after start-up), 2 model units, and one still being created
    // (not billed yet).
    let created = now() - 120;
    *listed.lock().unwrap() = vec![
        throughput(
            "chat-pt",
            "ptchat000001",
            CLAUDE_V2,
            2,
            "InService",
            created,
        ),
        throughput("new-pt", "ptnew0000001", CLAUDE_V2, 5, "Creating", created),
    ];
    let arn = pt_arn("ptchat000001");
    let m = now() / 60 * 60 - 60;
    put(
        &rt,
        &cw,
        &[
            ("InputTokenCount", arn.as_str(), m + 1, 40_000.0),
            ("OutputTokenCount", arn.as_str(), m + 1, 4_000.0),
        ],
    );
    let hours = |s: &Scrape| {
        s.value(
            "llm_provisioned_unit_seconds_total",
            &[("deployment", "chat-pt"), ("model", CLAUDE_V2)],
        )
        .map(|seconds| seconds / 3600.0)
    };
    let s = exporter.wait_for(
        "the throughput's hours and tokens",
        Duration::from_secs(60),
        |s| {
            hours(s).is_some_and(|h| h > 0.0)
                && s.value(
                    "llm_tokens_total",
                    &[("deployment", "chat-pt"), ("token_type", "output")],
                ) == Some(4_000.0)
        },
    );
    // Each minute from the one it was bought in: 2 units x 1/60 h; three minutes, or four
    // when the poll ran in the next minute.
    let h = hours(&s).unwrap();
    let minutes = h / (2.0 / 60.0);
    assert!(
        (minutes - minutes.round()).abs() < 1e-9 && (3.0..=4.0).contains(&minutes.round()),
        "{h} unit-hours"
    );
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &[("deployment", "chat-pt"), ("token_type", "provisioned")]
        ),
        h * CLAUDE_V2_MONTH_USD_PER_UNIT_HOUR
    ));
    assert!(
        s.matching(
            "llm_provisioned_unit_seconds_total",
            &[("deployment", "new-pt")]
        )
        .is_empty(),
        "a throughput being created is not billed"
    );
    // Its tokens: counted under the model and the throughput's name, billing mode
    // provisioned, and not priced again per token.
    let tokens = s.matching("llm_tokens_total", &[("deployment", "chat-pt")]);
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    for (_, labels, _) in &tokens {
        assert_eq!(labels["model"], CLAUDE_V2);
        assert_eq!(labels["billing_mode"], "provisioned");
    }
    let per_token: f64 = s
        .matching("llm_estimated_cost_usd_total", &[("deployment", "chat-pt")])
        .iter()
        .filter(|(_, l, _)| l["token_type"] != "provisioned")
        .map(|x| x.2)
        .sum();
    assert_eq!(per_token, 0.0, "{}", s.text);
}

const SONNET_45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const GLOBAL_SONNET_45: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Anthropic's 10 % premium on regional endpoints (Sonnet 4.5 and later): an entry's
/// `regional_uplift` applies to in-Region calls (a plain model id), never to `global.`
/// profiles.
#[test]
fn regional_calls_carry_the_regional_uplift_and_global_ones_do_not() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let bedrock = fake_bedrock_with_throughputs(Arc::new(Mutex::new(Vec::new())));
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.yaml");
    // The same entry for the in-Region and the global id.
    std::fs::write(
        &prices,
        format!(
            "models:\n  aws:\n    \"{SONNET_45}\": {{input: 3.0e-6, regional_uplift: 1.1}}\n    \"{GLOBAL_SONNET_45}\": {{input: 3.0e-6, regional_uplift: 1.1}}\n"
        ),
    )
    .unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "poll_interval: 1s\nlookback: 10m\npricing_file: {}\naws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n",
            prices.display()
        ),
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
    let m = now() / 60 * 60 - 60;
    put(
        &rt,
        &cw,
        &[
            ("InputTokenCount", SONNET_45, m + 1, 1_000.0),
            ("InputTokenCount", GLOBAL_SONNET_45, m + 1, 1_000.0),
        ],
    );
    let cost = |s: &Scrape, model: &str| {
        s.value(
            "llm_estimated_cost_usd_total",
            &[("model", model), ("token_type", "input")],
        )
    };
    let tokens = |s: &Scrape, model: &str| {
        s.value(
            "llm_tokens_total",
            &[("model", model), ("token_type", "input")],
        )
    };
    let s = exporter.wait_for("both minutes", Duration::from_secs(60), |s| {
        tokens(s, SONNET_45) == Some(1_000.0) && tokens(s, GLOBAL_SONNET_45) == Some(1_000.0)
    });
    assert!(
        close(cost(&s, SONNET_45), 1_000.0 * 3.0e-6 * 1.1),
        "{}",
        s.text
    );
    assert!(close(cost(&s, GLOBAL_SONNET_45), 1_000.0 * 3.0e-6));
}
