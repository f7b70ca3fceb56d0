//! Which scopes are idle, and when an idle scope is watched again.
//!
//! A scope without traffic (an Azure account, a GCP project) is not asked every query every
//! poll: it is watched once per `idle_poll_interval` with the queries of every counter
//! (tokens, requests, provisioned capacity) but not its latencies (gauges of requests, of
//! which it has none), and polled every poll again from the poll whose watch shows a request
//! or a token. Nothing is lost: a watch reads every counter over the scope's whole open window
//! (from the oldest minute still open for revision), the poll that sees the first traffic
//! asks the latencies over that same window, and an idle scope's minutes stay open while it
//! is not watched (no poll is applied to it), so the next watch covers them.
//!
//! A scope is idle when this process has polled it in full at least once (the first poll is
//! the baseline and must see every metric) and no request or token has been seen for `keep`
//! (the lookback plus two minutes: the minutes of its last traffic are fetched in full until
//! they are final).

use crate::base::lock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a scope is asked this poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Every query.
    Full,
    /// Every counter, no latency; in full from this poll if a counter shows traffic.
    Watch,
    /// Not asked this poll.
    Skip,
}

#[derive(Default)]
struct Account {
    full_polls: u64,
    last_request: Option<Instant>,
    last_watch: Option<Instant>,
}

pub struct Idle {
    /// `azure.idle_poll_interval`; zero: every account is polled in full every poll.
    every: Duration,
    keep: Duration,
    accounts: Mutex<HashMap<String, Account>>,
}

/// Polls come every `poll_interval`, a little late or early: a watch due within this margin
/// is made now rather than one poll later.
const MARGIN: Duration = Duration::from_secs(2);

impl Idle {
    pub fn new(every: Duration, lookback: Duration) -> Self {
        Idle {
            every,
            keep: lookback + Duration::from_secs(120),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Every account in full, every poll.
    pub fn off() -> Self {
        Idle::new(Duration::ZERO, Duration::ZERO)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Account>> {
        lock(&self.accounts)
    }

    /// How `scope` is asked in a poll at `now`.
    pub fn plan(&self, scope: &str, now: Instant) -> Plan {
        if self.every.is_zero() {
            return Plan::Full;
        }
        let accounts = self.lock();
        let Some(a) = accounts.get(scope) else {
            return Plan::Full;
        };
        let recent = a
            .last_request
            .is_some_and(|t| now.duration_since(t) < self.keep);
        if a.full_polls == 0 || recent {
            Plan::Full
        } else if a
            .last_watch
            .is_none_or(|t| now.duration_since(t) + MARGIN >= self.every)
        {
            Plan::Watch
        } else {
            Plan::Skip
        }
    }

    /// Records a successful poll of `scope` at `now`, asked as `plan`, whose answers showed a
    /// request or a token (`requests`).
    pub fn polled(&self, scope: &str, plan: Plan, requests: bool, now: Instant) {
        let mut accounts = self.lock();
        let a = accounts.entry(scope.to_string()).or_default();
        if requests {
            a.last_request = Some(now);
        }
        match plan {
            Plan::Full => a.full_polls += 1,
            Plan::Watch => {}
            Plan::Skip => return,
        }
        a.last_watch = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_full_until_a_quiet_full_poll_then_watched_once_per_interval() {
        let idle = Idle::new(Duration::from_secs(60), Duration::from_secs(600));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(idle.plan("a", at(0)), Plan::Full, "never polled: baseline");
        idle.polled("a", Plan::Full, false, at(0));
        assert_eq!(idle.plan("a", at(15)), Plan::Skip);
        assert_eq!(idle.plan("a", at(45)), Plan::Skip);
        assert_eq!(idle.plan("a", at(59)), Plan::Watch, "within the margin");
        idle.polled("a", Plan::Watch, false, at(59));
        assert_eq!(idle.plan("a", at(75)), Plan::Skip);
        // The watch shows a request: in full for the lookback and two minutes.
        idle.polled("a", Plan::Watch, true, at(120));
        assert_eq!(idle.plan("a", at(135)), Plan::Full);
        assert_eq!(idle.plan("a", at(120 + 719)), Plan::Full);
        assert_eq!(idle.plan("a", at(120 + 720)), Plan::Watch);
    }

    #[test]
    fn off_polls_everything_in_full() {
        let idle = Idle::off();
        idle.polled("a", Plan::Full, false, Instant::now());
        assert_eq!(idle.plan("a", Instant::now()), Plan::Full);
    }
}
