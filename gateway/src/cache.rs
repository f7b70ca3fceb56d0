//! Answers of upstream queries, cached per (upstream, scoped query, evaluation time) with a
//! TTL per entry: long for a time that is over, short for "now". Concurrent misses of one key
//! share a single upstream request.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::future::Cache;
use moka::Expiry;
use serde_json::Value;

use crate::config::CacheConfig;
use crate::metrics::Metrics;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub upstream: String,
    pub query: String,
    /// Milliseconds; None = "now".
    pub time_ms: Option<i64>,
}

#[derive(Clone)]
struct Entry {
    value: Arc<Value>,
    ttl: Duration,
}

struct PerEntry;

impl Expiry<Key, Entry> for PerEntry {
    fn expire_after_create(&self, _: &Key, value: &Entry, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub struct QueryCache {
    cache: Cache<Key, Entry>,
    past_ttl: Duration,
    now_ttl: Duration,
    metrics: Arc<Metrics>,
}

/// Evaluation times within this much of now may still see late samples: cached as "now".
const SETTLED: Duration = Duration::from_secs(60);

impl QueryCache {
    pub fn new(config: &CacheConfig, metrics: Arc<Metrics>) -> QueryCache {
        QueryCache {
            cache: Cache::builder()
                .max_capacity(config.max_entries)
                .expire_after(PerEntry)
                .build(),
            past_ttl: config.past_ttl,
            now_ttl: config.now_ttl,
            metrics,
        }
    }

    fn ttl(&self, time_ms: Option<i64>) -> Duration {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        match time_ms {
            Some(t) if t + (SETTLED.as_millis() as i64) < now_ms => self.past_ttl,
            _ => self.now_ttl,
        }
    }

    /// The cached answer, or `fetch`'s (cached only when it succeeds).
    pub async fn get_or_fetch<F, E>(&self, key: Key, fetch: F) -> Result<Arc<Value>, E>
    where
        F: std::future::Future<Output = Result<Value, E>>,
        E: Clone + Send + Sync + 'static,
    {
        let ttl = self.ttl(key.time_ms);
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(async move {
                fetch.await.map(|v| Entry {
                    value: Arc::new(v),
                    ttl,
                })
            })
            .await
            .map_err(|e: Arc<E>| (*e).clone())?;
        let result = if entry.is_fresh() { "miss" } else { "hit" };
        self.metrics.cache.with_label_values(&[result]).inc();
        Ok(entry.into_value().value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: Option<i64>) -> Key {
        Key {
            upstream: "u".into(),
            query: "q".into(),
            time_ms: t,
        }
    }

    #[tokio::test]
    async fn hits_after_a_miss_and_errors_are_not_cached() {
        let c = QueryCache::new(&CacheConfig::default(), Arc::new(Metrics::new()));
        let e: Result<_, String> = c
            .get_or_fetch(key(None), async { Err("down".to_string()) })
            .await;
        assert!(e.is_err());
        let v = c
            .get_or_fetch(key(None), async { Ok::<_, String>(Value::from(1)) })
            .await
            .unwrap();
        assert_eq!(*v, Value::from(1));
        let v = c
            .get_or_fetch(key(None), async { Ok::<_, String>(Value::from(2)) })
            .await
            .unwrap();
        assert_eq!(*v, Value::from(1), "served from cache");
    }

    #[test]
    fn past_times_live_longer() {
        let c = QueryCache::new(&CacheConfig::default(), Arc::new(Metrics::new()));
        assert_eq!(c.ttl(None), Duration::from_secs(15));
        assert_eq!(c.ttl(Some(0)), Duration::from_secs(300));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert_eq!(c.ttl(Some(now_ms)), Duration::from_secs(15));
    }
}
