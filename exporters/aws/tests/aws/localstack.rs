//! The real exporter binary against LocalStack's CloudWatch (the SDK's CBOR protocol, for real)
//! and a fake Bedrock control plane (no emulator implements ListInferenceProfiles).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};

const SONNET: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const US_HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const NOVA_ARN: &str = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0";
const NOVA: &str = "amazon.nova-pro-v1:0";
const PROFILE_ARN: &str =
    "arn:aws:bedrock:us-east-1:000000000000:application-inference-profile/a1b2c3d4e5f6";
const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
const PRIVATE: &str = "acme.private-model-v1";

// List prices in USD per token, from LiteLLM 1.109.1's model_prices_and_context_window.json
// (an oracle independent of the exporter's catalog code).
const SONNET_IN: f64 = 3.00e-6;
const SONNET_OUT: f64 = 15.00e-6;
const SONNET_CACHE_READ: f64 = 0.30e-6;
const SONNET_CACHE_WRITE: f64 = 3.75e-6;
const US_HAIKU_IN: f64 = 1.10e-6;
const US_HAIKU_OUT: f64 = 5.50e-6;
const NOVA_IN: f64 = 0.80e-6;
const NOVA_CACHE_READ: f64 = 0.20e-6;
const HAIKU_IN: f64 = 1.00e-6;

/// A fake Bedrock ListInferenceProfiles (restJson1 `GET /inference-profiles`), two pages.
fn fake_bedrock(calls: Arc<AtomicUsize>) -> Server {
    async fn list(
        State(calls): State<Arc<AtomicUsize>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Json<serde_json::Value> {
        calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            q.get("type").map(String::as_str),
            Some("APPLICATION"),
            "the exporter lists application profiles only"
        );
        let profile = |name: &str, id: &str, model: &str| {
            serde_json::json!({
                "inferenceProfileName": name,
                "inferenceProfileArn": format!("arn:aws:bedrock:us-east-1:000000000000:application-inference-profile/{id}"),
                "inferenceProfileId": id,
                "models": [{"modelArn": format!("arn:aws:bedrock:us-east-1::foundation-model/{model}")}],
                "status": "ACTIVE",
                "type": "APPLICATION",
                // Bedrock's restJson1 model uses ISO 8601 date-times here.
                "createdAt": "2026-01-15T10:00:00Z",
                "updatedAt": "2026-01-15T10:00:00Z"
            })
        };
        Json(match q.get("nextToken").map(String::as_str) {
            None => {
                serde_json::json!({"inferenceProfileSummaries": [profile("batch-jobs", "zzzzzzzzzzzz", SONNET)], "nextToken": "page2"})
            }
            Some("page2") => {
                serde_json::json!({"inferenceProfileSummaries": [profile("support-bot", "a1b2c3d4e5f6", HAIKU)]})
            }
            Some(other) => panic!("unexpected nextToken {other}"),
        })
    }
    Server::start(
        Router::new()
            .route("/inference-profiles", get(list))
            .with_state(calls),
    )
}

fn config_file(dir: &tempfile::TempDir, extra: &str) -> String {
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, format!("poll_interval: 1s\nlookback: 10m\naws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n{extra}")).unwrap();
    path.display().to_string()
}

fn tokens(s: &Scrape, model: &str, t: &str) -> f64 {
    s.value("llm_tokens_total", &[("model", model), ("token_type", t)])
        .unwrap_or(f64::NAN)
}

fn cost(s: &Scrape, model: &str, t: &str) -> Option<f64> {
    s.value(
        "llm_estimated_cost_usd_total",
        &[("model", model), ("token_type", t)],
    )
}

#[test]
fn counts_exact_usage_and_cost_and_survives_a_restart() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let profile_calls = Arc::new(AtomicUsize::new(0));
    let bedrock = fake_bedrock(profile_calls.clone());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("aws.state");
    let config = config_file(&dir, "");
    let config = {
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("state_file: {}\n{text}", state.display())).unwrap();
        config
    };
    let env = [
        ("AWS_ENDPOINT_URL", ls.url.as_str()),
        ("AWS_ENDPOINT_URL_BEDROCK", &bedrock.url()),
    ];

    // Minutes: `b` already has data when the exporter starts (the baseline), `m` is filled
    // while it runs, `r` while it is stopped.
    let minute = now() / 60 * 60;
    let (b, m, r) = (minute - 240, minute - 180, minute - 120);
    put(
        &rt,
        &cw,
        &[
            ("InputTokenCount", SONNET, b + 5, 1000.0),
            ("Invocations", SONNET, b + 5, 4.0),
        ],
    );

    let mut exporter = start_exporter(&["--config.file", &config], &env);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
            && s.value(
                "llm_tokens_total",
                &[("model", SONNET), ("token_type", "input")],
            )
            .is_some()
    });
    let s = exporter.scrape();
    assert_eq!(
        tokens(&s, SONNET, "input"),
        0.0,
        "data present at start-up is the baseline, not counted"
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[
                ("account", "000000000000"),
                ("region", "us-east-1"),
                ("model", SONNET),
                ("token_type", "input")
            ]
        ),
        Some(0.0),
        "account from STS, region from the config"
    );
    assert_eq!(exporter.get("/-/ready").0, 200);

    // While running: late data into the baseline minute, and a full minute of traffic.
    put(
        &rt,
        &cw,
        &[
            ("InputTokenCount", SONNET, b + 30, 500.0),
            ("InputTokenCount", SONNET, m + 1, 2000.0),
            ("OutputTokenCount", SONNET, m + 1, 300.0),
            ("CacheReadInputTokenCount", SONNET, m + 1, 4000.0),
            ("CacheWriteInputTokenCount", SONNET, m + 1, 800.0),
            ("Invocations", SONNET, m + 1, 7.0),
            ("InvocationClientErrors", SONNET, m + 1, 2.0),
            ("InvocationThrottles", SONNET, m + 1, 3.0),
            ("InvocationLatency", SONNET, m + 1, 1200.0),
            ("InvocationLatency", SONNET, m + 2, 1800.0),
            ("InputTokenCount", US_HAIKU, m + 1, 10_000.0),
            ("OutputTokenCount", US_HAIKU, m + 1, 2_000.0),
            ("Invocations", US_HAIKU, m + 1, 9.0),
            ("InvocationServerErrors", US_HAIKU, m + 1, 1.0),
            ("InputTokenCount", NOVA_ARN, m + 1, 5_000.0),
            ("CacheReadInputTokens", NOVA_ARN, m + 1, 1_000.0),
            ("InputTokenCount", PROFILE_ARN, m + 1, 6_000.0),
            ("InputTokenCount", PRIVATE, m + 1, 777.0),
        ],
    );
    let s = exporter.wait_for("the counted minute", Duration::from_secs(60), |s| {
        s.value(
            "llm_tokens_total",
            &[("model", PRIVATE), ("token_type", "input")],
        ) == Some(777.0)
            && s.value(
                "llm_tokens_total",
                &[
                    ("model", HAIKU),
                    ("deployment", "support-bot"),
                    ("token_type", "input"),
                ],
            ) == Some(6000.0)
            && tokens(s, SONNET, "input") == 2500.0
    });
    assert_eq!(tokens(&s, SONNET, "output"), 300.0);
    assert_eq!(tokens(&s, SONNET, "cache_read"), 4000.0);
    assert_eq!(tokens(&s, SONNET, "cache_write"), 800.0);
    assert_eq!(
        s.value("llm_invocations_total", &[("model", SONNET)]),
        Some(7.0)
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &[("model", SONNET), ("error_type", "client")]
        ),
        Some(2.0)
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &[("model", SONNET), ("error_type", "throttled")]
        ),
        Some(3.0)
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &[("model", US_HAIKU), ("error_type", "server")]
        ),
        Some(1.0)
    );
    assert_eq!(
        tokens(&s, US_HAIKU, "input"),
        10_000.0,
        "the us. cross-Region profile keeps its prefix"
    );
    assert_eq!(
        tokens(&s, NOVA, "input"),
        5_000.0,
        "the foundation-model ARN is normalized"
    );
    assert_eq!(
        tokens(&s, NOVA, "cache_read"),
        1_000.0,
        "the other cache metric spelling is accepted"
    );
    assert!(
        close(
            s.value(
                "llm_invocation_latency_seconds",
                &[("model", SONNET), ("stat", "avg")]
            ),
            1.5
        ),
        "average of 1200 ms and 1800 ms, in seconds"
    );

    assert!(close(
        cost(&s, SONNET, "input"),
        500.0 * SONNET_IN + 2000.0 * SONNET_IN
    ));
    assert!(close(cost(&s, SONNET, "output"), 300.0 * SONNET_OUT));
    assert!(close(
        cost(&s, SONNET, "cache_read"),
        4000.0 * SONNET_CACHE_READ
    ));
    assert!(close(
        cost(&s, SONNET, "cache_write"),
        800.0 * SONNET_CACHE_WRITE
    ));
    assert!(close(cost(&s, US_HAIKU, "input"), 10_000.0 * US_HAIKU_IN));
    assert!(close(cost(&s, US_HAIKU, "output"), 2_000.0 * US_HAIKU_OUT));
    assert!(close(cost(&s, NOVA, "input"), 5_000.0 * NOVA_IN));
    assert!(close(
        cost(&s, NOVA, "cache_read"),
        1_000.0 * NOVA_CACHE_READ
    ));
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &[
                ("model", HAIKU),
                ("deployment", "support-bot"),
                ("token_type", "input")
            ]
        ),
        6_000.0 * HAIKU_IN
    ));
    assert_eq!(
        cost(&s, PRIVATE, "input"),
        None,
        "no cost is invented for an unpriced model"
    );
    assert_eq!(
        s.value(
            "llm_unpriced_model_info",
            &[("model", PRIVATE), ("token_type", "input")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.value(
            "llm_model_price_usd_per_token",
            &[("model", SONNET), ("token_type", "input")]
        ),
        Some(SONNET_IN)
    );
    assert_eq!(
        s.value(
            "llm_pricing_catalog_info",
            &[("source", "litellm"), ("version", "1.109.1")]
        ),
        Some(1.0)
    );
    assert!(s.value("llm_exporter_api_cost_usd_total", &[]).unwrap() > 0.0);
    assert_eq!(
        s.value("llm_exporter_circuit_state", &[("api", "GetMetricData")]),
        Some(0.0)
    );
    assert!(
        s.value("llm_exporter_late_data_total", &[]).unwrap() >= 1.0,
        "minute b was revised upwards"
    );

    // The profile list (two pages) is fetched once and then served from the cache.
    exporter.wait_for("a profile cache hit", Duration::from_secs(30), |s| {
        s.value(
            "llm_exporter_cache_requests_total",
            &[("cache", "inference_profiles"), ("result", "hit")],
        )
        .is_some_and(|n| n >= 2.0)
    });
    assert_eq!(
        profile_calls.load(Ordering::SeqCst),
        2,
        "two pages, fetched once"
    );

    let (code, lint) = promtool_check_metrics(&exporter.get("/metrics").1);
    assert_eq!((code, lint.as_str()), (0, ""), "promtool check metrics");
    assert!(
        !exporter.proc.log().contains("test-secret-never-logged"),
        "a credential reached the log"
    );

    // Stop (the state file is written), let traffic arrive while down, start again.
    let status = exporter.proc.stop().unwrap();
    assert!(
        status.success(),
        "clean shutdown: {status:?}\n{}",
        exporter.proc.log()
    );
    put(
        &rt,
        &cw,
        &[
            ("InputTokenCount", SONNET, m + 30, 300.0),
            ("InputTokenCount", SONNET, r + 1, 700.0),
        ],
    );
    let exporter = start_exporter(&["--config.file", &config], &env);
    let s = exporter.wait_for("the restart to catch up", Duration::from_secs(60), |s| {
        tokens(s, SONNET, "input") >= 3500.0
    });
    assert_eq!(
        tokens(&s, SONNET, "input"),
        2500.0 + 300.0 + 700.0,
        "nothing lost, nothing counted twice"
    );
    assert!(close(cost(&s, SONNET, "input"), 3500.0 * SONNET_IN));
    assert_eq!(tokens(&s, US_HAIKU, "input"), 10_000.0);
    // A few more polls change nothing.
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(tokens(&s, SONNET, "input"), 3500.0);
    assert_eq!(
        s.value("llm_invocations_total", &[("model", SONNET)]),
        Some(7.0)
    );
}

/// A counting reverse proxy in front of LocalStack: how many GetMetricData calls really left
/// the exporter (an independent witness, not the exporter's own self-metric).
fn counting_proxy(upstream: String, get_metric_data: Arc<AtomicUsize>) -> Server {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    type Body = axum::body::Body;
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let app = Router::new().fallback(move |req: axum::extract::Request| {
        let client = client.clone();
        let upstream = upstream.clone();
        let counter = get_metric_data.clone();
        async move {
            if req.uri().path().ends_with("/operation/GetMetricData") {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            let (mut parts, body) = req.into_parts();
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            parts.uri = format!("{upstream}{path}").parse().unwrap();
            match client
                .request(axum::http::Request::from_parts(parts, body))
                .await
            {
                Ok(resp) => resp.map(Body::new),
                Err(e) => axum::http::Response::builder()
                    .status(502)
                    .body(Body::from(e.to_string()))
                    .unwrap(),
            }
        }
    });
    Server::start(app)
}

#[test]
fn six_hundred_queries_take_exactly_two_get_metric_data_calls_per_poll() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    // 60 models x 10 metrics (8 counters + 2 latencies at `avg`) = 600 queries.
    let t = now() / 60 * 60 - 120;
    let metrics = [
        "Invocations",
        "InvocationClientErrors",
        "InvocationServerErrors",
        "InvocationThrottles",
        "InputTokenCount",
        "OutputTokenCount",
        "CacheReadInputTokenCount",
        "CacheWriteInputTokenCount",
        "InvocationLatency",
        "TimeToFirstToken",
    ];
    let models: Vec<String> = (0..60)
        .map(|i| format!("vendor.model-{i:02}-v1:0"))
        .collect();
    let points: Vec<(&str, &str, i64, f64)> = models
        .iter()
        .flat_map(|m| metrics.iter().map(move |n| (*n, m.as_str(), t, 1.0)))
        .collect();
    put(&rt, &cw, &points);

    let calls = Arc::new(AtomicUsize::new(0));
    let proxy = counting_proxy(ls.url.clone(), calls.clone());
    let dir = tempfile::tempdir().unwrap();
    // A long interval, so the polls are ours to count: the first at start, then one a minute.
    // No idle probes: every metric is asked in the first poll (idle_models_are_probed_... in
    // levels.rs covers probing).
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "poll_interval: 60s\naws:\n  latency_stats: [avg]\n  idle_probe_interval: 0s\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", &proxy.url())],
    );
    // The poll is counted before its series are published: wait for both.
    let s = exporter.wait_for("the first poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "success")]) == Some(1.0)
            && s.matching("llm_tokens_total", &[("token_type", "input")])
                .len()
                == 60
    });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "600 queries in calls of at most 500"
    );
    assert_eq!(
        s.value(
            "llm_exporter_api_requests_total",
            &[("api", "GetMetricData"), ("outcome", "success")]
        ),
        Some(2.0)
    );
    // What those 600 metrics cost: $0.01 per 1,000.
    assert!(close(
        s.value("llm_exporter_api_cost_usd_total", &[]),
        600.0 * 0.01 / 1000.0
    ));
}

#[test]
fn keeps_serving_while_cloudwatch_is_unreachable() {
    // Nothing listens on this port (outside the range other test servers bind from).
    let dead = format!("http://127.0.0.1:{}", non_ephemeral_free_port());
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        &dir,
        "  timeout: 2s\n  accounts: [{account_id: '111122223333'}]\n",
    );
    let exporter = start_exporter(&["--config.file", &config], &[("AWS_ENDPOINT_URL", &dead)]);
    let s = exporter.wait_for(
        "the open circuit to reject a call",
        Duration::from_secs(90),
        |s| {
            s.value("llm_exporter_circuit_state", &[("api", "ListMetrics")]) == Some(2.0)
                && s.value(
                    "llm_exporter_api_requests_total",
                    &[("api", "ListMetrics"), ("outcome", "circuit_open")],
                )
                .is_some_and(|n| n >= 1.0)
        },
    );
    assert_eq!(s.value("llm_exporter_up", &[]), Some(0.0));
    assert_eq!(
        s.value(
            "llm_exporter_target_up",
            &[("target", "111122223333/us-east-1")]
        ),
        Some(0.0)
    );
    assert_eq!(
        s.value("llm_exporter_polls_total", &[("outcome", "success")]),
        None,
        "no poll succeeded"
    );
    assert_eq!(
        exporter.get("/-/ready").0,
        503,
        "not ready before a successful poll"
    );
    assert_eq!(exporter.get("/-/healthy").0, 200);
}
