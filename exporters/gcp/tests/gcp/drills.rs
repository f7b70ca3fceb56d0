//! The fault drills: the real binary polls the fake Cloud Monitoring through the
//! fault proxy while usage keeps arriving. Phase by phase the proxy holds answers beyond the
//! timeout, resets connections mid-response, truncates bodies, answers 429 with Retry-After
//! and 5xx, and hangs; beside it, a 5xx storm opens the breaker and its half-open trial meets
//! a fault too. Throughout, a scraper every 25 ms sees every scrape answer within a second and
//! no counter go down; after recovery the totals equal the truth exactly.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use testkit::drill::{half_open_trial_meets_a_fault, Figures, Scraper, Ticker};
use testkit::fault_proxy::{Fault, FaultProxy};

const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];
const INPUT: [(&str, &str); 2] = [("model", "gemini-2.5-flash"), ("token_type", "input")];
const FLASH_IN: f64 = 0.30e-6;

fn add(fake: &Fake, period: i64, n: i64) {
    fake.add(
        "proj-a",
        "token_count",
        &GEMINI,
        &[("type", "input"), ("request_type", "shared")],
        period,
        PointValue::Int(n),
    );
}

fn circuit(s: &Scrape) -> Option<f64> {
    s.value(
        "llm_exporter_circuit_state",
        &[("api", "timeSeries.list"), ("target", "proj-a")],
    )
}

/// The exporter polling through the proxy, a scraper beside it and usage arriving.
struct Rig {
    fake: Fake,
    _server: Server,
    proxy: FaultProxy,
    _dir: tempfile::TempDir,
    exporter: Exporter,
    scraper: Scraper,
    ticker: Ticker,
    truth: Arc<AtomicI64>,
    started: Instant,
}

impl Rig {
    fn start() -> Rig {
        let started = Instant::now();
        let fake = Fake::default();
        let server = fake.start();
        let proxy = FaultProxy::start(&server.addr);
        let dir = tempfile::tempdir().unwrap();
        let key = service_account_key(dir.path());
        let cfg = dir.path().join("config.yaml");
        std::fs::write(
            &cfg,
            format!(
                "poll_interval: 1s\ngcp:\n  projects: [proj-a]\n  monitoring_endpoint: {}\n  timeout: 1s\n  idle_poll_interval: 2s\n",
                proxy.url()
            ),
        )
        .unwrap();
        // Usage before start-up is the baseline, not counted.
        add(&fake, now_minute() - 60, 1_000);
        let exporter = start_exporter(&["--config.file", cfg.to_str().unwrap()], &key);
        exporter.wait_for("the baseline", Duration::from_secs(30), |s| {
            s.value("llm_exporter_up", &[]) == Some(1.0)
        });
        let scraper = Scraper::start(&exporter, Duration::from_millis(25), |n| {
            n.ends_with("_total")
        });
        // Usage arrives throughout: 7 tokens every 300 ms into the current minute.
        let truth = Arc::new(AtomicI64::new(0));
        let ticker = {
            let (fake, truth) = (fake.clone(), truth.clone());
            Ticker::start(Duration::from_millis(300), move || {
                add(&fake, now_minute(), 7);
                truth.fetch_add(7, Ordering::AcqRel);
            })
        };
        Rig {
            fake,
            _server: server,
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
            let s = self.exporter.wait_for(
                "exact totals after recovery",
                Duration::from_secs(20),
                |s| s.value("llm_tokens_total", &INPUT) == Some(truth),
            );
            let cost = s.value("llm_estimated_cost_usd_total", &INPUT).unwrap();
            assert!((cost - truth * FLASH_IN).abs() < 1e-9, "cost {cost}");
            total = Some(truth);
        }
        let figures: Figures = self.scraper.stop();
        let log = self.exporter.proc.log();
        eprintln!(
            "DRILL gcp {drill}: {}; total {total:?} vs truth {truth}; requests per fault {:?}; peak RSS {:?} KiB; panics {}; {:.1?} wall",
            figures.line(),
            self.proxy.counts(),
            testkit::drill::peak_rss_kib(&self.exporter),
            log.matches("panicked").count(),
            self.started.elapsed()
        );
        let _ = &self.fake;
        figures.assert_clean();
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[test]
fn drill_faults_between_the_exporter_and_cloud_monitoring_never_show_a_decrease_and_end_exact() {
    let rig = Rig::start();
    // Every other request fails: the client's retry meets a good answer, the breaker (five
    // failed attempts in a row) stays closed, and every fault reaches the exporter.
    let short = Duration::from_millis(2_500);
    rig.proxy
        .phase(Fault::Latency(Duration::from_millis(1_500)), 2, short);
    rig.proxy.phase(Fault::Reset, 2, short);
    rig.proxy.phase(Fault::Truncated, 2, short);
    rig.proxy.phase(Fault::TooMany { retry_after: 1 }, 2, short);
    rig.proxy.phase(Fault::Status(503), 2, short);
    rig.proxy.phase(Fault::Hang, 3, short);
    // Then recovery.
    rig.proxy.set(None, 1);
    assert_eq!(
        circuit(&rig.exporter.scrape()),
        Some(0.0),
        "every other request failing never opened the breaker"
    );
    rig.finish("faults", true);
}

/// The breaker opens after five failed attempts and stays open 30 s (not configurable), so
/// this drill is apart from the one above, which it runs beside: a 5xx storm opens it, and
/// its half-open trial meets a reset, which opens it again at once.
#[test]
fn drill_a_half_open_trial_that_meets_a_fault_opens_the_breaker_again() {
    let rig = Rig::start();
    half_open_trial_meets_a_fault(&rig.proxy, &rig.exporter, Duration::from_secs(20), |s| {
        circuit(s) == Some(2.0)
    });
    let log = rig.exporter.proc.log();
    assert_eq!(log.matches("circuit opened").count(), 2, "{log}");
    rig.finish("half-open trial meets a fault", false);
}
