//! `max_response_bytes` bounds what is read from an AWS response: the real
//! binary against LocalStack behind a proxy (127.0.0.1) that makes GetMetricData answers large,
//! once with Content-Length and once streamed without it.

use std::sync::Arc;
use std::time::Duration;

use crate::support::proxy::{Oversize, Rules};
use crate::support::*;

// Each test its own model (one CloudWatch store per LocalStack, but be safe).
const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const ACCOUNT: &str = "111122223333";

fn config(dir: &tempfile::TempDir, name: &str, cap: Option<u64>) -> String {
    let path = dir.path().join(name);
    let cap = cap
        .map(|c| format!("max_response_bytes: {c}\n"))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!("poll_interval: 1s\nlookback: 10m\n{cap}aws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n  accounts: [{{account_id: '{ACCOUNT}'}}]\n"),
    )
    .unwrap();
    path.display().to_string()
}

fn gmd(s: &Scrape, outcome: &str) -> f64 {
    s.value(
        "llm_exporter_api_requests_total",
        &[("api", "GetMetricData"), ("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

/// Peak resident memory of a process in KiB (Linux `VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM")
}

/// A body over the cap fails the poll with an error naming max_response_bytes, counted as a
/// failed GetMetricData call; the process stays healthy, its memory bounded, and nothing is
/// counted. With the default cap the same answers are read and counted.
#[test]
fn an_answer_over_max_response_bytes_fails_the_call_and_the_process_stays_healthy() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let rules = Arc::new(Rules::default());
    let proxy = crate::support::proxy::start(ls.url.clone(), rules.clone());
    let env = [("AWS_ENDPOINT_URL", proxy.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let t = now() / 60 * 60 - 120;
    put(&rt, &cw, &[("InputTokenCount", MODEL, t + 1, 1234.0)]);

    for (oversize, what) in [
        (Oversize::Padded(1 << 20), "1 MB with Content-Length"),
        (Oversize::Streamed(64 << 20), "64 MB streamed"),
    ] {
        *rules.oversize.lock().unwrap() = Some(oversize);
        let config = config(&dir, "capped.yaml", Some(4096));
        let mut exporter = start_exporter(&["--config.file", &config], &env);
        // More failures than the breaker's threshold (5): a refused body is a permanent
        // error, which never opens it.
        let s = exporter.wait_for(what, Duration::from_secs(60), |s| gmd(s, "error") >= 7.0);
        let log = exporter.proc.log();
        assert!(
            log.contains("exceeds max_response_bytes (4096 bytes)"),
            "{what}: {log}"
        );
        assert_eq!(gmd(&s, "success"), 0.0, "{what}");
        assert_eq!(
            s.value(
                "llm_exporter_target_up",
                &[("target", &format!("{ACCOUNT}/us-east-1"))]
            ),
            Some(0.0)
        );
        assert_eq!(
            s.value("llm_exporter_circuit_state", &[("api", "GetMetricData")]),
            Some(0.0),
            "{what}: a refused body is no outage: the breaker stays closed"
        );
        assert!(s.matching("llm_tokens_total", &[]).is_empty(), "{what}");
        assert_eq!(exporter.get("/-/healthy").0, 200, "{what}");
        let pid = exporter.proc.child.as_ref().unwrap().id();
        let rss = peak_rss_kib(pid);
        assert!(
            rss < 48 * 1024,
            "{what}: peak RSS {rss} KiB: the body was buffered"
        );
        assert!(exporter.proc.stop().unwrap().success(), "{what}");
    }

    // The same 1 MB answers under the default cap (64 MiB) are read: the first poll is the
    // baseline, then a new minute is counted.
    *rules.oversize.lock().unwrap() = Some(Oversize::Padded(1 << 20));
    let config = config(&dir, "default.yaml", None);
    let exporter = start_exporter(&["--config.file", &config], &env);
    exporter.wait_for("a successful poll", Duration::from_secs(60), |s| {
        gmd(s, "success") >= 1.0
    });
    put(&rt, &cw, &[("InputTokenCount", MODEL, t + 60 + 1, 100.0)]);
    exporter.wait_for("the new minute", Duration::from_secs(60), |s| {
        s.value(
            "llm_tokens_total",
            &[("model", MODEL), ("token_type", "input")],
        ) == Some(100.0)
    });
}
