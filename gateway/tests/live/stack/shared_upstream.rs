//! One upstream holding every cloud (here a Prometheus federating the live stack's regional
//! servers' raw series, with their `cloud` external label): the same answers as one upstream
//! per cloud, each cloud picked by matcher.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use testkit::*;

use crate::stack::{stack, KEY_SUPPORT};
use crate::support::{assert_close, hash, num, prom, prom_map, start_gateway, Gw};

#[test]
fn one_upstream_holding_every_cloud_answers_as_one_per_cloud() {
    let s = stack();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shared_config = d.join("shared.yml");
    let targets: Vec<String> = s.regional.iter().map(|r| format!("'{}'", r.addr)).collect();
    std::fs::write(
        &shared_config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: federate-raw\n    honor_labels: true\n    metrics_path: /federate\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    params: {{'match[]': ['{{__name__=~\"llm.*\"}}', '{{__name__=\"up\", job=~\"llm-exporter-.*\"}}']}}\n    static_configs: [{{targets: [{}]}}]\n",
            targets.join(", ")
        ),
    )
    .unwrap();
    let shared_port = non_ephemeral_free_port();
    let _shared = start_prometheus_at(&shared_config, &d.join("data-shared"), shared_port);
    let shared_addr = format!("127.0.0.1:{shared_port}");
    let shared_gw_config = d.join("gateway-shared.yaml");
    std::fs::write(
        &shared_gw_config,
        format!(
            "upstreams:\n  - {{clouds: [aws, azure, gcp], url: 'http://{shared_addr}'}}\ntenants:\n  - {{name: support, api_key_sha256: {}}}\nstate_file: {}\n",
            hash(KEY_SUPPORT),
            d.join("gateway-shared.state.json").display()
        ),
    )
    .unwrap();
    let shared_gw = start_gateway(&shared_gw_config);
    wait_until(
        "support's spend and month to date federated from both its clouds, exporter health from all three",
        Duration::from_secs(60),
        || {
            let now = format!(
                "{:.3}",
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64()
                    - 2.0
            );
            let clouds = |e: &str| -> BTreeSet<String> {
                prom(&shared_addr, e, &now)
                    .iter()
                    .filter(|s| num(&s["value"][1]) > 0.0)
                    .filter_map(|s| s["metric"]["cloud"].as_str().map(String::from))
                    .collect()
            };
            (clouds(
                "sum by (cloud) (increase(llm_estimated_cost_usd_total{tenant=\"support\"}[5m]))",
            )
            .len()
                == 2
                && clouds("llm:tenant_cost_usd:month_to_date{tenant=\"support\"}").len() == 2
                // Every exporter's health series, from all three clouds.
                && clouds("up{job=~\"llm-exporter-.*\"}").len() == 3
                && clouds("llm_exporter_last_success_timestamp_seconds").len() == 3)
                .then_some(())
        },
    );
    let t2 = format!(
        "{:.3}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            - 2.0
    );
    let sgw = Gw { g: &shared_gw };
    let body = sgw.ok(
        KEY_SUPPORT,
        &format!("/api/v1/costs/summary?window=5m&group_by=cloud,model&time={t2}"),
    );
    assert_eq!(
        body["clouds_queried"],
        json!(["aws", "azure", "gcp"]),
        "{body}"
    );
    let want = prom_map(
        &shared_addr,
        "sum by (cloud, model) (increase(llm_estimated_cost_usd_total{tenant=\"support\"}[5m]))",
        &t2,
        &["cloud", "model"],
    );
    let rows = body["rows"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() == want.len(), "{body}");
    for row in rows {
        let k = vec![
            row["labels"]["cloud"].as_str().unwrap().to_string(),
            row["labels"]["model"].as_str().unwrap().to_string(),
        ];
        assert_close(
            "shared upstream spend",
            row["cost_usd"].as_f64().unwrap(),
            want[&k],
        );
    }
    let body = sgw.ok(KEY_SUPPORT, &format!("/api/v1/budget?time={t2}"));
    let mtd = prom_map(
        &shared_addr,
        "sum by (cloud) (llm:tenant_cost_usd:month_to_date{tenant=\"support\"})",
        &t2,
        &["cloud"],
    );
    for (k, v) in &mtd {
        assert_close(
            "shared upstream month to date",
            body["tenants"][0]["by_cloud"][&k[0]]["month_to_date_usd"]
                .as_f64()
                .unwrap(),
            *v,
        );
    }
    let body = sgw.ok(KEY_SUPPORT, &format!("/api/v1/exporters?time={t2}"));
    assert_eq!(body["exporters"].as_array().unwrap().len(), 3, "{body}");
    drop(shared_gw);
}
