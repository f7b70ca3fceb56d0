//! A circuit breaker: `threshold` consecutive failures open it; once it has been open for
//! `open_for` it lets calls through again (half-open); a success closes it, a failure opens
//! it again for another `open_for`.
//!
//! Written here rather than taken from a crate: it is a few lines of state, and its state is
//! exported as a gauge (`llm_exporter_circuit_state`, `llm_gateway_circuit_state`), which the
//! circuit-breaker crates we looked at (failsafe) do not expose.

use crate::base::lock;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    /// The value of the circuit-state gauges: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }
}

/// What a half-open breaker lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trials {
    /// One trial call at a time; the others are refused until it ends.
    One,
    /// Every call, until one of them fails.
    Every,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

impl Phase {
    fn state(self) -> BreakerState {
        match self {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

struct Inner {
    phase: Phase,
    failures: u32,
    trial_in_flight: bool,
}

/// Called with the new state and the consecutive failures, under the breaker's lock, each
/// time the state changes.
type OnChange = Box<dyn Fn(BreakerState, u32) + Send + Sync>;

pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    trials: Trials,
    on_change: Option<OnChange>,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker whose half-open state lets one trial through at a time.
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            threshold,
            open_for,
            trials: Trials::One,
            on_change: None,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                failures: 0,
                trial_in_flight: false,
            }),
        }
    }

    pub fn with_trials(mut self, trials: Trials) -> Breaker {
        self.trials = trials;
        self
    }

    /// Runs `f` on every change of state (to publish a gauge, to log).
    pub fn on_change(mut self, f: impl Fn(BreakerState, u32) + Send + Sync + 'static) -> Breaker {
        self.on_change = Some(Box::new(f));
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    fn changed(&self, inner: &Inner) {
        if let Some(f) = &self.on_change {
            f(inner.phase.state(), inner.failures);
        }
    }

    /// The state now: an open breaker whose `open_for` has passed is half-open (its next
    /// call is a trial) even before a call comes.
    pub fn state(&self) -> BreakerState {
        match self.lock().phase {
            Phase::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            phase => phase.state(),
        }
    }

    /// Whether a call may go out now; with `Ok` the caller must report its outcome
    /// ([`Breaker::record`] or [`Breaker::release`]). `Err` holds how long until a trial.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let mut inner = self.lock();
        match inner.phase {
            Phase::Closed => return Ok(()),
            Phase::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                inner.phase = Phase::HalfOpen;
                self.changed(&inner);
            }
            Phase::HalfOpen => {
                if self.trials == Trials::One && inner.trial_in_flight {
                    return Err(Duration::ZERO);
                }
            }
        }
        inner.trial_in_flight = true;
        Ok(())
    }

    /// Ends a call whose outcome says nothing about what this breaker guards (the trial
    /// slot is freed; the counts stay).
    pub fn release(&self) {
        self.lock().trial_in_flight = false;
    }

    /// How long until an open breaker lets a trial through (zero when it would now).
    pub fn retry_in(&self) -> Duration {
        match self.lock().phase {
            Phase::Open { until } => until.saturating_duration_since(Instant::now()),
            _ => Duration::ZERO,
        }
    }

    /// The outcome of a call that [`Breaker::try_acquire`] let through.
    pub fn record(&self, success: bool) {
        let mut inner = self.lock();
        inner.trial_in_flight = false;
        let before = inner.phase.state();
        if success {
            inner.failures = 0;
            inner.phase = Phase::Closed;
        } else {
            inner.failures = inner.failures.saturating_add(1);
            if !matches!(inner.phase, Phase::Closed) || inner.failures >= self.threshold {
                inner.phase = Phase::Open {
                    until: Instant::now() + self.open_for,
                };
            }
        }
        if inner.phase.state() != before {
            self.changed(&inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn opens_after_threshold_and_closes_after_a_good_trial() {
        let b = Breaker::new(2, Duration::from_millis(50));
        assert!(b.try_acquire().is_ok());
        b.record(false);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire().is_ok());
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire().is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire().is_ok());
        assert!(b.try_acquire().is_err(), "one trial at a time");
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.try_acquire().is_ok());
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire().is_ok());
    }

    #[test]
    fn success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(60));
        b.record(false);
        b.record(true);
        b.record(false);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn every_call_passes_half_open_until_one_fails_and_changes_are_reported() {
        let seen: Arc<Mutex<Vec<(BreakerState, u32)>>> = Arc::default();
        let log = seen.clone();
        let b = Breaker::new(1, Duration::from_millis(30))
            .with_trials(Trials::Every)
            .on_change(move |s, n| log.lock().unwrap().push((s, n)));
        assert!(b.try_acquire().is_ok());
        b.record(false);
        let wait = b.try_acquire().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(30));
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.try_acquire().is_ok());
        assert!(b.try_acquire().is_ok(), "every call is a trial");
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.try_acquire().is_ok());
        b.record(true);
        b.record(true);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (BreakerState::Open, 1),
                (BreakerState::HalfOpen, 1),
                (BreakerState::Open, 2),
                (BreakerState::HalfOpen, 2),
                (BreakerState::Closed, 0),
            ]
        );
    }
}
