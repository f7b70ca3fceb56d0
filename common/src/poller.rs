//! The background tick: every `poll_interval`, each source (scope) is asked for the window
//! from its oldest period still open for revision to now, and the samples are handed to the
//! accumulator. Scrapes never reach the cloud; any number of Prometheus servers can scrape
//! without adding API cost.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;
use tracing::Instrument;

use crate::accumulator::Accumulator;
use crate::metrics::SelfMetrics;
use crate::source::Source;

pub struct Poller<S: Source> {
    pub sources: Vec<Arc<S>>,
    pub accumulator: Arc<Mutex<Accumulator>>,
    pub metrics: Arc<SelfMetrics>,
    pub interval: Duration,
    pub state_file: Option<PathBuf>,
    /// Set after the first successful poll (`/-/ready`).
    pub ready: Arc<AtomicBool>,
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl<S: Source> Poller<S> {
    /// Polls forever, the first time at once.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.interval);
        // A slow poll delays the next one instead of firing a burst to catch up.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.poll_once().await;
        }
    }

    /// One poll of every source, concurrently. Returns true when all succeeded.
    pub async fn poll_once(&self) -> bool {
        let now = unix_now();
        let mut tasks = JoinSet::new();
        for source in &self.sources {
            let source = source.clone();
            let accumulator = self.accumulator.clone();
            let metrics = self.metrics.clone();
            let span = tracing::info_span!("poll", target = source.scope());
            tasks.spawn(
                async move {
                    let window = lock(&accumulator).window(source.scope(), now, source.period_secs());
                    let started = Instant::now();
                    let result = source.fetch(window).await;
                    metrics.poll_duration.observe(started.elapsed().as_secs_f64());
                    let ok = match result {
                        Ok(samples) => {
                            let report = lock(&accumulator).apply(source.scope(), window, &samples, now);
                            tracing::debug!(samples = samples.len(), counted = report.counted_periods, new_series = report.new_series, baseline = report.baseline, window_start = window.start, window_end = window.end, "poll succeeded");
                            true
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "poll failed; the next poll fetches this window again");
                            false
                        }
                    };
                    metrics.target_up.with_label_values(&[source.scope()]).set(ok as i64);
                    metrics.polls.with_label_values(&[if ok { "success" } else { "error" }]).inc();
                    ok
                }
                .instrument(span),
            );
        }
        let mut all_ok = true;
        let mut any_ok = false;
        while let Some(joined) = tasks.join_next().await {
            let ok = joined.unwrap_or_else(|e| {
                tracing::error!(error = %e, "poll task panicked");
                false
            });
            all_ok &= ok;
            any_ok |= ok;
        }
        self.metrics.up.set(all_ok as i64);
        if any_ok {
            self.metrics.last_success.set(unix_now() as f64);
            self.ready.store(true, Ordering::Release);
            self.save_state().await;
        }
        all_ok
    }

    async fn save_state(&self) {
        let Some(path) = self.state_file.clone() else {
            return;
        };
        // Serialize under the lock (fast), write to disk outside it (slow).
        let bytes = lock(&self.accumulator).state_bytes();
        let written = tokio::task::spawn_blocking(move || {
            crate::accumulator::write_atomically(&path, &bytes)
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot write state file"),
            Err(e) => tracing::error!(error = %e, "state file writer panicked"),
        }
    }
}

/// The accumulator's lock; a panic elsewhere must not stop exposition, so poisoning is ignored.
pub fn lock(accumulator: &Mutex<Accumulator>) -> std::sync::MutexGuard<'_, Accumulator> {
    accumulator.lock().unwrap_or_else(|p| p.into_inner())
}
