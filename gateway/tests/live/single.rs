//! The gateway over the documented single-Prometheus set-up (`prometheus/single.yml` and its
//! rule files, one upstream `{clouds: [aws, azure, gcp]}`), and two tenants sharing it, one
//! of them abusive. The exporters here are small stand-ins serving the exporters' series
//! (usage counters growing at a known pace, self-metrics, budget gauges) under the job names
//! of single.yml: what is tested is the rules, the dashboard and the gateway. The abusive
//! tenant's tests are in [`abuse`].

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use testkit::*;

mod abuse;

use crate::support::{num, prom, root, start_gateway, urlencode, yaml, Gw};

pub const ALPHA: &str = "key-alpha-0123456789";
pub const BETA: &str = "key-beta-0123456789";
pub const GAMMA: &str = "key-gamma-0123456789";
pub const ADMIN: &str = "key-admin-single-0123456789";

/// USD per second per tenant on each cloud: alpha everywhere, beta on aws only.
fn pace(cloud: &str, tenant: &str) -> f64 {
    match (cloud, tenant) {
        ("aws", "alpha") => 0.02,
        ("azure", "alpha") => 0.03,
        ("gcp", "alpha") => 0.05,
        ("aws", "beta") => 0.01,
        _ => 0.0,
    }
}

/// One cloud's stand-in exporter: its counters grow at `pace` since `start`.
fn fake_exporter(cloud: &'static str, start: Instant) -> Server {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            let secs = start.elapsed().as_secs_f64();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let mut out = String::from("# TYPE llm_estimated_cost_usd_total counter\n");
            for tenant in ["alpha", "beta"] {
                let p = pace(cloud, tenant);
                if p > 0.0 {
                    out.push_str(&format!(
                        "llm_estimated_cost_usd_total{{cloud=\"{cloud}\",account=\"1\",region=\"r\",model=\"m-{cloud}\",deployment=\"\",tenant=\"{tenant}\",token_type=\"input\"}} {}\n",
                        p * secs
                    ));
                }
            }
            out.push_str(&format!(
                "# TYPE llm_exporter_up gauge\nllm_exporter_up 1\n# TYPE llm_exporter_last_success_timestamp_seconds gauge\nllm_exporter_last_success_timestamp_seconds {now}\n# TYPE llm_budget_usd gauge\nllm_budget_usd{{tenant=\"alpha\",period=\"monthly\"}} 100\nllm_budget_usd{{tenant=\"beta\",period=\"monthly\"}} 50\n# TYPE llm_budget_alert_ratio gauge\nllm_budget_alert_ratio{{tenant=\"alpha\"}} 0.8\nllm_budget_alert_ratio{{tenant=\"beta\"}} 0.5\n"
            ));
            out
        }),
    );
    Server::start(app)
}

pub struct Stack {
    _exporters: Vec<Server>,
    _prometheus: Proc,
    pub addr: String,
}

/// single.yml with its rule files, scraping the stand-ins every second; the to-date rules
/// every 2 s (their `offset` with them, as the rules' comment requires).
pub fn start_single_stack(d: &Path) -> Stack {
    let repo = root();
    let start = Instant::now();
    let exporters: Vec<Server> = ["aws", "azure", "gcp"]
        .into_iter()
        .map(|c| fake_exporter(c, start))
        .collect();
    let mut rules = yaml(&repo.join("prometheus/rules/llm.rules.yml"));
    for group in rules["groups"].as_sequence_mut().unwrap() {
        if group.get("interval").is_some() {
            group["interval"] = Yaml::from("2s");
            for rule in group["rules"].as_sequence_mut().unwrap() {
                let expr = rule["expr"]
                    .as_str()
                    .unwrap()
                    .replace("offset 1m", "offset 2s");
                rule["expr"] = Yaml::from(expr);
            }
        }
    }
    let rules_file = d.join("single-llm.rules.yml");
    std::fs::write(&rules_file, serde_yaml_ng::to_string(&rules).unwrap()).unwrap();
    let mut c = yaml(&repo.join("prometheus/single.yml"));
    c["global"]["scrape_interval"] = Yaml::from("1s");
    c["global"]["evaluation_interval"] = Yaml::from("1s");
    c["rule_files"] = Yaml::Sequence(vec![
        Yaml::from(rules_file.display().to_string()),
        Yaml::from(repo.join("alerts/thresholds.yml").display().to_string()),
        Yaml::from(repo.join("alerts/llm.alerts.yml").display().to_string()),
    ]);
    c.as_mapping_mut().unwrap().remove("alerting");
    for (job, e) in c["scrape_configs"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .zip(&exporters)
    {
        job["static_configs"][0]["targets"] = Yaml::Sequence(vec![Yaml::from(e.addr.clone())]);
    }
    let config = d.join("single.yml");
    std::fs::write(&config, serde_yaml_ng::to_string(&c).unwrap()).unwrap();
    let port = non_ephemeral_free_port();
    let prometheus = start_prometheus_at(&config, &d.join("data-single"), port);
    let addr = format!("127.0.0.1:{port}");
    wait_until(
        "alpha's month to date on every cloud",
        Duration::from_secs(60),
        || {
            let v = prom(
                &addr,
                "count(llm:tenant_cost_usd:month_to_date{tenant=\"alpha\"} > 0)",
                &now_str(),
            );
            (v.first().map(|s| num(&s["value"][1])) == Some(3.0)).then_some(())
        },
    );
    Stack {
        _exporters: exporters,
        _prometheus: prometheus,
        addr,
    }
}

pub fn now_str() -> String {
    format!(
        "{:.3}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            - 1.0
    )
}

pub fn hash(k: &str) -> String {
    crate::support::hash(k)
}

#[test]
fn single_prometheus_budget_exporters_and_to_date_panels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stack = start_single_stack(d);
    let config = d.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "upstreams:\n  - {{clouds: [aws, azure, gcp], url: 'http://{}'}}\ntenants:\n  - {{name: alpha, api_key_sha256: {}}}\nstate_file: {}\n",
            stack.addr,
            hash(ALPHA),
            d.join("state.json").display()
        ),
    )
    .unwrap();
    let g = start_gateway(&config);
    let gw = Gw { g: &g };

    // Two evaluations of the to-date rules: what month to date grew between them equals
    // what the counters grew, per cloud, to the cent (increase() per minute would not).
    // Every cloud's series must span both: on a loaded machine one cloud's first scrape can
    // come an evaluation later than another's.
    let (t1, t2) = wait_until(
        "three evaluations of the to-date rules for every cloud",
        Duration::from_secs(60),
        || {
            let (_, body) = http_get(
                &stack.addr,
                &format!(
                    "/api/v1/query?query={}&time={}",
                    urlencode("llm:tenant_cost_usd:month_to_date{tenant=\"alpha\"}[20s]"),
                    now_str()
                ),
            )
            .ok()?;
            let v: Value = serde_json::from_str(&body).ok()?;
            let series = v["data"]["result"].as_array()?;
            let mut span = (f64::MIN, f64::MAX);
            for cloud in ["aws", "azure", "gcp"] {
                let evals: Vec<f64> = series.iter().find(|s| s["metric"]["cloud"] == cloud)?
                    ["values"]
                    .as_array()?
                    .iter()
                    .filter_map(|p| p[0].as_f64())
                    .collect();
                if evals.len() < 3 {
                    return None;
                }
                span = (span.0.max(evals[0]), span.1.min(evals[evals.len() - 1]));
            }
            (span.0 < span.1).then_some(span)
        },
    );
    for cloud in ["aws", "azure", "gcp"] {
        let at = |expr: String, t: f64| -> f64 {
            num(&prom(&stack.addr, &expr, &format!("{t:.3}"))[0]["value"][1])
        };
        let mtd =
            format!("llm:tenant_cost_usd:month_to_date{{tenant=\"alpha\", cloud=\"{cloud}\"}}");
        let counters = format!(
            "sum(last_over_time(llm_estimated_cost_usd_total{{tenant=\"alpha\", cloud=\"{cloud}\"}}[1h]))"
        );
        let grew = at(mtd.clone(), t2) - at(mtd, t1);
        let want = at(counters.clone(), t2) - at(counters, t1);
        // Up to one scrape's growth apart: a scrape stamped just before an evaluation can be
        // stored just after it, unseen by the rule and seen by this later query.
        assert!(
            (grew - want).abs() <= pace(cloud, "alpha") * 1.001 && want > 0.0,
            "{cloud}: month to date grew {grew}, the counters {want}"
        );
    }

    // The gateway's budget: every cloud's month to date, the budget, the projection's basis.
    let t = now_str();
    let body = gw.ok(ALPHA, &format!("/api/v1/budget?time={t}"));
    let tenants = body["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 1, "{body}");
    let b = &tenants[0];
    assert_eq!(b["budget_usd"], 100.0, "{body}");
    for cloud in ["aws", "azure", "gcp"] {
        let want = prom(
            &stack.addr,
            &format!("llm:tenant_cost_usd:month_to_date{{tenant=\"alpha\", cloud=\"{cloud}\"}}"),
            &t,
        );
        let got = b["by_cloud"][cloud]["month_to_date_usd"].as_f64().unwrap();
        assert!(
            close(Some(got), num(&want[0]["value"][1])),
            "{cloud}: {body}"
        );
        // A stack seconds old: the projection rests on the last 5 minutes, and says so.
        assert_eq!(
            b["by_cloud"][cloud]["projection_basis_seconds"], 300.0,
            "{body}"
        );
    }
    assert_eq!(b["projection_basis_seconds"], 300.0, "{body}");

    // Exporter health: each of single.yml's jobs under its cloud.
    let body = gw.ok(ALPHA, &format!("/api/v1/exporters?time={t}"));
    let exporters = body["exporters"].as_array().unwrap();
    let clouds: Vec<(&str, &str)> = exporters
        .iter()
        .map(|e| (e["cloud"].as_str().unwrap(), e["job"].as_str().unwrap()))
        .collect();
    assert_eq!(
        clouds,
        [
            ("aws", "llm-exporter-aws"),
            ("azure", "llm-exporter-azure"),
            ("gcp", "llm-exporter-gcp")
        ],
        "{body}"
    );
    assert_eq!(body["healthy"], true, "{body}");

    // The spend dashboard's to-date panels with a cloud (and tenant) chosen.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/llm-spend.json")).unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let mut checked = 0;
    for p in panels {
        for target in p["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or("");
            if !expr.contains("llm:tenant_cost_usd:") {
                continue;
            }
            let q = expr.replace("$cloud", "gcp").replace("$tenant", "alpha");
            let r = prom(&stack.addr, &q, &t);
            assert!(
                r.first().is_some_and(|s| num(&s["value"][1]) > 0.0),
                "panel {:?} under cloud=gcp: {q} -> {r:?}",
                p["title"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "to-date panels found: {checked}");
    drop(g);
}
