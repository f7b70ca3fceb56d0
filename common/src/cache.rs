//! TTL caches (moka) for discovery and metadata: which metrics and models exist, which model
//! an inference profile or deployment serves. Metric data itself is never cached: every poll
//! asks the cloud. Lookups are counted in `llm_exporter_cache_requests_total{cache,result}`.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::SelfMetrics;

pub struct TtlCache<K, V> {
    name: String,
    cache: moka::future::Cache<K, V>,
    metrics: Arc<SelfMetrics>,
}

impl<K, V> TtlCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(name: &str, ttl: Duration, capacity: u64, metrics: Arc<SelfMetrics>) -> Self {
        TtlCache {
            name: name.to_string(),
            cache: moka::future::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
            metrics,
        }
    }

    /// The cached value, or the result of `init` (cached only when it succeeds, so a failed
    /// discovery is retried on the next poll). Concurrent misses for one key share one `init`.
    pub async fn get_or_try_insert<E, F>(&self, key: K, init: F) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        let entry = self.cache.entry(key).or_try_insert_with(init).await?;
        let result = if entry.is_fresh() { "miss" } else { "hit" };
        self.metrics
            .cache_requests
            .with_label_values(&[&self.name, result])
            .inc();
        Ok(entry.into_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caches_successes_for_the_ttl_and_retries_failures() {
        let m = Arc::new(SelfMetrics::new("t", "0"));
        let c: TtlCache<&str, u32> =
            TtlCache::new("models", Duration::from_millis(200), 10, m.clone());
        let ok = |v| async move { Ok::<_, String>(v) };
        assert_eq!(c.get_or_try_insert("k", ok(1)).await.unwrap(), 1);
        assert_eq!(c.get_or_try_insert("k", ok(2)).await.unwrap(), 1, "hit");
        let err = c
            .get_or_try_insert("e", async { Err::<u32, _>("down".to_string()) })
            .await;
        assert_eq!(*err.unwrap_err(), "down");
        assert_eq!(
            c.get_or_try_insert("e", ok(3)).await.unwrap(),
            3,
            "a failure is not cached"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            c.get_or_try_insert("k", ok(4)).await.unwrap(),
            4,
            "expired after the TTL"
        );
        let count = |r| m.cache_requests.with_label_values(&["models", r]).get();
        assert_eq!((count("hit"), count("miss")), (1, 3));
    }
}
