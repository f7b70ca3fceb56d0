//! Turns per-period sums (CloudWatch 60 s `Sum`, Azure `PT1M` `total`, GCP `DELTA` points)
//! into monotonic Prometheus counters. The rules (docs/counters.md):
//!
//! - a period counts as soon as it is seen; a later, larger value for the same period adds the
//!   difference (late data); a smaller one is never subtracted, only counted in
//!   `llm_exporter_downward_revisions_total`;
//! - revision state is kept per the cloud's identity of a series ([`revisions`]), so labels
//!   that change (a deployment's model resolved late) never count a minute twice;
//! - each scope has a *horizon*: the oldest period still open. A successful poll moves it to
//!   `now - lookback`; a failed poll moves nothing, so the next successful poll asks for
//!   everything since the horizon (clamped to `max_backfill`);
//! - a series first seen late (discovery lag) counts back to when the scope started counting,
//!   bounded by `max_backfill`;
//! - the first poll of a scope with no saved state is the baseline: what the cloud already
//!   reports is recorded, not counted, and its series start at zero; after a state file was
//!   restored, a scope it does not hold is new (created while the exporter was down, say) and
//!   counts from the state's last save (minus the lookback, within `max_backfill`);
//! - the horizon follows a clock that never runs ahead of real time ([`clock`]);
//! - the state file ([`state_file`]) carries counters and revision state across restarts.
//!
//! Cost is counted together with the tokens it prices, at the price loaded at that moment.

pub mod clock;
pub mod revisions;
pub mod series;
pub mod state_file;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use clock::Now;
use clock::TrustedClock;
use revisions::{Offer, RevisionKey, ScopeRevisions};
pub use series::{CounterValue, GaugeValue, Shown};
use series::{Series, SeriesSettings};
pub use state_file::{write_atomically, StateError, StateLock};
use state_file::{SavedCounter, StateFile, WrittenBy, STATE_VERSION};

use crate::config::TenantMatcher;
use crate::pricing::Pricing;
use crate::source::{
    align_down, ErrorType, LatencyKind, Sample, SampleKind, SeriesLabels, TokenType, Window,
};

/// Which counter family a series belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterMetric {
    Tokens(TokenType),
    Invocations,
    Errors(ErrorType),
    Cost(TokenType),
    /// Hours of provisioned capacity (exported in seconds, `llm_provisioned_unit_seconds_total`).
    CapacityUnitHours,
    /// What those hours cost (`llm_estimated_cost_usd_total{token_type="provisioned"}`).
    CapacityCost,
}

impl CounterMetric {
    /// Whether this counter holds dollars (cost is kept beside the usage it prices).
    pub fn is_cost(&self) -> bool {
        matches!(self, CounterMetric::Cost(_) | CounterMetric::CapacityCost)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CounterKey {
    pub metric: CounterMetric,
    /// Shared by every counter and gauge of one label set ([`Series::intern`]).
    #[serde(with = "shared_labels")]
    pub labels: Arc<SeriesLabels>,
}

/// The state file writes a counter's labels in full; they are interned again on restore.
mod shared_labels {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::source::SeriesLabels;

    pub fn serialize<S: Serializer>(labels: &Arc<SeriesLabels>, s: S) -> Result<S::Ok, S::Error> {
        labels.as_ref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<SeriesLabels>, D::Error> {
        SeriesLabels::deserialize(d).map(Arc::new)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GaugeKey {
    pub kind: LatencyKind,
    pub stat: String,
    pub labels: Arc<SeriesLabels>,
}

/// Why periods were given up (`llm_exporter_backfill_skipped_periods_total{reason}`).
pub const SKIP_OUTAGE: &str = "outage";
pub const SKIP_LATE_DISCOVERY: &str = "late_discovery";

/// Why a sample was not used (`llm_exporter_samples_rejected_total{reason}`).
pub const REJECT_NON_FINITE: &str = "non_finite";
pub const REJECT_NEGATIVE: &str = "negative";
pub const REJECT_IMPLAUSIBLE: &str = "implausible";
/// Dated after the window (a later minute than now): held, i.e. not used now; the cloud
/// reports it again once its minute is reached.
pub const REJECT_FUTURE: &str = "future";
/// Dated before anything the window asked for (e.g. 1970).
pub const REJECT_BEFORE_WINDOW: &str = "before_window";
/// The same point of the same cloud series given twice in one answer: counted once (found
/// by the source, which knows the cloud's identity of a point; see
/// [`SelfMetrics::reject_at_source`](crate::metrics::SelfMetrics::reject_at_source)).
pub const REJECT_DUPLICATE: &str = "duplicate";
pub const REJECT_REASONS: [&str; 6] = [
    REJECT_NON_FINITE,
    REJECT_NEGATIVE,
    REJECT_IMPLAUSIBLE,
    REJECT_FUTURE,
    REJECT_BEFORE_WINDOW,
    REJECT_DUPLICATE,
];

/// Counts the accumulator keeps about itself (exported as `llm_exporter_*`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccumulatorStats {
    /// Samples not used, by reason (see `REJECT_*`).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Periods whose value grew after they were first counted.
    pub late_data: u64,
    /// Periods whose value shrank (never subtracted).
    pub downward_revisions: u64,
    /// Samples of new series refused because `max_series` was reached.
    pub series_dropped: u64,
    /// Periods given up, by reason: an outage longer than `max_backfill`, or a series
    /// discovered later than `max_backfill` after the scope started counting.
    pub periods_skipped: BTreeMap<&'static str, u64>,
    /// Cloud series first seen after their first minute had passed the lookback (discovery
    /// lag), counted back from that minute.
    pub late_series: u64,
    /// Times the clock was found to have stepped back and the horizon was repaired.
    pub clock_repairs: u64,
}

/// What one [`Accumulator::apply`] did, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    pub baseline: bool,
    pub counted_periods: usize,
    pub new_series: usize,
}

pub struct AccumulatorSettings {
    pub cloud: String,
    pub lookback_secs: i64,
    pub max_backfill_secs: i64,
    pub max_series: usize,
    pub tenants: Vec<TenantMatcher>,
    /// Seconds a new counter is published at 0 before its first increase (the poll
    /// interval: one published exposition).
    pub zero_hold_secs: i64,
    /// Seconds without growth after which a counter is dropped.
    pub series_ttl_secs: i64,
    /// The largest plausible value of one minute of one series.
    pub max_value_per_minute: f64,
}

impl AccumulatorSettings {
    /// Settings for `cloud` from the config's common keys.
    pub fn from_config(cloud: &str, config: &crate::config::Config) -> Self {
        AccumulatorSettings {
            cloud: cloud.to_string(),
            lookback_secs: config.lookback.as_secs() as i64,
            max_backfill_secs: config.max_backfill.as_secs() as i64,
            max_series: config.max_series,
            tenants: config.tenant_matchers(),
            zero_hold_secs: config.poll_interval.as_secs().max(1) as i64,
            series_ttl_secs: config.series_ttl.as_secs() as i64,
            max_value_per_minute: config.max_value_per_minute,
        }
    }
}

pub struct Accumulator {
    /// `demo` or `cloud`: recorded in the state file, checked when restoring it.
    source: &'static str,
    lookback_secs: i64,
    max_value_per_minute: f64,
    /// When each rejection reason was last logged (logs are rate-limited per reason).
    rejection_logged: HashMap<&'static str, i64>,
    max_backfill_secs: i64,
    pricing: Pricing,
    series: Series,
    scopes: HashMap<String, ScopeRevisions>,
    clock: TrustedClock,
    /// When the restored state file was last saved (trusted time): this process counts on
    /// from there. None without a restored state.
    resumed_from: Option<i64>,
    /// (catalog key, `token_type` label value) of usage counted without a price: tokens, or
    /// `provisioned` for capacity hours.
    unpriced: BTreeSet<(String, &'static str)>,
    /// The catalog key each priced usage label set was last priced with, so
    /// `llm_model_price_usd_per_token` carries the usage series' own labels and joins with
    /// them one to one (`llm_tokens_total * llm_model_price_usd_per_token`).
    priced: HashMap<Arc<SeriesLabels>, String>,
    stats: AccumulatorStats,
}

impl Accumulator {
    pub fn new(settings: AccumulatorSettings, pricing: Pricing) -> Self {
        Accumulator {
            source: "cloud",
            lookback_secs: settings.lookback_secs,
            max_value_per_minute: settings.max_value_per_minute,
            rejection_logged: HashMap::new(),
            max_backfill_secs: settings.max_backfill_secs,
            pricing,
            series: Series::new(SeriesSettings {
                cloud: settings.cloud,
                max_series: settings.max_series,
                zero_hold_secs: settings.zero_hold_secs,
                series_ttl_secs: settings.series_ttl_secs,
                tenants: settings.tenants,
            }),
            scopes: HashMap::new(),
            clock: TrustedClock::default(),
            resumed_from: None,
            unpriced: BTreeSet::new(),
            priced: HashMap::new(),
            stats: AccumulatorStats::default(),
        }
    }

    /// The horizon and counting start of `state` at trusted time `t`, moved back if the clock
    /// stepped back since they were set (a horizon ahead of `t - lookback` is in the future).
    /// Moving back is safe: each series keeps what it counted final.
    fn repaired(
        &self,
        state: &ScopeRevisions,
        t: i64,
        now: Now,
        period: i64,
    ) -> Option<(i64, i64)> {
        if state.horizon <= align_down(t - self.lookback_secs, period) {
            return None;
        }
        // Count again from when this process started (its baseline window), within
        // max_backfill.
        let since = state
            .counting_since
            .min(align_down(t - now.uptime - self.lookback_secs, period));
        let horizon = since.max(align_down(t - self.max_backfill_secs, period));
        Some((horizon, since))
    }

    /// Where a scope this accumulator does not hold starts counting: None for a baseline (no
    /// state restored), else the restored state's last save. A scope whose name extends a
    /// restored scope that held series (`<that scope>/...`) is that scope split up by an
    /// upgrade (Azure's per-subscription scope into per-account ones): it counted these
    /// minutes already, so it is a baseline too.
    fn new_scope_since(&self, scope: &str) -> Option<i64> {
        let split = self.scopes.iter().any(|(name, s)| {
            !s.is_empty()
                && scope
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        self.resumed_from.filter(|_| !split)
    }

    /// The window the next poll of `scope` must fetch: from the horizon (for a new scope
    /// `now - lookback`, or after a restore from the state's last save), no further back than
    /// `max_backfill`, to the end of the current period.
    pub fn window(&self, scope: &str, now: Now, period: i64) -> Window {
        let t = self.clock.peek(now);
        let oldest = align_down(t - self.max_backfill_secs, period);
        let (start, backfill) = match self.scopes.get(scope) {
            None => {
                let mut start = align_down(t - self.lookback_secs, period);
                if let Some(since) = self.new_scope_since(scope) {
                    start = start.min(align_down(since - self.lookback_secs, period).max(oldest));
                }
                (start, start)
            }
            Some(s) => {
                let (horizon, since) = self
                    .repaired(s, t, now, period)
                    .unwrap_or((s.horizon, s.counting_since));
                let start = horizon.max(oldest);
                (start, since.max(oldest).min(start))
            }
        };
        Window {
            start,
            end: (align_down(now.wall, period) + period).max(start + period),
            period,
            backfill_start: backfill,
        }
    }

    /// Applies one successful poll of `scope` over `window`, fetched at `now`.
    pub fn apply(
        &mut self,
        scope: &str,
        window: Window,
        samples: &[Sample],
        now: Now,
    ) -> ApplyReport {
        let t = self.clock.observe(now);
        let period = window.period.max(1);
        let baseline = !self.scopes.contains_key(scope) && self.new_scope_since(scope).is_none();
        let mut state = self
            .scopes
            .remove(scope)
            // The baseline covers its window: a series it did not see had nothing there yet,
            // so whatever that series reports for those minutes later counts.
            .unwrap_or_else(|| ScopeRevisions::new(window.start, window.start));
        // Periods recorded without being counted: the baseline's whole window; after a
        // version-1 state file, those its last poll may have counted (it kept no per-series
        // state; its horizon was that poll's time minus the lookback, so that poll saw no
        // period from one period after `horizon + lookback` on).
        let uncounted_before = if baseline {
            i64::MAX
        } else if state.rebaseline {
            state.horizon.saturating_add(self.lookback_secs + period)
        } else {
            i64::MIN
        };
        if let Some((horizon, since)) = self.repaired(&state, t, now, period) {
            tracing::warn!(scope, old_horizon = state.horizon, new_horizon = horizon, "the clock stepped back (or the state file was written by a clock ahead): open periods fetched again; what was counted stays counted");
            state.repair(horizon, since);
            self.stats.clock_repairs += 1;
        }
        if window.start > state.horizon {
            // The outage outlasted max_backfill: these periods are given up.
            let skipped = (window.start - state.horizon) / period;
            *self.stats.periods_skipped.entry(SKIP_OUTAGE).or_default() += skipped as u64;
            tracing::warn!(
                scope,
                skipped_periods = skipped,
                "outage longer than max_backfill: periods skipped"
            );
            state.advance(window.start, i64::MIN);
        }
        let floor_for_new = if baseline {
            window.start
        } else {
            window.backfill_start.max(state.counting_since)
        };
        let mut report = ApplyReport {
            baseline,
            ..ApplyReport::default()
        };

        for sample in samples {
            if let Some(reason) = self.reject(scope, sample, &window, t) {
                *self.stats.rejected.entry(reason).or_default() += 1;
                continue;
            }
            let metric = match &sample.kind {
                // One-hour cache writes are revised apart (their own cloud metric) but counted
                // as cache_write; they are priced at their own rate below.
                SampleKind::Tokens(t) => CounterMetric::Tokens(*t),
                SampleKind::Invocations => CounterMetric::Invocations,
                SampleKind::Errors(e) => CounterMetric::Errors(*e),
                SampleKind::CapacityUnitHours => CounterMetric::CapacityUnitHours,
                SampleKind::Latency { kind, stat } => {
                    self.set_gauge(*kind, stat, sample, period, now.wall, &mut report);
                    continue;
                }
            };
            let rkey = RevisionKey {
                series: sample.series.clone(),
                metric: metric.clone(),
            };
            let p = sample.period_start;
            let uncounted = p < uncounted_before;
            let delta = match state.peek(&rkey, p, sample.value, floor_for_new) {
                Offer::Final | Offer::Same => continue,
                Offer::Lower => {
                    self.stats.downward_revisions += 1;
                    continue;
                }
                Offer::Count { delta, late } => {
                    if late {
                        self.stats.late_data += 1;
                    }
                    if uncounted {
                        0.0
                    } else {
                        delta
                    }
                }
            };
            // What this counter costs per unit, where it is priced: tokens at the rate of their
            // billing mode, capacity hours at the hourly rate. `None` inside: no price known.
            let billing = sample.labels.billing;
            let price = match metric {
                CounterMetric::Tokens(t) if billing.mode.per_token() => Some((
                    CounterMetric::Cost(t.counted_as()),
                    t.as_str(),
                    self.pricing.rate(&sample.price_keys, t, billing),
                )),
                CounterMetric::CapacityUnitHours => Some((
                    CounterMetric::CapacityCost,
                    "provisioned",
                    self.pricing.capacity_rate(&sample.price_keys),
                )),
                _ => None,
            };
            // One allocation per label set, shared by its counters and gauges.
            let labels = self.series.intern(&sample.labels);
            let key = CounterKey {
                metric: match metric {
                    CounterMetric::Tokens(t) => CounterMetric::Tokens(t.counted_as()),
                    m => m,
                },
                labels: labels.clone(),
            };
            let cost_key = match &price {
                Some((cost, _, Some(_))) => Some(CounterKey {
                    metric: cost.clone(),
                    labels: labels.clone(),
                }),
                _ => None,
            };
            let mut keys = vec![&key];
            keys.extend(cost_key.as_ref());
            if !self.series.has_room(&keys) {
                // Refused: not recorded as seen, so it counts once room appears.
                self.stats.series_dropped += 1;
                continue;
            }
            if !state.knows(&rkey) && !uncounted {
                if p < state.horizon {
                    self.stats.late_series += 1;
                }
                if p == floor_for_new && floor_for_new > state.counting_since {
                    // Data at the very edge of max_backfill: older minutes are out of reach.
                    *self
                        .stats
                        .periods_skipped
                        .entry(SKIP_LATE_DISCOVERY)
                        .or_default() += ((floor_for_new - state.counting_since) / period) as u64;
                }
            }
            state.record(&rkey, p, sample.value);
            let before = self.series.counters().len();
            self.series.add(&key, delta, t);
            let first_key = || sample.price_keys.first().cloned().unwrap_or_default();
            match (&cost_key, price) {
                (Some(cost_key), Some((_, _, Some(usd)))) => {
                    if let Some(chosen) = self.pricing.resolve(&sample.price_keys) {
                        if self.priced.get(&sample.labels).map(String::as_str) != Some(chosen) {
                            self.priced.insert(labels.clone(), chosen.to_string());
                        }
                    }
                    self.series.add(cost_key, delta * usd, t);
                }
                (_, Some((_, unit, None))) if self.unpriced.insert((first_key(), unit)) => {
                    tracing::warn!(model = %first_key(), token_type = unit, "no price in the catalog: usage counted, cost not estimated");
                }
                _ => {}
            }
            report.new_series += self.series.counters().len() - before;
            if delta > 0.0 {
                report.counted_periods += 1;
            }
        }

        state.rebaseline = false;
        // Periods older than the lookback are final from now on; a series no fetch can reach
        // any more is forgotten.
        let forget_before = state
            .counting_since
            .max(align_down(t - self.max_backfill_secs, period));
        state.advance(align_down(t - self.lookback_secs, period), forget_before);
        // A latency gauge older than the lookback would describe traffic that stopped.
        self.series
            .expire_gauges(align_down(t - self.lookback_secs, period));
        self.scopes.insert(scope.to_string(), state);
        report
    }

    /// Why `sample` cannot be used, if it cannot; logged at most once a minute per reason.
    fn reject(
        &mut self,
        scope: &str,
        sample: &Sample,
        window: &Window,
        t: i64,
    ) -> Option<&'static str> {
        let v = sample.value;
        let per_minute = v * 60.0 / window.period.max(1) as f64;
        let reason = if !v.is_finite() {
            REJECT_NON_FINITE
        } else if v < 0.0 {
            REJECT_NEGATIVE
        } else if sample.kind.is_counter() && per_minute > self.max_value_per_minute {
            REJECT_IMPLAUSIBLE
        } else if sample.period_start >= window.end {
            REJECT_FUTURE
        } else if sample.period_start < window.backfill_start.min(window.start) {
            REJECT_BEFORE_WINDOW
        } else {
            return None;
        };
        let last = self.rejection_logged.entry(reason).or_insert(i64::MIN);
        if t.saturating_sub(*last) >= 60 {
            *last = t;
            tracing::warn!(scope, reason, series = %crate::config::shorten(&sample.series, 120), period = sample.period_start, value = v, limit = self.max_value_per_minute, "sample rejected (logged at most once a minute per reason; see llm_exporter_samples_rejected_total)");
        }
        Some(reason)
    }

    fn set_gauge(
        &mut self,
        kind: LatencyKind,
        stat: &str,
        sample: &Sample,
        period: i64,
        now: i64,
        report: &mut ApplyReport,
    ) {
        // Only complete periods: a partial minute's average is noise.
        if sample.period_start + period > now {
            return;
        }
        let key = GaugeKey {
            kind,
            stat: stat.to_string(),
            labels: self.series.intern(&sample.labels),
        };
        let before = self.series.gauges().len();
        if !self
            .series
            .set_gauge(key, sample.period_start, sample.value)
        {
            self.stats.series_dropped += 1;
        }
        report.new_series += self.series.gauges().len() - before;
    }

    /// Counts `n` points a source set aside before they became samples (e.g. duplicates).
    pub fn count_rejected(&mut self, reason: &'static str, n: u64) {
        if n > 0 {
            *self.stats.rejected.entry(reason).or_default() += n;
        }
    }

    /// Prepares the next exposition: releases what counters held back once their value has
    /// been out for `zero_hold` (a new counter shows 0 first) and drops idle counters. Call
    /// [`shown`](Self::shown) once that exposition is out (after the state file is written);
    /// until then nothing it shows for the first time counts as seen.
    pub fn publish(&mut self, now: Now) {
        let t = self.clock.peek(now);
        if self.series.publish(t) > 0 {
            // Idle counters were dropped: forget the prices of label sets left without tokens.
            let live: HashSet<&Arc<SeriesLabels>> = self
                .series
                .counters()
                .keys()
                .filter(|k| matches!(k.metric, CounterMetric::Tokens(_)))
                .map(|k| &k.labels)
                .collect();
            self.priced.retain(|labels, _| live.contains(labels));
        }
        self.series.forget_unused_labels();
    }

    /// The exposition prepared by the last [`publish`](Self::publish) is out (scrapes can see
    /// it) at `now`.
    pub fn shown(&mut self, now: Now) {
        let t = self.clock.peek(now);
        self.series.shown(t);
    }

    /// Applies a reloaded config's tenants and prices. Counted tokens and cost stay as they
    /// are; new tokens are priced at the new prices, and every series is matched to the new
    /// tenants (its `tenant` label changes from the next publish).
    pub fn reconfigure(&mut self, tenants: Vec<TenantMatcher>, pricing: Pricing) {
        self.series.set_tenants(tenants);
        self.pricing = pricing;
        // Models are named again as unpriced if they still are. `priced` stays: the catalog
        // key of a series does not change with its price.
        self.unpriced.clear();
    }

    /// Marks this accumulator as the demo's (its state file is refused by a real run).
    pub fn set_demo(&mut self, demo: bool) {
        self.source = if demo { "demo" } else { "cloud" };
    }

    /// Usage series held (counters and gauges, not cost), compared against `max_series`.
    pub fn series(&self) -> usize {
        self.series.len()
    }

    pub fn counters(&self) -> &HashMap<CounterKey, CounterValue> {
        self.series.counters()
    }

    pub fn gauges(&self) -> &HashMap<GaugeKey, GaugeValue> {
        self.series.gauges()
    }

    pub fn unpriced(&self) -> &BTreeSet<(String, &'static str)> {
        &self.unpriced
    }

    /// The catalog key of each priced usage label set.
    pub fn priced(&self) -> &HashMap<Arc<SeriesLabels>, String> {
        &self.priced
    }

    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    pub fn stats(&self) -> &AccumulatorStats {
        &self.stats
    }

    pub fn cloud(&self) -> &str {
        &self.series.settings.cloud
    }

    pub fn has_tenants(&self) -> bool {
        !self.series.settings.tenants.is_empty()
    }

    /// Everything counted in one counter (published or held back), for tests and logs.
    pub fn total(&self, metric: &CounterMetric, labels: &SeriesLabels) -> Option<f64> {
        self.series
            .counters()
            .get(&CounterKey {
                metric: metric.clone(),
                labels: Arc::new(labels.clone()),
            })
            .map(CounterValue::counted)
    }

    /// The state file's content: counters (everything counted) and revision state.
    pub fn state_bytes(&self, now: Now) -> Vec<u8> {
        let state = StateFile {
            version: STATE_VERSION,
            cloud: self.cloud().to_string(),
            saved_at: self.clock.peek(now),
            written_by: WrittenBy {
                source: self.source.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            counters: self
                .series
                .counters()
                .iter()
                .map(|(k, v)| SavedCounter {
                    key: k.clone(),
                    total: v.total,
                    pending: v.pending,
                })
                .collect(),
            scopes: self
                .scopes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        // Plain structs with string keys: serialization cannot fail.
        serde_json::to_vec(&state).unwrap_or_default()
    }

    /// The scopes whose revision state this accumulator holds.
    pub fn scope_names(&self) -> impl Iterator<Item = &str> {
        self.scopes.keys().map(String::as_str)
    }

    /// Writes the state file atomically.
    pub fn save(&self, path: &Path, now: Now) -> Result<(), StateError> {
        write_atomically(path, &self.state_bytes(now))
    }

    /// Loads state written by [`save`](Self::save). A missing file is a first start (Ok(false));
    /// an unreadable or foreign one is an error, because starting over would silently reset
    /// counters.
    pub fn restore(&mut self, path: &Path, now: Now) -> Result<bool, StateError> {
        let Some(bytes) = state_file::read(path)? else {
            return Ok(false);
        };
        let state = state_file::parse(path, &bytes)?;
        if state.cloud != self.cloud() {
            return Err(StateError::new(
                path,
                format!(
                    "it belongs to the {} exporter, not {}",
                    state.cloud,
                    self.cloud()
                ),
            ));
        }
        let by = &state.written_by.source;
        if !by.is_empty() && by != self.source {
            return Err(StateError::new(
                path,
                format!(
                    "it was written by a {by} run and this is a {} run: give each its own state_file (e.g. state/{{exporter}}-{}.state) or move the file away",
                    self.source, self.source
                ),
            ));
        }
        for saved in state.counters {
            // A counter never goes below zero; a negative or non-finite one is a corrupt file.
            let valid = |v: f64| v.is_finite() && v >= 0.0;
            if !valid(saved.total) || !valid(saved.pending) {
                return Err(StateError::new(
                    path,
                    format!(
                        "counter {:?} is not a finite number of at least 0; move the file away to start over",
                        saved.key
                    ),
                ));
            }
            self.series
                .restore(saved.key, saved.total, saved.pending, now.wall);
        }
        self.scopes = state.scopes.into_iter().collect();
        // A file without `saved_at` (version 1) was last saved at its last poll: the newest
        // horizon plus the lookback.
        let saved_at = if state.saved_at > 0 {
            state.saved_at
        } else {
            self.scopes
                .values()
                .map(|s| s.horizon.saturating_add(self.lookback_secs))
                .max()
                .unwrap_or(now.wall)
        };
        self.resumed_from = Some(saved_at.min(now.wall));
        if state.saved_at > 0 && now.wall - state.saved_at <= self.max_backfill_secs {
            // A host clock that came back ahead must not move the restored horizons into the
            // future at once; the catch-up is bounded by max_backfill like any outage's. After
            // a stop longer than that the wall clock is believed.
            self.clock = TrustedClock::seeded(state.saved_at.min(now.wall), now.uptime);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod billing_tests;
#[cfg(test)]
mod corner_tests;
#[cfg(test)]
mod exact_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
