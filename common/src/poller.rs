//! The background tick: every `poll_interval`, each source is asked for the window of each of
//! its scopes, from the oldest period still open for revision to now, and the samples are
//! handed to the accumulator. Each scope succeeds or fails on its own. Scrapes never reach the
//! cloud; any number of Prometheus servers can scrape without adding API cost.
//!
//! At most `max_concurrent_polls` sources are polled at once (a tokio semaphore): a fleet of
//! thousands of scopes opens that many connections and holds that many answers in memory at
//! most, and the per-API rate limits each source's guard applies (the clouds' quotas are per
//! account and region, per subscription, per project) are never raced by thousands of tasks
//! starting in the same instant.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::accumulator::{Accumulator, Now};
use crate::metrics::SelfMetrics;
use crate::publish::Publisher;
use crate::source::{Source, Window, Windows};

pub struct Poller<S: Source> {
    pub sources: Vec<Arc<S>>,
    pub accumulator: Arc<Mutex<Accumulator>>,
    pub metrics: Arc<SelfMetrics>,
    pub interval: Duration,
    /// Persists and publishes after each source's results are applied.
    pub publisher: Arc<Publisher>,
    /// Set after the first successful poll of any scope (`/-/ready`).
    pub polled: Arc<AtomicBool>,
    /// Each failing target's last error, for the landing page.
    pub errors: Arc<crate::landing::TargetErrors>,
    /// How many sources are polled at once (`max_concurrent_polls`).
    pub concurrency: Arc<Semaphore>,
}

/// Unix seconds now, from the host's wall clock.
pub fn unix_now() -> i64 {
    Now::system().wall
}

/// The windows of one poll, read from the accumulator as each scope asks.
struct AccumulatorWindows {
    accumulator: Arc<Mutex<Accumulator>>,
    now: Now,
    period: i64,
}

impl Windows for AccumulatorWindows {
    fn window(&self, scope: &str) -> Window {
        lock(&self.accumulator).window(scope, self.now, self.period)
    }
}

impl<S: Source> Poller<S> {
    /// Polls forever, the first time at once.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.interval);
        // A slow poll delays the next one instead of firing a burst to catch up.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Polls are spaced by their starts, so a slow poll never skips the next tick.
            let started = unix_now();
            if self.budget_allows_poll(started) {
                self.poll_once().await;
                self.metrics.record_spend(started);
            }
        }
    }

    /// False while an API budget slows whole polls down (`api_budget_usd_per_month`;
    /// a source that paces itself is polled every tick).
    fn budget_allows_poll(&self, now: i64) -> bool {
        let interval = self.interval.as_secs().max(1) as i64;
        self.metrics.budget.due(now, interval)
    }

    /// One poll of every source, concurrently. Returns true when every scope succeeded.
    pub async fn poll_once(&self) -> bool {
        let now = Now::system();
        let mut tasks = JoinSet::new();
        for source in &self.sources {
            let source = source.clone();
            let concurrency = self.concurrency.clone();
            let accumulator = self.accumulator.clone();
            let metrics = self.metrics.clone();
            let publisher = self.publisher.clone();
            let errors = self.errors.clone();
            let span = tracing::info_span!("poll", source = source.scope());
            tasks.spawn(
                async move {
                    // The semaphore is never closed; a closed one would only lift the bound.
                    let _permit = concurrency.acquire_owned().await.ok();
                    let windows = AccumulatorWindows {
                        accumulator: accumulator.clone(),
                        now,
                        period: source.period_secs(),
                    };
                    let started = Instant::now();
                    let fetched = source.fetch_scopes(&windows).await;
                    metrics.poll_duration.observe(started.elapsed().as_secs_f64());
                    {
                        let mut acc = lock(&accumulator);
                        for (reason, n) in metrics.take_source_rejects() {
                            acc.count_rejected(reason, n);
                        }
                    }
                    let mut oks = Vec::with_capacity(fetched.len());
                    for f in fetched {
                        let ok = match &f.result {
                            Ok(samples) => {
                                let report = lock(&accumulator).apply(&f.scope, f.window, samples, now);
                                tracing::debug!(scope = %f.scope, samples = samples.len(), counted = report.counted_periods, new_series = report.new_series, baseline = report.baseline, window_start = f.window.start, window_end = f.window.end, "poll succeeded");
                                metrics.target_last_success.with_label_values(&[&f.scope]).set(now.wall as f64);
                                true
                            }
                            Err(e) => {
                                tracing::warn!(scope = %f.scope, error = %e, "poll failed; the next poll fetches this window again");
                                false
                            }
                        };
                        errors.set(&f.scope, f.result.as_ref().err().map(|e| e.to_string()));
                        metrics.target_up.with_label_values(&[&f.scope]).set(ok as i64);
                        metrics.polls.with_label_values(&[if ok { "success" } else { "error" }]).inc();
                        oks.push(ok);
                    }
                    if oks.iter().any(|ok| *ok) {
                        publisher.request();
                    }
                    oks
                }
                .instrument(span),
            );
        }
        let mut all_ok = true;
        let mut any_ok = false;
        while let Some(joined) = tasks.join_next().await {
            let oks = joined.unwrap_or_else(|e| {
                tracing::error!(error = %e, "poll task panicked");
                vec![false]
            });
            all_ok &= oks.iter().all(|ok| *ok);
            any_ok |= oks.iter().any(|ok| *ok);
        }
        self.metrics.up.set(all_ok as i64);
        if any_ok {
            self.metrics.last_success.set(Now::system().wall as f64);
            self.polled.store(true, Ordering::Release);
        }
        all_ok
    }
}

/// The accumulator's lock; a panic elsewhere must not stop exposition, so poisoning is ignored.
pub fn lock(accumulator: &Mutex<Accumulator>) -> std::sync::MutexGuard<'_, Accumulator> {
    accumulator.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::AccumulatorSettings;
    use crate::config::Config;
    use crate::metrics::UsageRenderer;
    use crate::pricing::Pricing;
    use crate::source::{Sample, SourceError};
    use std::sync::atomic::AtomicUsize;

    /// A scope whose fetch takes a while and records how many fetches run at once.
    struct Slow {
        scope: String,
        running: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
        fetched: Arc<AtomicUsize>,
    }

    impl Source for Slow {
        fn scope(&self) -> &str {
            &self.scope
        }

        async fn fetch(&self, _window: Window) -> Result<Vec<Sample>, SourceError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.fetched.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn no_more_sources_than_the_bound_are_polled_at_once_and_every_one_is_polled() {
        let config = Config::default();
        let metrics = Arc::new(SelfMetrics::new("aws", "0"));
        let accumulator = Arc::new(Mutex::new(Accumulator::new(
            AccumulatorSettings::from_config("aws", &config),
            Pricing::load("aws", None).unwrap(),
        )));
        let (running, peak, fetched) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let sources = (0..40)
            .map(|i| {
                Arc::new(Slow {
                    scope: format!("scope-{i}"),
                    running: running.clone(),
                    peak: peak.clone(),
                    fetched: fetched.clone(),
                })
            })
            .collect();
        let poller = Poller {
            sources,
            accumulator: accumulator.clone(),
            metrics: metrics.clone(),
            interval: Duration::from_secs(15),
            publisher: Arc::new(Publisher::new(
                accumulator,
                metrics,
                UsageRenderer::new(&config),
                None,
            )),
            polled: Arc::new(AtomicBool::new(false)),
            errors: Arc::new(crate::landing::TargetErrors::default()),
            concurrency: Arc::new(Semaphore::new(3)),
        };
        assert!(poller.poll_once().await);
        assert_eq!(fetched.load(Ordering::SeqCst), 40, "every source polled");
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (1..=3).contains(&peak),
            "{peak} sources polled at once, bound 3"
        );
    }
}
