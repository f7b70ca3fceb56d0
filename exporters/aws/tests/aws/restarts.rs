//! Restarts with a state file, against the real binary and LocalStack while usage keeps
//! arriving: kill -9 and SIGTERM at random moments never show a scraper a counter
//! going backwards, and the totals end exact. One LocalStack serves both loops, each with a
//! model of its own.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use testkit::drill;

const ACCOUNT: &str = "111122223333";
const OPUS: &str = "anthropic.claude-3-opus-20240229-v1:0";
const NOVA: &str = "amazon.nova-pro-v1:0";

fn input(s: &Scrape, model: &str) -> Option<f64> {
    s.value(
        "llm_tokens_total",
        &[
            ("model", model),
            ("region", "us-east-1"),
            ("token_type", "input"),
        ],
    )
}

/// Restarts `times` times by `stop` while 7 tokens of `model` arrive every 250 ms and a
/// scraper checks every 20 ms that no counter goes down; then the total must equal the truth.
fn restart_drill(
    localstack: &str,
    model: &'static str,
    what: &str,
    times: usize,
    stop: fn(Exporter),
) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("aws.state");
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "poll_interval: 1s\nlookback: 2m\nstate_file: {}\naws:\n  latency_stats: [avg]\n  \
             timeout: 5s\n  regions: [us-east-1]\n  accounts: [{{account_id: '{ACCOUNT}'}}]\n",
            state.display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let env = [("AWS_ENDPOINT_URL", localstack)];
    // Usage before start-up is the baseline.
    let (rt, cw) = (runtime(), cloudwatch(localstack));
    put(&rt, &cw, &[("InputTokenCount", model, now() - 30, 10.0)]);
    let exporter = start_exporter(&["--config.file", &cfg], &env);
    exporter.wait_for("the baseline", Duration::from_secs(60), |s| {
        input(s, model).is_some()
    });
    let truth = Arc::new(AtomicI64::new(0));
    let ticker = {
        let truth = truth.clone();
        drill::Ticker::start(Duration::from_millis(250), move || {
            put(&rt, &cw, &[("InputTokenCount", model, now(), 7.0)]);
            truth.fetch_add(7, Ordering::AcqRel);
        })
    };
    let (exporter, scraper) = drill::restart_loop(exporter, times, stop, || {
        start_exporter(&["--config.file", &cfg], &env)
    });
    ticker.stop();
    // Decreases first: a restart that lost counts shows here before the totals do.
    scraper.figures().assert_clean();
    let truth = truth.load(Ordering::Acquire) as f64;
    exporter.wait_for(
        "exact totals after the last restart",
        Duration::from_secs(60),
        |s| input(s, model) == Some(truth),
    );
    let figures = scraper.stop();
    eprintln!(
        "DRILL aws {what} loop: {times} restarts, {}; total {truth} = truth {truth}; {:.1?} wall",
        figures.line(),
        started.elapsed()
    );
    figures.assert_clean();
}

#[test]
fn kill_9_and_sigterm_restarts_never_show_a_decrease_and_totals_end_exact() {
    let ls = start_localstack();
    let url = ls.url.as_str();
    std::thread::scope(|s| {
        let a = s.spawn(|| restart_drill(url, OPUS, "kill -9", 8, drill::kill_9));
        let b = s.spawn(|| restart_drill(url, NOVA, "SIGTERM", 8, drill::sigterm));
        let (a, b) = (a.join(), b.join());
        a.unwrap();
        b.unwrap();
    });
}
