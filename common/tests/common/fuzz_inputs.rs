//! Fuzzing of the files a user writes for the exporters:
//! the config, the pricing file and the web config, each with arbitrary text and bytes and with
//! structure-aware mutations of a valid example (huge, negative and non-finite numbers, `1001y`
//! durations, megabyte strings, wrong types, unknown keys, deep nesting). The state file is
//! fuzzed in fuzz_state_file.rs.
//!
//! Promised: never a panic; either the file loads, or the error names the key or the file and
//! stays short (it quotes user values cut short, never a megabyte of them).
//!
//! Bounded for CI (proptest's default of 256 cases per test); a longer run by hand:
//! `PROPTEST_CASES=20000 cargo test -p common --test common fuzz_inputs` (scripts/drills.sh).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::fuzz_support::*;
use common::config::{Config, ConfigError};
use common::metrics::SelfMetrics;
use common::pricing::Pricing;
use common::source::TokenType;
use common::web_config::WebConfig;
use proptest::prelude::*;
use serde_yaml_ng::Value;
use testkit::fuzz::readme_config;

/// Values no config, pricing or web config file should hold, and some it may.
fn hostile_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(1.797e308)),
        Just(Value::from(-1)),
        Just(Value::from(-1.0e-300)),
        Just(Value::from(f64::NAN)),
        Just(Value::from(f64::INFINITY)),
        Just(Value::from(f64::NEG_INFINITY)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(0)),
        Just(Value::from("1001y")),
        Just(Value::from("0s")),
        Just(Value::from("-5m")),
        Just(Value::from("18446744073709551615s")),
        Just(Value::from("")),
        Just(Value::from("((((")),
        Just(Value::from(true)),
        Just(Value::Null),
        Just(Value::Sequence(vec![Value::from(1)])),
        "[a-z0-9.(*|]{0,20}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from(HUGE_MARK)),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the n-th scalar (depth first) with a hostile value.
    Scalar(usize, Value),
    /// Add an unknown key to the n-th mapping.
    UnknownKey(usize, String),
    /// Replace the n-th node with nesting `depth` deep.
    Nest(usize, usize),
    /// Drop the n-th mapping's first key.
    DropKey(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), hostile_scalar()).prop_map(|(n, v)| Mutation::Scalar(n, v)),
        // Short keys only: a huge one is `fuzz_finding_a_10_mb_unknown_top_level_key_…`.
        1 => (any::<usize>(), "[a-z_]{1,12}").prop_map(|(n, k)| Mutation::UnknownKey(n, k)),
        1 => (any::<usize>(), 1usize..200).prop_map(|(n, d)| Mutation::Nest(n, d)),
        1 => any::<usize>().prop_map(Mutation::DropKey),
    ]
}

/// Counts the nodes of `v` matching `pred` (depth first), or with `apply` set, applies it to
/// the `target`-th of them and stops.
fn visit(
    v: &mut Value,
    pred: &dyn Fn(&Value) -> bool,
    seen: &mut usize,
    target: usize,
    apply: &mut Option<&mut dyn FnMut(&mut Value)>,
) -> bool {
    if pred(v) {
        if *seen == target {
            if let Some(f) = apply.as_mut() {
                f(v);
                return true;
            }
        }
        *seen += 1;
    }
    match v {
        Value::Mapping(m) => m.values_mut().any(|c| visit(c, pred, seen, target, apply)),
        Value::Sequence(s) => s.iter_mut().any(|c| visit(c, pred, seen, target, apply)),
        Value::Tagged(t) => visit(&mut t.value, pred, seen, target, apply),
        _ => false,
    }
}

/// Applies `f` to the `n`-th (modulo their number) node matching `pred`.
fn at(doc: &mut Value, pred: &dyn Fn(&Value) -> bool, n: usize, f: &mut dyn FnMut(&mut Value)) {
    let mut count = 0;
    visit(doc, pred, &mut count, usize::MAX, &mut None);
    if count > 0 {
        visit(doc, pred, &mut 0, n % count, &mut Some(f));
    }
}

fn mutate(doc: &mut Value, m: &Mutation) {
    let scalar = |v: &Value| !matches!(v, Value::Mapping(_) | Value::Sequence(_));
    let mapping = |v: &Value| matches!(v, Value::Mapping(_));
    match m {
        Mutation::Scalar(n, new) => at(doc, &scalar, *n, &mut |v| *v = new.clone()),
        Mutation::UnknownKey(n, k) => at(doc, &mapping, *n, &mut |v| {
            if let Value::Mapping(map) = v {
                map.insert(Value::from(k.as_str()), Value::from(1));
            }
        }),
        Mutation::Nest(n, depth) => at(doc, &|_| true, *n, &mut |v| {
            let mut nested = Value::from(1);
            for _ in 0..*depth {
                nested = Value::Sequence(vec![nested]);
            }
            *v = nested;
        }),
        Mutation::DropKey(n) => at(doc, &mapping, *n, &mut |v| {
            if let Value::Mapping(map) = v {
                if let Some(k) = map.keys().next().cloned() {
                    map.remove(&k);
                }
            }
        }),
    }
}

fn mutated_yaml(example: &str, mutations: &[Mutation]) -> String {
    let mut doc: Value = serde_yaml_ng::from_str(example).unwrap();
    for m in mutations {
        mutate(&mut doc, m);
    }
    inflate(&serde_yaml_ng::to_string(&doc).unwrap_or_default())
}

// ---- the config (`--config.file`, and what `--config.check` runs) ----

fn check_config(path: &Path) -> Result<(), TestCaseError> {
    if let Err(e) = Config::load(path) {
        assert_clear(&e, "config file")?;
        if let ConfigError::Field { field, .. } = &e {
            prop_assert!(!field.is_empty(), "no field named: {e}");
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_config_arbitrary_text(text in ".{0,400}") {
        let dir = tempfile::tempdir().unwrap();
        check_config(&write(dir.path(), "c.yaml", text.as_bytes()))?;
    }

    #[test]
    fn fuzz_config_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        check_config(&write(dir.path(), "c.yaml", &bytes))?;
    }

    #[test]
    fn fuzz_config_mutated_readme_example(mutations in prop::collection::vec(mutation(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let text = mutated_yaml(readme_config(), &mutations);
        check_config(&write(dir.path(), "c.yaml", text.as_bytes()))?;
    }
}

#[test]
fn fuzz_config_readme_example_is_valid_and_non_utf8_names_the_file() {
    Config::parse(readme_config(), "README").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = Config::load(&write(dir.path(), "c.yaml", b"poll_interval: \xff\xfe")).unwrap_err();
    assert!(e.to_string().contains("c.yaml"), "{e}");
}

// ---- the pricing file (`pricing_file`) ----

const PRICING_EXAMPLE: &str = "source: my-contract\nversion: \"2026-01\"\nbuilt: 2026-01-01T00:00:00Z\nmodels:\n  azure:\n    gpt-4o:\n      input: 0.0000025\n      output: 0.00001\n      cache_read: 0.00000125\n  aws:\n    anthropic.claude-x:\n      input: 0.000003\n      output: 0.000015\n      cache_write: 0.00000375\n      cache_write_1h: 0.000006\n";

fn check_pricing(path: &Path) -> Result<(), TestCaseError> {
    match Pricing::load("azure", Some(path)) {
        Ok(p) => {
            for model in ["gpt-4o", "gpt-4.1"] {
                for t in TokenType::PRICED {
                    if let Some(price) = p.price(model, t) {
                        prop_assert!(price.is_finite() && price >= 0.0, "{model} {t:?}: {price}");
                    }
                }
            }
        }
        Err(e) => assert_clear(&e, "pricing_file")?,
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_pricing_arbitrary_text(text in ".{0,400}") {
        let dir = tempfile::tempdir().unwrap();
        check_pricing(&write(dir.path(), "prices.yaml", text.as_bytes()))?;
    }

    #[test]
    fn fuzz_pricing_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        check_pricing(&write(dir.path(), "prices.yaml", &bytes))?;
    }

    #[test]
    fn fuzz_pricing_mutated_example(mutations in prop::collection::vec(mutation(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let text = mutated_yaml(PRICING_EXAMPLE, &mutations);
        check_pricing(&write(dir.path(), "prices.yaml", text.as_bytes()))?;
    }
}

#[test]
fn fuzz_pricing_example_is_valid_and_a_missing_file_names_the_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = Pricing::load(
        "azure",
        Some(&write(dir.path(), "p.yaml", PRICING_EXAMPLE.as_bytes())),
    )
    .unwrap();
    assert_eq!(p.price("gpt-4o", TokenType::Input), Some(2.5e-6));
    let e = Pricing::load("azure", Some(&dir.path().join("missing.yaml"))).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("pricing_file "), "{text}");
    assert_eq!(text.matches("os error 2").count(), 1, "{text}");
}

// ---- the web config (`--web.config.file`) ----

fn web_example() -> &'static str {
    static WEB: OnceLock<String> = OnceLock::new();
    WEB.get_or_init(|| {
        // The cheapest bcrypt cost keeps 256 cases fast; the format is what is fuzzed.
        let hash = bcrypt::hash("secret", 4).unwrap();
        format!("basic_auth_users:\n  prometheus: '{hash}'\n")
    })
}

fn check_web(path: &Path) -> Result<(), TestCaseError> {
    let metrics = Arc::new(SelfMetrics::new("azure", "0"));
    if let Err(e) = WebConfig::load(path, metrics) {
        assert_clear(&e, "--web.config.file")?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_web_config_arbitrary_text(text in ".{0,400}") {
        let dir = tempfile::tempdir().unwrap();
        check_web(&write(dir.path(), "web.yaml", text.as_bytes()))?;
    }

    #[test]
    fn fuzz_web_config_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        check_web(&write(dir.path(), "web.yaml", &bytes))?;
    }

    #[test]
    fn fuzz_web_config_tls_paths(cert in prop_oneof![Just("/nonexistent/c.pem".to_string()), Just("/dev/null".to_string()), "[a-z/]{0,30}"],
                                 key in prop_oneof![Just("/nonexistent/k.pem".to_string()), Just("/dev/null".to_string()), "[a-z/]{0,30}"],
                                 auth in prop_oneof![Just("RequireAndVerifyClientCert"), Just("NoClientCert"), Just("bogus")],
                                 version in prop_oneof![Just("TLS12"), Just("TLS13"), Just("SSL3")]) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("tls_server_config:\n  cert_file: '{cert}'\n  key_file: '{key}'\n  client_auth_type: {auth}\n  min_version: {version}\n");
        check_web(&write(dir.path(), "web.yaml", text.as_bytes()))?;
    }
}

/// 64 cases unless PROPTEST_CASES says otherwise: a web config without users still hashes a
/// dummy password at load (equal work for unknown users), ~0.5 s in a debug build.
fn web_cases() -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        64
    };
    ProptestConfig { cases, ..default }
}

proptest! {
    #![proptest_config(web_cases())]

    #[test]
    fn fuzz_web_config_mutated_example(mutations in prop::collection::vec(mutation(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let text = mutated_yaml(web_example(), &mutations);
        check_web(&write(dir.path(), "web.yaml", text.as_bytes()))?;
    }
}

// ---- one 10 MB value in each file, and what the fuzzing found ----

#[test]
fn fuzz_a_10_mb_value_is_quoted_short_in_config_and_pricing_errors() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(TEN_MB);
    for text in [
        format!("poll_interval: {huge}\n"),
        format!("tenants:\n  - name: a\n    match:\n      model: '{huge}('\n"),
    ] {
        let e = Config::load(&write(dir.path(), "c.yaml", text.as_bytes())).unwrap_err();
        assert!(
            e.to_string().len() < MAX_ERROR,
            "{} bytes",
            e.to_string().len()
        );
    }
    let text = format!("models:\n  azure:\n    m:\n      input: {huge}\n");
    let e =
        Pricing::load("azure", Some(&write(dir.path(), "p.yaml", text.as_bytes()))).unwrap_err();
    assert!(
        e.to_string().len() < MAX_ERROR,
        "{} bytes",
        e.to_string().len()
    );
}

/// A map key is quoted short in the field path of a type error.
#[test]
fn fuzz_a_10_mb_map_key_is_quoted_short() {
    let text = format!(
        "tenants:\n  - name: a\n    match:\n      {}: [1]\n",
        "k".repeat(TEN_MB)
    );
    let e = Config::parse(&text, "config file c.yaml").unwrap_err();
    assert!(
        e.to_string().len() < MAX_ERROR,
        "{} bytes",
        e.to_string().len()
    );
}

/// A web config user name is quoted short in `basic_auth_users.<user>`.
#[test]
fn fuzz_a_10_mb_web_config_user_is_quoted_short() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("basic_auth_users:\n  {}: [1]\n", "u".repeat(TEN_MB));
    let metrics = Arc::new(SelfMetrics::new("azure", "0"));
    let e = WebConfig::load(&write(dir.path(), "w.yaml", text.as_bytes()), metrics).unwrap_err();
    assert!(
        e.to_string().len() < MAX_ERROR,
        "{} bytes",
        e.to_string().len()
    );
}

/// Finding for common (config.rs, path_error): an unknown top-level key is the field's path,
/// quoted whole, so a 10 MB key gives a 10 MB error on stderr (config, pricing and web config
/// alike).
#[test]
fn fuzz_finding_a_10_mb_unknown_top_level_key_is_quoted_whole() {
    let dir = tempfile::tempdir().unwrap();
    // As serde_yaml_ng writes a long key: `? kkk…` then `: 1`.
    let mut doc = serde_yaml_ng::Mapping::new();
    doc.insert(Value::from("k".repeat(TEN_MB)), Value::from(1));
    let text = serde_yaml_ng::to_string(&doc).unwrap();
    let path = write(dir.path(), "c.yaml", text.as_bytes());
    let metrics = Arc::new(SelfMetrics::new("azure", "0"));
    for e in [
        Config::load(&path).unwrap_err().to_string(),
        Pricing::load("azure", Some(&path)).unwrap_err().to_string(),
        WebConfig::load(&path, metrics).unwrap_err().to_string(),
    ] {
        assert!(e.len() < MAX_ERROR, "{} bytes: {}", e.len(), &e[..200]);
    }
}
