//! One bad scope never holds back the good ones, and a GetMetricData answer that did not
//! complete is an error: the real binary against LocalStack
//! behind a proxy that refuses one region's calls or marks results PartialData.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

// LocalStack instances of one test run share one CloudWatch store: each test its own model.
const SONNET: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const US_HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const ACCOUNT: &str = "111122223333";

fn config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn input(s: &Scrape, region: &str) -> Option<f64> {
    input_of(s, SONNET, region)
}

fn input_of(s: &Scrape, model: &str, region: &str) -> Option<f64> {
    s.value(
        "llm_tokens_total",
        &[
            ("model", model),
            ("region", region),
            ("token_type", "input"),
        ],
    )
}

fn target_up(s: &Scrape, region: &str) -> Option<f64> {
    let target = format!("{ACCOUNT}/{region}");
    s.value("llm_exporter_target_up", &[("target", &target)])
}

/// The reasons `llm_exporter_target_failure_reason` gives for a region's target (at most one).
fn failure_reasons(s: &Scrape, region: &str) -> Vec<String> {
    let target = format!("{ACCOUNT}/{region}");
    s.matching(
        "llm_exporter_target_failure_reason",
        &[("target", target.as_str())],
    )
    .iter()
    .filter(|(_, _, v)| *v == 1.0)
    .map(|(_, l, _)| l["reason"].clone())
    .collect()
}

/// A region whose every call is throttled (CloudWatch answers HTTP 400 `Throttling`).
const THROTTLED: &str = "us-west-2";

/// Regions whose GetMetricData answers 503 (after the SDK's own retries): enough of them that
/// a breaker shared with the healthy region would see five failures in a row every poll.
const UNAVAILABLE: [&str; 5] = [
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
];

/// us-east-1 is healthy; eu-west-1 refuses every call (a role without permission
/// there: 403, permanent); five regions answer GetMetricData with 503 (their breakers open);
/// us-west-2 is throttled. us-east-1 keeps counting exactly and stays up at every scrape; the
/// others are down, each with a log line naming the scope and why, and
/// `llm_exporter_target_failure_reason` saying denied, unreachable or throttled.
#[test]
fn one_failing_region_does_not_hold_back_another() {
    let ls = start_localstack();
    let rt = runtime();
    let rules = Arc::new(proxy::Rules::default());
    rules.fail("eu-west-1", "", 403, "AccessDenied");
    rules.fail(THROTTLED, "", 400, "Throttling");
    let east = cloudwatch(&ls.url);
    put(&rt, &east, &[("InputTokenCount", SONNET, now() - 30, 10.0)]);
    for region in UNAVAILABLE {
        rules.fail(region, "GetMetricData", 503, "ServiceUnavailable");
        // A listed metric, so the region gets as far as GetMetricData.
        let cw = cloudwatch_in(&ls.url, region);
        put(&rt, &cw, &[("InputTokenCount", SONNET, now() - 30, 10.0)]);
    }
    let proxy = proxy::start(ls.url.clone(), rules.clone());
    let dir = tempfile::tempdir().unwrap();
    let regions = ["us-east-1", "eu-west-1", THROTTLED]
        .iter()
        .chain(UNAVAILABLE.iter())
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let config = config(
        &dir,
        &format!(
            "poll_interval: 1s\nlookback: 2m\naws:\n  latency_stats: [avg]\n  timeout: 5s\n  \
             regions: [{regions}]\n  accounts: [{{account_id: '{ACCOUNT}'}}]\n"
        ),
    );
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", &proxy.url())],
    );
    exporter.wait_for("the healthy baseline", Duration::from_secs(60), |s| {
        input(s, "us-east-1").is_some()
    });

    put(&rt, &east, &[("InputTokenCount", SONNET, now(), 500.0)]);
    // The failing regions fail every poll meanwhile; a breaker shared with them would have
    // failed us-east-1 within a few polls.
    let until = Instant::now() + Duration::from_secs(20);
    let mut scrapes = 0;
    while Instant::now() < until {
        let s = exporter.scrape();
        assert_eq!(
            target_up(&s, "us-east-1"),
            Some(1.0),
            "the healthy scope is never held back\n{}",
            exporter.proc.log()
        );
        scrapes += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(scrapes >= 10);
    let s = exporter.wait_for("the healthy count", Duration::from_secs(30), |s| {
        input(s, "us-east-1") == Some(500.0)
    });
    assert_eq!(target_up(&s, "eu-west-1"), Some(0.0));
    for region in UNAVAILABLE {
        assert_eq!(target_up(&s, region), Some(0.0), "{region}");
        assert!(
            rules.calls(region, "GetMetricData") >= 1,
            "{region} was tried"
        );
    }
    assert_eq!(input(&s, "eu-west-1"), None, "nothing from a refused scope");
    assert_eq!(target_up(&s, THROTTLED), Some(0.0));
    assert_eq!(failure_reasons(&s, "eu-west-1"), ["denied"]);
    assert_eq!(failure_reasons(&s, THROTTLED), ["throttled"]);
    for region in UNAVAILABLE {
        assert_eq!(failure_reasons(&s, region), ["unreachable"], "{region}");
    }
    assert!(
        failure_reasons(&s, "us-east-1").is_empty(),
        "none while it succeeds"
    );
    let good = format!("{ACCOUNT}/us-east-1");
    assert_eq!(
        s.value(
            "llm_exporter_circuit_state",
            &[("api", "GetMetricData"), ("target", &good)]
        ),
        Some(0.0),
        "the healthy scope's breaker stays closed"
    );
    let log = exporter.proc.log();
    let named = |scope: &str, why: &str| {
        log.lines()
            .any(|l| l.contains("poll failed") && l.contains(scope) && l.contains(why))
    };
    assert!(
        named(&format!("{ACCOUNT}/eu-west-1"), "AccessDenied"),
        "a log line names the scope and why:\n{log}"
    );
    assert!(
        named(&format!("{ACCOUNT}/sa-east-1"), "ServiceUnavailable"),
        "a log line names the scope and why:\n{log}"
    );
}

/// While GetMetricData answers PartialData with no NextToken, the poll fails
/// (logged with the metric's name and the cloud's message) and nothing is counted; once the
/// answers are complete, every minute is counted exactly once.
#[test]
fn partial_data_fails_the_poll_and_the_window_is_fetched_again() {
    let ls = start_localstack();
    let rt = runtime();
    let rules = Arc::new(proxy::Rules::default());
    let proxy = proxy::start(ls.url.clone(), rules.clone());
    let east = cloudwatch(&ls.url);
    put(
        &rt,
        &east,
        &[("InputTokenCount", US_HAIKU, now() - 30, 10.0)],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &dir,
        &format!(
            "poll_interval: 1s\nlookback: 5m\naws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n  \
             accounts: [{{account_id: '{ACCOUNT}'}}]\n"
        ),
    );
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", &proxy.url())],
    );
    exporter.wait_for("the baseline", Duration::from_secs(60), |s| {
        input_of(s, US_HAIKU, "us-east-1").is_some()
    });
    rules.set_partial(true);
    put(&rt, &east, &[("InputTokenCount", US_HAIKU, now(), 700.0)]);
    let s = exporter.wait_for("the poll to fail", Duration::from_secs(30), |s| {
        target_up(s, "us-east-1") == Some(0.0)
    });
    std::thread::sleep(Duration::from_secs(3));
    let s2 = exporter.scrape();
    assert_eq!(
        input_of(&s, US_HAIKU, "us-east-1"),
        Some(0.0),
        "nothing counted from partial data"
    );
    assert_eq!(
        input_of(&s2, US_HAIKU, "us-east-1"),
        Some(0.0),
        "nothing counted from partial data"
    );
    let log = exporter.proc.log();
    assert!(
        log.lines().any(|l| l.contains("PartialData")
            && l.contains("InputTokenCount")
            && l.contains("test proxy: data missing")),
        "logged with the metric's name and the cloud's message:\n{log}"
    );
    rules.set_partial(false);
    let s = exporter.wait_for("the window fetched again", Duration::from_secs(30), |s| {
        input_of(s, US_HAIKU, "us-east-1") == Some(700.0)
    });
    assert_eq!(target_up(&s, "us-east-1"), Some(1.0));
}
