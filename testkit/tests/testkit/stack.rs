//! The monitoring stack in this repository (prometheus/, alerts/, dashboards/,
//! docker-compose.yml), checked with the real tools and then run live on 127.0.0.1: the three
//! exporters on their demo source, three regional Prometheus servers, the global one
//! federating them, Alertmanager, and a webhook receiver.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_yaml_ng::Value;
use testkit::*;

use crate::support::*;

#[test]
fn prometheus_configs_rules_and_rule_tests_pass_promtool() {
    for config in [
        "prometheus/aws.yml",
        "prometheus/azure.yml",
        "prometheus/gcp.yml",
        "prometheus/global.yml",
        "prometheus/single.yml",
        "prometheus/single-host.yml",
        "prometheus/remote-write.yml",
    ] {
        let (code, out) = tool("promtool", &["check", "config", config]);
        assert_eq!(code, 0, "promtool check config {config}:\n{out}");
    }
    let (code, out) = tool(
        "promtool",
        &[
            "check",
            "rules",
            "prometheus/rules/llm.rules.yml",
            "alerts/llm.alerts.yml",
            "alerts/thresholds.yml",
        ],
    );
    assert_eq!(code, 0, "{out}");
    for tests in [
        "alerts/tests/llm.alerts.test.yml",
        "prometheus/tests/llm.rules.test.yml",
    ] {
        let (code, out) = tool("promtool", &["test", "rules", tests]);
        assert_eq!(code, 0, "promtool test rules {tests}:\n{out}");
        assert!(out.contains("SUCCESS"), "{out}");
    }
}

#[test]
fn every_alert_is_tested_firing_and_quiet_and_has_its_runbook_section() {
    let alerts: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("alerts/llm.alerts.yml")).unwrap(),
    )
    .unwrap();
    let tests = std::fs::read_to_string(root().join("alerts/tests/llm.alerts.test.yml")).unwrap();
    let runbook = std::fs::read_to_string(root().join("alerts/runbook.md"))
        .unwrap()
        .to_lowercase();
    let mut names = Vec::new();
    for group in alerts["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap().to_string();
            for key in ["summary", "description", "runbook_url"] {
                assert!(
                    rule["annotations"][key]
                        .as_str()
                        .is_some_and(|s| !s.is_empty()),
                    "{name} has no {key}"
                );
            }
            assert!(
                rule["labels"]["severity"].as_str().is_some(),
                "{name} has no severity"
            );
            let anchor = rule["annotations"]["runbook_url"]
                .as_str()
                .unwrap()
                .split('#')
                .nth(1)
                .unwrap()
                .to_string();
            assert!(
                runbook.contains(&format!("## {anchor}")),
                "{name}: runbook.md has no section #{anchor}"
            );
            names.push(name);
        }
    }
    assert_eq!(names.len(), 20);
    for name in &names {
        // Firing: a test expecting this alert; quiet: a test expecting none of it.
        let firing = tests
            .matches(&format!(
                "alertname: {name}\n        exp_alerts:\n          - exp_labels"
            ))
            .count();
        let quiet = tests
            .matches(&format!("alertname: {name}\n        exp_alerts: []"))
            .count();
        assert!(
            firing >= 1 && quiet >= 1,
            "{name}: {firing} firing and {quiet} quiet tests"
        );
    }
}

/// `host:port` -> `127.0.0.1:port`.
fn on_this_host(target: &Value) -> Value {
    let t = target.as_str().unwrap();
    Value::from(format!("127.0.0.1:{}", t.rsplit_once(':').unwrap().1))
}

/// The host variants run as written on one machine: single-host.yml is single.yml with every
/// address on 127.0.0.1 at the same port (the exporters' and Alertmanager's defaults), and
/// alertmanager-host.yml is alertmanager.yml with receivers that need no Compose service or
/// mount: a webhook on 127.0.0.1 and secret files the repository holds.
#[test]
fn host_variants_are_the_compose_configs_with_local_addresses() {
    let single = yaml(&root().join("prometheus/single.yml"));
    let mut expected = single.clone();
    for job in expected["scrape_configs"].as_sequence_mut().unwrap() {
        for sc in job["static_configs"].as_sequence_mut().unwrap() {
            for t in sc["targets"].as_sequence_mut().unwrap() {
                *t = on_this_host(t);
            }
        }
    }
    let am = &mut expected["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0];
    *am = on_this_host(am);
    assert_eq!(yaml(&root().join("prometheus/single-host.yml")), expected);
    assert_ne!(single, expected, "single.yml names Compose services");

    let compose = yaml(&root().join("alerts/alertmanager.yml"));
    let host = yaml(&root().join("alerts/alertmanager-host.yml"));
    for key in ["global", "route", "inhibit_rules"] {
        assert_eq!(host[key], compose[key], "{key}");
    }
    let names = |v: &Value| -> Vec<Value> {
        v["receivers"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| r["name"].clone())
            .collect()
    };
    assert_eq!(names(&host), names(&compose));
    let receivers = serde_yaml_ng::to_string(&host["receivers"]).unwrap();
    for line in receivers.lines().map(str::trim) {
        if let Some(url) = line.strip_prefix("url: ") {
            assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        }
        if let Some((_, file)) = line.split_once("_file: ") {
            assert!(
                root().join(file).is_file(),
                "{file} (relative to the working directory)"
            );
        }
    }
    let (code, out) = tool("amtool", &["check-config", "alerts/alertmanager-host.yml"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn alertmanager_config_checks_and_routes_by_severity() {
    let (code, out) = tool("amtool", &["check-config", "alerts/alertmanager.yml"]);
    assert_eq!(code, 0, "{out}");
    let route = |labels: &str| {
        let (code, out) = tool(
            "amtool",
            &[
                "config",
                "routes",
                "test",
                "--config.file=alerts/alertmanager.yml",
                labels,
            ],
        );
        assert_eq!(code, 0, "{out}");
        out.lines()
            .find(|l| !l.starts_with("Warning"))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    assert_eq!(route("severity=critical"), "pagerduty,slack,webhook");
    assert_eq!(route("severity=warning"), "slack,webhook");
    assert_eq!(route("severity=info"), "webhook");
    let text = std::fs::read_to_string(root().join("alerts/alertmanager.yml")).unwrap();
    assert!(
        text.contains("api_url_file")
            && text.contains("routing_key_file")
            && !text.contains("api_url:"),
        "secrets must come from files"
    );
}

#[test]
fn docker_compose_file_is_valid_for_compose_v2() {
    let bin = root().join(".venv-compose/bin/docker-compose-v2");
    let (code, out) = tool(
        bin.to_str().unwrap(),
        &["-f", "docker-compose.yml", "config", "-q"],
    );
    assert_eq!(code, 0, "docker compose config -q:\n{out}");
    let (_, full) = tool(
        bin.to_str().unwrap(),
        &["-f", "docker-compose.yml", "config"],
    );
    for service in [
        "llm-exporter-aws",
        "llm-exporter-azure",
        "llm-exporter-gcp",
        "prometheus-aws",
        "prometheus-azure",
        "prometheus-gcp",
        "prometheus-global",
        "alertmanager",
        "grafana",
    ] {
        assert!(
            full.contains(&format!("  {service}:")),
            "{service} missing from the compose stack"
        );
    }
    // Every target of the global server is a service of the stack, on a port it publishes.
    let compose: Value = serde_yaml_ng::from_str(&full).unwrap();
    let global = yaml(&root().join("prometheus/global.yml"));
    let mut jobs = Vec::new();
    for job in global["scrape_configs"].as_sequence().unwrap() {
        jobs.push(job["job_name"].as_str().unwrap().to_string());
        for target in job["static_configs"][0]["targets"].as_sequence().unwrap() {
            let target = target.as_str().unwrap();
            let (host, port) = target.split_once(':').unwrap();
            let service = &compose["services"][host];
            assert!(service.is_mapping(), "{target}: no service {host}");
            let listens = host.starts_with("prometheus-")
                || service["ports"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .any(|p| p["target"].as_u64() == port.parse().ok());
            assert!(listens, "{target}: {host} does not publish port {port}");
        }
    }
    assert_eq!(jobs, ["llm-federate", "llm-gateway"]);
    let dockerfile = std::fs::read_to_string(root().join("docker/exporter.Dockerfile")).unwrap();
    assert!(
        dockerfile.matches("FROM ").count() >= 2 && dockerfile.contains("USER 10001"),
        "multi-stage and non-root"
    );
}

fn dashboards() -> Vec<(String, serde_json::Value)> {
    ["llm-spend", "llm-reliability", "llm-exporter-health"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                serde_json::from_str(
                    &std::fs::read_to_string(root().join(format!("dashboards/{n}.json"))).unwrap(),
                )
                .unwrap_or_else(|e| panic!("{n}.json: {e}")),
            )
        })
        .collect()
}

#[test]
fn dashboards_type_check_against_grafana_schema() {
    let tools = root().join(".npm-tools");
    let tsc = tools.join("node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "run scripts/install-test-deps.sh (typescript and @grafana/schema)"
    );
    let dir = tempfile::Builder::new()
        .prefix("dash-check")
        .tempdir_in(&tools)
        .unwrap();
    let mut files = Vec::new();
    for (name, _) in dashboards() {
        let json = std::fs::read_to_string(root().join(format!("dashboards/{name}.json"))).unwrap();
        let file = dir.path().join(format!("{name}.ts"));
        std::fs::write(&file, format!("import type {{ Dashboard }} from '@grafana/schema';\nconst d = {} satisfies Dashboard;\nexport default d;\n", json.trim())).unwrap();
        files.push(file.display().to_string());
    }
    let mut args = vec![
        "--noEmit",
        "--strict",
        "--moduleResolution",
        "bundler",
        "--module",
        "esnext",
        "--target",
        "es2020",
        "--skipLibCheck",
    ];
    args.extend(files.iter().map(String::as_str));
    let out = Command::new(&tsc)
        .args(&args)
        .current_dir(&tools)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tsc:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------
// The live stack.

#[test]
fn live_stack_federates_serves_every_panel_and_delivers_a_spend_alert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = root();

    // Receivers: the webhook, and Slack and PagerDuty redirected here (no traffic leaves).
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = received.clone();
    let receiver = Server::start(axum::Router::new().fallback(
        move |req: axum::extract::Request| {
            let sink = sink.clone();
            async move {
                let path = req.uri().path().to_string();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                sink.lock()
                    .unwrap()
                    .push((path, String::from_utf8_lossy(&body).into_owned()));
                "ok"
            }
        },
    ));

    // The three exporters on their demo source, with a tenant and a budget.
    let config = d.join("exporter.yaml");
    std::fs::write(&config, "poll_interval: 1s\ntenants:\n  - {name: support, match: {deployment: 'support-bot|chat-prod'}, monthly_budget_usd: 100, alert_ratio: 0.8}\n").unwrap();
    let mut exporters = Vec::new();
    for cloud in ["aws", "azure", "gcp"] {
        let e = Exporter::start(
            &binary(&format!("llm-exporter-{cloud}")),
            &["--demo", "--config.file", config.to_str().unwrap()],
            &[],
            &[],
        );
        exporters.push((cloud, e));
    }

    // Regional servers: the repository's configs, pointed at the exporters, at 1 s intervals.
    let rules = d.join("llm.rules.yml");
    let mut r = yaml(&repo.join("prometheus/rules/llm.rules.yml"));
    for group in r["groups"].as_sequence_mut().unwrap() {
        if group.get("interval").is_some() {
            group["interval"] = Value::from("2s");
        }
    }
    write_yaml(&rules, &r);
    let mut regional = Vec::new();
    for (cloud, exporter) in &exporters {
        let mut c = yaml(&repo.join(format!("prometheus/{cloud}.yml")));
        c["global"]["scrape_interval"] = Value::from("1s");
        c["global"]["evaluation_interval"] = Value::from("1s");
        c["rule_files"] = Value::Sequence(vec![Value::from(rules.display().to_string())]);
        let job = &mut c["scrape_configs"][0];
        job["scrape_interval"] = Value::from("1s");
        job["scrape_timeout"] = Value::from("1s");
        job["static_configs"][0]["targets"] =
            Value::Sequence(vec![Value::from(exporter.addr.clone())]);
        let path = d.join(format!("{cloud}.yml"));
        write_yaml(&path, &c);
        regional.push(start_prometheus(&path, d));
    }

    // Alertmanager: the repository's routes; receivers pointed at the local sink.
    std::fs::write(d.join("slack_api_url"), format!("{}/slack", receiver.url())).unwrap();
    std::fs::write(d.join("pagerduty_routing_key"), "test-routing-key").unwrap();
    let mut am = yaml(&repo.join("alerts/alertmanager.yml"));
    am["route"]["group_wait"] = Value::from("1s");
    am["route"]["group_interval"] = Value::from("1s");
    for receiver_cfg in am["receivers"].as_sequence_mut().unwrap() {
        if let Some(w) = receiver_cfg.get_mut("webhook_configs") {
            w[0]["url"] = Value::from(format!("{}/alerts", receiver.url()));
        }
        if let Some(s) = receiver_cfg.get_mut("slack_configs") {
            s[0]["api_url_file"] = Value::from(d.join("slack_api_url").display().to_string());
        }
        if let Some(p) = receiver_cfg.get_mut("pagerduty_configs") {
            p[0]["routing_key_file"] =
                Value::from(d.join("pagerduty_routing_key").display().to_string());
            p[0]["url"] = Value::from(format!("{}/pagerduty", receiver.url()));
        }
    }
    let am_config = d.join("alertmanager.yml");
    write_yaml(&am_config, &am);
    let am_port = non_ephemeral_free_port();
    let mut cmd = Command::new("prometheus-alertmanager");
    cmd.arg(format!("--config.file={}", am_config.display()))
        .arg(format!("--storage.path={}", d.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=");
    let _alertmanager = Proc::spawn(cmd);
    let am_addr = format!("127.0.0.1:{am_port}");
    wait_until("Alertmanager to be ready", Duration::from_secs(60), || {
        http_get(&am_addr, "/-/ready")
            .ok()
            .filter(|r| r.0 == 200)
            .map(|_| ())
    });

    // The global server: federation from the regional ones, the alert rules (every `for`
    // shortened), and a spend limit the demo's spend is far above: a synthetic spike.
    let mut thresholds = yaml(&repo.join("alerts/thresholds.yml"));
    for rule in thresholds["groups"][0]["rules"].as_sequence_mut().unwrap() {
        if rule["record"] == "llm:alert_threshold:hourly_spend_usd" {
            rule["expr"] = Value::from("vector(0.000001)");
        }
    }
    write_yaml(&d.join("thresholds.yml"), &thresholds);
    let alerts = alert_rules_with_for("0s");
    write_yaml(&d.join("llm.alerts.yml"), &alerts);
    let mut g = yaml(&repo.join("prometheus/global.yml"));
    g["global"]["scrape_interval"] = Value::from("1s");
    g["global"]["evaluation_interval"] = Value::from("1s");
    g["rule_files"] = Value::Sequence(vec![
        Value::from(d.join("thresholds.yml").display().to_string()),
        Value::from(d.join("llm.alerts.yml").display().to_string()),
    ]);
    g["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] =
        Value::Sequence(vec![Value::from(am_addr.clone())]);
    // This stack runs no gateway (gateway/tests/billing/drift.rs scrapes a real one through
    // this job): without its job, no `up` of a target that cannot exist.
    let jobs = g["scrape_configs"].as_sequence_mut().unwrap();
    jobs.retain(|j| j["job_name"] != "llm-gateway");
    let job = jobs
        .iter_mut()
        .find(|j| j["job_name"] == "llm-federate")
        .unwrap();
    job["scrape_interval"] = Value::from("1s");
    job["scrape_timeout"] = Value::from("1s");
    job["static_configs"][0]["targets"] = Value::Sequence(
        regional
            .iter()
            .map(|(_, a)| Value::from(a.clone()))
            .collect(),
    );
    let global_config = d.join("global.yml");
    write_yaml(&global_config, &g);
    let (_global, global) = start_prometheus(&global_config, d);

    // Federation: every cloud's recording rules reach the global server.
    wait_until(
        "federated llm: series from all three clouds",
        Duration::from_secs(90),
        || {
            let clouds: std::collections::BTreeSet<String> =
                query(&global, "llm:cost_usd_per_hour:rate5m")
                    .iter()
                    .filter_map(|s| s["metric"]["cloud"].as_str().map(String::from))
                    .collect();
            (clouds.len() == 3).then_some(())
        },
    );

    // Every panel's query, variables substituted, returns at least one series.
    let mut pending: Vec<(String, String)> = Vec::new();
    for (name, dash) in dashboards() {
        for var in dash["templating"]["list"].as_array().unwrap() {
            if var["type"] == "query" {
                let q = var["query"]["query"].as_str().unwrap();
                let (metric, label) = q
                    .trim_start_matches("label_values(")
                    .trim_end_matches(')')
                    .split_once(", ")
                    .unwrap();
                pending.push((
                    format!("{name}: variable {label}"),
                    format!("count by ({label}) ({metric}{{{label}!=\"\"}})"),
                ));
            }
        }
        for panel in dash["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let expr = ["$cloud", "$account", "$region", "$model", "$tenant", "$job"]
                    .iter()
                    .fold(expr.to_string(), |e, v| e.replace(v, ".*"))
                    .replace("$__rate_interval", "1m");
                pending.push((
                    format!("{name}: {}", panel["title"].as_str().unwrap()),
                    expr,
                ));
            }
        }
    }
    let total = pending.len();
    let mut empty = pending;
    let end = std::time::Instant::now() + Duration::from_secs(120);
    while !empty.is_empty() && std::time::Instant::now() < end {
        empty.retain(|(_, expr)| query(&global, expr).is_empty());
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        empty.is_empty(),
        "queries with no series after 120 s: {empty:#?}"
    );
    assert!(total >= 30, "{total} queries checked");

    // The spend alert fires in Prometheus and reaches every receiver through Alertmanager.
    let delivered = wait_until(
        "the spend alert at the receivers",
        Duration::from_secs(90),
        || {
            let got = received.lock().unwrap().clone();
            let has = |path: &str| {
                got.iter()
                    .any(|(p, b)| p.starts_with(path) && b.contains("LLMSpendAboveHourlyLimit"))
            };
            (has("/alerts") && has("/slack") && has("/pagerduty")).then_some(got)
        },
    );
    let webhook = delivered
        .iter()
        .find(|(p, b)| p == "/alerts" && b.contains("LLMSpendAboveHourlyLimit"))
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&webhook.1).unwrap();
    let alert = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "LLMSpendAboveHourlyLimit")
        .unwrap();
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["status"], "firing");
    assert!(alert["annotations"]["runbook_url"]
        .as_str()
        .unwrap()
        .ends_with("#llmspendabovehourlylimit"));
}
