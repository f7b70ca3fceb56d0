//! The single-Prometheus setup (no federation): one Prometheus scraping the three exporters
//! with the README's scrape config, the recording rules, the thresholds and the alert rules
//! of prometheus/single.yml. A dead target must fire LLMExporterDown, and the health alerts
//! must work without any external label.

use std::time::Duration;

use serde_yaml_ng::Value;
use testkit::*;

use crate::support::*;

/// The scrape_configs of the README's "Install" snippet.
fn readme_scrape_configs() -> Value {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("```yaml\nscrape_configs:")
        .expect("README has a scrape_configs snippet")
        + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let v: Value = serde_yaml_ng::from_str(&readme[start..end]).unwrap();
    v["scrape_configs"].clone()
}

#[test]
fn readme_scrape_config_is_the_one_of_single_yml() {
    let readme = readme_scrape_configs();
    let single = yaml(&root().join("prometheus/single.yml"))["scrape_configs"].clone();
    assert_eq!(
        readme, single,
        "README's scrape snippet and prometheus/single.yml differ"
    );
    for job in readme.as_sequence().unwrap() {
        let name = job["job_name"].as_str().unwrap();
        assert!(
            name.starts_with("llm-exporter-"),
            "{name}: the alerts expect llm-exporter-<cloud>"
        );
    }
}

#[test]
fn single_prometheus_with_the_readme_jobs_fires_exporter_down_and_names_exporters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = root();

    let mut exporters = Vec::new();
    for cloud in ["aws", "azure", "gcp"] {
        let e = Exporter::start(
            &binary(&format!("llm-exporter-{cloud}")),
            &["--demo"],
            &[],
            &[],
        );
        exporters.push((cloud, e));
    }
    // A port nothing listens on: the dead target, in the AWS job.
    let dead = format!("127.0.0.1:{}", non_ephemeral_free_port());

    // Test copies of the rules: the to-date group at 2 s, every `for` at 0 s.
    let mut r = yaml(&repo.join("prometheus/rules/llm.rules.yml"));
    for group in r["groups"].as_sequence_mut().unwrap() {
        if group.get("interval").is_some() {
            group["interval"] = Value::from("2s");
        }
    }
    write_yaml(&d.join("llm.rules.yml"), &r);
    write_yaml(&d.join("llm.alerts.yml"), &alert_rules_with_for("0s"));
    std::fs::copy(repo.join("alerts/thresholds.yml"), d.join("thresholds.yml")).unwrap();

    // prometheus/single.yml with the README's jobs, pointed at the local exporters.
    let mut c = yaml(&repo.join("prometheus/single.yml"));
    assert_eq!(
        c["rule_files"].as_sequence().unwrap().len(),
        3,
        "single.yml loads the recording rules, the thresholds and the alerts"
    );
    c["global"]["scrape_interval"] = Value::from("1s");
    c["global"]["evaluation_interval"] = Value::from("1s");
    c["rule_files"] = Value::Sequence(
        ["llm.rules.yml", "thresholds.yml", "llm.alerts.yml"]
            .iter()
            .map(|f| Value::from(d.join(f).display().to_string()))
            .collect(),
    );
    // No Alertmanager here: the alerts are read from Prometheus' API.
    c.as_mapping_mut().unwrap().remove("alerting");
    let mut jobs = readme_scrape_configs();
    for job in jobs.as_sequence_mut().unwrap() {
        let name = job["job_name"].as_str().unwrap().to_string();
        let (cloud, e) = exporters
            .iter()
            .find(|(cloud, _)| name.ends_with(cloud))
            .unwrap_or_else(|| panic!("{name}: which exporter?"));
        let mut targets = vec![Value::from(e.addr.clone())];
        if *cloud == "aws" {
            targets.push(Value::from(dead.clone()));
        }
        job["scrape_interval"] = Value::from("1s");
        job["scrape_timeout"] = Value::from("1s");
        job["static_configs"] = Value::Sequence(vec![Value::Mapping(
            [(Value::from("targets"), Value::Sequence(targets))]
                .into_iter()
                .collect(),
        )]);
    }
    c["scrape_configs"] = jobs;
    let config = d.join("single.yml");
    write_yaml(&config, &c);
    let (_prom, prom) = start_prometheus(&config, d);

    // The dead target fires LLMExporterDown, and only it does.
    let down = wait_until(
        "LLMExporterDown firing for the dead target",
        Duration::from_secs(60),
        || {
            let firing: Vec<_> = alerts(&prom)
                .into_iter()
                .filter(|a| a["labels"]["alertname"] == "LLMExporterDown" && a["state"] == "firing")
                .collect();
            (!firing.is_empty()).then_some(firing)
        },
    );
    assert_eq!(down.len(), 1, "{down:#?}");
    assert_eq!(down[0]["labels"]["instance"], dead.as_str());
    assert_eq!(down[0]["labels"]["job"], "llm-exporter-aws");
    assert_eq!(down[0]["labels"]["severity"], "critical");

    // The health alerts' join names each exporter from its build info, with no `cloud`
    // external label: the LLMDataStale expression with its threshold lowered to "always"
    // gives one series per target, each naming its exporter and matching its job.
    let rules = yaml(&d.join("llm.alerts.yml"));
    let stale = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
        .find(|r| r["alert"] == "LLMDataStale")
        .unwrap()["expr"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(stale.contains("> 900"), "{stale}");
    let always = stale.replace("> 900", "> -1e12");
    let series = wait_until(
        "the stale expression over all three exporters",
        Duration::from_secs(60),
        || {
            // Every exporter scraped at least once (the AWS demo alone has two targets).
            let s = query(&prom, &always);
            let exporters: std::collections::BTreeSet<&str> = s
                .iter()
                .filter_map(|x| x["metric"]["exporter"].as_str())
                .collect();
            (exporters.len() >= 3).then_some(s)
        },
    );
    let mut seen = std::collections::BTreeSet::new();
    for s in &series {
        let m = &s["metric"];
        let exporter = m["exporter"].as_str().unwrap_or_default();
        let job = m["job"].as_str().unwrap();
        assert_eq!(job, format!("llm-exporter-{exporter}"), "{m}");
        assert!(m["target"].as_str().is_some_and(|t| !t.is_empty()), "{m}");
        seen.insert(exporter.to_string());
    }
    assert_eq!(seen.len(), 3, "{series:#?}");
    // And nothing stale or down among the live exporters on the real expression.
    assert!(query(&prom, &stale).is_empty());
    // The exporter-health dashboard works here too: every panel has series, each naming
    // its job (not one `{}` series, as `by (cloud)` gave without external labels).
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("dashboards/llm-exporter-health.json")).unwrap(),
    )
    .unwrap();
    for panel in dash["panels"].as_array().unwrap() {
        let expr = panel["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .replace("$job", ".*")
            .replace("$__rate_interval", "1m");
        let series = wait_until(
            &format!("health panel {}", panel["title"]),
            Duration::from_secs(60),
            || Some(query(&prom, &expr)).filter(|s| !s.is_empty()),
        );
        for s in series {
            assert!(
                s["metric"]["job"]
                    .as_str()
                    .is_some_and(|j| j.starts_with("llm-exporter-")),
                "{}: {s}",
                panel["title"]
            );
        }
    }
    // Usage recording rules carry the exporters' own `cloud` label here too.
    wait_until(
        "llm:cost_usd_per_hour:rate5m from all three clouds",
        Duration::from_secs(60),
        || {
            let clouds: std::collections::BTreeSet<String> =
                query(&prom, "llm:cost_usd_per_hour:rate5m")
                    .iter()
                    .filter_map(|s| s["metric"]["cloud"].as_str().map(String::from))
                    .collect();
            (clouds.len() == 3).then_some(())
        },
    );

    // The price join of docs/metrics.md matches usage one to one on every cloud and gives what the
    // cost counters counted (the prices have not changed since; no one-hour cache writes
    // in the demo, whose tokens count as cache_write at a higher rate).
    let readme = std::fs::read_to_string(repo.join("docs/metrics.md")).unwrap();
    let join = readme
        .lines()
        .find(|l| l.contains("llm_tokens_total * llm_model_price_usd_per_token"))
        .expect("docs/metrics.md documents the price join")
        .trim()
        .to_string();
    assert_eq!(
        join,
        "sum by (cloud, model) (llm_tokens_total * llm_model_price_usd_per_token)"
    );
    let by_model = |expr: &str| -> std::collections::BTreeMap<(String, String), f64> {
        query(&prom, expr)
            .iter()
            .map(|s| {
                let m = &s["metric"];
                let key = (
                    m["cloud"].as_str().unwrap_or_default().to_string(),
                    m["model"].as_str().unwrap_or_default().to_string(),
                );
                (key, s["value"][1].as_str().unwrap().parse::<f64>().unwrap())
            })
            .collect()
    };
    let (joined, cost) = wait_until(
        "the price join with spend on all three clouds",
        Duration::from_secs(60),
        || {
            let joined = by_model(&join);
            let cost = by_model("sum by (cloud, model) (llm_estimated_cost_usd_total)");
            let clouds: std::collections::BTreeSet<&str> = joined
                .iter()
                .filter(|(_, v)| **v > 0.0)
                .map(|((c, _), _)| c.as_str())
                .collect();
            (clouds.len() == 3).then_some((joined, cost))
        },
    );
    assert_eq!(
        joined.keys().collect::<Vec<_>>(),
        cost.keys().collect::<Vec<_>>(),
        "every priced model joins"
    );
    for (key, usd) in &joined {
        let counted = cost[key];
        assert!(
            (usd - counted).abs() <= 1e-9 * counted.abs().max(1e-9),
            "{key:?}: join {usd} vs counted {counted}"
        );
    }
}

#[test]
fn remote_write_into_victoria_metrics_answers_like_prometheus_and_the_gateway_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = root();
    let exporters: Vec<_> = ["aws", "azure", "gcp"]
        .iter()
        .map(|cloud| {
            let bin = binary(&format!("llm-exporter-{cloud}"));
            (*cloud, Exporter::start(&bin, &["--demo"], &[], &[]))
        })
        .collect();
    let (_vm, vm) = start_victoria_metrics(&d.join("vm"));

    // prometheus/single.yml's jobs with prometheus/remote-write.yml's block, pointed here.
    let mut c = yaml(&repo.join("prometheus/single.yml"));
    c["global"]["scrape_interval"] = Value::from("1s");
    c.as_mapping_mut().unwrap().remove("alerting");
    c.as_mapping_mut().unwrap().remove("rule_files");
    for job in c["scrape_configs"].as_sequence_mut().unwrap() {
        let name = job["job_name"].as_str().unwrap().to_string();
        let (_, e) = exporters.iter().find(|(c, _)| name.ends_with(c)).unwrap();
        job["static_configs"] =
            serde_yaml_ng::from_str(&format!("[{{targets: ['{}']}}]", e.addr)).unwrap();
    }
    let mut rw = yaml(&repo.join("prometheus/remote-write.yml"))["remote_write"].clone();
    let readme = std::fs::read_to_string(repo.join("docs/operations.md")).unwrap();
    let snippet = readme
        .split("```yaml\nremote_write:")
        .nth(1)
        .and_then(|r| r.split("```").next())
        .expect("the remote_write snippet of docs/operations.md");
    let snippet: Value = serde_yaml_ng::from_str(&format!("remote_write:{snippet}")).unwrap();
    assert_eq!(
        snippet["remote_write"], rw,
        "docs/operations.md and prometheus/remote-write.yml differ"
    );
    let target = &mut rw.as_sequence_mut().unwrap()[0];
    assert!(target["url"].as_str().unwrap().ends_with("/api/v1/write"));
    target["url"] = Value::from(format!("http://{vm}/api/v1/write"));
    // Sent within a second rather than the default five.
    target["queue_config"] = serde_yaml_ng::from_str("{batch_send_deadline: 1s}").unwrap();
    c["remote_write"] = rw;
    let config = d.join("remote-write.yml");
    write_yaml(&config, &c);
    let (_prom, prom) = start_prometheus(&config, d);

    // An evaluation time both stores have complete: every series Prometheus holds at `t`
    // has reached VictoriaMetrics with a later sample.
    let usage = "llm_tokens_total";
    wait_until(
        "tokens counted on all three clouds in Prometheus",
        Duration::from_secs(60),
        || {
            (by_labels(
                &prom,
                &format!("sum by (cloud) ({usage}) > 0"),
                unix_now(),
                &["cloud"],
            )
            .len()
                == 3)
                .then_some(())
        },
    );
    let t = unix_now();
    wait_until(
        "VictoriaMetrics to hold every series past t",
        Duration::from_secs(60),
        || {
            let now = unix_now();
            let held = by_labels(&vm, &format!("count({usage})"), t, &[]);
            let past = by_labels(&vm, &format!("min(timestamp({usage}))"), now, &[]);
            (held == by_labels(&prom, &format!("count({usage})"), t, &[])
                && past.values().all(|v| *v as i64 > t + 1)
                && !past.is_empty())
            .then_some(())
        },
    );

    // The same PromQL gives the same totals over both stores.
    for (expr, keys) in [
        (
            "sum by (cloud, token_type) (llm_tokens_total)",
            &["cloud", "token_type"][..],
        ),
        (
            "sum by (cloud, model) (llm_estimated_cost_usd_total)",
            &["cloud", "model"][..],
        ),
        ("sum by (cloud) (llm_invocations_total)", &["cloud"][..]),
        ("count by (job) (up)", &["job"][..]),
    ] {
        let p = by_labels(&prom, expr, t, keys);
        let v = by_labels(&vm, expr, t, keys);
        assert!(p.values().any(|x| *x > 0.0), "{expr}: {p:?}");
        assert_eq!(
            p.keys().collect::<Vec<_>>(),
            v.keys().collect::<Vec<_>>(),
            "{expr}"
        );
        for (k, x) in &p {
            assert!(
                (x - v[k]).abs() <= 1e-9 * x.abs().max(1.0),
                "{expr} {k:?}: Prometheus {x}, VictoriaMetrics {}",
                v[k]
            );
        }
    }

    // The gateway with VictoriaMetrics as its upstream answers as it does over Prometheus.
    let key = "key-admin-0123456789";
    let (code, out) = tool(&binary("llm-gateway"), &["hash-key", key]);
    assert_eq!(code, 0, "{out}");
    let hash = out.split_whitespace().last().unwrap().to_string();
    let gateway = |name: &str, upstream: &str| {
        let path = d.join(format!("gateway-{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "upstreams:\n  - {{clouds: [aws, azure, gcp], url: 'http://{upstream}'}}\ntenants:\n  - {{name: support, api_key_sha256: {}}}\nadmin: {{api_key_sha256: {hash}}}\nstate_file: {}\n",
                "0".repeat(64),
                d.join(format!("gateway-{name}.state.json")).display()
            ),
        )
        .unwrap();
        Exporter::start(
            &binary("llm-gateway"),
            &["--config.file", path.to_str().unwrap()],
            &[],
            &[],
        )
    };
    let over_prom = gateway("prom", &prom);
    let over_vm = gateway("vm", &vm);
    let expr = url_encode("sum by (cloud, model) (llm_estimated_cost_usd_total)");
    let ask = |path: &str| {
        let (sp, p) = get_with_key(&over_prom.addr, path, key);
        let (sv, v) = get_with_key(&over_vm.addr, path, key);
        assert_eq!((sp, sv), (200, 200), "{path}: {p} / {v}");
        for a in [&p, &v] {
            assert!(
                a["clouds_failed"].as_array().is_some_and(|f| f.is_empty()),
                "{path}: {a}"
            );
        }
        (p, v)
    };
    // Instant answers (PromQL, exporter health) are the same.
    for path in [
        format!("/api/v1/query?query={expr}&time={t}"),
        format!("/api/v1/exporters?time={t}"),
    ] {
        let (p, v) = ask(&path);
        assert!(
            same_answer(&canonical(&p), &canonical(&v)),
            "{path}\nover Prometheus: {p}\nover VictoriaMetrics: {v}"
        );
    }
    // Window answers name the same models, but their figures differ: MetricsQL's increase()
    // does not extrapolate to the window's edges as Prometheus' does
    // (https://docs.victoriametrics.com/metricsql/), so VictoriaMetrics gives the counters'
    // exact growth and Prometheus a little more or less (docs/counters.md says so).
    let (p, v) = ask(&format!("/api/v1/costs/by-model?window=1h&time={t}"));
    let models = |a: &serde_json::Value| -> std::collections::BTreeSet<String> {
        a["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| format!("{}/{}", m["cloud"], m["model"]))
            .collect()
    };
    assert!(!models(&p).is_empty());
    assert_eq!(models(&p), models(&v));
    let (tp, tv) = (
        p["total_usd"].as_f64().unwrap(),
        v["total_usd"].as_f64().unwrap(),
    );
    eprintln!(
        "by-model 1h at {t}: over Prometheus {tp} USD, over VictoriaMetrics {tv} USD ({:+.2} %)",
        (tp / tv - 1.0) * 100.0
    );
}
