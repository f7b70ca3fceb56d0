//! Rate limits per tenant and cloud (governor's GCRA): a request counts once against every
//! cloud it would query; the first cloud over its limit refuses the whole request.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::Cloud;
use crate::metrics::Metrics;

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
        let mut map = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((who.to_string(), cloud))
            .or_insert_with(|| {
                let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
                Arc::new(RateLimiter::direct(Quota::per_minute(n)))
            })
            .clone()
    }

    /// Ok, or how long to wait before the next request would be accepted.
    pub fn check(&self, who: &str, clouds: &[Cloud], per_minute: u32) -> Result<(), Duration> {
        for &cloud in clouds {
            if let Err(not_until) = self.limiter(who, cloud, per_minute).check() {
                self.metrics
                    .rate_limited
                    .with_label_values(&[who, cloud.as_str()])
                    .inc();
                return Err(not_until.wait_time_from(self.clock.now()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_past_the_limit_is_refused_per_tenant_and_cloud() {
        let l = Limits::new(Arc::new(Metrics::new()));
        for _ in 0..3 {
            assert!(l.check("a", &[Cloud::Aws], 3).is_ok());
        }
        let wait = l.check("a", &[Cloud::Aws], 3).unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(l.check("a", &[Cloud::Gcp], 3).is_ok(), "other cloud");
        assert!(l.check("b", &[Cloud::Aws], 3).is_ok(), "other tenant");
    }
}
