//! The fault drills: the real binary polls the fake cloud through the fault proxy while usage
//! keeps arriving. Phase by phase the proxy holds answers beyond the timeout, resets
//! connections mid-response, truncates bodies, answers 429 with Retry-After and 5xx, and
//! hangs; beside it, a 5xx storm opens the breaker and its half-open trial meets a fault too.
//! Throughout, a scraper every 25 ms sees every scrape answer within a second and no counter
//! go down; after recovery the totals equal the truth exactly.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{assert_cost, circuits, side_by_side, tokens};
use crate::cloud::FakeCloud;
use crate::drill::{half_open_trial_meets_a_fault, peak_rss_kib, Scraper, Ticker};
use crate::fault_proxy::{Fault, FaultProxy};
use crate::Exporter;

/// Both drills side by side, each with a fake of its own on one host: the breaker stays open
/// 30 s (not configurable), which the fault phases use.
pub fn fault_drills<C: FakeCloud>() {
    let host = C::host();
    side_by_side(|| faults::<C>(&host, 0), || half_open_trial::<C>(&host, 1));
}

/// The exporter polling the fake through the proxy, a scraper beside it and usage arriving.
struct Rig<C> {
    ticker: Ticker,
    scraper: Scraper,
    exporter: Exporter,
    proxy: FaultProxy,
    cloud: C,
    truth: Arc<AtomicI64>,
    started: Instant,
}

impl<C: FakeCloud> Rig<C> {
    fn start(host: &C::Host, lane: usize) -> Rig<C> {
        let started = Instant::now();
        let mut cloud = C::start(host, lane);
        let proxy = FaultProxy::start(&cloud.upstream());
        cloud.route_through(&proxy.addr);
        let cfg = cloud.config("", Some("1s"));
        cloud.add_baseline();
        let exporter = cloud.start_exporter(&cfg);
        exporter.wait_for("the baseline", Duration::from_secs(30), |s| {
            cloud.baseline_seen(s)
        });
        let scraper = Scraper::start(&exporter, Duration::from_millis(25), |n| {
            n.ends_with("_total")
        });
        // Usage arrives throughout: 7 tokens at every tick.
        let truth = Arc::new(AtomicI64::new(0));
        let ticker = {
            let (mut feed, truth) = (cloud.feed(), truth.clone());
            Ticker::start(C::DRILL_USAGE_EVERY, move || {
                feed(7);
                truth.fetch_add(7, Ordering::AcqRel);
            })
        };
        Rig {
            ticker,
            scraper,
            exporter,
            proxy,
            cloud,
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
                |s| tokens(&self.cloud, s) == Some(truth),
            );
            assert_cost(&self.cloud, &s, truth);
            total = Some(truth);
        }
        let figures = self.scraper.stop();
        let log = self.exporter.proc.log();
        eprintln!(
            "DRILL {} {drill}: {}; total {total:?} vs truth {truth}; requests per fault {:?}; peak RSS {:?} KiB; panics {}; {:.1?} wall",
            C::NAME,
            figures.line(),
            self.proxy.counts(),
            peak_rss_kib(&self.exporter),
            log.matches("panicked").count(),
            self.started.elapsed()
        );
        figures.assert_clean();
        assert!(!log.contains("panicked"), "{log}");
    }
}

fn faults<C: FakeCloud>(host: &C::Host, lane: usize) {
    let rig = Rig::<C>::start(host, lane);
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
    let states = circuits::<C>(&rig.exporter.scrape());
    assert!(
        !states.is_empty() && states.iter().all(|&v| v == 0.0),
        "every other request failing never opened the breaker: {states:?}"
    );
    rig.finish("faults", true);
}

/// A 5xx storm opens the breaker, and its half-open trial meets a reset, which opens it again
/// at once.
fn half_open_trial<C: FakeCloud>(host: &C::Host, lane: usize) {
    let rig = Rig::<C>::start(host, lane);
    half_open_trial_meets_a_fault(&rig.proxy, &rig.exporter, C::BREAKER_OPENS_WITHIN, |s| {
        circuits::<C>(s).contains(&2.0)
    });
    let log = rig.exporter.proc.log();
    let opened = log.matches("circuit opened").count();
    if C::ONE_BREAKER {
        assert_eq!(opened, 2, "{log}");
    } else {
        assert!(opened >= 2, "{log}");
    }
    rig.finish("half-open trial meets a fault", false);
}
