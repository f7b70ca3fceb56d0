//! Fuzzing of the state file: arbitrary bytes, and
//! mutations of a state file the accumulator itself wrote (huge, negative and non-finite
//! numbers, numbers beyond f64 as text, megabyte strings, wrong types).
//!
//! Promised: never a panic; either the file loads, and then only with finite counters that
//! the next start accepts again, or the error names `state_file` and the file and stays short.
//!
//! Bounded for CI (proptest's default of 256 cases per test); a longer run by hand:
//! `PROPTEST_CASES=20000 cargo test -p common --test common fuzz_state_file` (scripts/drills.sh).

use std::path::Path;
use std::sync::OnceLock;

use crate::fuzz_support::*;
use common::accumulator::{Accumulator, AccumulatorSettings, Now};
use common::config::Config;
use common::pricing::Pricing;
use common::source::{Sample, SampleKind, SeriesLabels, TokenType, Window};
use proptest::prelude::*;

const T0: i64 = 1_790_000_040;

fn accumulator() -> Accumulator {
    let config = Config::default();
    Accumulator::new(
        AccumulatorSettings::from_config("azure", &config),
        Pricing::load("azure", None).unwrap(),
    )
}

fn now(wall: i64) -> Now {
    Now { wall, uptime: 100 }
}

/// A state file the accumulator itself wrote after two polls of two series.
fn valid_state() -> &'static [u8] {
    static STATE: OnceLock<Vec<u8>> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut acc = accumulator();
        let labels = |m: &str| SeriesLabels {
            account: "sub".into(),
            region: "eastus".into(),
            model: m.into(),
            deployment: m.into(),
            billing: Default::default(),
        };
        for (i, t) in [T0, T0 + 60, T0 + 120].into_iter().enumerate() {
            let window = Window {
                start: t - 600,
                end: t,
                period: 60,
                backfill_start: t - 600,
            };
            let samples: Vec<Sample> = (0..3)
                .flat_map(|k| {
                    ["gpt-4o", "gpt-4.1"].map(|m| {
                        Sample::new(
                            format!("acct|{m}"),
                            labels(m),
                            SampleKind::Tokens(TokenType::Input),
                            t - 60 * (k + 1),
                            (100 * (i + 1)) as f64,
                        )
                    })
                })
                .collect();
            acc.apply("sub/rg/a", window, &samples, now(t));
            acc.publish(now(t));
            acc.shown(now(t));
        }
        acc.state_bytes(now(T0 + 120))
    })
}

fn check_state(path: &Path) -> Result<(), TestCaseError> {
    let mut acc = accumulator();
    match acc.restore(path, now(T0 + 180)) {
        Ok(_) => {
            for (key, value) in acc.counters() {
                // KNOWN (see `fuzz_finding_a_negative_counter_in_the_state_file_loads`): a
                // negative total loads; a non-finite one never may.
                prop_assert!(value.total.is_finite(), "{key:?} loaded as {}", value.total);
            }
            // What it loaded, it writes again as a file the next start accepts.
            let again = path.with_extension("again");
            acc.save(&again, now(T0 + 200)).unwrap();
            prop_assert!(accumulator().restore(&again, now(T0 + 240)).is_ok());
        }
        Err(e) => {
            // KNOWN (see `fuzz_finding_state_file_error_quotes_a_value_whole`): serde_json's
            // message quotes a bad value whole; the rest of the promise is still checked.
            let text = e.to_string();
            if text.len() >= MAX_ERROR && text.contains("not a valid state file (") {
                prop_assert!(text.starts_with("state_file "), "{}", &text[..300]);
            } else {
                assert_clear(&e, "state_file")?;
            }
        }
    }
    Ok(())
}

/// JSON mutations of the valid state file (JSON has no NaN: the hostile numbers are the
/// ones serde_json can write, plus text that is not JSON at all).
fn json_scalar() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(1.797e308)),
        Just(json!(-1.0)),
        Just(json!(-1)),
        Just(json!(null)),
        Just(json!("NaN")),
        Just(json!("Infinity")),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
        any::<i64>().prop_map(|v| json!(v)),
        any::<f64>().prop_map(|v| json!(v)),
        ".{0,12}".prop_map(|v| json!(v)),
        Just(json!(HUGE_MARK)),
    ]
}

/// The state file's JSON with its `n`-th node (depth first, modulo their number) replaced.
fn replace_json(doc: &mut serde_json::Value, n: usize, new: &serde_json::Value) {
    fn count(v: &serde_json::Value) -> usize {
        1 + match v {
            serde_json::Value::Object(m) => m.values().map(count).sum(),
            serde_json::Value::Array(a) => a.iter().map(count).sum(),
            _ => 0,
        }
    }
    fn go(v: &mut serde_json::Value, n: &mut usize, new: &serde_json::Value) -> bool {
        if *n == 0 {
            *v = new.clone();
            return true;
        }
        *n -= 1;
        match v {
            serde_json::Value::Object(m) => m.values_mut().any(|c| go(c, n, new)),
            serde_json::Value::Array(a) => a.iter_mut().any(|c| go(c, n, new)),
            _ => false,
        }
    }
    let mut n = n % count(doc);
    go(doc, &mut n, new);
}

fn mutated_state(picks: &[(usize, serde_json::Value)]) -> Vec<u8> {
    let mut doc: serde_json::Value = serde_json::from_slice(valid_state()).unwrap();
    for (n, v) in picks {
        replace_json(&mut doc, *n, v);
    }
    inflate(&serde_json::to_string(&doc).unwrap()).into_bytes()
}

proptest! {
    #[test]
    fn fuzz_state_file_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        check_state(&write(dir.path(), "s.state", &bytes))?;
    }

    #[test]
    fn fuzz_state_file_mutated(picks in prop::collection::vec((any::<usize>(), json_scalar()), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        check_state(&write(dir.path(), "s.state", &mutated_state(&picks)))?;
    }

    #[test]
    fn fuzz_state_file_textual_numbers(number in prop_oneof![
        Just("1e999".to_string()), Just("-1e999".to_string()), Just("NaN".to_string()),
        Just("-0.0".to_string()), Just("-5".to_string()), Just("1.797e308".to_string()),
        "-?[0-9]{1,400}(\\.[0-9]{0,20})?(e-?[0-9]{1,4})?",
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let text = String::from_utf8(valid_state().to_vec()).unwrap();
        // Every counter total replaced by the number as written (numbers beyond f64, which
        // serde_json never writes, only exist as text).
        let re = total_field();
        let replaced = re.replace_all(&text, format!("\"total\":{number}").as_str());
        check_state(&write(dir.path(), "s.state", replaced.as_bytes()))?;
    }
}

fn total_field() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r#""total":[-0-9.eE+]+"#).unwrap())
}

#[test]
fn fuzz_state_file_example_loads_with_its_counters() {
    let dir = tempfile::tempdir().unwrap();
    let mut acc = accumulator();
    assert!(acc
        .restore(&write(dir.path(), "s.state", valid_state()), now(T0 + 180))
        .unwrap());
    assert!(!acc.counters().is_empty());
}

// ---- what the fuzzing found (for common) ----

/// Finding for common (accumulator/state_file.rs, parse): serde_json's error quotes the bad
/// value whole (`unknown variant `xxx…``).
#[test]
fn fuzz_finding_state_file_error_quotes_a_value_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(valid_state()).unwrap();
    doc["counters"][0]["key"]["metric"] = serde_json::json!("x".repeat(TEN_MB));
    let path = write(dir.path(), "s.state", &serde_json::to_vec(&doc).unwrap());
    let e = accumulator().restore(&path, now(T0 + 180)).unwrap_err();
    assert!(
        e.to_string().len() < MAX_ERROR,
        "{} bytes",
        e.to_string().len()
    );
}

/// Finding for common (accumulator/mod.rs, restore): only non-finite totals are refused, so a
/// hand-edited or corrupted `"total": -1` loads and the counter starts below zero.
#[test]
fn fuzz_finding_a_negative_counter_in_the_state_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let text = String::from_utf8(valid_state().to_vec()).unwrap();
    let text = total_field().replace(&text, "\"total\":-1");
    let mut acc = accumulator();
    let loaded = acc.restore(
        &write(dir.path(), "s.state", text.as_bytes()),
        now(T0 + 180),
    );
    assert!(
        loaded.is_err() || acc.counters().values().all(|v| v.total >= 0.0),
        "a negative counter was loaded"
    );
}
