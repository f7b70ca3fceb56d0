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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::accumulator::{Accumulator, Now};
use crate::base::{lock, unix_now};
use crate::error::{FailureKind, SourceError};
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
    pub errors: Arc<TargetErrors>,
    /// How many sources are polled at once (`max_concurrent_polls`).
    pub concurrency: Arc<Semaphore>,
}

/// The last error of each failing target, kept by the poller for the landing page.
#[derive(Default)]
pub struct TargetErrors(Mutex<BTreeMap<String, (FailureKind, String)>>);

impl TargetErrors {
    /// Records a target's last poll: its error, or None once it succeeds.
    pub fn set(&self, target: &str, error: Option<&SourceError>) {
        let mut m = lock(&self.0);
        match error {
            Some(e) => m.insert(
                target.to_string(),
                (e.kind, crate::config::shorten(&e.message, 500)),
            ),
            None => m.remove(target),
        };
    }

    /// The kind and message of a failing target's last error.
    pub fn get(&self, target: &str) -> Option<(FailureKind, String)> {
        lock(&self.0).get(target).cloned()
    }
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
                                tracing::warn!(scope = %f.scope, reason = %e.kind, error = %e, "poll failed; the next poll fetches this window again");
                                false
                            }
                        };
                        let error = f.result.as_ref().err();
                        errors.set(&f.scope, error);
                        metrics.target_polled(&f.scope, error.map(|e| e.kind));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::AccumulatorSettings;
    use crate::config::Config;
    use crate::exposition::UsageRenderer;
    use crate::pricing::Pricing;
    use crate::source::Sample;
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
            errors: Arc::new(TargetErrors::default()),
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

    /// A scope that fails with the kind it is set to, or succeeds with no samples.
    struct Failing {
        kind: Mutex<Option<FailureKind>>,
    }

    impl Source for Failing {
        fn scope(&self) -> &str {
            "acct/region"
        }

        async fn fetch(&self, _window: Window) -> Result<Vec<Sample>, SourceError> {
            match *lock(&self.kind) {
                Some(kind) => Err(SourceError::new(kind, format!("the cloud said {kind}"))),
                None => Ok(Vec::new()),
            }
        }
    }

    /// `(reason, value)` of every `llm_exporter_target_failure_reason` series of the target.
    fn failure_series(metrics: &SelfMetrics) -> Vec<(String, i64)> {
        let families = metrics.registry.gather();
        let family = families
            .iter()
            .find(|f| f.name() == crate::metrics::names::TARGET_FAILURE);
        family
            .map(|f| {
                f.get_metric()
                    .iter()
                    .map(|m| {
                        let label = |n: &str| {
                            m.get_label()
                                .iter()
                                .find(|l| l.name() == n)
                                .map(|l| l.value().to_string())
                                .unwrap_or_default()
                        };
                        assert_eq!(label("target"), "acct/region");
                        (label("reason"), m.get_gauge().get_value() as i64)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_failing_target_exports_and_shows_why_and_forgets_it_once_it_recovers() {
        let config = Config::default();
        let metrics = Arc::new(SelfMetrics::new("aws", "0"));
        let accumulator = Arc::new(Mutex::new(Accumulator::new(
            AccumulatorSettings::from_config("aws", &config),
            Pricing::load("aws", None).unwrap(),
        )));
        let source = Arc::new(Failing {
            kind: Mutex::new(None),
        });
        let errors = Arc::new(TargetErrors::default());
        let poller = Poller {
            sources: vec![source.clone()],
            accumulator: accumulator.clone(),
            metrics: metrics.clone(),
            interval: Duration::from_secs(15),
            publisher: Arc::new(Publisher::new(
                accumulator.clone(),
                metrics.clone(),
                UsageRenderer::new(&config),
                None,
            )),
            polled: Arc::new(AtomicBool::new(false)),
            errors: errors.clone(),
            concurrency: Arc::new(Semaphore::new(1)),
        };
        let page =
            || crate::landing::render("aws", "0", "/metrics", &metrics, &errors, &accumulator, &[]);
        let up = || metrics.target_up.with_label_values(&["acct/region"]).get();
        for kind in FailureKind::ALL {
            *lock(&source.kind) = Some(kind);
            assert!(!poller.poll_once().await);
            assert_eq!(up(), 0, "target_up keeps its meaning");
            assert_eq!(
                failure_series(&metrics),
                vec![(kind.as_str().to_string(), 1)],
                "only the current failure's reason"
            );
            let row = format!("<td>{kind}</td><td>the cloud said {kind}</td>");
            assert!(page().contains(&row), "{row} missing:\n{}", page());
        }
        *lock(&source.kind) = None;
        assert!(poller.poll_once().await);
        assert_eq!(up(), 1);
        assert_eq!(failure_series(&metrics), vec![], "removed on recovery");
        assert!(!page().contains("the cloud said"));
    }
}
