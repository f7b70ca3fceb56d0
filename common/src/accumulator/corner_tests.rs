//! Counting at the corners: a poll slower than `poll_interval`, a scope created while the
//! exporter restarts, a clock stepped back over a series already forgotten, and an upgrade
//! from a version-1 state file. Each test names the miscount it guards against.

use super::exact_tests::{acc, at, counted, labels, poll, tokens, T0};
use super::*;

/// A reading of the clocks of a process started at `started` (wall and monotonic agree).
fn since_start(started: i64, wall: i64) -> Now {
    Now {
        wall,
        uptime: wall - started,
    }
}

fn input_of(a: &Accumulator, l: &SeriesLabels) -> Option<f64> {
    a.total(&CounterMetric::Tokens(TokenType::Input), l)
}

fn published(a: &Accumulator, l: &SeriesLabels) -> f64 {
    a.counters()[&CounterKey {
        metric: CounterMetric::Tokens(TokenType::Input),
        labels: Arc::new(l.clone()),
    }]
        .total
}

/// The zero hold runs from when the zero went out, not from the start of the poll that
/// counted: from the poll's start, a poll longer than `poll_interval` (1.5 s of getBatch
/// against a 1 s interval on the real binary) would publish a new counter at its full value in
/// its very first exposition, and `increase()` would lose that value.
#[test]
fn a_slow_poll_still_shows_a_new_counter_at_zero_first() {
    let mut a = acc();
    let l = labels("gpt-4o", "chat");
    poll(&mut a, "s", at(T0), &[]);
    // The poll starts at T0 + 15 and its answer arrives 20 s later (zero_hold is 15 s).
    poll(&mut a, "s", at(T0 + 15), &[tokens("id", &l, T0, 100.0)]);
    a.publish(at(T0 + 35));
    assert_eq!(
        published(&a, &l),
        0.0,
        "the first exposition holding the counter shows it at 0"
    );
    a.shown(at(T0 + 35));
    a.publish(at(T0 + 45));
    assert_eq!(published(&a, &l), 0.0, "the zero stays out for zero_hold");
    a.shown(at(T0 + 45));
    a.publish(at(T0 + 51));
    assert_eq!(published(&a, &l), 100.0);
}

/// A baseline creates its counters at 0; growth counted before any exposition went out waits
/// for that zero, else it would go straight into the published value and Prometheus would
/// never see the zero.
#[test]
fn growth_before_a_baseline_counter_was_ever_published_waits_for_its_zero() {
    let mut a = acc();
    let l = labels("gpt-4o", "chat");
    poll(&mut a, "s", at(T0), &[tokens("id", &l, T0 - 60, 7.0)]);
    poll(&mut a, "s", at(T0 + 15), &[tokens("id", &l, T0, 5.0)]);
    a.publish(at(T0 + 15));
    assert_eq!(published(&a, &l), 0.0);
    // The state file could not be written: that exposition never went out (no `shown`).
    a.publish(at(T0 + 45));
    assert_eq!(published(&a, &l), 0.0, "its zero was never out");
    a.shown(at(T0 + 45));
    a.publish(at(T0 + 61));
    assert_eq!(published(&a, &l), 5.0);
}

/// A scope absent from the restored state (an Azure account created while the exporter
/// restarts) is not a baseline: as one, its 5,000 tokens would be recorded and 0 counted.
#[test]
fn a_scope_created_while_the_exporter_restarts_counts_from_its_first_minute() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("azure.state");
    let old = labels("gpt-4o", "chat");
    let mut a = acc();
    poll(&mut a, "sub/rg/old", at(T0), &[]);
    poll(
        &mut a,
        "sub/rg/old",
        at(T0 + 60),
        &[tokens("old", &old, T0, 10.0)],
    );
    a.save(&path, at(T0 + 60)).unwrap();

    // Down for four minutes; meanwhile the account `new` is created and used.
    let started = T0 + 300;
    let mut b = acc();
    assert!(b.restore(&path, since_start(started, started)).unwrap());
    let new = SeriesLabels {
        account: "new".into(),
        ..labels("gpt-4o", "chat")
    };
    let used = [
        tokens("new", &new, T0 + 120, 3_000.0),
        tokens("new", &new, T0 + 180, 2_000.0),
    ];
    let w = poll(
        &mut b,
        "sub/rg/new",
        since_start(started, started + 15),
        &used,
    );
    assert!(w.start <= T0 + 60, "fetched back to the last save: {w:?}");
    assert_eq!(input_of(&b, &new), Some(5_000.0));
    // And it goes on as any scope: the next minute counts, nothing twice.
    let mut more = used.to_vec();
    more.push(tokens("new", &new, T0 + 300, 1.0));
    poll(
        &mut b,
        "sub/rg/new",
        since_start(started, started + 75),
        &more,
    );
    assert_eq!(input_of(&b, &new), Some(5_001.0));
}

/// Upgrading from a state file kept per subscription to scopes per account (`<subscription>/
/// ...`): the restored subscription scope counted these minutes already, so each account
/// scope's first poll stays a baseline.
#[test]
fn a_scope_split_from_a_restored_one_is_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("azure.state");
    let l = labels("gpt-4o", "chat");
    let mut a = acc();
    poll(&mut a, "sub", at(T0), &[]);
    poll(&mut a, "sub", at(T0 + 60), &[tokens("acct", &l, T0, 10.0)]);
    a.save(&path, at(T0 + 60)).unwrap();
    let mut b = acc();
    assert!(b.restore(&path, since_start(T0 + 120, T0 + 120)).unwrap());
    let w = b.window("sub/rg/acct", since_start(T0 + 120, T0 + 125), 60);
    let r = b.apply(
        "sub/rg/acct",
        w,
        &[tokens("acct", &l, T0, 10.0)],
        since_start(T0 + 120, T0 + 125),
    );
    assert!(r.baseline);
    assert_eq!(counted(&b), 10.0, "counted once, under the old scope");
}

/// A clock that runs ahead long enough makes an idle series "unreachable" and it is
/// forgotten; when NTP steps the clock back, the repaired window reaches its minute again,
/// which must not count a second time (1,000 tokens, not 2,000).
#[test]
fn a_clock_stepped_back_never_counts_a_forgotten_series_again() {
    let mut a = acc();
    let l = labels("gpt-4o", "chat");
    poll(&mut a, "s", at(T0), &[]);
    poll(
        &mut a,
        "s",
        at(T0 + 120),
        &[tokens("id", &l, T0 + 60, 1_000.0)],
    );
    assert_eq!(counted(&a), 1_000.0);
    // The wall clock jumps 2.5 h ahead; the trusted clock follows at most 10 % faster than
    // real time, so after 2 h 50 min it is 17 min ahead and the idle series is forgotten.
    let ahead = |real: i64| Now {
        wall: real + 9_000,
        uptime: at(real).uptime,
    };
    let mut real = T0 + 120;
    while real < T0 + 10_200 {
        real += 600;
        poll(&mut a, "s", ahead(real), &[]);
    }
    // NTP steps the clock back: the minute is within max_backfill of real time again.
    let w = poll(
        &mut a,
        "s",
        at(real + 60),
        &[tokens("id", &l, T0 + 60, 1_000.0)],
    );
    assert!(w.start <= T0 + 60, "the repaired window reaches it: {w:?}");
    assert_eq!(counted(&a), 1_000.0);
    assert_eq!(a.stats().clock_repairs, 1);
    // A series the scope never saw still counts in that repaired window.
    let other = labels("gpt-4.1", "chat");
    poll(
        &mut a,
        "s",
        at(real + 75),
        &[tokens("other", &other, real - 60, 5.0)],
    );
    assert_eq!(input_of(&a, &other), Some(5.0));
}

/// A version-1 scope's first poll counts the minutes reported while the exporter was down;
/// re-baselining every minute of that poll would count 40 of the 440 tokens.
#[test]
fn a_version_1_upgrade_counts_the_minutes_reported_while_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.state");
    let l = labels("gpt-4o", "chat");
    // Version 1's last poll ran at T0 (its horizon is that poll's time minus the lookback)
    // and had counted 40 tokens.
    let v1 = serde_json::json!({
        "version": 1,
        "cloud": "azure",
        "counters": [{"key": {"metric": {"tokens": "input"}, "labels": l}, "total": 40.0}],
        "scopes": {"s": {"horizon": T0 - 600, "seen": []}},
    });
    std::fs::write(&path, serde_json::to_vec(&v1).unwrap()).unwrap();
    let started = T0 + 45 * 60;
    let mut a = acc();
    assert!(a.restore(&path, since_start(started, started)).unwrap());
    // Down 45 minutes: 40 minutes of 10 tokens each were reported meanwhile.
    let mut samples = vec![tokens("id", &l, T0 - 60, 40.0)];
    samples.extend((1..=40).map(|k| tokens("id", &l, T0 + 60 * k, 10.0)));
    poll(&mut a, "s", since_start(started, started + 15), &samples);
    assert_eq!(counted(&a), 440.0);
}
