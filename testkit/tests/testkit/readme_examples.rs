//! The README's tenant example, run through the real AWS exporter: its model pattern must
//! take the cross-region inference profiles (us.anthropic…, eu.anthropic…) too.

use std::time::Duration;

use serde_yaml_ng::Value;
use testkit::*;

use crate::support::*;

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

/// The `cat > NAME <<EOF … EOF` files of a getting-started page, with the page's shell
/// variables replaced by sample values.
fn heredoc_files(page: &str, vars: &[(&str, &str)]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("docs/getting-started").join(page)).unwrap();
    let mut files = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("cat > ") else {
            continue;
        };
        let name = rest.split_whitespace().next().unwrap().to_string();
        let mut body = String::new();
        for l in lines.by_ref().take_while(|l| *l != "EOF") {
            body.push_str(l);
            body.push('\n');
        }
        for (k, v) in vars {
            body = body.replace(&format!("${{{k}}}"), v);
        }
        assert!(
            !body.contains("${"),
            "{page}: {name} has an unknown variable"
        );
        files.push((name, body));
    }
    files
}

/// Each cloud's getting-started config, written as the page writes it, passes that
/// exporter's `--config.check`; and the AWS page's policy is the README's.
#[test]
fn getting_started_configs_pass_the_config_check() {
    let pages = [
        ("aws.md", "llm-exporter-aws", ("ACCOUNT", "123456789012")),
        (
            "azure.md",
            "llm-exporter-azure",
            ("SUBSCRIPTION", "00000000-0000-0000-0000-000000000000"),
        ),
        ("gcp.md", "llm-exporter-gcp", ("PROJECT", "my-project-123")),
    ];
    for (page, exporter, var) in pages {
        let dir = tempfile::tempdir().unwrap();
        let files = heredoc_files(page, &[var]);
        let config = files
            .iter()
            .find(|(name, _)| name.ends_with(".yaml"))
            .unwrap_or_else(|| panic!("{page} writes no config"));
        for (name, body) in &files {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let out = std::process::Command::new(binary(exporter))
            .args(["--config.check", "--config.file", &config.0])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{page}: {}\n{text}", config.1);
        assert!(text.contains(": ok"), "{page}: {text}");
    }

    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let policy = heredoc_files("aws.md", &[("ACCOUNT", "123456789012")])
        .into_iter()
        .find(|(name, _)| name == "llm-exporter-policy.json")
        .expect("the AWS page's policy")
        .1;
    let actions = |text: &str| -> Vec<String> {
        let start = text.find("\"Action\": [").expect("an Action list") + 11;
        let end = start + text[start..].find(']').unwrap();
        let mut a: Vec<String> = text[start..end]
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .collect();
        a.sort();
        a
    };
    serde_json::from_str::<serde_json::Value>(&policy).expect("the AWS page's policy is JSON");
    assert_eq!(actions(&policy), actions(&readme));
}
