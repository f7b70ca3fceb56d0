//! Which models a poll asks CloudWatch about, and for what: GetMetricData bills every metric
//! requested in every call, whatever its window ("$0.01 per 1,000 metrics requested", not in
//! the free tier: AWS Knowledge Center, "GetMetricData vs GetMetricStatistics",
//! https://repost.aws/knowledge-center/cloudwatch-getmetricdata-api, and the CloudWatch
//! pricing page it links), so a model with no traffic is not asked for all its metrics every
//! poll.
//!
//! - A model *in use* (a minute with traffic still open, i.e. at or after the window's start)
//!   is fetched in full every `full_every` (the poll interval).
//! - Any other model is *probed* every `probe_every` (`aws.idle_probe_interval`, 60 s:
//!   CloudWatch's one-minute resolution): its request metrics only (`Invocations`, the error and throttle counts),
//!   over the whole open window. When a probe finds traffic, the model is fetched in full in
//!   the same poll, from the same start, so the minutes the probe saw are counted from every
//!   metric; a datapoint CloudWatch publishes late is found by the next probe while its minute
//!   is still open.
//! - A model this process has not seen yet (start-up, a restart, a model listed late) is
//!   probed at once; the caller reaches back to `backfill_start` for metrics it has never
//!   fetched in full, as for any metric listed late.
//!
//! A model stays in use until its newest minute with traffic is older than the window's
//! start: revisions of an open minute are still read in full.

use std::collections::HashMap;

use common::source::Window;

/// How often, in seconds, models are asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// A model in use is fetched in full this often.
    pub full_every: i64,
    /// A model with no traffic in the open window is probed this often.
    pub probe_every: i64,
    /// A model is due when at most this much short of its interval (ticks and call times
    /// jitter).
    pub slack: i64,
}

impl Pace {
    /// The pace at budget slowdown `factor` (1 = normal), idle models first: probes stretch
    /// from `probe_every` (`aws.idle_probe_interval`, 60 s) to `cap` (half the lookback, so
    /// every open minute is still read at least twice); only past that do models in use
    /// stretch from `poll_interval` to `cap`.
    pub fn at(poll_interval: i64, probe_every: i64, cap: i64, factor: f64) -> Pace {
        let poll = poll_interval.max(1);
        let probe = probe_every.min(cap).max(poll);
        let cap = cap.max(probe);
        let idle_room = cap as f64 / probe as f64;
        let idle = factor.clamp(1.0, idle_room);
        let busy = (factor / idle_room).clamp(1.0, cap as f64 / poll as f64);
        Pace {
            full_every: ((poll as f64 * busy).round() as i64).min(cap),
            probe_every: ((probe as f64 * idle).round() as i64).min(cap),
            // Times are whole seconds: at least one second of slack, or a 1 s poll whose
            // start jitters within a second would skip a model in use.
            slack: (poll / 2).max(1),
        }
    }

    /// The largest slowdown factor [`Pace::at`] distinguishes.
    pub fn max_factor(poll_interval: i64, probe_every: i64, cap: i64) -> f64 {
        let poll = poll_interval.max(1);
        let probe = probe_every.min(cap).max(poll);
        let cap = cap.max(probe);
        (cap as f64 / probe as f64) * (cap as f64 / poll as f64)
    }
}

/// What to ask CloudWatch about one model in this poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Every metric of the model.
    Full,
    /// Its request metrics only; traffic found means [`Ask::Full`] in the same poll.
    Probe,
    /// Nothing: not due yet.
    Nothing,
}

#[derive(Clone, Debug, Default)]
struct Seen {
    /// The newest minute (period start) with traffic seen.
    traffic: Option<i64>,
    /// When (Unix seconds) the model was last fetched in full.
    full_at: Option<i64>,
    /// When the model was last probed.
    probe_at: Option<i64>,
}

/// What this process has seen of each model (keyed by the cloud's identity of the model:
/// the ModelId value, or a bedrock-mantle project and model).
#[derive(Debug, Default)]
pub struct Watch {
    models: HashMap<String, Seen>,
}

fn due(last: Option<i64>, every: i64, now: i64, slack: i64) -> bool {
    last.is_none_or(|t| now - t + slack >= every)
}

impl Watch {
    /// What to ask about `model` at `now`, for a window whose oldest open minute is
    /// `open_from`.
    pub fn ask(&self, model: &str, now: i64, open_from: i64, pace: Pace) -> Ask {
        let Some(seen) = self.models.get(model) else {
            return Ask::Probe;
        };
        if seen.traffic.is_some_and(|t| t >= open_from) {
            return if due(seen.full_at, pace.full_every, now, pace.slack) {
                Ask::Full
            } else {
                Ask::Nothing
            };
        }
        let last = seen.probe_at.max(seen.full_at);
        if due(last, pace.probe_every, now, pace.slack) {
            Ask::Probe
        } else {
            Ask::Nothing
        }
    }

    /// Records a successful probe at `now` that found `traffic` (the newest minute with a
    /// value above zero, if any). True: the model must be fetched in full now.
    pub fn probed(&mut self, model: &str, now: i64, traffic: Option<i64>) -> bool {
        let seen = self.models.entry(model.to_string()).or_default();
        seen.probe_at = Some(now);
        seen.traffic = seen.traffic.max(traffic);
        traffic.is_some()
    }

    /// Records a successful full fetch at `now` that found `traffic`.
    pub fn fetched(&mut self, model: &str, now: i64, traffic: Option<i64>) {
        let seen = self.models.entry(model.to_string()).or_default();
        seen.full_at = Some(now);
        seen.traffic = seen.traffic.max(traffic);
    }

    /// Forgets models no longer listed.
    pub fn retain(&mut self, listed: impl Fn(&str) -> bool) {
        self.models.retain(|m, _| listed(m));
    }
}

/// Where a query of a metric starts: from the window's start for a metric this process has
/// fetched in full before; else from `backfill_start`, so a metric listed late, or first
/// fetched when its model wakes, counts from its first minute (the accumulator counts those
/// older minutes only for series it has never seen).
pub fn query_start(window: Window, fetched_before: bool) -> i64 {
    if fetched_before {
        window.start
    } else {
        window.start.min(window.backfill_start)
    }
}

/// The newest minute of `points` with a value above zero.
pub fn newest_traffic<'a>(
    points: impl IntoIterator<Item = &'a (i64, f64)>,
    period: i64,
) -> Option<i64> {
    points
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(t, _)| common::source::align_down(*t, period))
        .max()
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
