//! `max_response_bytes` bounds what is read from the cloud: an answer past the cap, with its
//! Content-Length or endless, fails the call with an error naming the key and the limit; the
//! breaker stays closed (a refused body is the endpoint's answer, not an outage), the process
//! keeps serving with its memory bounded, and once answers fit again usage counts exactly,
//! including usage that arrived while answers were refused.

use std::time::Duration;

use super::{circuits, tokens};
use crate::cloud::{FakeCloud, Oversize};
use crate::drill::{peak_rss_kib, sigterm};
use crate::{Exporter, Scrape};

/// The `max_response_bytes` the drill sets.
pub const BODY_CAP: u64 = 65_536;

fn requests<C: FakeCloud>(s: &Scrape, outcome: &str) -> f64 {
    s.value(
        "llm_exporter_api_requests_total",
        &[("api", C::API), ("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

pub fn body_cap_drill<C: FakeCloud>() {
    body_cap_drill_on::<C>(&C::host(), 0);
}

/// [`body_cap_drill`] on a host shared with another drill (in lane `lane`).
pub fn body_cap_drill_on<C: FakeCloud>(host: &C::Host, lane: usize) {
    let cloud = C::start(host, lane);
    cloud.add_baseline();
    let cfg = cloud.config(&format!("max_response_bytes: {BODY_CAP}\n"), None);
    // Answers of 1 MiB from the first call on: nothing is ever read.
    let sized = Oversize::Sized(1 << 20);
    cloud.set_oversize(Some(sized));
    let exporter = cloud.start_exporter(&cfg);
    // More failures in a row than the breaker's threshold (five): a refused body is a
    // permanent error, which never opens it.
    let s = refused(&cloud, &exporter, sized, 0, 0.0, 6.0);
    assert_eq!(requests::<C>(&s, "success"), 0.0);
    assert!(s.matching("llm_tokens_total", &[]).is_empty());

    // Answers fit: the first poll is the baseline.
    cloud.set_oversize(None);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        cloud.baseline_seen(s) && s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    // Endless answers, and usage arriving while they are refused.
    cloud.set_oversize(Some(Oversize::Endless));
    let start = exporter.proc.log().len();
    let errors = requests::<C>(&exporter.scrape(), "error");
    exporter.wait_for(
        "the first endless answer refused",
        Duration::from_secs(60),
        |s| requests::<C>(s, "error") > errors,
    );
    cloud.feed()(1_000);
    refused(&cloud, &exporter, Oversize::Endless, start, errors, 3.0);

    // Answers fit again: the usage counts, once.
    cloud.set_oversize(None);
    exporter.wait_for("counting again", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0) && tokens(&cloud, s) == Some(1_000.0)
    });
    assert!(!exporter.proc.log().contains("panicked"));
    sigterm(exporter);
}

/// Waits until answers made by `oversize` failed `calls` calls (counted from `errors` failed
/// ones), then checks what a refused answer must leave behind; `start` is where the log of
/// this phase begins. Returns the last scrape.
fn refused<C: FakeCloud>(
    cloud: &C,
    exporter: &Exporter,
    oversize: Oversize,
    start: usize,
    errors: f64,
    calls: f64,
) -> Scrape {
    let what = format!("{oversize:?} answers refused");
    let s = exporter.wait_for(&what, Duration::from_secs(60), |s| {
        requests::<C>(s, "error") >= errors + calls
    });
    let log = exporter.proc.log();
    let log = &log[start.min(log.len())..];
    assert!(
        log.contains(&format!("exceeds max_response_bytes ({BODY_CAP} bytes)")),
        "{what}: the log names the key and the limit: {log}"
    );
    assert_eq!(s.value("llm_exporter_up", &[]), Some(0.0), "{what}");
    let targets = s.matching("llm_exporter_target_up", &[]);
    assert!(
        !targets.is_empty() && targets.iter().all(|t| t.2 == 0.0),
        "{what}: {targets:?}"
    );
    let states = circuits::<C>(&s);
    assert!(
        !states.is_empty() && states.iter().all(|&v| v == 0.0),
        "{what}: a refused body is no outage: the breaker stays closed: {states:?}"
    );
    assert_eq!(
        requests::<C>(&s, "timeout"),
        0.0,
        "{what}: reading stopped at the cap instead of running into the timeout"
    );
    assert_eq!(
        exporter.get("/-/healthy").0,
        200,
        "{what}: the exporter keeps serving"
    );
    let rss = peak_rss_kib(exporter).expect("VmHWM");
    assert!(
        rss < C::PEAK_RSS_MIB * 1024,
        "{what}: peak RSS {rss} KiB: the body was buffered"
    );
    cloud.check_refused(oversize, exporter, log);
    s
}
