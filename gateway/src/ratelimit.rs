//! Rate limits per tenant and cloud (governor's GCRA) on work: a request counts as many
//! upstream queries as it makes against each cloud it queries (a 93-day daily answer is 93);
//! the first cloud over its limit refuses the whole request, before anything is sent.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::Cloud;
use crate::metrics::Metrics;
use common::base::lock;

pub struct Limits {
    limiters: Mutex<HashMap<(String, Cloud), Arc<DefaultDirectRateLimiter>>>,
    clock: DefaultClock,
    metrics: Arc<Metrics>,
}

impl Limits {
    pub fn new(metrics: Arc<Metrics>) -> Limits {
        Limits {
            limiters: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
            metrics,
        }
    }

    fn limiter(&self, who: &str, cloud: Cloud, per_minute: u32) -> Arc<DefaultDirectRateLimiter> {
        let mut map = lock(&self.limiters);
        map.entry((who.to_string(), cloud))
            .or_insert_with(|| {
                let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
                Arc::new(RateLimiter::direct(Quota::per_minute(n)))
            })
            .clone()
    }

    /// Ok, or why not: `queries` per cloud are counted against `who`'s limit of that cloud.
    pub fn check(
        &self,
        who: &str,
        queries: &[(Cloud, usize)],
        per_minute: u32,
    ) -> Result<(), Refused> {
        for &(cloud, n) in queries {
            let Some(n) = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)) else {
                continue;
            };
            let refused = match self.limiter(who, cloud, per_minute).check_n(n) {
                Ok(Ok(())) => continue,
                Ok(Err(not_until)) => Refused::Wait(not_until.wait_time_from(self.clock.now())),
                Err(_) => Refused::TooMuch {
                    queries: n.get(),
                    per_minute,
                },
            };
            self.metrics.rate_limited(who, cloud.as_str());
            return Err(refused);
        }
        Ok(())
    }
}

/// Why a request was refused by the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Over the limit now: this long until it would be accepted.
    Wait(Duration),
    /// More queries than the limit allows in a minute: never accepted as it is.
    TooMuch { queries: u32, per_minute: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_past_the_limit_is_refused_per_tenant_and_cloud() {
        let l = Limits::new(Arc::new(Metrics::new()));
        for _ in 0..3 {
            assert!(l.check("a", &[(Cloud::Aws, 1)], 3).is_ok());
        }
        let Err(Refused::Wait(wait)) = l.check("a", &[(Cloud::Aws, 1)], 3) else {
            panic!("not refused");
        };
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(l.check("a", &[(Cloud::Gcp, 1)], 3).is_ok(), "other cloud");
        assert!(l.check("b", &[(Cloud::Aws, 1)], 3).is_ok(), "other tenant");
    }

    #[test]
    fn queries_count_not_requests() {
        let l = Limits::new(Arc::new(Metrics::new()));
        // One request of 60 queries uses a limit of 100 per minute more than half up.
        assert!(l.check("a", &[(Cloud::Aws, 60)], 100).is_ok());
        assert!(matches!(
            l.check("a", &[(Cloud::Aws, 60)], 100),
            Err(Refused::Wait(_))
        ));
        assert!(l.check("a", &[(Cloud::Aws, 30)], 100).is_ok());
        assert_eq!(
            l.check("b", &[(Cloud::Aws, 93)], 60),
            Err(Refused::TooMuch {
                queries: 93,
                per_minute: 60
            })
        );
    }
}
