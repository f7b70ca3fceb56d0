//! The docs run as written: the tenant example through the real AWS exporter (its model
//! pattern must take the cross-region inference profiles us.anthropic…, eu.anthropic… too),
//! every config example through `--config.check`, and every relative link to a file that
//! exists.

use std::time::Duration;

use serde_yaml_ng::Value;
use testkit::*;

use crate::support::*;

#[test]
fn readme_tenant_example_matches_cross_region_anthropic_profiles() {
    let readme = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with("match: {cloud: aws"))
        .expect("the tenant example of docs/configuration.md");
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

/// The `cat > NAME <<EOF … EOF` files of a page under docs/, with the page's shell
/// variables replaced by sample values.
fn heredoc_files(page: &str, vars: &[(&str, &str)]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("docs").join(page)).unwrap();
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
/// exporter's `--config.check`; and the AWS page's policy is the one of docs/credentials.md.
#[test]
fn getting_started_configs_pass_the_config_check() {
    let pages = [
        (
            "getting-started/aws.md",
            "llm-exporter-aws",
            ("ACCOUNT", "123456789012"),
        ),
        (
            "getting-started/azure.md",
            "llm-exporter-azure",
            ("SUBSCRIPTION", "00000000-0000-0000-0000-000000000000"),
        ),
        (
            "getting-started/gcp.md",
            "llm-exporter-gcp",
            ("PROJECT", "my-project-123"),
        ),
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

    let readme = std::fs::read_to_string(root().join("docs/credentials.md")).unwrap();
    let policy = heredoc_files("getting-started/aws.md", &[("ACCOUNT", "123456789012")])
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

/// The fenced blocks of a Markdown text whose info string is `lang`, in order.
fn fenced_blocks(text: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_start() != format!("```{lang}") {
            continue;
        }
        let mut body = String::new();
        for l in lines.by_ref().take_while(|l| l.trim_start() != "```") {
            body.push_str(l);
            body.push('\n');
        }
        blocks.push(body);
    }
    blocks
}

/// Every YAML example of docs/configuration.md passes `--config.check` of each exporter whose
/// section it has (of all three when it has none), in a folder prepared by the page's own
/// set-up commands.
#[test]
fn configuration_examples_pass_the_config_check() {
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let setup = fenced_blocks(&page, "sh")
        .into_iter()
        .find(|b| b.contains("cat > pricing.yaml"))
        .expect("the page's set-up commands");
    let out = std::process::Command::new("bash")
        .args(["-euc", &setup])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "set-up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let examples = fenced_blocks(&page, "yaml");
    assert!(examples.len() >= 4, "{} examples", examples.len());
    for example in &examples {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(example).unwrap_or_else(|e| panic!("not YAML: {e}\n{example}"));
        let clouds: Vec<&str> = ["aws", "azure", "gcp"]
            .into_iter()
            .filter(|c| doc.get(*c).is_some())
            .collect();
        let clouds = if clouds.is_empty() {
            vec!["aws", "azure", "gcp"]
        } else {
            clouds
        };
        std::fs::write(dir.path().join("config.yaml"), example).unwrap();
        for cloud in clouds {
            let out = std::process::Command::new(binary(&format!("llm-exporter-{cloud}")))
                .args(["--config.check", "--config.file", "config.yaml"])
                .current_dir(dir.path())
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{cloud}: {text}\n{example}");
            assert!(text.contains("config.yaml: ok"), "{cloud}: {text}");
        }
    }
}

/// GitHub's anchor for a heading: lowercase, spaces to hyphens, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside fenced code).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.push(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// The relative link targets of a Markdown text, outside fenced code: `[text](target)`.
fn relative_links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut links = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (i, _) in line.match_indices("](") {
            let rest = &line[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                links.push(target.to_string());
            }
        }
    }
    links
}

/// Every relative link of the README, CONTRIBUTING.md, docs/, the gateway's README and the
/// alerts' runbook points at a file that exists, and a link to a heading of a Markdown file
/// at a heading that exists.
#[test]
fn every_relative_link_in_the_docs_points_at_what_exists() {
    let mut pages = vec![
        root().join("README.md"),
        root().join("CONTRIBUTING.md"),
        root().join("gateway/README.md"),
        root().join("alerts/runbook.md"),
    ];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for link in relative_links(&text) {
            checked += 1;
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
            } else if !fragment.is_empty()
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&std::fs::read_to_string(&target).unwrap())
                    .iter()
                    .any(|a| a == fragment)
            {
                broken.push(format!("{}: {link} (no such heading)", page.display()));
            }
        }
    }
    assert!(checked > 50, "only {checked} links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The README's first two commands are the demo and the test suite, and CI runs exactly the
/// second.
#[test]
fn readme_starts_with_the_demo_and_the_test_command_ci_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let commands: Vec<String> = fenced_blocks(&readme, "sh")
        .into_iter()
        .take(2)
        .map(|b| b.trim().to_string())
        .collect();
    assert_eq!(
        commands,
        ["cargo run -p llm-exporter-aws -- --demo", "scripts/test.sh"]
    );
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let last = ci
        .lines()
        .rfind(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap();
    assert_eq!(last.trim(), format!("exec {}", commands[1]));
}
