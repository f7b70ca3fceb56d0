//! The guards of the two metrics APIs, and the rate limit they share per subscription.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::base::lock;
use common::guard::{Guard, GuardSettings};
use common::metrics::SelfMetrics;

/// The guards of the metrics APIs: getBatch one per subscription and region (one call serves
/// a region's accounts; target `<subscription>/<region>`), the per-resource Metrics_List one
/// per account (target: the account's scope), so a breaker opened by one region's or one
/// account's failures never stops the others (`llm_exporter_circuit_state{api, target}`).
/// Permanent errors never open a breaker. The client-side rate limit
/// (`azure.requests_per_second`) is one per API and subscription, shared by that
/// subscription's guards of the API: Azure's limits are per subscription (ARM's token
/// buckets are per subscription, principal and region: "Understand how Azure Resource Manager
/// throttles requests"), so one process polling many subscriptions is not held to one
/// subscription's rate.
pub struct Guards {
    settings: GuardSettings,
    metrics: Arc<SelfMetrics>,
    /// (API, target) -> its guard and its API and subscription's limiter.
    made: Mutex<HashMap<(String, String), Guarded>>,
    limiters: Mutex<HashMap<(String, String), Arc<Limiter>>>,
}

pub type Limiter = governor::DefaultDirectRateLimiter;
pub type Guarded = (Arc<Guard>, Arc<Limiter>);

impl Guards {
    /// The exporter's self-metrics (for points the source sets aside).
    pub fn metrics(&self) -> &SelfMetrics {
        &self.metrics
    }

    pub fn new(settings: GuardSettings, metrics: Arc<SelfMetrics>) -> Self {
        Guards {
            settings,
            metrics,
            made: Mutex::new(HashMap::new()),
            limiters: Mutex::new(HashMap::new()),
        }
    }

    /// The guard of `api` for `target` (`<subscription>/...`), and the rate limiter `api`
    /// shares within the subscription.
    pub fn get(&self, api: &str, target: &str) -> Guarded {
        let subscription = target.split('/').next().unwrap_or(target);
        let limiter = lock(&self.limiters)
            .entry((api.to_string(), subscription.to_string()))
            .or_insert_with(|| {
                let rps = std::num::NonZeroU32::new(self.settings.requests_per_second.max(1))
                    .unwrap_or(std::num::NonZeroU32::MIN);
                Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(
                    rps,
                )))
            })
            .clone();
        lock(&self.made)
            .entry((api.to_string(), target.to_string()))
            .or_insert_with(|| {
                // The guard's own limiter is left wide open: the shared one applies.
                let settings = GuardSettings {
                    requests_per_second: u32::MAX,
                    ..self.settings.clone()
                };
                let guard = Guard::for_target(api, target, settings, self.metrics.clone());
                (Arc::new(guard), limiter)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakers_are_per_target_and_the_rate_limit_per_api_and_subscription() {
        let guards = Guards::new(
            GuardSettings::default(),
            Arc::new(SelfMetrics::new("azure", "0")),
        );
        let (east, east_limit) = guards.get("metrics:getBatch", "s/eastus");
        let (west, west_limit) = guards.get("metrics:getBatch", "s/westus");
        let (again, _) = guards.get("metrics:getBatch", "s/eastus");
        let (_, list_limit) = guards.get("Metrics_List", "s/rg/a");
        assert!(!Arc::ptr_eq(&east, &west), "a breaker per region");
        assert!(Arc::ptr_eq(&east, &again));
        let (_, other_subscription) = guards.get("metrics:getBatch", "t/eastus");
        assert!(
            Arc::ptr_eq(&east_limit, &west_limit),
            "one limit per API and subscription"
        );
        assert!(!Arc::ptr_eq(&east_limit, &list_limit));
        assert!(!Arc::ptr_eq(&east_limit, &other_subscription));
    }
}
