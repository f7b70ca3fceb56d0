//! A cached listing (ListMetrics, ListInferenceProfiles) of one scope that can be refreshed
//! ahead of its TTL: when a poll meets a name the listing does not know (an application
//! inference profile created after it was cached), it is listed again at once, at most once
//! per `min_forced` so an id that never resolves cannot make every poll list.
//!
//! `common::cache::TtlCache` has no way to refresh an entry early, hence this small cache;
//! it counts its lookups in the same `llm_exporter_cache_requests_total{cache,result}`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::metrics::SelfMetrics;
use tokio::sync::Mutex;

/// A listing is due when it is this close to its TTL: polls come every `poll_interval` with a
/// few milliseconds of jitter, and a listing made for one poll must not be served to the poll
/// one TTL later because it is a millisecond too young.
const JITTER: Duration = Duration::from_secs(1);

pub struct Listing<T> {
    name: &'static str,
    ttl: Duration,
    min_forced: Duration,
    state: Mutex<State<T>>,
    metrics: Arc<SelfMetrics>,
}

struct State<T> {
    /// The last successful listing and when it was asked for.
    value: Option<(Instant, Arc<T>)>,
    /// When a listing was last asked for, successfully or not.
    last_attempt: Option<Instant>,
}

impl<T> Listing<T> {
    pub fn new(
        name: &'static str,
        ttl: Duration,
        min_forced: Duration,
        metrics: Arc<SelfMetrics>,
    ) -> Self {
        Listing {
            name,
            ttl,
            min_forced,
            state: Mutex::new(State {
                value: None,
                last_attempt: None,
            }),
            metrics,
        }
    }

    fn count(&self, result: &str) {
        self.metrics
            .cache_requests
            .with_label_values(&[self.name, result])
            .inc();
    }

    /// The cached listing while it is younger than the TTL, else a new one from `list`. A
    /// failure is not cached (the next poll lists again; the guard limits how often).
    pub async fn get<E, F, Fut>(&self, list: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut state = self.state.lock().await;
        if let Some((at, value)) = &state.value {
            if at.elapsed() + JITTER < self.ttl {
                self.count("hit");
                return Ok(value.clone());
            }
        }
        self.count("miss");
        Self::refresh(&mut state, list).await
    }

    /// Lists again now unless a listing was asked for less than `min_forced` ago; `None` when
    /// it was (the caller keeps what it has).
    pub async fn refresh_now<E, F, Fut>(&self, list: F) -> Option<Result<Arc<T>, E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut state = self.state.lock().await;
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.min_forced)
        {
            return None;
        }
        // An unknown name is a miss of the listing.
        self.count("miss");
        Some(Self::refresh(&mut state, list).await)
    }

    async fn refresh<E, F, Fut>(state: &mut State<T>, list: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let asked = Instant::now();
        state.last_attempt = Some(asked);
        let value = Arc::new(list().await?);
        state.value = Some((asked, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(ttl_ms: u64, forced_ms: u64) -> (Listing<u32>, Arc<SelfMetrics>) {
        let m = Arc::new(SelfMetrics::new("t", "0"));
        let l = Listing::new(
            "things",
            Duration::from_millis(ttl_ms),
            Duration::from_millis(forced_ms),
            m.clone(),
        );
        (l, m)
    }

    async fn ok(v: u32) -> Result<u32, String> {
        Ok(v)
    }

    #[tokio::test]
    async fn serves_the_cache_until_the_ttl_and_never_caches_a_failure() {
        let (l, m) = listing(1500, 60_000);
        assert_eq!(*l.get(|| ok(1)).await.unwrap(), 1);
        assert_eq!(*l.get(|| ok(2)).await.unwrap(), 1, "cached");
        tokio::time::sleep(Duration::from_millis(600)).await;
        // 600 ms + the 1 s of jitter tolerance reaches the 1.5 s TTL.
        assert_eq!(*l.get(|| ok(3)).await.unwrap(), 3, "due");
        let (l2, _) = listing(60_000, 60_000);
        let failed = l2.get(|| async { Err::<u32, _>("down".to_string()) }).await;
        assert_eq!(failed.unwrap_err(), "down");
        assert_eq!(
            *l2.get(|| ok(4)).await.unwrap(),
            4,
            "a failure is not cached"
        );
        let count = |r| m.cache_requests.with_label_values(&["things", r]).get();
        assert_eq!((count("hit"), count("miss")), (1, 2));
    }

    #[tokio::test]
    async fn a_forced_refresh_happens_at_most_once_per_interval() {
        let (l, _) = listing(60_000, 300);
        assert_eq!(*l.get(|| ok(1)).await.unwrap(), 1);
        assert!(
            l.refresh_now(|| ok(2)).await.is_none(),
            "listed just now: not again"
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(*l.refresh_now(|| ok(2)).await.unwrap().unwrap(), 2);
        assert!(l.refresh_now(|| ok(3)).await.is_none());
        assert_eq!(*l.get(|| ok(4)).await.unwrap(), 2, "the refreshed listing");
    }
}
