//! The fault drills: the real binary polls the fake Azure (over TLS) through the
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

const SUB: &str = "aaaaaaaa-1111-2222-3333-444444444444";
const GPT4O_GLOBAL_IN: f64 = 2.50e-6;
const INPUT: [(&str, &str); 2] = [
    ("deployment", "oai-east/chat-prod"),
    ("token_type", "input"),
];

fn account() -> FakeAccount {
    FakeAccount {
        subscription: SUB.into(),
        name: "oai-east".into(),
        location: "eastus".into(),
        deployments: vec![deployment(
            "chat-prod",
            "gpt-4o",
            "2024-08-06",
            "OpenAI",
            "GlobalStandard",
        )],
    }
}

fn open_circuits(s: &Scrape) -> usize {
    s.matching("llm_exporter_circuit_state", &[])
        .iter()
        .filter(|x| x.2 == 2.0)
        .count()
}

/// The exporter polling through the proxy (behind the fake's TLS front), a scraper beside it
/// and usage arriving.
struct Rig {
    _setup: Setup,
    proxy: FaultProxy,
    _tls: tokio::sync::oneshot::Sender<()>,
    exporter: Exporter,
    scraper: Scraper,
    ticker: Ticker,
    truth: Arc<AtomicI64>,
    started: Instant,
}

impl Rig {
    fn start() -> Rig {
        let started = Instant::now();
        let east = account();
        let t = setup(vec![east.clone()]);
        // TLS front -> fault proxy -> the fake: the exporter talks to the new front only.
        let proxy = FaultProxy::start(&t._server.addr);
        let dir = t.dir.path();
        let (front, tls) = tls_proxy(
            proxy.addr.clone(),
            &dir.join("server.pem"),
            &dir.join("server.key"),
        );
        let public = format!("https://{front}");
        t.fake.state().public = public.clone();
        let cfg = config(dir, &public, &t.ca, &[SUB], "");
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, text.replace("timeout: 3s", "timeout: 1s")).unwrap();

        // Usage before start-up is the baseline, not counted.
        t.fake.add(
            &east,
            "ProcessedPromptTokens",
            "chat-prod",
            "",
            now_minute() - 120,
            1_000.0,
        );
        let exporter = start_exporter(&["--config.file", &cfg]);
        exporter.wait_for("the baseline", Duration::from_secs(30), |s| {
            s.value("llm_exporter_up", &[]) == Some(1.0)
        });
        let scraper = Scraper::start(&exporter, Duration::from_millis(25), |n| {
            n.ends_with("_total")
        });
        // Usage arrives throughout: 7 tokens every 300 ms into the current minute.
        let truth = Arc::new(AtomicI64::new(0));
        let ticker = {
            let (fake, truth) = (t.fake.clone(), truth.clone());
            Ticker::start(Duration::from_millis(300), move || {
                fake.add(
                    &east,
                    "ProcessedPromptTokens",
                    "chat-prod",
                    "",
                    now_minute(),
                    7.0,
                );
                truth.fetch_add(7, Ordering::AcqRel);
            })
        };
        Rig {
            _setup: t,
            proxy,
            _tls: tls,
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
                |s| sum(s, "llm_tokens_total", &INPUT) == truth,
            );
            let cost = sum(&s, "llm_estimated_cost_usd_total", &INPUT);
            assert!((cost - truth * GPT4O_GLOBAL_IN).abs() < 1e-9, "cost {cost}");
            total = Some(truth);
        }
        let figures: Figures = self.scraper.stop();
        let log = self.exporter.proc.log();
        eprintln!(
            "DRILL azure {drill}: {}; total {total:?} vs truth {truth}; requests per fault {:?}; peak RSS {:?} KiB; panics {}; {:.1?} wall",
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

#[test]
fn drill_faults_between_the_exporter_and_azure_monitor_never_show_a_decrease_and_end_exact() {
    let rig = Rig::start();
    // Every other request fails: the client's retry meets a good answer, the breaker (five
    // failed attempts in a row) stays closed, and every fault reaches the exporter.
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

/// The breaker opens after five failed attempts and stays open 30 s (not configurable), so
/// this drill is apart from the one above, which it runs beside: a 5xx storm opens it, and
/// its half-open trial meets a reset, which opens it again at once.
#[test]
fn drill_a_half_open_trial_that_meets_a_fault_opens_the_breaker_again() {
    let rig = Rig::start();
    half_open_trial_meets_a_fault(&rig.proxy, &rig.exporter, Duration::from_secs(20), |s| {
        open_circuits(s) > 0
    });
    let log = rig.exporter.proc.log();
    assert!(log.matches("circuit opened").count() >= 2, "{log}");
    rig.finish("half-open trial meets a fault", false);
}
