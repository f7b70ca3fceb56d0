//! One tenant's share of an upstream, at run time: at most `max_concurrent` of its queries in
//! flight (over every upstream), and a breaker per tenant and upstream fed only by failures
//! the tenant's own queries cause (Prometheus stopping them at the query `timeout`). Such a
//! failure pauses that tenant's queries, never the upstream's breaker every tenant shares.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::config::{BreakerConfig, QueryLimits};
use crate::upstream::UpstreamError;
use common::base::lock;
use common::breaker::Breaker;

pub struct TenantGuards {
    breaker: BreakerConfig,
    permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    breakers: Mutex<HashMap<(String, String), Arc<Breaker>>>,
}

impl TenantGuards {
    pub fn new(breaker: &BreakerConfig) -> TenantGuards {
        TenantGuards {
            breaker: breaker.clone(),
            permits: Mutex::new(HashMap::new()),
            breakers: Mutex::new(HashMap::new()),
        }
    }

    fn semaphore(&self, who: &str, n: u32) -> Arc<Semaphore> {
        let mut map = lock(&self.permits);
        map.entry(who.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(n.max(1) as usize)))
            .clone()
    }

    pub fn breaker(&self, who: &str, upstream: &str) -> Arc<Breaker> {
        let mut map = lock(&self.breakers);
        map.entry((who.to_string(), upstream.to_string()))
            .or_insert_with(|| Arc::new(Breaker::new(self.breaker.failures, self.breaker.open_for)))
            .clone()
    }

    /// Runs one upstream query of `who` within its bounds, waiting at most `wait` for one
    /// of its concurrent slots.
    pub async fn run<Fut>(
        &self,
        who: &str,
        limits: &QueryLimits,
        upstream: &str,
        wait: std::time::Duration,
        query: Fut,
    ) -> Result<Value, UpstreamError>
    where
        Fut: Future<Output = Result<Value, UpstreamError>>,
    {
        let breaker = self.breaker(who, upstream);
        if breaker.try_acquire().is_err() {
            return Err(UpstreamError::TenantPaused(breaker.retry_in()));
        }
        let semaphore = self.semaphore(who, limits.max_concurrent);
        let permit = match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                breaker.release();
                return Err(UpstreamError::TenantBusy(limits.max_concurrent));
            }
        };
        let result = query.await;
        drop(permit);
        match &result {
            Ok(_) => breaker.record(true),
            Err(e) if e.is_tenants_own() => breaker.record(false),
            Err(_) => breaker.release(),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(n: u32) -> QueryLimits {
        QueryLimits {
            timeout: Duration::from_millis(200),
            max_range: Duration::from_secs(86400),
            max_steps: 100,
            max_concurrent: n,
        }
    }

    #[tokio::test]
    async fn a_tenants_timeouts_pause_only_that_tenant() {
        let g = TenantGuards::new(&BreakerConfig {
            failures: 2,
            open_for: Duration::from_secs(60),
        });
        let l = limits(4);
        for _ in 0..2 {
            let r = g
                .run("a", &l, "u", l.timeout, async {
                    Err(UpstreamError::QueryTimeout(Duration::from_secs(1)))
                })
                .await;
            assert!(matches!(r, Err(UpstreamError::QueryTimeout(_))));
        }
        let r = g
            .run("a", &l, "u", l.timeout, async { Ok(Value::Null) })
            .await;
        assert!(matches!(r, Err(UpstreamError::TenantPaused(_))), "{r:?}");
        assert!(g
            .run("b", &l, "u", l.timeout, async { Ok(Value::Null) })
            .await
            .is_ok());
        assert!(g
            .run("a", &l, "v", l.timeout, async { Ok(Value::Null) })
            .await
            .is_ok());
        // The upstream's own failures do not pause a tenant.
        for _ in 0..3 {
            let _ = g
                .run("c", &l, "u", l.timeout, async {
                    Err(UpstreamError::Transport("down".into()))
                })
                .await;
        }
        assert!(g
            .run("c", &l, "u", l.timeout, async { Ok(Value::Null) })
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn concurrency_is_bounded_per_tenant() {
        let g = Arc::new(TenantGuards::new(&BreakerConfig::default()));
        let l = limits(1);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let g2 = g.clone();
        let first = tokio::spawn(async move {
            g2.run("a", &l, "u", l.timeout, async {
                let _ = started_tx.send(());
                let _ = rx.await;
                Ok(Value::Null)
            })
            .await
        });
        started.await.unwrap();
        let busy = g
            .run("a", &l, "u", l.timeout, async { Ok(Value::Null) })
            .await;
        assert!(
            matches!(busy, Err(UpstreamError::TenantBusy(1))),
            "{busy:?}"
        );
        assert!(g
            .run("b", &l, "u", l.timeout, async { Ok(Value::Null) })
            .await
            .is_ok());
        tx.send(()).unwrap();
        assert!(first.await.unwrap().is_ok());
        assert!(g
            .run("a", &l, "u", l.timeout, async { Ok(Value::Null) })
            .await
            .is_ok());
    }
}
