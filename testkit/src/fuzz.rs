//! Strategies for fuzzing the exporters' parsers of cloud answers: arbitrary JSON,
//! the hostile values a broken or hostile endpoint sends, and mutations of a valid document;
//! and the config checks every exporter's config fuzzing runs ([`check_config`]).
//! Bounded by proptest's case count (256 by default; `PROPTEST_CASES` for longer runs).

use proptest::prelude::*;
use serde_json::{json, Value};

/// Arbitrary JSON: every type, nested a few levels, with the numbers and strings a broken or
/// hostile endpoint sends.
pub fn any_json(keys: &'static str) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(1.797e308)),
        Just(json!(-1)),
        Just(json!("NaN")),
        Just(json!("Infinity")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("1970-01-01T00:00:00Z")),
        ".{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A hostile value for one field of a valid document.
pub fn hostile_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(1.797e308)),
        Just(json!(-1.797e308)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!("NaN")),
        Just(json!("Infinity")),
        Just(json!("-Infinity")),
        Just(json!("1970-01-01T00:00:00Z")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("0000-01-01T00:00:00Z")),
        Just(json!("2026-13-45T25:61:61Z")),
        Just(json!("x".repeat(100_000))),
        Just(json!(null)),
        Just(json!([])),
        Just(json!({})),
        Just(json!(true)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,16}".prop_map(Value::from),
    ]
}

/// `doc` with its `n`-th node (depth first, modulo their number) replaced by `new`.
pub fn replace_nth(doc: &mut Value, n: usize, new: &Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Object(m) => m.values().map(count).sum(),
            Value::Array(a) => a.iter().map(count).sum(),
            _ => 0,
        }
    }
    fn go(v: &mut Value, n: &mut usize, new: &Value) -> bool {
        if *n == 0 {
            *v = new.clone();
            return true;
        }
        *n -= 1;
        match v {
            Value::Object(m) => m.values_mut().any(|c| go(c, n, new)),
            Value::Array(a) => a.iter_mut().any(|c| go(c, n, new)),
            _ => false,
        }
    }
    let mut n = n % count(doc);
    go(doc, &mut n, new);
}

/// The valid document `doc` with up to three of its nodes replaced by hostile values,
/// with proptest shrinking towards fewer replacements.
pub fn mutated(doc: &Value) -> impl Strategy<Value = Value> {
    let doc = doc.clone();
    prop::collection::vec((any::<usize>(), hostile_json()), 1..4).prop_map(move |picks| {
        let mut d = doc.clone();
        for (n, v) in &picks {
            replace_nth(&mut d, *n, v);
        }
        d
    })
}

/// The configuration page (the exporters' fuzzing mutates the config example in it).
pub fn readme() -> &'static str {
    static README: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    README.get_or_init(|| {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/configuration.md"
        ))
        .expect("docs/configuration.md next to testkit")
    })
}

/// The config example of docs/configuration.md: every key, with its default.
pub fn readme_config() -> &'static str {
    common::config::example_from_readme(readme()).expect("the README's config example")
}

/// What start-up and `--config.check` of exporter `E` do with the config `text`: parse the
/// common keys, then its section, then validate it as for polling. Promised: no panic, every
/// error stays short, and a validation error names a field of the section.
pub fn check_config<E: common::exporter::Exporter>(text: &str) -> Result<(), TestCaseError> {
    use common::config::{section, Config, FieldError};
    let config = match Config::parse(text, "config file c.yaml") {
        Ok(c) => c,
        Err(e) => {
            prop_assert!(e.to_string().len() < 2048, "{} bytes", e.to_string().len());
            return Ok(());
        }
    };
    match section::<E::Section>(&config, E::CLOUD) {
        Err(e) => prop_assert!(e.to_string().len() < 2048, "{} bytes", e.to_string().len()),
        Ok(parsed) => {
            if let Err(FieldError { field, message }) = E::validate(&parsed, true) {
                prop_assert!(field.starts_with(&format!("{}.", E::CLOUD)), "{field}");
                prop_assert!(
                    field.len() + message.len() < 2048,
                    "{field}: {} bytes",
                    message.len()
                );
            }
        }
    }
    Ok(())
}

/// The number of keys in `doc`, over every mapping at every depth.
fn key_count(doc: &serde_yaml_ng::Value) -> usize {
    use serde_yaml_ng::Value as Y;
    match doc {
        Y::Mapping(m) => m.len() + m.values().map(key_count).sum::<usize>(),
        Y::Sequence(s) => s.iter().map(key_count).sum(),
        Y::Tagged(t) => key_count(&t.value),
        _ => 0,
    }
}

/// Calls `f` on the mapping holding the `n`-th key of `doc` (depth first, a mapping's own keys
/// before those nested in its values), with that key.
fn at_key(
    doc: &mut serde_yaml_ng::Value,
    n: &mut usize,
    f: &mut dyn FnMut(&mut serde_yaml_ng::Mapping, serde_yaml_ng::Value),
) -> bool {
    use serde_yaml_ng::Value as Y;
    match doc {
        Y::Mapping(m) => {
            if *n < m.len() {
                let key = m.keys().nth(*n).cloned().expect("n < len");
                f(m, key);
                return true;
            }
            *n -= m.len();
            m.values_mut().any(|v| at_key(v, n, f))
        }
        Y::Sequence(s) => s.iter_mut().any(|v| at_key(v, n, f)),
        Y::Tagged(t) => at_key(&mut t.value, n, f),
        _ => false,
    }
}

fn with_key(
    config: &str,
    n: usize,
    f: &mut dyn FnMut(&mut serde_yaml_ng::Mapping, serde_yaml_ng::Value),
) -> String {
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(config).expect("valid YAML");
    let mut n = n % key_count(&doc).max(1);
    at_key(&mut doc, &mut n, f);
    serde_yaml_ng::to_string(&doc).expect("YAML values serialize")
}

/// `config` (YAML) with the value of its `n`-th key (modulo their number), counted over every
/// mapping at every depth (common keys, tenants, every cloud's section), set to `value`.
pub fn with_field_value(config: &str, n: usize, value: serde_yaml_ng::Value) -> String {
    with_key(config, n, &mut |m, key| {
        m.insert(key, value.clone());
    })
}

/// `config` (YAML) with its `n`-th key (counted as [`with_field_value`] does) renamed to `new`,
/// its value kept.
pub fn with_field_key(config: &str, n: usize, new: serde_yaml_ng::Value) -> String {
    with_key(config, n, &mut |m, key| {
        if let Some(v) = m.remove(&key) {
            m.insert(new.clone(), v);
        }
    })
}

/// `n` cases unless `PROPTEST_CASES` asks for another number (longer runs by hand).
pub fn cases(n: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        n
    };
    ProptestConfig { cases, ..default }
}

/// Keys no config should hold: huge, empty, not strings, near misses.
pub fn hostile_key() -> impl Strategy<Value = serde_yaml_ng::Value> {
    use serde_yaml_ng::Value as Y;
    prop_oneof![
        Just(Y::from("k".repeat(256 * 1024))),
        Just(Y::from("")),
        Just(Y::from(" ")),
        Just(Y::from("\u{feff}poll_interval")),
        Just(Y::from(1)),
        Just(Y::from(true)),
        Just(Y::Null),
        Just(Y::Sequence(vec![Y::from("k".repeat(256 * 1024))])),
        "[a-z_.]{1,16}".prop_map(Y::from),
        ".{0,12}".prop_map(Y::from),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_at_every_depth_can_be_changed() {
        let text = "a: 1\nb:\n  c: 2\n  d: [{e: 3}]\n";
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(key_count(&doc), 5);
        let changed: Vec<String> = (0..5)
            .map(|n| with_field_value(text, n, "X".into()))
            .collect();
        for (n, expected) in ["a: X", "b: X", "c: X", "d: X", "e: X"].iter().enumerate() {
            assert!(changed[n].contains(expected), "{n}: {}", changed[n]);
        }
        assert!(with_field_key(text, 4, "zz".into()).contains("zz: 3"));
        assert!(with_field_key(text, 1, "zz".into()).contains("zz:\n  c: 2"));
    }
}
