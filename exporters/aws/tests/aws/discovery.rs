//! Every minute counted once when discovery lags or fails, with
//! the real binary against LocalStack behind a proxy that plays CloudWatch's ListMetrics lag.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

// LocalStack instances of one test run share one CloudWatch store: each test its own models.
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";
const MISTRAL: &str = "mistral.mistral-7b-instruct-v0:2";
const NEW_A: &str = "amazon.nova-lite-v1:0";
const NEW_B: &str = "amazon.nova-micro-v1:0";
const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
const HAIKU_IN: f64 = 1.00e-6;
const PROFILE_ID: &str = "p2p2p2p2p2p2";

fn profile_arn() -> String {
    format!("arn:aws:bedrock:us-east-1:000000000000:application-inference-profile/{PROFILE_ID}")
}

fn config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn input(s: &Scrape, labels: &[(&str, &str)]) -> Option<f64> {
    let mut l = vec![("token_type", "input")];
    l.extend_from_slice(labels);
    s.value("llm_tokens_total", &l)
}

fn skipped_late(s: &Scrape) -> f64 {
    s.value(
        "llm_exporter_backfill_skipped_periods_total",
        &[("reason", "late_discovery")],
    )
    .unwrap_or(0.0)
}

/// A model first used after start-up is counted from its first minute, with the
/// default discovery_ttl; and one that ListMetrics hides for longer than `lookback` is still
/// counted for every minute since start-up once it is listed.
#[test]
fn a_model_first_used_after_start_up_counts_from_its_first_minute() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let rules = Arc::new(proxy::Rules::default());
    let proxy = proxy::start(ls.url.clone(), rules.clone());
    put(&rt, &cw, &[("InputTokenCount", LLAMA, now() - 30, 10.0)]);
    let dir = tempfile::tempdir().unwrap();
    // discovery_ttl left at its default; a short lookback so a lag outlasts it quickly.
    let config = config(
        &dir,
        "poll_interval: 1s\nlookback: 1m\naws:\n  latency_stats: [avg]\n",
    );
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", &proxy.url())],
    );
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        input(s, &[("model", LLAMA)]).is_some()
    });

    // After start-up: A is listed at once; B's metric is hidden from ListMetrics.
    rules.hide(NEW_B);
    let first = now();
    put(
        &rt,
        &cw,
        &[
            ("InputTokenCount", NEW_A, first, 111.0),
            ("InputTokenCount", NEW_B, first, 222.0),
        ],
    );
    let appeared = Instant::now();
    let s = exporter.wait_for("A to be counted", Duration::from_secs(90), |s| {
        input(s, &[("model", NEW_A)]) == Some(111.0)
    });
    assert!(
        appeared.elapsed() < Duration::from_secs(60) + Duration::from_secs(5),
        "a new model shows within a discovery refresh: {:?}",
        appeared.elapsed()
    );
    assert_eq!(input(&s, &[("model", NEW_B)]), None, "B is still hidden");

    // B stays hidden for longer than lookback, and is used again meanwhile.
    let hidden_until = Instant::now() + Duration::from_secs(80);
    std::thread::sleep(Duration::from_secs(65));
    let second = now();
    assert!(second / 60 > first / 60, "a later minute");
    put(&rt, &cw, &[("InputTokenCount", NEW_B, second, 333.0)]);
    std::thread::sleep(hidden_until.saturating_duration_since(Instant::now()));
    let s = exporter.scrape();
    assert_eq!(input(&s, &[("model", NEW_B)]), None, "B was hidden 80 s");
    assert!(rules.calls("us-east-1", "ListMetrics") >= 2, "listed again");
    rules.unhide(NEW_B);

    let s = exporter.wait_for("B to be listed", Duration::from_secs(90), |s| {
        input(s, &[("model", NEW_B)]).is_some_and(|v| v > 0.0)
    });
    assert_eq!(
        input(&s, &[("model", NEW_B)]),
        Some(222.0 + 333.0),
        "every minute since start-up, once"
    );
    assert_eq!(input(&s, &[("model", NEW_A)]), Some(111.0));
    assert_eq!(input(&s, &[("model", LLAMA)]), Some(0.0), "baseline");
    assert_eq!(skipped_late(&s), 0.0, "nothing given up");
    // A few more polls change nothing.
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(input(&s, &[("model", NEW_B)]), Some(555.0));
    assert_eq!(input(&s, &[("model", NEW_A)]), Some(111.0));
}

/// What the fake ListInferenceProfiles answers: 0 throttled, 1 no profiles, 2 the profile.
fn fake_bedrock(phase: Arc<AtomicUsize>, calls: Arc<AtomicUsize>) -> Server {
    type Shared = (Arc<AtomicUsize>, Arc<AtomicUsize>);
    async fn list(
        State((phase, calls)): State<Shared>,
        Query(_q): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        calls.fetch_add(1, Ordering::SeqCst);
        let summaries = match phase.load(Ordering::SeqCst) {
            0 => {
                // restJson1 error: the type in x-amzn-errortype, 429 as Bedrock documents.
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("x-amzn-errortype", "ThrottlingException")],
                    Json(serde_json::json!({"message": "Rate exceeded"})),
                )
                    .into_response();
            }
            1 => serde_json::json!([]),
            _ => serde_json::json!([{
                "inferenceProfileName": "support-bot-2",
                "inferenceProfileArn": profile_arn(),
                "inferenceProfileId": PROFILE_ID,
                "models": [{"modelArn": format!("arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}")}],
                "status": "ACTIVE",
                "type": "APPLICATION",
                "createdAt": "2026-01-15T10:00:00Z",
                "updatedAt": "2026-01-15T10:00:00Z"
            }]),
        };
        Json(serde_json::json!({ "inferenceProfileSummaries": summaries })).into_response()
    }
    Server::start(
        Router::new()
            .route("/inference-profiles", get(list))
            .with_state((phase, calls)),
    )
}

/// An application inference profile whose listing is throttled, then created
/// after the listing was cached: labelled with its id until it resolves (within a minute, not
/// after profile_ttl), and its minutes counted once over both label sets.
#[test]
fn a_profile_unknown_to_the_listing_resolves_within_a_minute_and_counts_once() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let phase = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let bedrock = fake_bedrock(phase.clone(), calls.clone());
    put(&rt, &cw, &[("InputTokenCount", MISTRAL, now() - 30, 10.0)]);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &dir,
        "poll_interval: 1s\nlookback: 5m\naws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n",
    );
    let exporter = start_exporter(
        &["--config.file", &config],
        &[
            ("AWS_ENDPOINT_URL", ls.url.as_str()),
            ("AWS_ENDPOINT_URL_BEDROCK", &bedrock.url()),
        ],
    );
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        input(s, &[("model", MISTRAL)]).is_some()
    });
    let arn = profile_arn();
    let minute = now();
    put(&rt, &cw, &[("InputTokenCount", &arn, minute, 6000.0)]);
    // Throttled: labelled with the profile id, unpriced.
    let s = exporter.wait_for("the unresolved profile", Duration::from_secs(60), |s| {
        input(s, &[("model", &arn)]) == Some(6000.0)
    });
    assert_eq!(input(&s, &[("model", HAIKU)]), None);

    // The listing answers, without the profile (created after it was listed)...
    let before = calls.load(Ordering::SeqCst);
    phase.store(1, Ordering::SeqCst);
    // (after the throttling opened its breaker, the next trial call is up to 30 s away)
    wait_until("a listing without it", Duration::from_secs(60), || {
        (calls.load(Ordering::SeqCst) > before).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    // ...then with it: the next forced listing (at most a minute after the last) resolves
    // it, long before profile_ttl (10 m) would.
    phase.store(2, Ordering::SeqCst);
    let listed = calls.load(Ordering::SeqCst);
    let asked = Instant::now();
    wait_until("a listing with it", Duration::from_secs(90), || {
        (calls.load(Ordering::SeqCst) > listed).then_some(())
    });
    assert!(
        asked.elapsed() < Duration::from_secs(65),
        "{:?}",
        asked.elapsed()
    );
    std::thread::sleep(Duration::from_secs(3));
    // Later usage goes to the model and the profile's name, priced.
    put(&rt, &cw, &[("InputTokenCount", &arn, now(), 1000.0)]);
    let s = exporter.wait_for("the profile to resolve", Duration::from_secs(30), |s| {
        input(s, &[("model", HAIKU), ("deployment", "support-bot-2")]) == Some(1000.0)
    });
    let total: f64 = s
        .matching("llm_tokens_total", &[("token_type", "input")])
        .iter()
        .map(|s| s.2)
        .sum();
    assert_eq!(total, 6000.0 + 1000.0, "summed over labels: what was put");
    assert_eq!(input(&s, &[("model", &arn)]), Some(6000.0), "stays counted");
    let cost = s.value(
        "llm_estimated_cost_usd_total",
        &[("model", HAIKU), ("token_type", "input")],
    );
    assert!(
        close(cost, 1000.0 * HAIKU_IN),
        "priced once resolved: {cost:?}"
    );
    assert!(
        exporter
            .proc
            .log()
            .contains("cannot list application inference profiles"),
        "the failed listing is logged"
    );
}
