//! The accumulator's rules, one test each.

use super::*;
use crate::source::{Billing, BillingMode, Sample};

const P: i64 = 60;
const T0: i64 = 1_790_000_040; // a whole minute (divisible by 60)

/// A clock reading at `wall`, with a monotonic clock that agrees with it.
fn at(wall: i64) -> Now {
    Now {
        wall,
        uptime: wall - T0 + 100_000,
    }
}

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
            zero_hold_secs: 15,
            series_ttl_secs: 86_400,
            max_value_per_minute: 1e12,
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
        billing: Billing::default(),
    }
}

fn input(period: i64, value: f64) -> Sample {
    Sample::new(
        MODEL,
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
    let w = a.window("s", at(now), P);
    let inside: Vec<Sample> = samples
        .iter()
        .filter(|s| s.period_start >= w.start && s.period_start < w.end)
        .cloned()
        .collect();
    a.apply("s", w, &inside, at(now))
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
    let w = a.window("s", at(now), P);
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
    let w = a.window("s", at(now), P);
    assert_eq!(w.start, align_down(now - 3 * 3600, P));
    poll(&mut a, now, &[input(w.start, 2.0)]);
    assert_eq!(input_total(&a), 2.0);
    assert!(a.stats().periods_skipped[SKIP_OUTAGE] > 100);
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
    let w = a.window("s", at(now + 15), P);
    assert!(w.start > T0, "T0 has been forgotten");
    // Even if a cloud returned it again, a forgotten period is final.
    a.apply("s", w, &[input(T0, 12.0)], at(now + 15));
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
    a.save(&path, at(T0)).unwrap();

    // Five minutes down. On restart: T0 grew to 13 (late), T0+60 unchanged, and three new
    // minutes of 2 tokens arrived.
    let mut b = acc();
    assert!(b.restore(&path, at(T0)).unwrap());
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
        !acc().restore(&path, at(T0)).unwrap(),
        "missing file is a first start"
    );
    std::fs::write(&path, b"{not json").unwrap();
    let e = acc().restore(&path, at(T0)).unwrap_err().to_string();
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
            zero_hold_secs: 15,
            series_ttl_secs: 86_400,
            max_value_per_minute: 1e12,
        },
        Pricing::load("gcp", None).unwrap(),
    );
    gcp.save(&path, at(T0)).unwrap();
    assert!(acc()
        .restore(&path, at(T0))
        .unwrap_err()
        .to_string()
        .contains("gcp exporter"));
}

#[test]
fn cost_is_counted_with_tokens_and_not_invented() {
    let mut a = started(T0);
    let unknown = Sample::new(
        "acme.secret-model-v1",
        labels("acme.secret-model-v1"),
        SampleKind::Tokens(TokenType::Input),
        T0,
        1000.0,
    );
    let mut provisioned = input(T0, 1000.0);
    provisioned.series = "ptu".into();
    provisioned.labels.deployment = "ptu".into();
    provisioned.labels.billing.mode = BillingMode::Provisioned;
    let out = Sample::new(
        MODEL,
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
        .contains(&("acme.secret-model-v1".to_string(), "input")));
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
fn cardinality_cap_drops_new_series_only() {
    let mut a = acc_with(2);
    poll(&mut a, T0, &[]);
    let s = |m: &str| Sample::new(m, labels(m), SampleKind::Invocations, T0, 1.0);
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
            MODEL,
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
            zero_hold_secs: 15,
            series_ttl_secs: 86_400,
            max_value_per_minute: 1e12,
        },
        Pricing::load("aws", None).unwrap(),
    );
    poll(&mut a, T0, &[]);
    poll(
        &mut a,
        T0 + 30,
        &[
            input(T0, 1.0),
            Sample::new(
                "meta.llama",
                labels("meta.llama"),
                SampleKind::Invocations,
                T0,
                1.0,
            ),
        ],
    );
    let tenant = |m: &str, metric: CounterMetric| {
        a.counters()[&CounterKey {
            metric,
            labels: Arc::new(labels(m)),
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
    let w = a.window("east", at(T0), P);
    a.apply("east", w, &[], at(T0));
    let w = a.window("west", at(T0), P);
    a.apply("west", w, &[], at(T0));
    // West keeps failing for 30 minutes while east polls fine.
    for i in 1..=120 {
        let now = T0 + i * 15;
        let w = a.window("east", at(now), P);
        a.apply("east", w, &[], at(now));
    }
    let now = T0 + 30 * 60;
    assert_eq!(a.window("west", at(now), P).start, align_down(T0 - 600, P));
    assert_eq!(a.window("east", at(now), P).start, align_down(now - 600, P));
}

/// The price gauge carries the usage series' labels, not catalog keys
/// (`llm_model_price_usd_per_token{model="eu.anthropic..."}`) that no usage series has:
/// otherwise `llm_tokens_total * llm_model_price_usd_per_token` would match nothing on Azure
/// and GCP, and one model priced two ways (a geo profile, an Azure SKU) would have one price.
#[test]
fn each_token_series_has_its_own_price_with_its_own_labels() {
    const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
    let mut a = started(T0);
    let plain = labels(HAIKU);
    let mut profile = labels(HAIKU);
    profile.deployment = "eu-app".into();
    let mut geo = Sample::new(
        "arn:profile/eu-app",
        profile.clone(),
        SampleKind::Tokens(TokenType::Input),
        T0,
        2000.0,
    );
    geo.price_keys = vec![format!("eu.{HAIKU}")];
    let base = Sample::new(
        HAIKU,
        plain.clone(),
        SampleKind::Tokens(TokenType::Input),
        T0,
        1000.0,
    );
    poll(&mut a, T0 + 30, &[base.clone(), geo.clone()]);
    let text = crate::exposition::UsageRenderer::new(&crate::config::Config::default()).render(&a);
    let lines = |name: &str| -> Vec<(String, f64)> {
        text.lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                let (labels, v) = l.rsplit_once(' ').unwrap();
                (labels.to_string(), v.parse().unwrap())
            })
            .collect()
    };
    let prices = lines("llm_model_price_usd_per_token");
    let tokens = lines("llm_tokens_total");
    assert_eq!(tokens.len(), 2, "{text}");
    // The documented join, one to one on every label: each token series finds its price.
    for (labels, _) in &tokens {
        assert!(
            prices.iter().any(|(l, _)| l == labels),
            "no price with the labels {labels} in:\n{text}"
        );
    }
    let price_of = |deployment: &str| {
        prices
            .iter()
            .find(|(l, _)| {
                l.contains(&format!("deployment=\"{deployment}\""))
                    && l.contains("token_type=\"input\"")
            })
            .map(|(_, v)| *v)
    };
    assert_eq!(price_of(""), Some(1e-6), "{text}");
    assert_eq!(price_of("eu-app"), Some(1.1e-6), "the eu geo rate, {text}");
    // The join gives what the cost counter counted.
    let cost = a
        .total(&CounterMetric::Cost(TokenType::Input), &profile)
        .unwrap();
    assert!((cost - 2000.0 * 1.1e-6).abs() < 1e-15);
}
