//! Restarts with a state file, against the real binary while usage keeps arriving: kill -9 and
//! SIGTERM at random moments never show a scraper a counter going backwards, and the totals
//! end exact.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{assert_cost, side_by_side, tokens};
use crate::cloud::FakeCloud;
use crate::drill::{kill_9, restart_loop, sigterm, Ticker};
use crate::Exporter;

/// The kill -9 loop and the SIGTERM loop side by side, each with a fake of its own on one host.
pub fn restart_drills<C: FakeCloud>() {
    let host = C::host();
    side_by_side(
        || restart_drill::<C>(&host, 0, "kill -9", C::KILL_9_RESTARTS, kill_9),
        || restart_drill::<C>(&host, 1, "SIGTERM", 8, sigterm),
    );
}

/// Restarts `times` times by `stop` while 7 tokens arrive at every tick and a scraper checks
/// every 20 ms that no usage counter goes down; then the totals must equal the truth exactly.
fn restart_drill<C: FakeCloud>(
    host: &C::Host,
    lane: usize,
    what: &str,
    times: usize,
    stop: fn(Exporter),
) {
    let started = Instant::now();
    let cloud = C::start(host, lane);
    let state = cloud.dir().join(format!("{}.state", C::NAME));
    let cfg = cloud.config(&format!("state_file: {}\n", state.display()), None);
    // Usage before start-up is the baseline.
    cloud.add_baseline();
    let exporter = cloud.start_exporter(&cfg);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        cloud.baseline_seen(s)
    });
    let truth = Arc::new(AtomicI64::new(0));
    let ticker = {
        let (mut feed, truth) = (cloud.feed(), truth.clone());
        Ticker::start(C::RESTART_USAGE_EVERY, move || {
            feed(7);
            truth.fetch_add(7, Ordering::AcqRel);
        })
    };
    let (exporter, scraper) = restart_loop(exporter, times, stop, || cloud.start_exporter(&cfg));
    ticker.stop();
    // Decreases first: a restart that lost counts shows here before the totals do.
    scraper.figures().assert_clean();
    let truth = truth.load(Ordering::Acquire) as f64;
    let s = exporter.wait_for(
        "exact totals after the last restart",
        Duration::from_secs(60),
        |s| tokens(&cloud, s) == Some(truth),
    );
    assert_cost(&cloud, &s, truth);
    let figures = scraper.stop();
    eprintln!(
        "DRILL {} {what} loop: {times} restarts, {}; total {truth} = truth {truth}; {:.1?} wall",
        C::NAME,
        figures.line(),
        started.elapsed()
    );
    figures.assert_clean();
}
