//! Turns per-period sums (CloudWatch 60 s `Sum`, Azure `PT1M` `total`, GCP `DELTA` points)
//! into monotonic Prometheus counters. The rules (DESIGN.md, "Accumulator"):
//!
//! - a period counts as soon as it is seen; a later, larger value for the same period adds the
//!   difference (late data); a smaller one is never subtracted, only counted in
//!   `llm_exporter_downward_revisions_total`;
//! - each scope (an account and region, a subscription, a project) has a *horizon*: the oldest
//!   period still tracked for revision. A successful poll moves it to `now - lookback` and
//!   forgets older periods. A failed poll moves nothing, so the next successful poll asks for
//!   everything since the horizon (clamped to `max_backfill`): an outage shorter than that loses
//!   nothing, and periods still tracked are never counted twice;
//! - the first poll of a scope with no saved state is the baseline: what the cloud already
//!   reports is recorded, not counted, and its series start at zero;
//! - [`Accumulator::save`] / [`Accumulator::restore`] carry counters and revision state across
//!   restarts, so a restart neither loses nor double counts.
//!
//! Cost is counted together with the tokens it prices, at the price loaded at that moment.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::TenantMatcher;
use crate::pricing::Pricing;
use crate::source::{
    align_down, Billing, ErrorType, LatencyKind, Sample, SampleKind, SeriesLabels, TokenType,
    Window,
};

/// Which counter family a series belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterMetric {
    Tokens(TokenType),
    Invocations,
    Errors(ErrorType),
    Cost(TokenType),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CounterKey {
    pub metric: CounterMetric,
    pub labels: SeriesLabels,
}

/// What is revised independently: one counter series may be fed by two parts billed
/// differently (Vertex reports provisioned and pay-as-you-go tokens of one model apart), each
/// with its own per-period value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct RevisionKey {
    key: CounterKey,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    provisioned: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GaugeKey {
    pub kind: LatencyKind,
    pub stat: String,
    pub labels: SeriesLabels,
}

/// A counter's running total and the tenant its labels matched when it was created.
#[derive(Clone, Debug, PartialEq)]
pub struct CounterValue {
    pub total: f64,
    pub tenant: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GaugeValue {
    pub period_start: i64,
    pub value: f64,
    pub tenant: String,
}

/// Revision state of one scope.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ScopeState {
    /// Oldest period start still tracked; samples before it are already final.
    horizon: i64,
    /// The largest value seen per counter series, billing part and period, for periods >=
    /// horizon.
    #[serde(with = "revisions_as_list")]
    seen: HashMap<RevisionKey, BTreeMap<i64, f64>>,
}

/// Counts the accumulator keeps about itself (exported as `llm_exporter_*`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccumulatorStats {
    /// Periods whose value grew after they were first counted.
    pub late_data: u64,
    /// Periods whose value shrank (never subtracted).
    pub downward_revisions: u64,
    /// Samples of new series refused because `max_series` was reached.
    pub series_dropped: u64,
    /// Periods given up because an outage outlasted `max_backfill`.
    pub periods_skipped: u64,
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
}

pub struct Accumulator {
    settings: AccumulatorSettings,
    pricing: Pricing,
    counters: HashMap<CounterKey, CounterValue>,
    gauges: HashMap<GaugeKey, GaugeValue>,
    scopes: HashMap<String, ScopeState>,
    /// (catalog key, token type) of tokens counted without a price.
    unpriced: BTreeSet<(String, TokenType)>,
    /// Catalog keys of priced models seen, for `llm_model_price_usd_per_token`.
    priced: BTreeSet<String>,
    stats: AccumulatorStats,
}

impl Accumulator {
    pub fn new(settings: AccumulatorSettings, pricing: Pricing) -> Self {
        Accumulator {
            settings,
            pricing,
            counters: HashMap::new(),
            gauges: HashMap::new(),
            scopes: HashMap::new(),
            unpriced: BTreeSet::new(),
            priced: BTreeSet::new(),
            stats: AccumulatorStats::default(),
        }
    }

    /// The window the next poll of `scope` must fetch: from the horizon (or `now - lookback`
    /// for a new scope), no further back than `max_backfill`, to the end of the current period.
    pub fn window(&self, scope: &str, now: i64, period: i64) -> Window {
        let lookback_start = align_down(now - self.settings.lookback_secs, period);
        let oldest_allowed = align_down(now - self.settings.max_backfill_secs, period);
        let start = match self.scopes.get(scope) {
            Some(s) => s.horizon.max(oldest_allowed),
            None => lookback_start,
        };
        Window {
            start,
            end: align_down(now, period) + period,
            period,
        }
    }

    /// Applies one successful poll of `scope` over `window`, fetched at `now`.
    pub fn apply(
        &mut self,
        scope: &str,
        window: Window,
        samples: &[Sample],
        now: i64,
    ) -> ApplyReport {
        let baseline = !self.scopes.contains_key(scope);
        let mut state = self.scopes.remove(scope).unwrap_or(ScopeState {
            horizon: window.start,
            seen: HashMap::new(),
        });
        if window.start > state.horizon {
            // The outage outlasted max_backfill: these periods are given up.
            let skipped = (window.start - state.horizon) / window.period.max(1);
            self.stats.periods_skipped += skipped as u64;
            tracing::warn!(
                scope,
                skipped_periods = skipped,
                "outage longer than max_backfill: periods skipped"
            );
            state.horizon = window.start;
        }
        let mut report = ApplyReport {
            baseline,
            ..ApplyReport::default()
        };

        for sample in samples {
            // Before the horizon a period is final: already counted, or forgotten.
            if sample.period_start < state.horizon
                || !sample.value.is_finite()
                || sample.value < 0.0
            {
                continue;
            }
            let metric = match &sample.kind {
                SampleKind::Tokens(t) => CounterMetric::Tokens(*t),
                SampleKind::Invocations => CounterMetric::Invocations,
                SampleKind::Errors(e) => CounterMetric::Errors(*e),
                SampleKind::Latency { kind, stat } => {
                    self.set_gauge(*kind, stat, sample, window.period, now, &mut report);
                    continue;
                }
            };
            let key = CounterKey {
                metric,
                labels: sample.labels.clone(),
            };
            let revision = RevisionKey {
                key: key.clone(),
                provisioned: sample.billing == Billing::Provisioned,
            };
            let seen = state.seen.entry(revision.clone()).or_default();
            let delta = match seen.get(&sample.period_start) {
                None => sample.value,
                Some(&old) if sample.value > old => {
                    self.stats.late_data += 1;
                    sample.value - old
                }
                Some(&old) => {
                    if sample.value < old {
                        self.stats.downward_revisions += 1;
                    }
                    continue;
                }
            };
            seen.insert(sample.period_start, sample.value);
            let delta = if baseline { 0.0 } else { delta };
            if self.add(&key, delta, &mut report) {
                if let CounterMetric::Tokens(t) = key.metric {
                    self.add_cost(&key.labels, t, sample, delta, &mut report);
                }
                if delta > 0.0 {
                    report.counted_periods += 1;
                }
            } else {
                // Refused by the cardinality cap: forget the period so it counts if room
                // appears later.
                state.seen.remove(&revision);
            }
        }

        // Periods older than the lookback are final from now on.
        let horizon =
            align_down(now - self.settings.lookback_secs, window.period).max(state.horizon);
        state.horizon = horizon;
        for periods in state.seen.values_mut() {
            periods.retain(|&p, _| p >= horizon);
        }
        state.seen.retain(|_, periods| !periods.is_empty());
        // A latency gauge older than the lookback would describe traffic that stopped.
        self.gauges.retain(|_, g| g.period_start >= horizon);
        self.scopes.insert(scope.to_string(), state);
        report
    }

    /// Adds `delta` to a counter, creating it (at zero plus delta) if there is room. Returns
    /// false when the cap refused a new series.
    fn add(&mut self, key: &CounterKey, delta: f64, report: &mut ApplyReport) -> bool {
        if let Some(c) = self.counters.get_mut(key) {
            c.total += delta;
            return true;
        }
        if self.series() >= self.settings.max_series {
            self.stats.series_dropped += 1;
            return false;
        }
        let tenant = self.tenant_of(&key.labels);
        self.counters.insert(
            key.clone(),
            CounterValue {
                total: delta,
                tenant,
            },
        );
        report.new_series += 1;
        true
    }

    fn add_cost(
        &mut self,
        labels: &SeriesLabels,
        t: TokenType,
        sample: &Sample,
        tokens: f64,
        report: &mut ApplyReport,
    ) {
        if sample.billing == Billing::Provisioned {
            return;
        }
        match self.pricing.price(&sample.price_key, t) {
            Some(price) => {
                self.priced.insert(sample.price_key.clone());
                let key = CounterKey {
                    metric: CounterMetric::Cost(t),
                    labels: labels.clone(),
                };
                self.add(&key, tokens * price, report);
            }
            None => {
                if !self.unpriced.contains(&(sample.price_key.clone(), t)) {
                    tracing::warn!(model = %sample.price_key, token_type = t.as_str(), "no price in the catalog: tokens counted, cost not estimated");
                    self.unpriced.insert((sample.price_key.clone(), t));
                }
            }
        }
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
            labels: sample.labels.clone(),
        };
        if let Some(g) = self.gauges.get_mut(&key) {
            if sample.period_start >= g.period_start {
                g.period_start = sample.period_start;
                g.value = sample.value;
            }
            return;
        }
        if self.series() >= self.settings.max_series {
            self.stats.series_dropped += 1;
            return;
        }
        let tenant = self.tenant_of(&sample.labels);
        self.gauges.insert(
            key,
            GaugeValue {
                period_start: sample.period_start,
                value: sample.value,
                tenant,
            },
        );
        report.new_series += 1;
    }

    fn tenant_of(&self, labels: &SeriesLabels) -> String {
        let value = |k: &str| match k {
            "cloud" => self.settings.cloud.clone(),
            "account" => labels.account.clone(),
            "region" => labels.region.clone(),
            "model" => labels.model.clone(),
            "deployment" => labels.deployment.clone(),
            _ => String::new(),
        };
        self.settings
            .tenants
            .iter()
            .find(|t| t.matches(value))
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }

    /// Usage series held (counters and gauges), compared against `max_series`.
    pub fn series(&self) -> usize {
        self.counters.len() + self.gauges.len()
    }

    pub fn counters(&self) -> &HashMap<CounterKey, CounterValue> {
        &self.counters
    }

    pub fn gauges(&self) -> &HashMap<GaugeKey, GaugeValue> {
        &self.gauges
    }

    pub fn unpriced(&self) -> &BTreeSet<(String, TokenType)> {
        &self.unpriced
    }

    pub fn priced(&self) -> &BTreeSet<String> {
        &self.priced
    }

    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    pub fn stats(&self) -> &AccumulatorStats {
        &self.stats
    }

    pub fn cloud(&self) -> &str {
        &self.settings.cloud
    }

    pub fn has_tenants(&self) -> bool {
        !self.settings.tenants.is_empty()
    }

    /// The total of one counter, for tests and logs.
    pub fn total(&self, metric: &CounterMetric, labels: &SeriesLabels) -> Option<f64> {
        self.counters
            .get(&CounterKey {
                metric: metric.clone(),
                labels: labels.clone(),
            })
            .map(|c| c.total)
    }

    /// The state file's content: counters and revision state.
    pub fn state_bytes(&self) -> Vec<u8> {
        let state = StateFile {
            version: STATE_VERSION,
            cloud: self.settings.cloud.clone(),
            counters: self
                .counters
                .iter()
                .map(|(k, v)| SavedCounter {
                    key: k.clone(),
                    total: v.total,
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

    /// Writes the state file (see [`write_atomically`]).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        write_atomically(path, &self.state_bytes())
    }

    /// Loads state written by [`save`](Self::save). A missing file is a first start (Ok(false));
    /// an unreadable or foreign one is an error, because starting over would silently reset
    /// counters.
    pub fn restore(&mut self, path: &Path) -> Result<bool, StateError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StateError::new(path, e)),
        };
        let state: StateFile = serde_json::from_slice(&text).map_err(|e| {
            StateError::new(
                path,
                format!("not a valid state file ({e}); move it away to start over"),
            )
        })?;
        if state.version != STATE_VERSION {
            return Err(StateError::new(
                path,
                format!("state version {} is not {STATE_VERSION}", state.version),
            ));
        }
        if state.cloud != self.settings.cloud {
            return Err(StateError::new(
                path,
                format!(
                    "it belongs to the {} exporter, not {}",
                    state.cloud, self.settings.cloud
                ),
            ));
        }
        for saved in state.counters {
            let tenant = self.tenant_of(&saved.key.labels);
            self.counters.insert(
                saved.key,
                CounterValue {
                    total: saved.total,
                    tenant,
                },
            );
        }
        self.scopes = state.scopes.into_iter().collect();
        Ok(true)
    }
}

const STATE_VERSION: u32 = 1;

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`, so
/// a crash mid-write leaves the previous state intact.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| StateError::new(path, e))
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    cloud: String,
    counters: Vec<SavedCounter>,
    scopes: BTreeMap<String, ScopeState>,
}

#[derive(Serialize, Deserialize)]
struct SavedCounter {
    key: CounterKey,
    total: f64,
}

/// JSON maps need string keys; revision state is saved as a list instead.
mod revisions_as_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    type Revisions = HashMap<RevisionKey, BTreeMap<i64, f64>>;

    pub fn serialize<S: Serializer>(map: &Revisions, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<(&RevisionKey, Vec<(i64, f64)>)> = map
            .iter()
            .map(|(k, v)| (k, v.iter().map(|(p, x)| (*p, *x)).collect()))
            .collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Revisions, D::Error> {
        let list: Vec<(RevisionKey, Vec<(i64, f64)>)> = Vec::deserialize(d)?;
        Ok(list
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {message}")]
pub struct StateError {
    pub path: String,
    pub message: String,
}

impl StateError {
    fn new(path: &Path, message: impl std::fmt::Display) -> Self {
        StateError {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Sample;

    const P: i64 = 60;
    const T0: i64 = 1_790_000_040; // a whole minute (divisible by 60)

    fn acc() -> Accumulator {
        acc_with(50_000)
    }

    fn acc_with(max_series: usize) -> Accumulator {
        Accumulator::new(
            AccumulatorSettings {
                cloud: "aws".into(),
                lookback_secs: 600,
                max_backfill_secs: 3 * 3600,
                max_series,
                tenants: Vec::new(),
            },
            Pricing::load("aws", None).unwrap(),
        )
    }

    const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

    fn labels(model: &str) -> SeriesLabels {
        SeriesLabels {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            model: model.into(),
            deployment: String::new(),
        }
    }

    fn input(period: i64, value: f64) -> Sample {
        Sample::new(
            labels(MODEL),
            SampleKind::Tokens(TokenType::Input),
            period,
            value,
        )
    }

    fn input_total(a: &Accumulator) -> f64 {
        a.total(&CounterMetric::Tokens(TokenType::Input), &labels(MODEL))
            .unwrap_or(f64::NAN)
    }

    /// Polls `scope` at `now` with `samples`, as the poller does.
    fn poll(a: &mut Accumulator, now: i64, samples: &[Sample]) -> ApplyReport {
        let w = a.window("s", now, P);
        let inside: Vec<Sample> = samples
            .iter()
            .filter(|s| s.period_start >= w.start && s.period_start < w.end)
            .cloned()
            .collect();
        a.apply("s", w, &inside, now)
    }

    #[test]
    fn cold_start_takes_what_exists_as_baseline() {
        let mut a = acc();
        let r = poll(
            &mut a,
            T0 + 30,
            &[
                input(T0 - 120, 100.0),
                input(T0 - 60, 50.0),
                input(T0, 10.0),
            ],
        );
        assert!(r.baseline);
        // The series exists at zero from the first scrape, so rate() sees its first increase.
        assert_eq!(input_total(&a), 0.0);
        // What arrives after the baseline counts: the current minute grows, a new minute appears.
        poll(
            &mut a,
            T0 + 45,
            &[
                input(T0 - 120, 100.0),
                input(T0 - 60, 50.0),
                input(T0, 25.0),
            ],
        );
        assert_eq!(input_total(&a), 15.0);
        poll(
            &mut a,
            T0 + 75,
            &[input(T0 - 60, 50.0), input(T0, 30.0), input(T0 + 60, 7.0)],
        );
        assert_eq!(input_total(&a), 27.0);
    }

    fn started(now: i64) -> Accumulator {
        let mut a = acc();
        poll(&mut a, now, &[]);
        a
    }

    #[test]
    fn late_data_adds_only_the_difference() {
        let mut a = started(T0);
        poll(&mut a, T0 + 15, &[input(T0, 10.0)]);
        assert_eq!(input_total(&a), 10.0);
        // The same period seen again with the same value: nothing added.
        poll(&mut a, T0 + 30, &[input(T0, 10.0)]);
        assert_eq!(input_total(&a), 10.0);
        // Three minutes later CloudWatch has converged to a larger value.
        poll(&mut a, T0 + 200, &[input(T0, 16.0)]);
        assert_eq!(input_total(&a), 16.0);
        assert_eq!(a.stats().late_data, 1);
    }

    #[test]
    fn downward_revision_is_never_subtracted() {
        let mut a = started(T0);
        poll(&mut a, T0 + 15, &[input(T0, 40.0)]);
        poll(&mut a, T0 + 30, &[input(T0, 35.0)]);
        assert_eq!(input_total(&a), 40.0);
        assert_eq!(a.stats().downward_revisions, 1);
        // Climbing back to the old maximum adds nothing; beyond it adds the excess only.
        poll(&mut a, T0 + 45, &[input(T0, 40.0)]);
        assert_eq!(input_total(&a), 40.0);
        poll(&mut a, T0 + 50, &[input(T0, 42.0)]);
        assert_eq!(input_total(&a), 42.0);
    }

    #[test]
    fn outage_then_backfill_loses_nothing_and_counts_nothing_twice() {
        let mut a = started(T0);
        poll(&mut a, T0 + 30, &[input(T0, 5.0)]);
        // 40 minutes without a successful poll (nothing applied). Meanwhile T0 grew to 8 and
        // 40 new minutes of 1 token each arrived. The window reaches back to the horizon.
        let now = T0 + 40 * 60 + 30;
        let w = a.window("s", now, P);
        assert_eq!(
            w.start,
            align_down(T0 + 30 - 600, P),
            "backfill from the horizon"
        );
        let mut samples = vec![input(T0, 8.0)];
        for m in 1..=40 {
            samples.push(input(T0 + m * 60, 1.0));
        }
        poll(&mut a, now, &samples);
        assert_eq!(input_total(&a), 8.0 + 40.0);
        // The next poll sees the same recent minutes again: nothing is added twice.
        poll(&mut a, now + 15, &samples);
        assert_eq!(input_total(&a), 48.0);
    }

    #[test]
    fn backfill_stops_at_max_backfill() {
        let mut a = started(T0);
        let now = T0 + 5 * 3600;
        let w = a.window("s", now, P);
        assert_eq!(w.start, align_down(now - 3 * 3600, P));
        poll(&mut a, now, &[input(w.start, 2.0)]);
        assert_eq!(input_total(&a), 2.0);
        assert!(a.stats().periods_skipped > 100);
    }

    #[test]
    fn periods_expire_after_the_lookback() {
        let mut a = started(T0);
        poll(&mut a, T0 + 30, &[input(T0, 5.0)]);
        // 11.5 minutes later T0 is still inside the window (the horizon was set at T0+30
        // minus the lookback), so its revision counts; then the horizon passes it.
        let now = T0 + 11 * 60 + 30;
        poll(&mut a, now, &[input(T0, 9.0)]);
        assert_eq!(input_total(&a), 9.0);
        let w = a.window("s", now + 15, P);
        assert!(w.start > T0, "T0 has been forgotten");
        // Even if a cloud returned it again, a forgotten period is final.
        a.apply("s", w, &[input(T0, 12.0)], now + 15);
        assert_eq!(input_total(&a), 9.0);
    }

    #[test]
    fn restart_with_state_file_neither_loses_nor_double_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.state");
        let mut a = started(T0);
        poll(&mut a, T0 + 30, &[input(T0, 10.0), input(T0 + 60, 0.0)]);
        poll(&mut a, T0 + 75, &[input(T0, 12.0), input(T0 + 60, 4.0)]);
        assert_eq!(input_total(&a), 16.0);
        a.save(&path).unwrap();

        // Five minutes down. On restart: T0 grew to 13 (late), T0+60 unchanged, and three new
        // minutes of 2 tokens arrived.
        let mut b = acc();
        assert!(b.restore(&path).unwrap());
        assert_eq!(
            input_total(&b),
            16.0,
            "counters come back before the first poll"
        );
        let now = T0 + 6 * 60;
        let samples = [
            input(T0, 13.0),
            input(T0 + 60, 4.0),
            input(T0 + 120, 2.0),
            input(T0 + 180, 2.0),
            input(T0 + 240, 2.0),
        ];
        let r = poll(&mut b, now, &samples);
        assert!(!r.baseline, "restored scopes are not a new baseline");
        assert_eq!(input_total(&b), 16.0 + 1.0 + 6.0);
        // Cost restored and continued exactly: 23 input tokens at $3/M.
        let cost = b
            .total(&CounterMetric::Cost(TokenType::Input), &labels(MODEL))
            .unwrap();
        assert!((cost - 23.0 * 3.0e-6).abs() < 1e-12, "{cost}");
    }

    #[test]
    fn restore_refuses_corrupt_or_foreign_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.state");
        assert!(
            !acc().restore(&path).unwrap(),
            "missing file is a first start"
        );
        std::fs::write(&path, b"{not json").unwrap();
        let e = acc().restore(&path).unwrap_err().to_string();
        assert!(
            e.contains("x.state") && e.contains("not a valid state file"),
            "{e}"
        );
        let gcp = Accumulator::new(
            AccumulatorSettings {
                cloud: "gcp".into(),
                lookback_secs: 600,
                max_backfill_secs: 3600,
                max_series: 10,
                tenants: vec![],
            },
            Pricing::load("gcp", None).unwrap(),
        );
        gcp.save(&path).unwrap();
        assert!(acc()
            .restore(&path)
            .unwrap_err()
            .to_string()
            .contains("gcp exporter"));
    }

    #[test]
    fn cost_is_counted_with_tokens_and_not_invented() {
        let mut a = started(T0);
        let unknown = Sample::new(
            labels("acme.secret-model-v1"),
            SampleKind::Tokens(TokenType::Input),
            T0,
            1000.0,
        );
        let mut provisioned = input(T0, 1000.0);
        provisioned.labels.deployment = "ptu".into();
        provisioned.billing = Billing::Provisioned;
        let out = Sample::new(
            labels(MODEL),
            SampleKind::Tokens(TokenType::Output),
            T0,
            2000.0,
        );
        poll(
            &mut a,
            T0 + 30,
            &[input(T0, 1_000_000.0), out, unknown, provisioned.clone()],
        );
        let cost = |m: &str, t| a.total(&CounterMetric::Cost(t), &labels(m));
        assert_eq!(cost(MODEL, TokenType::Input), Some(3.0));
        assert!((cost(MODEL, TokenType::Output).unwrap() - 0.03).abs() < 1e-12);
        assert_eq!(cost("acme.secret-model-v1", TokenType::Input), None);
        assert_eq!(
            a.total(
                &CounterMetric::Tokens(TokenType::Input),
                &labels("acme.secret-model-v1")
            ),
            Some(1000.0)
        );
        assert!(a
            .unpriced()
            .contains(&("acme.secret-model-v1".to_string(), TokenType::Input)));
        assert_eq!(
            a.total(
                &CounterMetric::Tokens(TokenType::Input),
                &provisioned.labels
            ),
            Some(1000.0)
        );
        assert_eq!(
            a.total(&CounterMetric::Cost(TokenType::Input), &provisioned.labels),
            None
        );
    }

    #[test]
    fn provisioned_and_pay_as_you_go_parts_of_one_series_are_revised_apart() {
        let mut a = started(T0);
        let mut dedicated = input(T0, 600.0);
        dedicated.billing = Billing::Provisioned;
        poll(&mut a, T0 + 30, &[input(T0, 1000.0), dedicated.clone()]);
        assert_eq!(input_total(&a), 1600.0, "both parts count into one series");
        let cost = |a: &Accumulator| {
            a.total(&CounterMetric::Cost(TokenType::Input), &labels(MODEL))
                .unwrap()
        };
        assert!(
            (cost(&a) - 1000.0 * 3.0e-6).abs() < 1e-12,
            "only the pay-as-you-go part is priced"
        );
        // Each part grows on its own; neither is mistaken for a revision of the other.
        dedicated.value = 700.0;
        poll(&mut a, T0 + 45, &[input(T0, 1000.0), dedicated]);
        assert_eq!(input_total(&a), 1700.0);
        assert!((cost(&a) - 1000.0 * 3.0e-6).abs() < 1e-12);
    }

    #[test]
    fn cardinality_cap_drops_new_series_only() {
        let mut a = acc_with(2);
        poll(&mut a, T0, &[]);
        let s = |m: &str| Sample::new(labels(m), SampleKind::Invocations, T0, 1.0);
        poll(&mut a, T0 + 30, &[s("a"), s("b"), s("c")]);
        assert_eq!(a.series(), 2);
        assert_eq!(a.stats().series_dropped, 1);
        let inv = |m: &str| a.total(&CounterMetric::Invocations, &labels(m));
        assert_eq!((inv("a"), inv("b"), inv("c")), (Some(1.0), Some(1.0), None));
    }

    #[test]
    fn latency_gauge_keeps_the_newest_complete_period() {
        let mut a = started(T0);
        let lat = |p: i64, v: f64| {
            Sample::new(
                labels(MODEL),
                SampleKind::Latency {
                    kind: LatencyKind::Invocation,
                    stat: "avg".into(),
                },
                p,
                v,
            )
        };
        poll(
            &mut a,
            T0 + 70,
            &[lat(T0 - 60, 1.5), lat(T0, 2.5), lat(T0 + 60, 9.0)],
        );
        let g = a.gauges().values().next().unwrap();
        assert_eq!(
            (g.period_start, g.value),
            (T0, 2.5),
            "the partial minute T0+60 is not used"
        );
        // Traffic stops: after the lookback the gauge disappears instead of going stale.
        poll(&mut a, T0 + 20 * 60, &[]);
        assert!(a.gauges().is_empty());
    }

    #[test]
    fn tenants_label_matching_series() {
        let mut a = Accumulator::new(
            AccumulatorSettings {
                cloud: "aws".into(),
                lookback_secs: 600,
                max_backfill_secs: 3600,
                max_series: 100,
                tenants: crate::config::Config::parse(
                    "tenants:\n  - {name: search, match: {model: 'anthropic\\..*'}}\n",
                    "t",
                )
                .unwrap()
                .tenant_matchers(),
            },
            Pricing::load("aws", None).unwrap(),
        );
        poll(&mut a, T0, &[]);
        poll(
            &mut a,
            T0 + 30,
            &[
                input(T0, 1.0),
                Sample::new(labels("meta.llama"), SampleKind::Invocations, T0, 1.0),
            ],
        );
        let tenant = |m: &str, metric: CounterMetric| {
            a.counters()[&CounterKey {
                metric,
                labels: labels(m),
            }]
                .tenant
                .clone()
        };
        assert_eq!(
            tenant(MODEL, CounterMetric::Tokens(TokenType::Input)),
            "search"
        );
        assert_eq!(
            tenant(MODEL, CounterMetric::Cost(TokenType::Input)),
            "search"
        );
        assert_eq!(tenant("meta.llama", CounterMetric::Invocations), "");
    }

    #[test]
    fn scopes_keep_their_own_horizon() {
        let mut a = acc();
        let w = a.window("east", T0, P);
        a.apply("east", w, &[], T0);
        let w = a.window("west", T0, P);
        a.apply("west", w, &[], T0);
        // West keeps failing for 30 minutes while east polls fine.
        for i in 1..=120 {
            let now = T0 + i * 15;
            let w = a.window("east", now, P);
            a.apply("east", w, &[], now);
        }
        let now = T0 + 30 * 60;
        assert_eq!(a.window("west", now, P).start, align_down(T0 - 600, P));
        assert_eq!(a.window("east", now, P).start, align_down(now - 600, P));
    }
}
