//! The fault drills: the real binary and the real AWS SDK poll LocalStack's
//! CloudWatch through the fault proxy while usage keeps arriving. Phase by phase the proxy
//! holds answers beyond the timeout, resets connections mid-response, truncates bodies,
//! answers 429 with Retry-After and 5xx, and hangs; beside it, a 5xx storm opens the breaker
//! and its half-open trial meets a fault too. Throughout, a scraper every 25 ms sees every
//! scrape answer within a second and no counter go down; after recovery the totals equal the
//! truth exactly. One LocalStack serves both drills, each with a model of its own.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use testkit::drill::{half_open_trial_meets_a_fault, Figures, Scraper, Ticker};
use testkit::fault_proxy::{Fault, FaultProxy};

const ACCOUNT: &str = "111122223333";
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const SONNET: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

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

fn open_circuits(s: &Scrape) -> usize {
    s.matching("llm_exporter_circuit_state", &[("api", "GetMetricData")])
        .iter()
        .filter(|x| x.2 == 2.0)
        .count()
}

/// The exporter polling LocalStack through the proxy for `model`, a scraper beside it and
/// usage of `model` arriving.
struct Rig {
    model: &'static str,
    proxy: FaultProxy,
    _dir: tempfile::TempDir,
    exporter: Exporter,
    scraper: Scraper,
    ticker: Ticker,
    truth: Arc<AtomicI64>,
    started: Instant,
}

impl Rig {
    fn start(localstack: &str, model: &'static str) -> Rig {
        let started = Instant::now();
        let proxy = FaultProxy::start(localstack);
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.yaml");
        std::fs::write(
            &cfg,
            format!(
                "poll_interval: 1s\nlookback: 2m\naws:\n  latency_stats: [avg]\n  timeout: 1s\n  \
                 regions: [us-east-1]\n  accounts: [{{account_id: '{ACCOUNT}'}}]\n"
            ),
        )
        .unwrap();
        // Usage before start-up is the baseline, not counted.
        let (rt, cw) = (runtime(), cloudwatch(localstack));
        put(&rt, &cw, &[("InputTokenCount", model, now() - 30, 10.0)]);
        let exporter = start_exporter(
            &["--config.file", cfg.to_str().unwrap()],
            &[("AWS_ENDPOINT_URL", &proxy.url())],
        );
        exporter.wait_for("the baseline", Duration::from_secs(30), |s| {
            input(s, model).is_some()
        });
        let scraper = Scraper::start(&exporter, Duration::from_millis(25), |n| {
            n.ends_with("_total")
        });
        // Usage arrives throughout: 7 tokens every 400 ms.
        let truth = Arc::new(AtomicI64::new(0));
        let ticker = {
            let truth = truth.clone();
            Ticker::start(Duration::from_millis(400), move || {
                put(&rt, &cw, &[("InputTokenCount", model, now(), 7.0)]);
                truth.fetch_add(7, Ordering::AcqRel);
            })
        };
        Rig {
            model,
            proxy,
            _dir: dir,
            exporter,
            scraper,
            ticker,
            truth,
            started,
        }
    }

    /// Stops the usage and the scraper; prints the figures and checks them.
    fn finish(self, drill: &str, exact: bool) {
        self.ticker.stop();
        let truth = self.truth.load(Ordering::Acquire) as f64;
        let mut total = None;
        if exact {
            self.exporter.wait_for(
                "exact totals after recovery",
                Duration::from_secs(20),
                |s| input(s, self.model) == Some(truth),
            );
            total = Some(truth);
        }
        let figures: Figures = self.scraper.stop();
        let log = self.exporter.proc.log();
        eprintln!(
            "DRILL aws {drill}: {}; total {total:?} vs truth {truth}; requests per fault {:?}; peak RSS {:?} KiB; panics {}; {:.1?} wall",
            figures.line(),
            self.proxy.counts(),
            testkit::drill::peak_rss_kib(&self.exporter),
            log.matches("panicked").count(),
            self.started.elapsed()
        );
        figures.assert_clean();
        assert!(!log.contains("panicked"), "{log}");
    }
}

fn faults(localstack: &str) {
    let rig = Rig::start(localstack, HAIKU);
    // Every other request fails: the SDK's retry meets a good answer, the breaker (five
    // failed calls in a row) stays closed, and every fault reaches the exporter.
    let short = Duration::from_millis(2_500);
    let p = &rig.proxy;
    p.phase(Fault::Latency(Duration::from_millis(1_500)), 2, short);
    p.phase(Fault::Reset, 2, short);
    p.phase(Fault::Truncated, 2, short);
    p.phase(Fault::TooMany { retry_after: 1 }, 2, short);
    p.phase(Fault::Status(503), 2, short);
    p.phase(Fault::Hang, 3, short);
    // Then recovery.
    p.set(None, 1);
    rig.finish("faults", true);
}

/// The breaker opens after five failed calls and stays open 30 s (not configurable), so this
/// drill runs beside the one above: a 5xx storm opens it, and its half-open trial meets a
/// reset, which opens it again at once.
fn half_open_trial(localstack: &str) {
    let rig = Rig::start(localstack, SONNET);
    half_open_trial_meets_a_fault(&rig.proxy, &rig.exporter, Duration::from_secs(30), |s| {
        open_circuits(s) > 0
    });
    let log = rig.exporter.proc.log();
    assert!(log.matches("circuit opened").count() >= 2, "{log}");
    rig.finish("half-open trial meets a fault", false);
}

#[test]
fn drill_faults_between_the_exporter_and_cloudwatch_never_show_a_decrease_and_end_exact() {
    let ls = start_localstack();
    let url = ls.url.as_str();
    std::thread::scope(|s| {
        let a = s.spawn(|| faults(url));
        let b = s.spawn(|| half_open_trial(url));
        let (a, b) = (a.join(), b.join());
        a.unwrap();
        b.unwrap();
    });
}
