//! A property test of idle watching against the real accumulator: one model whose traffic
//! starts at any second (before or after a probe, between polls, across a restart through the
//! state file, before ListMetrics lists the model), with every datapoint published up to three minutes late and in parts (a
//! minute's value grows after it was first read), at any budget slowdown. Every invocation and
//! token is counted exactly once, and idle minutes cost one probe a minute.

use std::collections::{BTreeMap, BTreeSet};

use common::accumulator::{Accumulator, AccumulatorSettings, CounterMetric, Now};
use common::pricing::Pricing;
use common::source::{align_down, Sample, SampleKind, SeriesLabels, TokenType, Window};
use proptest::prelude::*;

use super::*;

const P: i64 = 60;
const T0: i64 = 1_790_000_040;
const POLL: i64 = 15;
const LOOKBACK: i64 = 600;
const MODEL: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
/// The probe metric and the rest, as source.rs reads them.
const INVOCATIONS: &str = "Invocations";
const INPUT: &str = "InputTokenCount";

fn pricing() -> Pricing {
    static P: std::sync::OnceLock<Pricing> = std::sync::OnceLock::new();
    P.get_or_init(|| Pricing::load("aws", None).unwrap())
        .clone()
}

fn settings() -> AccumulatorSettings {
    AccumulatorSettings {
        cloud: "aws".into(),
        lookback_secs: LOOKBACK,
        max_backfill_secs: 3 * 3600,
        max_series: 1000,
        tenants: Vec::new(),
        zero_hold_secs: 15,
        series_ttl_secs: 86_400,
        max_value_per_minute: 1e12,
    }
}

/// One part of one minute of one metric, visible from `visible_at` on.
#[derive(Clone, Debug)]
struct Point {
    metric: &'static str,
    minute: i64,
    value: f64,
    visible_at: i64,
}

struct Harness {
    acc: Accumulator,
    dir: tempfile::TempDir,
    real: i64,
    started: i64,
    watch: Watch,
    /// Metrics fetched in full by this process (source.rs `fetched`).
    fetched: BTreeSet<&'static str>,
    points: Vec<Point>,
    pace: Pace,
    /// When ListMetrics first lists the model (it can lag 15 minutes).
    listed_at: i64,
    /// Metrics requested, per kind of ask.
    probes: u64,
    fulls: u64,
}

impl Harness {
    fn now(&self) -> Now {
        Now {
            wall: self.real,
            uptime: self.real - self.started,
        }
    }

    /// What GetMetricData's `Sum` per minute returns for `metric` over `[start, end)` now.
    fn query(&self, metric: &str, start: i64, end: i64) -> Vec<(i64, f64)> {
        let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
        for p in &self.points {
            if p.metric == metric && p.visible_at <= self.real && (start..end).contains(&p.minute) {
                *sums.entry(p.minute).or_default() += p.value;
            }
        }
        sums.into_iter().collect()
    }

    /// One poll of the scope, as `BedrockSource::fetch` does it for one model.
    fn poll(&mut self) {
        let now = self.now();
        let w: Window = self.acc.window("s", now, P);
        if self.real < self.listed_at {
            self.acc.apply("s", w, &[], now);
            return;
        }
        let ask = self.watch.ask(MODEL, self.real, w.start, self.pace);
        let start = |h: &Harness, metric| query_start(w, h.fetched.contains(metric));
        let mut full = ask == Ask::Full;
        if ask == Ask::Probe {
            let points = self.query(INVOCATIONS, start(self, INVOCATIONS), w.end);
            self.probes += 1;
            full = self
                .watch
                .probed(MODEL, self.real, newest_traffic(&points, P));
        }
        let mut samples = Vec::new();
        if full {
            let mut traffic = None;
            for (metric, kind) in [
                (INVOCATIONS, SampleKind::Invocations),
                (INPUT, SampleKind::Tokens(TokenType::Input)),
            ] {
                let points = self.query(metric, start(self, metric), w.end);
                self.fulls += 1;
                traffic = traffic.max(newest_traffic(&points, P));
                let labels = SeriesLabels {
                    model: MODEL.into(),
                    ..SeriesLabels::default()
                };
                samples.extend(
                    points
                        .into_iter()
                        .map(|(t, v)| Sample::new(MODEL, labels.clone(), kind.clone(), t, v)),
                );
                self.fetched.insert(metric);
            }
            self.watch.fetched(MODEL, self.real, traffic);
        }
        self.acc.apply("s", w, &samples, now);
    }

    fn restart(&mut self, down: i64) {
        let path = self.dir.path().join("s.state");
        self.acc.save(&path, self.now()).unwrap();
        self.real += down;
        self.started = self.real;
        self.acc = Accumulator::new(settings(), pricing());
        assert!(self.acc.restore(&path, self.now()).unwrap());
        self.watch = Watch::default();
        self.fetched.clear();
    }

    fn counted(&self, metric: CounterMetric) -> f64 {
        self.acc
            .counters()
            .iter()
            .filter(|(k, _)| k.metric == metric)
            .map(|(_, v)| v.counted())
            .sum()
    }
}

/// A minute of traffic: (minute after start-up, invocations, input tokens, and for each of
/// the two metrics its two parts' publication delays in seconds).
type Minute = (i64, u8, u16, [i64; 4]);

fn minute() -> impl Strategy<Value = Minute> {
    (
        1..40i64,
        1..5u8,
        1..2000u16,
        [0..180i64, 0..180, 0..180, 0..180],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn traffic_starting_at_any_moment_is_counted_once(
        offset in 0..60i64,
        traffic in proptest::collection::vec(minute(), 0..6),
        restarts in proptest::collection::vec((0..240usize, 15..200i64), 0..3),
        factor in prop_oneof![Just(1.0f64), 1.0..100.0],
        listing_lag in prop_oneof![Just(0i64), 0..1200i64],
    ) {
        let real = T0 + offset;
        let mut h = Harness {
            acc: Accumulator::new(settings(), pricing()),
            dir: tempfile::tempdir().unwrap(),
            real,
            started: real,
            watch: Watch::default(),
            fetched: BTreeSet::new(),
            points: Vec::new(),
            pace: Pace::at(POLL, 60, LOOKBACK / 2, factor),
            listed_at: real + listing_lag,
            probes: 0,
            fulls: 0,
        };
        // Traffic starts after the baseline poll's minute (what the cloud reports at start-up
        // is the baseline, not counted).
        let first = align_down(real, P) + P;
        let (mut invocations, mut tokens) = (0.0, 0.0);
        for (m, inv, tok, delays) in &traffic {
            let minute = first + m * P;
            let (inv, tok) = (f64::from(*inv), f64::from(*tok));
            invocations += inv;
            tokens += tok;
            // Each metric published in two parts: the minute grows after it is first read.
            let parts = [
                (INVOCATIONS, inv.floor() / 2.0, delays[0]),
                (INVOCATIONS, inv - inv.floor() / 2.0, delays[1]),
                (INPUT, (tok / 2.0).floor(), delays[2]),
                (INPUT, tok - (tok / 2.0).floor(), delays[3]),
            ];
            for (metric, value, delay) in parts {
                if value > 0.0 {
                    h.points.push(Point { metric, minute, value, visible_at: minute + P + delay });
                }
            }
        }
        // 60 minutes of polls every 15 s, with restarts.
        for tick in 0..240usize {
            if let Some((_, down)) = restarts.iter().find(|(at, _)| *at == tick) {
                h.restart(*down);
            }
            h.poll();
            h.real += POLL;
        }
        prop_assert_eq!(h.counted(CounterMetric::Invocations), invocations);
        prop_assert_eq!(h.counted(CounterMetric::Tokens(TokenType::Input)), tokens);
        if traffic.is_empty() && restarts.is_empty() && factor == 1.0 && listing_lag == 0 {
            // Idle: one metric a minute, never the rest.
            prop_assert_eq!(h.fulls, 0);
            prop_assert!(h.probes <= 61, "{} probes in 60 minutes", h.probes);
        }
    }
}

#[test]
fn the_budget_slows_idle_models_first_then_the_rest() {
    let normal = Pace::at(15, 60, 300, 1.0);
    assert_eq!((normal.full_every, normal.probe_every), (15, 60));
    let idle_slowed = Pace::at(15, 60, 300, 5.0);
    assert_eq!((idle_slowed.full_every, idle_slowed.probe_every), (15, 300));
    let both = Pace::at(15, 60, 300, 10.0);
    assert_eq!((both.full_every, both.probe_every), (30, 300));
    let max = Pace::max_factor(15, 60, 300);
    assert_eq!(max, 100.0);
    let slowest = Pace::at(15, 60, 300, max * 10.0);
    assert_eq!((slowest.full_every, slowest.probe_every), (300, 300));
}

#[test]
fn an_idle_model_is_probed_once_a_minute_and_fetched_in_full_when_traffic_shows() {
    let pace = Pace::at(15, 60, 300, 1.0);
    let mut w = Watch::default();
    assert_eq!(w.ask("m", 1000, 400, pace), Ask::Probe, "never seen");
    assert!(!w.probed("m", 1000, None));
    assert_eq!(w.ask("m", 1015, 415, pace), Ask::Nothing);
    assert_eq!(w.ask("m", 1060, 460, pace), Ask::Probe);
    assert!(w.probed("m", 1060, Some(960)), "traffic: fetch in full now");
    w.fetched("m", 1060, Some(960));
    assert_eq!(w.ask("m", 1075, 475, pace), Ask::Full, "in use");
    // Its traffic minute leaves the open window: idle again.
    assert_eq!(w.ask("m", 1575, 1020, pace), Ask::Probe);
    w.retain(|_| false);
    assert_eq!(w.ask("m", 1590, 1020, pace), Ask::Probe, "forgotten");
}
