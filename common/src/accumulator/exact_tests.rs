//! Exact counting whatever happens to labels, discovery, the clock, restarts and the
//! cardinality cap. Each test names the miscount it guards against.

use super::*;
use crate::source::Sample;

pub(super) const P: i64 = 60;
pub(super) const T0: i64 = 1_790_000_040;

pub(super) fn at(wall: i64) -> Now {
    Now {
        wall,
        uptime: wall - T0 + 100_000,
    }
}

pub(super) fn settings(max_series: usize) -> AccumulatorSettings {
    AccumulatorSettings {
        cloud: "azure".into(),
        lookback_secs: 600,
        max_backfill_secs: 3 * 3600,
        max_series,
        tenants: Vec::new(),
        zero_hold_secs: 15,
        series_ttl_secs: 86_400,
        max_value_per_minute: 1e12,
    }
}

pub(super) fn acc() -> Accumulator {
    Accumulator::new(settings(50_000), Pricing::load("azure", None).unwrap())
}

pub(super) fn labels(model: &str, deployment: &str) -> SeriesLabels {
    SeriesLabels {
        account: "sub".into(),
        region: "eastus".into(),
        model: model.into(),
        deployment: deployment.into(),
        billing: Default::default(),
    }
}

pub(super) fn tokens(series: &str, l: &SeriesLabels, period: i64, value: f64) -> Sample {
    let mut s = Sample::new(
        series,
        l.clone(),
        SampleKind::Tokens(TokenType::Input),
        period,
        value,
    );
    s.price_keys = vec![l.model.clone()];
    s
}

/// Input tokens counted, summed over every label set.
pub(super) fn counted(a: &Accumulator) -> f64 {
    a.counters()
        .iter()
        .filter(|(k, _)| k.metric == CounterMetric::Tokens(TokenType::Input))
        .map(|(_, v)| v.counted())
        .sum()
}

/// One poll as the poller makes it: samples of series the scope knows from the window's
/// start, of new ones from its backfill start.
pub(super) fn poll(a: &mut Accumulator, scope: &str, now: Now, samples: &[Sample]) -> Window {
    let w = a.window(scope, now, P);
    assert!(w.start < w.end, "inverted window {w:?}");
    let inside: Vec<Sample> = samples
        .iter()
        .filter(|s| s.period_start >= w.backfill_start && s.period_start < w.end)
        .cloned()
        .collect();
    a.apply(scope, w, &inside, now);
    w
}

/// Revision state is keyed by the cloud series, not by its labels: keyed by labels, the open
/// minute would count again when the deployment's model resolves after the ARM listing
/// catches up (10,000 reported, 20,000 counted).
#[test]
fn a_label_change_of_one_cloud_series_never_counts_a_minute_twice() {
    let mut a = acc();
    let id = "/subscriptions/sub/.../accounts/acct|chat";
    poll(&mut a, "s", at(T0), &[]);
    // Unknown to the cached listing: labelled with the deployment name.
    let early = labels("chat", "chat");
    poll(
        &mut a,
        "s",
        at(T0 + 30),
        &[tokens(id, &early, T0, 10_000.0)],
    );
    assert_eq!(counted(&a), 10_000.0);
    // The listing catches up: same cloud series, same minute, now labelled gpt-4o.
    let resolved = labels("gpt-4o", "chat");
    poll(
        &mut a,
        "s",
        at(T0 + 45),
        &[tokens(id, &resolved, T0, 10_000.0)],
    );
    assert_eq!(counted(&a), 10_000.0, "the minute is not counted again");
    // Later growth goes to the new labels; what was counted stays where it was.
    poll(
        &mut a,
        "s",
        at(T0 + 60),
        &[tokens(id, &resolved, T0, 12_000.0)],
    );
    assert_eq!(counted(&a), 12_000.0);
    let under = |l: &SeriesLabels| a.total(&CounterMetric::Tokens(TokenType::Input), l);
    assert_eq!(
        (under(&early), under(&resolved)),
        (Some(10_000.0), Some(2_000.0))
    );
    // A model replaced under the same deployment name: the same rule.
    let replaced = labels("gpt-4.1", "chat");
    poll(
        &mut a,
        "s",
        at(T0 + 75),
        &[
            tokens(id, &replaced, T0, 12_500.0),
            tokens(id, &replaced, T0 + 60, 100.0),
        ],
    );
    assert_eq!(counted(&a), 12_600.0);
}

/// A series discovery lists late (ListMetrics can lag 15 minutes) is counted from its first
/// minute, including the minutes older than the lookback by the time it is listed.
#[test]
fn a_series_discovered_late_is_counted_from_its_first_minute() {
    let mut a = acc();
    let known = labels("gpt-4o", "chat");
    poll(
        &mut a,
        "s",
        at(T0),
        &[tokens("known", &known, T0 - 60, 5.0)],
    );
    // A new model is used every minute from T0 on, but discovery lists it only 20 minutes
    // later; meanwhile the known series is polled normally.
    let new = labels("o3", "reasoning");
    let usage: Vec<Sample> = (0..20)
        .map(|m| tokens("new", &new, T0 + m * 60, 7.0))
        .collect();
    for i in 1..80 {
        poll(
            &mut a,
            "s",
            at(T0 + i * 15),
            &[tokens("known", &known, T0 - 60, 5.0)],
        );
    }
    let w = poll(&mut a, "s", at(T0 + 20 * 60 + 5), &usage);
    assert!(
        w.backfill_start <= T0,
        "the backfill reaches the start: {w:?}"
    );
    assert_eq!(counted(&a), 20.0 * 7.0);
    assert_eq!(a.stats().late_series, 1);
    // Fetched again from the backfill start (a restart, the next poll): nothing twice.
    poll(&mut a, "s", at(T0 + 20 * 60 + 20), &usage);
    assert_eq!(counted(&a), 20.0 * 7.0);
    assert_eq!(a.stats().periods_skipped.get(SKIP_LATE_DISCOVERY), None);
}

/// A clock ahead for a while must not leave the horizon in the future: once the clock is
/// corrected, windows would be inverted and nothing would count until real time caught up.
#[test]
fn a_clock_ahead_for_a_while_never_stops_counting_nor_counts_twice() {
    let mut a = acc();
    let l = labels("gpt-4o", "chat");
    let two_hours = 7_200;
    poll(&mut a, "s", at(T0), &[]);
    let mut cloud = Vec::new();
    // Real time runs 40 polls of 15 s; for polls 10..30 the host clock is two hours ahead.
    for i in 1..=40 {
        let real = T0 + i * 15;
        cloud.push(tokens("id", &l, align_down(real - 1, P), 1.0 + i as f64));
        let wall = if (10..30).contains(&i) {
            real + two_hours
        } else {
            real
        };
        let now = Now {
            wall,
            uptime: real - T0 + 100_000,
        };
        // The cloud reports each minute's latest value.
        let latest: Vec<Sample> = latest_per_minute(&cloud);
        poll(&mut a, "s", now, &latest);
        if i == 29 {
            // Counting went on while the clock was wrong.
            assert!(counted(&a) > 0.0);
        }
    }
    let truth: f64 = latest_per_minute(&cloud).iter().map(|s| s.value).sum();
    assert_eq!(counted(&a), truth);
}

fn latest_per_minute(cloud: &[Sample]) -> Vec<Sample> {
    let mut by_minute: BTreeMap<i64, Sample> = BTreeMap::new();
    for s in cloud {
        let e = by_minute.entry(s.period_start).or_insert_with(|| s.clone());
        e.value = e.value.max(s.value);
    }
    by_minute.into_values().collect()
}

/// A state file written under a clock ahead holds a horizon in the future: restored as is,
/// the next windows would start after they end and nothing would count.
#[test]
fn a_state_file_with_a_horizon_in_the_future_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("azure.state");
    let l = labels("gpt-4o", "chat");
    let future = T0 + 3 * 3600;
    let mut a = acc();
    poll(&mut a, "s", at(T0 - 600), &[]);
    poll(
        &mut a,
        "s",
        Now {
            wall: future,
            uptime: 100_100,
        },
        &[tokens("id", &l, T0 - 300, 4.0)],
    );
    a.save(&path, at(T0)).unwrap();
    let before = counted(&a);

    let mut b = acc();
    assert!(b
        .restore(
            &path,
            Now {
                wall: T0 + 60,
                uptime: 0
            }
        )
        .unwrap());
    let samples = [tokens("id", &l, T0 - 300, 4.0), tokens("id", &l, T0, 9.0)];
    let w = poll(
        &mut b,
        "s",
        Now {
            wall: T0 + 60,
            uptime: 0,
        },
        &samples,
    );
    assert!(w.start <= T0, "{w:?}");
    assert_eq!(b.stats().clock_repairs, 1);
    assert_eq!(
        counted(&b),
        before + 9.0,
        "the new minute counts, the old one not again"
    );
}

/// A token series admitted while its cost series is refused would lose that cost for good:
/// the cardinality cap admits or refuses the two together.
#[test]
fn a_series_and_its_cost_are_admitted_or_refused_together() {
    let mut s = settings(1);
    s.series_ttl_secs = 3 * 3600;
    let mut a = Accumulator::new(s, Pricing::load("azure", None).unwrap());
    poll(&mut a, "s", at(T0), &[]);
    let priced = labels("gpt-4o", "a");
    let other = labels("gpt-4o", "b");
    poll(
        &mut a,
        "s",
        at(T0 + 30),
        &[
            tokens("a", &priced, T0, 1_000_000.0),
            tokens("b", &other, T0, 500.0),
        ],
    );
    let cost =
        |a: &Accumulator, l: &SeriesLabels| a.total(&CounterMetric::Cost(TokenType::Input), l);
    assert_eq!(
        cost(&a, &priced),
        Some(2.5),
        "the cost came with its tokens"
    );
    assert_eq!(cost(&a, &other), None);
    assert_eq!(
        a.total(&CounterMetric::Tokens(TokenType::Input), &other),
        None
    );
    assert_eq!(a.stats().series_dropped, 1);
    // The refused minute was not recorded as seen: once the first series has gone idle and
    // freed its slot, the refused one counts in full (a restart's backfill, here).
    a.publish(at(T0 + 3 * 3600 + 60));
    a.shown(at(T0 + 3 * 3600 + 60));
    a.publish(at(T0 + 3 * 3600 + 120));
    assert_eq!(a.series(), 0);
    poll(
        &mut a,
        "s",
        at(T0 + 3 * 3600 + 130),
        &[tokens("b", &other, T0 + 3 * 3600, 500.0)],
    );
    assert_eq!(
        a.total(&CounterMetric::Tokens(TokenType::Input), &other),
        Some(500.0)
    );
    assert_eq!(cost(&a, &other), Some(500.0 * 2.5e-6));
}

/// A new counter is published at 0 first, so Prometheus' increase() sees its first poll
/// (increase() ignores the first sample of a series).
#[test]
fn a_new_counter_shows_zero_before_its_first_increase() {
    let mut a = acc();
    let l = labels("gpt-4o", "chat");
    poll(&mut a, "s", at(T0), &[]);
    poll(&mut a, "s", at(T0 + 15), &[tokens("id", &l, T0, 100.0)]);
    a.publish(at(T0 + 15));
    let key = CounterKey {
        metric: CounterMetric::Tokens(TokenType::Input),
        labels: Arc::new(l.clone()),
    };
    assert_eq!(a.counters()[&key].total, 0.0, "published at zero first");
    a.shown(at(T0 + 15));
    poll(&mut a, "s", at(T0 + 30), &[tokens("id", &l, T0, 150.0)]);
    a.publish(at(T0 + 30));
    assert_eq!(
        a.counters()[&key].total,
        0.0,
        "out for less than zero_hold (seconds are whole: from T0 + 16)"
    );
    a.shown(at(T0 + 30));
    a.publish(at(T0 + 45));
    assert_eq!(a.counters()[&key].total, 150.0);
}

/// A series with no data for series_ttl frees its slot and leaves the exposition.
#[test]
fn an_idle_counter_is_dropped_after_series_ttl() {
    let mut s = settings(10);
    s.series_ttl_secs = 3 * 3600;
    let mut a = Accumulator::new(s, Pricing::load("azure", None).unwrap());
    let l = labels("gpt-4o", "chat");
    poll(&mut a, "s", at(T0), &[]);
    poll(&mut a, "s", at(T0 + 15), &[tokens("id", &l, T0, 100.0)]);
    a.publish(at(T0 + 15));
    a.shown(at(T0 + 15));
    a.publish(at(T0 + 3 * 3600));
    assert_eq!(a.series(), 1, "not idle long enough");
    a.publish(at(T0 + 3 * 3600 + 60));
    assert_eq!(a.series(), 0);
    assert!(a.counters().is_empty(), "its cost series went with it");
}

/// Version 1 state files (revision state keyed by labels) are upgraded: counters kept, each
/// scope's first poll re-baselines the open minutes instead of counting them again.
#[test]
fn a_version_1_state_file_keeps_its_counters_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.state");
    let l = labels("gpt-4o", "chat");
    let v1 = serde_json::json!({
        "version": 1,
        "cloud": "azure",
        "counters": [{"key": {"metric": {"tokens": "input"}, "labels": l}, "total": 40.0}],
        "scopes": {"s": {"horizon": T0 - 600, "seen": []}},
    });
    std::fs::write(&path, serde_json::to_vec(&v1).unwrap()).unwrap();
    let mut a = acc();
    assert!(a.restore(&path, at(T0)).unwrap());
    assert_eq!(counted(&a), 40.0);
    poll(&mut a, "s", at(T0), &[tokens("id", &l, T0 - 60, 40.0)]);
    assert_eq!(counted(&a), 40.0, "open minutes are re-baselined");
    poll(
        &mut a,
        "s",
        at(T0 + 15),
        &[tokens("id", &l, T0 - 60, 41.0), tokens("id", &l, T0, 3.0)],
    );
    assert_eq!(counted(&a), 44.0);
}

/// Values no cloud can report are rejected and counted by reason: two values of 1.797e308
/// would drive a counter to +Inf (and the state file to null); NaN and negative values are
/// not dropped without a word; a point dated tomorrow waits for its minute.
#[test]
fn values_no_cloud_can_report_are_rejected_counted_and_counters_stay_finite() {
    let mut a = acc();
    let l = labels("gpt-4o", "chat");
    poll(&mut a, "s", at(T0), &[]);
    let w = a.window("s", at(T0 + 30), P);
    let bad = [
        tokens("id", &l, T0, 1.797e308),
        tokens("id2", &l, T0, 1.797e308),
        tokens("id3", &l, T0, f64::NAN),
        tokens("id4", &l, T0, -5.0),
        tokens("id5", &l, T0 + 86_400, 10.0),
        tokens("id6", &l, 0, 10.0),
        tokens("id7", &l, T0, 42.0),
    ];
    a.apply("s", w, &bad, at(T0 + 30));
    assert_eq!(counted(&a), 42.0);
    let r = &a.stats().rejected;
    assert_eq!(
        (
            r[REJECT_IMPLAUSIBLE],
            r[REJECT_NON_FINITE],
            r[REJECT_NEGATIVE],
            r[REJECT_FUTURE],
            r[REJECT_BEFORE_WINDOW]
        ),
        (2, 1, 1, 1, 1)
    );
    let state = String::from_utf8(a.state_bytes(at(T0 + 30))).unwrap();
    assert!(
        !state.contains("null"),
        "a state file never holds a non-finite number"
    );
    // The point dated tomorrow was held, not lost: it counts once its minute is reached.
    let later = at(T0 + 86_400 + 30);
    let w = a.window("s", later, P);
    a.apply("s", w, &[tokens("id5", &l, T0 + 86_400, 10.0)], later);
    assert_eq!(counted(&a), 52.0);
}

/// One-hour cache writes are cache_write tokens priced at their own rate, not at the
/// five-minute rate.
#[test]
fn one_hour_cache_writes_count_as_cache_write_at_their_own_rate() {
    let mut a = Accumulator::new(settings(100), Pricing::load("gcp", None).unwrap());
    let l = labels("claude-haiku-4-5", "");
    poll(&mut a, "s", at(T0), &[]);
    let write = |t: TokenType, v: f64| {
        let mut s = Sample::new("id", l.clone(), SampleKind::Tokens(t), T0, v);
        s.price_keys = vec!["claude-haiku-4-5@20251001".into()];
        s
    };
    poll(
        &mut a,
        "s",
        at(T0 + 30),
        &[
            write(TokenType::CacheWrite, 1_000_000.0),
            write(TokenType::CacheWrite1h, 1_000_000.0),
        ],
    );
    let tokens = a.total(&CounterMetric::Tokens(TokenType::CacheWrite), &l);
    let cost = a
        .total(&CounterMetric::Cost(TokenType::CacheWrite), &l)
        .unwrap();
    assert_eq!(
        tokens,
        Some(2_000_000.0),
        "both tiers are cache_write tokens"
    );
    assert!(
        (cost - (1.25 + 2.0)).abs() < 1e-9,
        "each tier at its own rate: {cost}"
    );
}

/// A state file written by --demo is refused by a real run: loaded, its fake series (74)
/// would be served and saved again.
#[test]
fn a_demo_state_file_is_refused_by_a_real_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("azure.state");
    let mut demo = acc();
    demo.set_demo(true);
    poll(&mut demo, "s", at(T0), &[]);
    demo.save(&path, at(T0)).unwrap();
    let e = acc().restore(&path, at(T0)).unwrap_err().to_string();
    assert!(
        e.contains("written by a demo run") && e.contains("azure.state"),
        "{e}"
    );
    let mut demo_again = acc();
    demo_again.set_demo(true);
    assert!(demo_again.restore(&path, at(T0)).unwrap());
}
