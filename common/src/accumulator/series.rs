//! The usage series an exporter serves: counters (tokens, invocations, errors, cost) and
//! latency gauges, keyed by the labels exported, with the cardinality cap, tenants, the
//! zero-first rule for new counters and the expiry of idle ones.
//!
//! - **Cap.** `max_series` counts token, invocation, error and latency series. A priced token
//!   series brings its cost series with it: the two are admitted or refused together, and a
//!   refused sample is not recorded as seen, so it counts once room appears.
//! - **Zero first.** A counter created by a poll is published at 0 for at least `zero_hold`
//!   before its first increase shows; otherwise Prometheus' `increase()` would miss the first
//!   poll of every new model (a series' first sample has nothing to increase from).
//! - **Expiry.** A counter that has not grown for `series_ttl` is dropped (and frees its slot).
//!   If the same labels grow again later they start again at 0, which `increase()` and
//!   `rate()` read correctly.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::accumulator::{CounterKey, GaugeKey};
use crate::config::TenantMatcher;
use crate::source::SeriesLabels;

/// A counter's running total and the tenant its labels matched when it was created.
#[derive(Clone, Debug, PartialEq)]
pub struct CounterValue {
    /// What is published.
    pub total: f64,
    /// Counted but not yet published (a new counter shows 0 first).
    pub pending: f64,
    pub tenant: String,
    /// Unix seconds before which `pending` is held back.
    pub held_until: i64,
    /// Unix seconds of the last growth (for expiry).
    pub last_growth: i64,
}

impl CounterValue {
    /// Everything counted, published or not.
    pub fn counted(&self) -> f64 {
        self.total + self.pending
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GaugeValue {
    pub period_start: i64,
    pub value: f64,
    pub tenant: String,
}

pub struct SeriesSettings {
    pub cloud: String,
    pub max_series: usize,
    /// Seconds a new counter is published at 0 before its first increase.
    pub zero_hold_secs: i64,
    /// Seconds without growth after which a counter is dropped.
    pub series_ttl_secs: i64,
    pub tenants: Vec<TenantMatcher>,
}

impl SeriesSettings {
    /// The first tenant whose rules match `labels`, or "".
    fn tenant_of(&self, labels: &SeriesLabels) -> String {
        let value = |k: &str| match k {
            "cloud" => self.cloud.clone(),
            "account" => labels.account.clone(),
            "region" => labels.region.clone(),
            "model" => labels.model.clone(),
            "deployment" => labels.deployment.clone(),
            _ => String::new(),
        };
        self.tenants
            .iter()
            .find(|t| t.matches(value))
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }
}

pub struct Series {
    pub settings: SeriesSettings,
    counters: HashMap<CounterKey, CounterValue>,
    gauges: HashMap<GaugeKey, GaugeValue>,
    /// Series that count against `max_series` (every one but cost).
    capped: usize,
    /// Every label set held, once ([`Series::intern`]).
    labels: HashSet<Arc<SeriesLabels>>,
}

fn is_capped(key: &CounterKey) -> bool {
    !key.metric.is_cost()
}

impl Series {
    pub fn new(settings: SeriesSettings) -> Self {
        Series {
            settings,
            counters: HashMap::new(),
            gauges: HashMap::new(),
            capped: 0,
            labels: HashSet::new(),
        }
    }

    /// Series counted against `max_series`.
    pub fn len(&self) -> usize {
        self.capped
    }

    pub fn is_empty(&self) -> bool {
        self.capped == 0
    }

    /// The one shared copy of `labels`. A label set has up to a dozen counters and gauges
    /// (token types, their cost, requests, errors, latency statistics): sharing it keeps one
    /// copy of its four strings instead of one per series (about 1 KB per label set).
    pub fn intern(&mut self, labels: &SeriesLabels) -> Arc<SeriesLabels> {
        if let Some(shared) = self.labels.get(labels) {
            return shared.clone();
        }
        let shared = Arc::new(labels.clone());
        self.labels.insert(shared.clone());
        shared
    }

    /// Forgets label sets no series holds any more (dropped or expired).
    pub fn forget_unused_labels(&mut self) {
        self.labels.retain(|l| Arc::strong_count(l) > 1);
    }

    pub fn counters(&self) -> &HashMap<CounterKey, CounterValue> {
        &self.counters
    }

    pub fn gauges(&self) -> &HashMap<GaugeKey, GaugeValue> {
        &self.gauges
    }

    /// True when the counters `keys` exist or there is room for those that do not (cost
    /// series need no room of their own).
    pub fn has_room(&self, keys: &[&CounterKey]) -> bool {
        let new = keys
            .iter()
            .filter(|k| is_capped(k) && !self.counters.contains_key(**k))
            .count();
        self.capped + new <= self.settings.max_series
    }

    /// Adds `delta` to the counter `key`, creating it at zero if needed (call
    /// [`has_room`](Self::has_room) first). A counter created with a first increase holds it
    /// back for `zero_hold` so Prometheus sees it at 0 first; a baseline (delta 0) creates it
    /// visible at once.
    pub fn add(&mut self, key: &CounterKey, delta: f64, now: i64) {
        if let Some(c) = self.counters.get_mut(key) {
            if delta > 0.0 {
                c.last_growth = now;
            }
            if c.pending > 0.0 || now < c.held_until {
                c.pending += delta;
            } else {
                c.total += delta;
            }
            return;
        }
        let tenant = self.tenant_of(&key.labels);
        if is_capped(key) {
            self.capped += 1;
        }
        self.counters.insert(
            key.clone(),
            CounterValue {
                total: 0.0,
                pending: delta,
                tenant,
                held_until: if delta > 0.0 {
                    now + self.settings.zero_hold_secs
                } else {
                    now
                },
                last_growth: now,
            },
        );
    }

    /// Puts back a counter from the state file as it was.
    pub fn restore(&mut self, mut key: CounterKey, total: f64, pending: f64, now: i64) {
        key.labels = self.intern(&key.labels);
        let tenant = self.tenant_of(&key.labels);
        if is_capped(&key) && !self.counters.contains_key(&key) {
            self.capped += 1;
        }
        self.counters.insert(
            key,
            CounterValue {
                total,
                pending,
                tenant,
                held_until: if pending > 0.0 {
                    now + self.settings.zero_hold_secs
                } else {
                    now
                },
                last_growth: now,
            },
        );
    }

    /// Publishes what new counters held back once their zero has been out long enough, and
    /// drops counters idle for `series_ttl`. Returns how many counters were dropped.
    pub fn publish(&mut self, now: i64) -> usize {
        for c in self.counters.values_mut() {
            if c.pending > 0.0 && now >= c.held_until {
                c.total += c.pending;
                c.pending = 0.0;
            }
        }
        let ttl = self.settings.series_ttl_secs;
        let before = self.counters.len();
        let mut dropped = 0;
        self.counters.retain(|k, c| {
            let keep = c.pending > 0.0 || now - c.last_growth <= ttl;
            if !keep && is_capped(k) {
                dropped += 1;
            }
            keep
        });
        self.capped -= dropped;
        let gone = before - self.counters.len();
        if gone > 0 {
            tracing::info!(
                dropped = gone,
                ttl_secs = ttl,
                "counters idle for series_ttl dropped"
            );
        }
        gone
    }

    /// Sets a latency gauge to the newest period's value. False when the cap refused it.
    pub fn set_gauge(&mut self, key: GaugeKey, period_start: i64, value: f64) -> bool {
        if let Some(g) = self.gauges.get_mut(&key) {
            if period_start >= g.period_start {
                g.period_start = period_start;
                g.value = value;
            }
            return true;
        }
        if self.capped >= self.settings.max_series {
            return false;
        }
        let tenant = self.tenant_of(&key.labels);
        self.capped += 1;
        self.gauges.insert(
            key,
            GaugeValue {
                period_start,
                value,
                tenant,
            },
        );
        true
    }

    /// Drops gauges whose newest period is before `oldest`: they describe traffic that
    /// stopped.
    pub fn expire_gauges(&mut self, oldest: i64) {
        let before = self.gauges.len();
        self.gauges.retain(|_, g| g.period_start >= oldest);
        self.capped -= before - self.gauges.len();
    }

    /// New tenant rules (a reloaded config): every series is matched again.
    pub fn set_tenants(&mut self, tenants: Vec<TenantMatcher>) {
        self.settings.tenants = tenants;
        let settings = &self.settings;
        for (k, c) in self.counters.iter_mut() {
            c.tenant = settings.tenant_of(&k.labels);
        }
        for (k, g) in self.gauges.iter_mut() {
            g.tenant = settings.tenant_of(&k.labels);
        }
    }

    pub fn tenant_of(&self, labels: &SeriesLabels) -> String {
        self.settings.tenant_of(labels)
    }
}
