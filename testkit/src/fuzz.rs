//! Strategies for fuzzing the exporters' parsers of cloud answers (issue 11): arbitrary JSON,
//! the hostile values a broken or hostile endpoint sends, and mutations of a valid document.
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

/// The repository's README (the exporters' fuzzing mutates the config example in it).
pub fn readme() -> &'static str {
    static README: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    README.get_or_init(|| {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("the README next to testkit")
    })
}

/// `config` (YAML) with the `key`th key (modulo their number) of its `section` mapping set to
/// `value`, as YAML text.
pub fn with_section_value(
    config: &str,
    section: &str,
    key: usize,
    value: serde_yaml_ng::Value,
) -> String {
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(config).expect("valid YAML");
    let map = doc[section]
        .as_mapping_mut()
        .unwrap_or_else(|| panic!("no `{section}` mapping in the config"));
    let keys: Vec<_> = map.keys().cloned().collect();
    map[&keys[key % keys.len()]] = value;
    serde_yaml_ng::to_string(&doc).expect("YAML values serialize")
}
