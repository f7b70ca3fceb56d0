//! Billing modes: each series priced as the cloud bills it, and counted once whatever mode it
//! is billed in.

use std::io::Write;

use super::*;
use crate::exposition::UsageRenderer;
use crate::source::{Billing, BillingMode, Sample, PROVISIONED_PART};

const P: i64 = 60;
const T0: i64 = 1_790_000_040;
const MODEL: &str = "m";

fn at(wall: i64) -> Now {
    Now {
        wall,
        uptime: wall - T0 + 100_000,
    }
}

/// A pricing file for cloud `aws`; the bundled catalog stays underneath.
fn prices(yaml: &str) -> (tempfile::NamedTempFile, Pricing) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(yaml.as_bytes()).unwrap();
    let p = Pricing::load("aws", Some(f.path())).unwrap();
    (f, p)
}

const PRICES: &str = "models:\n  aws:\n    m:\n      input: 1.0e-6\n      output: 2.0e-6\n      batch: {input: 4.0e-7}\n      above_200k: {input: 2.0e-6}\n      regional_uplift: 1.1\n      provisioned_usd_per_unit_hour: 2.0\n";

fn acc(pricing: Pricing) -> Accumulator {
    let mut a = Accumulator::new(
        AccumulatorSettings {
            cloud: "aws".into(),
            lookback_secs: 600,
            max_backfill_secs: 3 * 3600,
            max_series: 50_000,
            tenants: Vec::new(),
            zero_hold_secs: 0,
            series_ttl_secs: 86_400,
            max_value_per_minute: 1e12,
        },
        pricing,
    );
    // The baseline poll: nothing there yet, so everything after it counts.
    poll(&mut a, T0, &[]);
    a
}

fn labels(mode: BillingMode) -> SeriesLabels {
    SeriesLabels {
        account: "a".into(),
        region: "r".into(),
        model: MODEL.into(),
        deployment: "d".into(),
        billing: Billing::mode(mode),
    }
}

fn tokens(l: &SeriesLabels, t: TokenType, period: i64, value: f64) -> Sample {
    Sample::new(MODEL, l.clone(), SampleKind::Tokens(t), period, value)
}

fn poll(a: &mut Accumulator, now: i64, samples: &[Sample]) {
    let w = a.window("s", at(now), P);
    a.apply("s", w, samples, at(now));
}

fn total(a: &Accumulator, metric: CounterMetric) -> f64 {
    a.counters()
        .iter()
        .filter(|(k, _)| k.metric == metric)
        .map(|(_, v)| v.counted())
        .sum()
}

fn cost(a: &Accumulator) -> f64 {
    total(a, CounterMetric::Cost(TokenType::Input))
}

#[test]
fn a_series_re_created_under_another_billing_mode_counts_its_open_minutes_once() {
    let (_f, p) = prices(PRICES);
    let mut a = acc(p.clone());
    let standard = labels(BillingMode::Standard);
    let provisioned = labels(BillingMode::Provisioned);
    poll(
        &mut a,
        T0 + 30,
        &[tokens(&standard, TokenType::Input, T0, 10_000.0)],
    );
    // The deployment is re-created as provisioned; the cloud reports the same minute again.
    poll(
        &mut a,
        T0 + 45,
        &[tokens(&provisioned, TokenType::Input, T0, 10_000.0)],
    );
    assert_eq!(total(&a, CounterMetric::Tokens(TokenType::Input)), 10_000.0);
    assert!((cost(&a) - 0.01).abs() < 1e-12);

    // And back: provisioned first, then standard for the same minute invents no cost.
    let mut a = acc(p);
    poll(
        &mut a,
        T0 + 30,
        &[tokens(&provisioned, TokenType::Input, T0, 10_000.0)],
    );
    poll(
        &mut a,
        T0 + 45,
        &[tokens(&standard, TokenType::Input, T0, 10_000.0)],
    );
    assert_eq!(total(&a, CounterMetric::Tokens(TokenType::Input)), 10_000.0);
    assert_eq!(cost(&a), 0.0);
}

#[test]
fn each_mode_is_priced_at_its_own_rate() {
    let (_f, p) = prices(PRICES);
    let mut a = acc(p);
    let mut long = labels(BillingMode::Standard);
    long.billing.long_context = true;
    let mut regional = labels(BillingMode::Standard);
    regional.billing.regional = true;
    regional.deployment = "regional".into();
    let mut parts = vec![
        (labels(BillingMode::Batch), 0.4),
        (labels(BillingMode::Flex), 0.5),
        (labels(BillingMode::Priority), 1.75),
        (labels(BillingMode::Reserved), 0.0),
        (long, 2.0),
        (regional, 1.1),
    ];
    for (i, (l, _)) in parts.iter_mut().enumerate() {
        // One cloud series per part: a tier is reported as a series of its own.
        l.account = format!("part-{i}");
    }
    let samples: Vec<Sample> = parts
        .iter()
        .map(|(l, _)| {
            let mut s = tokens(l, TokenType::Input, T0, 1_000_000.0);
            s.series = l.account.clone();
            s
        })
        .collect();
    poll(&mut a, T0 + 30, &samples);
    for (l, usd) in &parts {
        let got = a
            .total(&CounterMetric::Cost(TokenType::Input), l)
            .unwrap_or(0.0);
        assert!((got - usd).abs() < 1e-9, "{:?}: {got} != {usd}", l.billing);
        assert_eq!(
            a.total(&CounterMetric::Tokens(TokenType::Input), l),
            Some(1_000_000.0),
            "tokens are counted in every mode"
        );
    }
    // The price gauge shows the rate each series is counted at, with its labels.
    let text = UsageRenderer::new(&crate::config::Config::default()).render(&a);
    let price = text
        .lines()
        .find(|l| {
            l.starts_with("llm_model_price_usd_per_token{")
                && l.contains("billing_mode=\"batch\"")
                && l.contains("token_type=\"input\"")
        })
        .expect("a price for the batch series");
    assert!(price.ends_with(" 0.0000004"), "{price}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("llm_model_price_usd_per_token{")
                && l.contains("billing_mode=\"reserved\"")),
        "reserved tokens have no per-token price"
    );
}

#[test]
fn a_price_added_by_a_reload_is_used_from_the_next_poll() {
    let mut a = acc(Pricing::load("aws", None).unwrap());
    let l = SeriesLabels {
        model: "corp.new-model".into(),
        ..labels(BillingMode::Standard)
    };
    let sample = |period, v| {
        let mut s = tokens(&l, TokenType::Input, period, v);
        s.price_keys = vec!["us.corp.new-model".into(), "corp.new-model".into()];
        s
    };
    poll(&mut a, T0 + 30, &[sample(T0, 1_000_000.0)]);
    assert_eq!(cost(&a), 0.0, "no price yet: counted, not priced");
    let (_f, p) = prices("models:\n  aws:\n    corp.new-model: {input: 1.0e-6}\n");
    a.reconfigure(Vec::new(), p);
    poll(
        &mut a,
        T0 + 90,
        &[sample(T0, 1_000_000.0), sample(T0 + 60, 1_000_000.0)],
    );
    assert!((cost(&a) - 1.0).abs() < 1e-12, "{}", cost(&a));
}

#[test]
fn provisioned_capacity_costs_its_hours_and_its_tokens_are_not_priced_again() {
    let (_f, p) = prices(PRICES);
    let mut a = acc(p);
    let ptu = labels(BillingMode::Provisioned);
    // 100 units for one minute, twice (two minutes).
    let hours = |period| {
        let mut s = Sample::new(
            format!("d{PROVISIONED_PART}"),
            ptu.clone(),
            SampleKind::CapacityUnitHours,
            period,
            100.0 * 60.0 / 3600.0,
        );
        s.price_keys = vec![MODEL.into()];
        s
    };
    poll(
        &mut a,
        T0 + 90,
        &[
            hours(T0),
            hours(T0 + 60),
            tokens(&ptu, TokenType::Input, T0, 5_000.0),
        ],
    );
    // Polled again: the same minutes are not counted twice.
    poll(&mut a, T0 + 100, &[hours(T0), hours(T0 + 60)]);
    let unit_hours = total(&a, CounterMetric::CapacityUnitHours);
    assert!((unit_hours - 200.0 / 60.0).abs() < 1e-9, "{unit_hours}");
    let usd = total(&a, CounterMetric::CapacityCost);
    assert!((usd - 2.0 * 200.0 / 60.0).abs() < 1e-9, "{usd}");
    assert_eq!(total(&a, CounterMetric::Tokens(TokenType::Input)), 5_000.0);
    assert_eq!(cost(&a), 0.0);
    // A new counter shows 0 in one exposition first, then its value.
    a.publish(at(T0 + 200));
    a.shown(at(T0 + 200));
    a.publish(at(T0 + 300));
    let text = UsageRenderer::new(&crate::config::Config::default()).render(&a);
    assert!(text.contains("llm_estimated_cost_usd_total{cloud=\"aws\",account=\"a\",region=\"r\",model=\"m\",deployment=\"d\",billing_mode=\"provisioned\",context=\"standard\",token_type=\"provisioned\"} 6.66"), "{text}");
    // Exported in the base unit: 200 unit-minutes are 12,000 unit-seconds.
    let seconds = text
        .lines()
        .find(|l| l.starts_with("llm_provisioned_unit_seconds_total{"))
        .expect("capacity seconds");
    assert!(seconds.ends_with(" 12000"), "{seconds}");
}
