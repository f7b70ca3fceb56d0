//! The clock the accumulator trusts. The host's wall clock can be wrong for a while (ahead at
//! boot, then stepped back by NTP); the revision horizon must never run ahead of real time,
//! or minutes that have not happened yet would be declared final and never counted.
//!
//! The rule: the trusted time follows the wall clock, but may move forward at most 10 % faster
//! than the monotonic clock says time passed; a step back is taken at once. A wall clock that
//! jumps ahead is therefore caught up with only slowly: with the default 10 minute lookback it
//! can stay hours ahead for half an hour before a minute is closed earlier than 7 minutes after
//! it ended. A legitimate forward correction is reached after ten times as long as the step;
//! meanwhile windows are longer (bounded by `max_backfill`) and nothing is lost.

use serde::{Deserialize, Serialize};

/// One reading of the clocks: wall time and time since the process started (monotonic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Now {
    /// Unix seconds from the host's wall clock.
    pub wall: i64,
    /// Seconds since the process started, from a monotonic clock.
    pub uptime: i64,
}

impl Now {
    /// The host's clocks now.
    pub fn system() -> Now {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let start = *START.get_or_init(std::time::Instant::now);
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Now {
            wall,
            uptime: start.elapsed().as_secs() as i64,
        }
    }

    /// A reading at `wall` seconds with no history (tests, one-off use).
    pub fn at(wall: i64) -> Now {
        Now { wall, uptime: 0 }
    }
}

/// The trusted time, carried from one reading to the next.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrustedClock {
    /// (trusted unix seconds, uptime) of the last reading.
    last: Option<(i64, i64)>,
}

impl TrustedClock {
    /// A clock whose last trusted reading was `trusted` at `uptime` (e.g. the state file's
    /// `saved_at` when a process starts): a host clock that is ahead at boot is then not
    /// believed at once either.
    pub fn seeded(trusted: i64, uptime: i64) -> Self {
        TrustedClock {
            last: Some((trusted, uptime)),
        }
    }

    /// What the trusted time would be at `now`, without remembering it.
    pub fn peek(&self, now: Now) -> i64 {
        match self.last {
            None => now.wall,
            Some((trusted, uptime)) => {
                let elapsed = (now.uptime - uptime).max(0);
                now.wall.min(trusted + elapsed + elapsed / 10)
            }
        }
    }

    /// The trusted time at `now`, remembered for the next reading.
    pub fn observe(&mut self, now: Now) -> i64 {
        let t = self.peek(now);
        self.last = Some((t, now.uptime));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_a_good_clock_exactly() {
        let mut c = TrustedClock::default();
        for i in 0..10 {
            let now = Now {
                wall: 1_000 + 15 * i,
                uptime: 15 * i,
            };
            assert_eq!(c.observe(now), now.wall);
        }
    }

    #[test]
    fn a_jump_ahead_is_followed_slowly_and_a_step_back_at_once() {
        let mut c = TrustedClock::default();
        let at = |wall, uptime| Now { wall, uptime };
        assert_eq!(c.observe(at(1_000, 0)), 1_000);
        // The wall clock jumps two hours ahead: 100 s later only 110 s are believed.
        assert_eq!(c.observe(at(8_300, 100)), 1_110);
        assert_eq!(c.observe(at(8_400, 200)), 1_220);
        // NTP steps it back to the truth: taken at once.
        assert_eq!(c.observe(at(1_210, 210)), 1_210);
    }
}
