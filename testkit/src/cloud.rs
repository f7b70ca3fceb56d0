//! What the shared drills (`crate::drills`) need from a fake cloud: start it, add usage, point
//! the real exporter at it (directly or through the fault proxy), know what the exporter
//! should then publish, and make its metrics API answer too large. Each exporter implements
//! [`FakeCloud`] once in its `tests/support/drill_cloud.rs` over its own fake (LocalStack's
//! CloudWatch, the fake Azure Monitor, the fake Cloud Monitoring); the drills are written once.

use std::path::Path;
use std::time::Duration;

use crate::{Exporter, Scrape};

/// How [`FakeCloud::set_oversize`] makes the metrics API's answers large.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Oversize {
    /// A well-formed answer of this many bytes, sent with its Content-Length.
    Sized(usize),
    /// A body sent chunked without Content-Length that goes on far past any cap (endless, or
    /// 64 MiB where the fake cannot stream forever).
    Endless,
}

/// One fake cloud, as the drills in [`crate::drills`] drive it.
pub trait FakeCloud: Sized {
    /// The cloud's name in the drills' figures and in state-file names (`aws`, `azure`, `gcp`).
    const NAME: &'static str;

    /// What drills running side by side share (one LocalStack), `()` where a fake is cheap.
    type Host: Sync;

    /// Starts what the drills of one test share.
    fn host() -> Self::Host;

    /// A fake for one drill on `host`. Drills side by side on one host get lanes 0 and 1, and
    /// never see each other's usage.
    fn start(host: &Self::Host, lane: usize) -> Self;

    /// `host:port` of the fake's plain-HTTP listener: what a fault proxy forwards to.
    fn upstream(&self) -> String;

    /// From now on the exporter reaches the fake through a proxy at `proxy` (`host:port`).
    fn route_through(&mut self, proxy: &str);

    /// Writes the exporter's config file (polling every second, at the fake or at the proxy
    /// routed through) with `top` added at the top level (e.g. `state_file: ...\n`) and the
    /// cloud calls' timeout `timeout` (None: the cloud's usual one in these drills); returns
    /// its path.
    fn config(&self, top: &str, timeout: Option<&str>) -> String;

    /// A directory that lives as long as the fake (for state files).
    fn dir(&self) -> &Path;

    /// The real exporter binary with `config`, credentials for the fake, its endpoint, and
    /// nothing from the machine's cloud set-up.
    fn start_exporter(&self, config: &str) -> Exporter;

    /// Usage from before the exporter starts: the baseline, which is not counted.
    fn add_baseline(&self);

    /// Adds `tokens` input tokens of this fake's model at the current minute; usable from
    /// another thread while the fake runs.
    fn feed(&self) -> Box<dyn FnMut(i64) + Send>;

    /// The labels that select those tokens in `llm_tokens_total` and
    /// `llm_estimated_cost_usd_total`.
    fn input_labels(&self) -> Vec<(&'static str, &'static str)>;

    /// USD per input token of that model; None: the drills do not check the cost.
    const INPUT_PRICE: Option<f64>;

    /// True once the exporter's first poll (the baseline) is published.
    fn baseline_seen(&self, s: &Scrape) -> bool {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    }

    /// The labels of the `llm_exporter_circuit_state` series that guard the calls the proxy
    /// faults.
    const CIRCUIT: &'static [(&'static str, &'static str)];

    /// True when one breaker guards every call the proxy faults: a half-open trial that fails
    /// then opens it exactly twice in all.
    const ONE_BREAKER: bool = false;

    /// How long five failed calls in a row may take to open the breaker.
    const BREAKER_OPENS_WITHIN: Duration = Duration::from_secs(20);

    /// How often usage arrives during the fault drill and during the restart loops.
    const DRILL_USAGE_EVERY: Duration = Duration::from_millis(300);
    const RESTART_USAGE_EVERY: Duration = Duration::from_millis(100);

    /// How many times the kill -9 loop restarts the exporter (the SIGTERM loop: 8).
    const KILL_9_RESTARTS: usize = 8;

    /// The metrics API [`FakeCloud::set_oversize`] affects: the `api` label of
    /// `llm_exporter_api_requests_total`.
    const API: &'static str;

    /// Every answer of [`FakeCloud::API`] is made large (None: normal answers again).
    fn set_oversize(&self, oversize: Option<Oversize>);

    /// The peak resident memory the exporter may reach while it refuses large answers, MiB.
    const PEAK_RSS_MIB: u64;

    /// Checks of this cloud's own after answers made by `oversize` were refused; `log` is what
    /// the exporter logged meanwhile.
    fn check_refused(&self, _oversize: Oversize, _exporter: &Exporter, _log: &str) {}
}
