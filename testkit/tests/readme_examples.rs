//! The README's tenant example, run through the real AWS exporter: its model pattern must
//! take the cross-region inference profiles (us.anthropic…, eu.anthropic…) too.

use std::time::Duration;

use serde_yaml_ng::Value;
use testkit::*;

mod support;
use support::*;

#[test]
fn readme_tenant_example_matches_cross_region_anthropic_profiles() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with("match: {cloud: aws"))
        .expect("the README's tenant example");
    let flow = line.trim_start().trim_start_matches("match:");
    let flow = &flow[..flow.find('}').unwrap() + 1];
    let pattern: Value = serde_yaml_ng::from_str(flow).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let mut tenant = serde_yaml_ng::Mapping::new();
    tenant.insert("name".into(), "search".into());
    tenant.insert("match".into(), pattern);
    let mut root_map = serde_yaml_ng::Mapping::new();
    root_map.insert("poll_interval".into(), "1s".into());
    root_map.insert(
        "tenants".into(),
        Value::Sequence(vec![Value::Mapping(tenant)]),
    );
    write_yaml(&config, &Value::Mapping(root_map));

    // The demo serves anthropic.…, us.anthropic.… and eu.anthropic.… models in account
    // 123456789012 (which the example's "1234.*" matches).
    let e = Exporter::start(
        &binary("llm-exporter-aws"),
        &["--demo", "--config.file", config.to_str().unwrap()],
        &[],
        &[],
    );
    let scrape = e.wait_for("anthropic token series", Duration::from_secs(30), |s| {
        !s.matching("llm_tokens_total", &[]).is_empty()
    });
    let mut prefixes = std::collections::BTreeSet::new();
    for (_, labels, _) in scrape.matching("llm_tokens_total", &[]) {
        let model = labels.get("model").cloned().unwrap_or_default();
        if let Some((prefix, _)) = model.split_once("anthropic.") {
            prefixes.insert(prefix.to_string());
            assert_eq!(
                labels.get("tenant").map(String::as_str),
                Some("search"),
                "{model} is not in the example's tenant"
            );
        }
    }
    for p in ["", "us.", "eu."] {
        assert!(
            prefixes.contains(p),
            "demo has no {p}anthropic model: {prefixes:?}"
        );
    }
}
