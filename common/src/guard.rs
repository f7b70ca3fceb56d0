//! One wrapper around every cloud call. In order: circuit breaker per API, rate limiter per
//! API (governor), timeout, and retries with jittered exponential backoff on throttling and
//! transient errors only. Clients that retry on their own (the AWS SDK) are guarded with
//! `retries: 0`, so nothing is retried twice. Caching of discovery and metadata sits outside,
//! in [`crate::cache`], because metric data is never cached. The breaker is
//! [`crate::breaker`]'s, letting every call through while half-open.

use std::fmt::Display;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;

use crate::base::lock;
use crate::breaker::{Breaker, BreakerState, Trials};
use crate::error::{FailureKind, SourceError};
use crate::metrics::SelfMetrics;

pub use crate::error::{Classify, ErrorClass};

#[derive(Clone, Debug)]
pub struct GuardSettings {
    pub timeout: Duration,
    pub requests_per_second: u32,
    /// Consecutive failed calls that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit rejects calls before letting one through (half-open).
    pub open_for: Duration,
    /// Retries after the first attempt; 0 where the client retries by itself.
    pub retries: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            timeout: Duration::from_secs(20),
            requests_per_second: 10,
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
            retries: 0,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Why a guarded call failed. Messages name the API, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum GuardError<E: Display> {
    /// `cause`: the class of the failure that opened it (throttling or an outage).
    #[error("{api}: circuit open after repeated failures; retrying in {retry_in:?}")]
    CircuitOpen {
        api: String,
        retry_in: Duration,
        cause: ErrorClass,
    },
    #[error("{api}: no answer within {after:?}")]
    Timeout { api: String, after: Duration },
    #[error("{api}: {source}")]
    Failed { api: String, source: E },
}

pub struct Guard {
    api: String,
    settings: GuardSettings,
    breaker: Breaker,
    /// The class of the last failure that counts towards opening the breaker: what an open
    /// breaker reports as its cause.
    last_failure: Mutex<ErrorClass>,
    limiter: DefaultDirectRateLimiter,
    metrics: Arc<SelfMetrics>,
}

impl Guard {
    /// A guard shared by every scope that calls `api`.
    pub fn new(api: &str, settings: GuardSettings, metrics: Arc<SelfMetrics>) -> Self {
        Guard::for_target(api, "", settings, metrics)
    }

    /// A guard of one scope's calls to `api` (its breaker opens for that scope only).
    pub fn for_target(
        api: &str,
        target: &str,
        settings: GuardSettings,
        metrics: Arc<SelfMetrics>,
    ) -> Self {
        let rps = NonZeroU32::new(settings.requests_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        metrics
            .circuit_state
            .with_label_values(&[api, target])
            .set(0);
        // The scope this guard serves (`llm_exporter_circuit_state{target}`), or "" when shared.
        let (api_label, target_label, gauge) =
            (api.to_string(), target.to_string(), metrics.clone());
        let breaker = Breaker::new(settings.failure_threshold, settings.open_for)
            .with_trials(Trials::Every)
            .on_change(move |state, failures| {
                match state {
                    BreakerState::Open => {
                        tracing::warn!(api = %api_label, target = %target_label, failures, "circuit opened")
                    }
                    BreakerState::Closed => {
                        tracing::info!(api = %api_label, target = %target_label, "circuit closed")
                    }
                    BreakerState::HalfOpen => {}
                }
                gauge
                    .circuit_state
                    .with_label_values(&[&api_label, &target_label])
                    .set(state.gauge());
            });
        Guard {
            api: api.to_string(),
            limiter: RateLimiter::direct(Quota::per_second(rps)),
            settings,
            breaker,
            last_failure: Mutex::new(ErrorClass::Transient),
            metrics,
        }
    }

    pub fn api(&self) -> &str {
        &self.api
    }

    /// Runs `call` under the breaker, rate limiter, timeout and retry policy.
    pub async fn call<T, E, F, Fut>(&self, mut call: F) -> Result<T, GuardError<E>>
    where
        E: Display + Classify,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 0;
        loop {
            if let Err(retry_in) = self.breaker.try_acquire() {
                let cause = *lock(&self.last_failure);
                self.count("circuit_open");
                return Err(GuardError::CircuitOpen {
                    api: self.api.clone(),
                    retry_in,
                    cause,
                });
            }
            self.limiter.until_ready().await;
            let started = Instant::now();
            let result = tokio::time::timeout(self.settings.timeout, call()).await;
            self.metrics
                .api_duration
                .with_label_values(&[&self.api])
                .observe(started.elapsed().as_secs_f64());
            let (class, wait, err) = match result {
                Ok(Ok(value)) => {
                    self.count("success");
                    self.breaker.record(true);
                    return Ok(value);
                }
                Ok(Err(e)) => {
                    let class = e.class();
                    self.count(if class == ErrorClass::Throttled {
                        "throttled"
                    } else {
                        "error"
                    });
                    (
                        class,
                        e.retry_after(),
                        GuardError::Failed {
                            api: self.api.clone(),
                            source: e,
                        },
                    )
                }
                Err(_) => {
                    self.count("timeout");
                    (
                        ErrorClass::Transient,
                        None,
                        GuardError::Timeout {
                            api: self.api.clone(),
                            after: self.settings.timeout,
                        },
                    )
                }
            };
            // A permanent error (403, a malformed request) means the API answered: it is no
            // sign of an outage, so it never opens the breaker (a misconfigured scope must not
            // stop the healthy ones sharing it).
            if class != ErrorClass::Permanent {
                *lock(&self.last_failure) = class;
            }
            self.breaker.record(class == ErrorClass::Permanent);
            if class == ErrorClass::Permanent || attempt >= self.settings.retries {
                return Err(err);
            }
            tracing::debug!(api = %self.api, attempt, error = %err, "retrying");
            tokio::time::sleep(
                wait.unwrap_or_else(|| self.backoff(attempt))
                    .min(self.settings.max_backoff),
            )
            .await;
            attempt += 1;
        }
    }

    /// Full jitter: a random wait up to base * 2^attempt.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .settings
            .base_backoff
            .saturating_mul(1 << attempt.min(16));
        let cap = cap.min(self.settings.max_backoff).as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=cap.max(1)))
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .api_requests
            .with_label_values(&[&self.api, outcome])
            .inc();
    }
}

/// A guarded call's failure as a source reports it: the message as displayed, the kind of the
/// cloud's error, or for an open breaker the kind of the failures that opened it.
impl From<&GuardError<SourceError>> for SourceError {
    fn from(e: &GuardError<SourceError>) -> Self {
        match e {
            GuardError::Failed { api, source } => source.clone().context(api),
            GuardError::CircuitOpen { cause, .. } => {
                let kind = match cause {
                    ErrorClass::Throttled => FailureKind::Throttled,
                    _ => FailureKind::Unreachable,
                };
                SourceError::new(kind, e.to_string())
            }
            GuardError::Timeout { .. } => SourceError::new(FailureKind::Unreachable, e.to_string()),
        }
    }
}

impl From<GuardError<SourceError>> for SourceError {
    fn from(e: GuardError<SourceError>) -> Self {
        SourceError::from(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct E(ErrorClass);
    impl Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl Classify for E {
        fn class(&self) -> ErrorClass {
            self.0
        }
    }

    fn guard(retries: u32) -> (Guard, Arc<SelfMetrics>) {
        let m = Arc::new(SelfMetrics::new("test", "0"));
        let g = Guard::new(
            "Op",
            GuardSettings {
                timeout: Duration::from_millis(200),
                requests_per_second: 1000,
                failure_threshold: 3,
                open_for: Duration::from_millis(300),
                retries,
                base_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
            },
            m.clone(),
        );
        (g, m)
    }

    fn state(m: &SelfMetrics) -> i64 {
        m.circuit_state.with_label_values(&["Op", ""]).get()
    }

    #[tokio::test]
    async fn breaker_opens_rejects_then_recovers_through_half_open() {
        let (g, m) = guard(0);
        let calls = AtomicU32::new(0);
        for _ in 0..3 {
            let r: Result<(), _> = g
                .call(|| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(E(ErrorClass::Transient))
                })
                .await;
            assert!(matches!(r, Err(GuardError::Failed { .. })));
        }
        assert_eq!(state(&m), 2, "open after 3 failures");
        let r: Result<(), _> = g.call(|| async { Ok::<_, E>(()) }).await;
        assert!(
            matches!(r, Err(GuardError::CircuitOpen { .. })),
            "open circuit rejects without calling"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            m.api_requests
                .with_label_values(&["Op", "circuit_open"])
                .get(),
            1
        );

        tokio::time::sleep(Duration::from_millis(350)).await;
        // Half-open: one failure re-opens at once.
        let r: Result<(), _> = g.call(|| async { Err(E(ErrorClass::Transient)) }).await;
        assert!(r.is_err());
        assert_eq!(state(&m), 2);
        tokio::time::sleep(Duration::from_millis(350)).await;
        let r = g.call(|| async { Ok::<_, E>(7) }).await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(state(&m), 0, "closed after a successful trial call");
    }

    #[tokio::test]
    async fn retries_transient_and_throttled_but_not_permanent() {
        let (g, m) = guard(2);
        let calls = AtomicU32::new(0);
        let r = g
            .call(|| async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 {
                    Err(E(ErrorClass::Throttled))
                } else {
                    Ok(n)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(
            m.api_requests.with_label_values(&["Op", "throttled"]).get(),
            2
        );

        let calls = AtomicU32::new(0);
        let r: Result<(), _> = g
            .call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(E(ErrorClass::Permanent))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a permanent error is not retried"
        );
    }

    #[tokio::test]
    async fn permanent_errors_never_open_the_breaker() {
        let (g, m) = guard(0);
        for _ in 0..10 {
            let r: Result<(), _> = g.call(|| async { Err(E(ErrorClass::Permanent)) }).await;
            assert!(matches!(r, Err(GuardError::Failed { .. })));
        }
        assert_eq!(state(&m), 0, "a 403 is an answer, not an outage");
        let r = g.call(|| async { Ok::<_, E>(1) }).await;
        assert_eq!(r.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_hung_call_times_out() {
        let (g, m) = guard(0);
        let r: Result<(), GuardError<E>> = g
            .call(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await;
        assert!(matches!(r, Err(GuardError::Timeout { .. })), "{r:?}");
        assert_eq!(
            m.api_requests.with_label_values(&["Op", "timeout"]).get(),
            1
        );
    }

    #[tokio::test]
    async fn an_open_breaker_reports_the_kind_of_failure_that_opened_it() {
        use crate::error::{FailureKind, SourceError};
        for (class, kind) in [
            (ErrorClass::Throttled, FailureKind::Throttled),
            (ErrorClass::Transient, FailureKind::Unreachable),
        ] {
            let (g, _) = guard(0);
            for _ in 0..3 {
                let _: Result<(), _> = g.call(|| async { Err(E(class)) }).await;
            }
            let r: Result<(), GuardError<SourceError>> = g.call(|| async { Ok(()) }).await;
            let e = SourceError::from(r.unwrap_err());
            assert_eq!(e.kind, kind, "{e}");
            assert!(e.message.contains("circuit open"), "{e}");
        }
        // A failed call keeps its kind and gets the API's name before its message.
        let (g, _) = guard(0);
        let r: Result<(), _> = g
            .call(|| async { Err(SourceError::http(403, "HTTP 403: AccessDenied")) })
            .await;
        let e = SourceError::from(r.unwrap_err());
        assert_eq!(
            (e.kind, e.message.as_str()),
            (FailureKind::Denied, "Op: HTTP 403: AccessDenied")
        );
    }
}
