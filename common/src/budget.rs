//! A monthly budget for the exporter's own API bill (`api_budget_usd_per_month`): the
//! exporter projects its monthly bill from what it has spent (the rate of
//! `llm_exporter_api_cost_usd_total` over the last hour, times 30 days) and, while the
//! projection is above the budget, polls less often by a *slowdown factor* (1 = normal).
//!
//! Polling less often loses nothing: a poll's window always starts at the oldest minute still
//! open, so a later poll covers every minute since the last one. The factor is bounded so that
//! no interval grows past half the lookback (every open minute is still read at least twice).
//! How the factor is spent is each exporter's choice: by default whole polls are skipped
//! ([`Budget::due`]); the AWS exporter stretches idle models' probes first, then the rest.

use crate::base::lock;
use std::collections::VecDeque;
use std::sync::Mutex;

/// The month a projection is for: 30 days, as the cost tables of docs/polling-costs.md.
pub const SECONDS_PER_MONTH: f64 = 30.0 * 86_400.0;
/// Spend older than this is not used for the projection.
pub const PROJECTION_WINDOW_SECS: i64 = 3600;
/// The factor changes only after this many polls at the current factor (its effect measured).
pub const SETTLE_POLLS: usize = 4;
/// Below this share of the budget a slowed exporter speeds up again (no flapping at the edge).
pub const SPEED_UP_BELOW: f64 = 0.9;

/// The projected monthly bill from `spent` (Unix seconds, cumulative USD), oldest first:
/// the rate between the first and the last, times a month. None with fewer than two points or
/// none apart in time.
pub fn projection(spent: &[(i64, f64)]) -> Option<f64> {
    let (first, last) = (spent.first()?, spent.last()?);
    let secs = last.0 - first.0;
    (secs > 0).then(|| (last.1 - first.1).max(0.0) / secs as f64 * SECONDS_PER_MONTH)
}

/// The next slowdown factor: spend scales with 1/factor, so the factor that meets the budget
/// is `factor × projection / budget`, within `[1, max]`. Unchanged while the projection is
/// between [`SPEED_UP_BELOW`] of the budget and the budget.
pub fn next_factor(factor: f64, projected: f64, budget: f64, max: f64) -> f64 {
    let max = max.max(1.0);
    if budget <= 0.0 {
        return max;
    }
    let ratio = projected / budget;
    if (SPEED_UP_BELOW..=1.0).contains(&ratio) || !ratio.is_finite() {
        return factor.clamp(1.0, max);
    }
    (factor * ratio).clamp(1.0, max)
}

#[derive(Debug)]
struct State {
    budget: Option<f64>,
    max_factor: f64,
    /// The factor changes only after this long at the current one.
    settle_secs: i64,
    /// The poller skips whole polls (else the sources pace themselves).
    skips_polls: bool,
    factor: f64,
    /// (Unix seconds, cumulative USD) after each poll, the last hour.
    spent: VecDeque<(i64, f64)>,
    /// Polls observed since the factor last changed.
    since_change: Vec<(i64, f64)>,
    last_poll: Option<i64>,
}

/// The budget and the current slowdown, shared by the poller and the sources.
#[derive(Debug)]
pub struct Budget {
    state: Mutex<State>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            state: Mutex::new(State {
                budget: None,
                max_factor: 1.0,
                settle_secs: 0,
                skips_polls: true,
                factor: 1.0,
                spent: VecDeque::new(),
                since_change: Vec::new(),
                last_poll: None,
            }),
        }
    }
}

/// What [`Budget::observe`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observed {
    pub projected_usd_per_month: Option<f64>,
    pub factor: f64,
}

impl Budget {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sets the budget (None: no budget, factor 1), the largest factor allowed, how long a
    /// factor is kept before it is measured (the longest interval it can set), and whether the
    /// poller skips whole polls (false: the sources read the factor and pace themselves).
    pub fn configure(
        &self,
        budget: Option<f64>,
        max_factor: f64,
        settle_secs: i64,
        skips_polls: bool,
    ) {
        let mut s = self.lock();
        s.budget = budget;
        s.max_factor = max_factor.max(1.0);
        s.settle_secs = settle_secs;
        s.skips_polls = skips_polls;
        if budget.is_none() {
            s.factor = 1.0;
        }
        s.factor = s.factor.clamp(1.0, s.max_factor);
    }

    pub fn budget(&self) -> Option<f64> {
        self.lock().budget
    }

    /// The current slowdown factor (1 = normal pace).
    pub fn factor(&self) -> f64 {
        self.lock().factor
    }

    /// Records the cumulative spend after the poll that started at `now` and returns the
    /// projection and the factor for the next polls.
    pub fn observe(&self, now: i64, spent_total: f64) -> Observed {
        let mut s = self.lock();
        s.last_poll = Some(now);
        s.spent.push_back((now, spent_total));
        while s
            .spent
            .front()
            .is_some_and(|(t, _)| *t < now - PROJECTION_WINDOW_SECS)
        {
            s.spent.pop_front();
        }
        let spent: Vec<(i64, f64)> = s.spent.iter().copied().collect();
        let projected = projection(&spent);
        s.since_change.push((now, spent_total));
        if let Some(budget) = s.budget {
            // Measured at the current factor only, once it has had time to show.
            let span = now - s.since_change[0].0;
            if s.since_change.len() > SETTLE_POLLS && span >= s.settle_secs {
                if let Some(at_factor) = projection(&s.since_change) {
                    let next = next_factor(s.factor, at_factor, budget, s.max_factor);
                    if next != s.factor {
                        tracing::info!(
                            projected_usd_per_month = at_factor,
                            budget_usd_per_month = budget,
                            from = s.factor,
                            to = next,
                            "API budget: poll slowdown changed"
                        );
                        s.factor = next;
                        s.since_change = vec![(now, spent_total)];
                    }
                }
            }
        }
        Observed {
            projected_usd_per_month: projected,
            factor: s.factor,
        }
    }

    /// Whether a poll is due at `now`: always where the sources pace themselves, else at
    /// least `interval × factor` after the last one (half an interval of slack for jitter).
    pub fn due(&self, now: i64, interval_secs: i64) -> bool {
        let s = self.lock();
        if !s.skips_polls {
            return true;
        }
        let every = (interval_secs as f64 * s.factor).round() as i64;
        s.last_poll
            .is_none_or(|last| now - last + interval_secs / 2 >= every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_is_the_recent_rate_times_a_month() {
        assert_eq!(projection(&[]), None);
        assert_eq!(projection(&[(0, 1.0)]), None);
        // $0.007 per 15 s poll (700 metrics) is $1,209.60 in 30 days.
        let p = projection(&[(0, 0.0), (15, 0.007)]).unwrap();
        assert!((p - 1209.6).abs() < 1e-6, "{p}");
    }

    #[test]
    fn the_factor_meets_the_budget_within_its_bounds() {
        assert_eq!(next_factor(1.0, 400.0, 100.0, 20.0), 4.0);
        assert_eq!(next_factor(4.0, 50.0, 100.0, 20.0), 2.0, "speeds up");
        assert_eq!(next_factor(4.0, 95.0, 100.0, 20.0), 4.0, "no flapping");
        assert_eq!(next_factor(1.0, 1e9, 100.0, 20.0), 20.0, "at most max");
        assert_eq!(
            next_factor(2.0, 1.0, 100.0, 20.0),
            1.0,
            "never faster than normal"
        );
    }

    #[test]
    fn an_exporter_over_budget_slows_down_until_it_meets_it_and_not_before() {
        // Spends $0.01 per poll at factor 1 (polls every 15 s): $1,728 a month.
        let run = |budget: Option<f64>| {
            let b = Budget::default();
            b.configure(budget, 20.0, 300, true);
            let (mut t, mut spent, mut polls) = (0i64, 0.0, 0);
            let mut last = None;
            while t < 6 * 3600 {
                if b.due(t, 15) {
                    spent += 0.01;
                    polls += 1;
                    last = Some(b.observe(t, spent));
                }
                t += 15;
            }
            (b.factor(), polls, last.unwrap())
        };
        let (factor, polls, _) = run(None);
        assert_eq!((factor, polls), (1.0, 6 * 240));
        let (factor, _, seen) = run(Some(432.0));
        assert!((factor - 4.0).abs() < 0.5, "{factor}");
        let projected = seen.projected_usd_per_month.unwrap();
        assert!(projected <= 432.0 * 1.05, "{projected}");
        // Above what the slowest pace costs: as slow as allowed.
        let (factor, _, _) = run(Some(1.0));
        assert_eq!(factor, 20.0);
    }
}
