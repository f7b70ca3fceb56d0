//! The metric table of docs/metrics.md is a tested contract: every metric the exporters
//! register is documented there, and every documented metric is registered.

use std::collections::BTreeSet;

#[test]
fn readme_metric_table_matches_the_registered_names() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
            .expect("docs/metrics.md in the workspace");
    let section = readme
        .split("\n## Every metric")
        .nth(1)
        .expect("a ## Every metric section");
    let section = section.split("\n## ").next().unwrap();
    let documented: BTreeSet<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1))
        .collect();
    let registered: BTreeSet<&str> = common::metrics::names::ALL.iter().copied().collect();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "registered but not in the metric table of docs/metrics.md: {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "in the metric table of docs/metrics.md but not registered: {unregistered:?}"
    );
}

/// The config block of docs/configuration.md documents exactly the section keys every
/// exporter checks.
#[test]
fn readme_config_block_lists_every_section_key() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .expect("docs/configuration.md in the workspace");
    let block = common::config::example_from_readme(&readme).expect("the config block");
    let config =
        common::config::Config::parse(block, "README").expect("the README's example parses");
    for (name, keys) in common::sections::known() {
        let documented: BTreeSet<String> = config
            .sections
            .get(name.as_str())
            .and_then(|v| v.as_mapping().cloned())
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let checked: BTreeSet<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(documented, checked, "section {name}");
    }
}
