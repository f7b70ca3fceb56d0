//! Checks the exporters' hostile-answer tests share: whatever a cloud answers (NaN, huge,
//! negative or malformed values), every exported number stays finite, no counter goes down,
//! and the state file holds only finite numbers.

use crate::Scrape;

/// `llm_exporter_samples_rejected_total` for `reason` (0 before the first rejection).
pub fn rejected(s: &Scrape, reason: &str) -> f64 {
    s.value("llm_exporter_samples_rejected_total", &[("reason", reason)])
        .unwrap_or(0.0)
}

/// Every series of `s` is finite and no counter is below its value in `before` (across a
/// restart, only the usage counters: the process's own start from zero).
pub fn check_counters(before: &Scrape, s: &Scrape, restarted: bool) {
    for (name, labels, v) in &s.series {
        assert!(v.is_finite(), "{name}{labels:?} = {v}");
        if name.ends_with("_total") && !(restarted && name.starts_with("llm_exporter_")) {
            let old = before
                .series
                .iter()
                .find(|(n, l, _)| n == name && l == labels)
                .map(|x| x.2);
            assert!(
                old.is_none_or(|o| *v >= o),
                "{name}{labels:?}: {old:?} -> {v}"
            );
        }
    }
}

/// Every counter's `total` in the state file is finite, and its `pending` absent or finite
/// (JSON writes a non-finite number as `null`).
pub fn assert_state_finite(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for c in doc["counters"].as_array().unwrap() {
        for field in ["total", "pending"] {
            let v = &c[field];
            assert!(
                v.is_null() && field == "pending" || v.as_f64().is_some_and(f64::is_finite),
                "state file counter {field} = {v} in {c}"
            );
        }
    }
}
