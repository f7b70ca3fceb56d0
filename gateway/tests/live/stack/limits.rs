//! The rate limit and the gateway's own metrics, on a gateway of the test's own (it is
//! stopped at the end): past its quota a tenant gets an MCP error or a 429 with Retry-After;
//! /metrics names tenants only to the admin key, passes promtool and lists exactly the
//! families the gateway's README documents.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use testkit::*;

use crate::stack::{stack, KEY_ADMIN, KEY_QUOTA};
use crate::support::{http, mcp_client, root, Gw};

#[test]
fn past_the_rate_limit_calls_are_refused_and_counted_for_the_admin_only() {
    let live = stack();
    let dir = tempfile::tempdir().unwrap();
    let (mut gateway, _) = live.own_gateway(dir.path(), &live.proxies);
    let gw = Gw { g: &gateway };
    // Rate limit (3 per minute for tenant quota): the MCP call past it is an MCP error, the
    // REST request past it a 429 with Retry-After.
    let plan = json!({"transports": [{"kind": "http", "url": format!("http://{}/mcp", gateway.addr), "key": KEY_QUOTA}],
                      "calls": [{"name": "exporter_health", "arguments": {}, "repeat": 4}]});
    let out = mcp_client(dir.path(), &plan);
    let attempts = out["http"]["calls"][0]["attempts"].as_array().unwrap();
    for a in &attempts[..3] {
        assert!(a["error"].is_null(), "{a}");
    }
    assert_eq!(attempts[3]["error"]["code"], -32029, "{}", attempts[3]);
    assert!(attempts[3]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("rate limit"));
    let (status, head, _) = gw.get(KEY_QUOTA, "/api/v1/exporters");
    assert_eq!(status, 429, "{head}");
    let retry: u64 = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("retry-after: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("Retry-After");
    assert!((1..=20).contains(&retry), "{retry}");

    // The gateway's own metrics: per tenant with the admin key only.
    let (status, metrics) = gateway.get("/metrics");
    assert_eq!(status, 200);
    assert!(!metrics.contains("tenant="), "{metrics}");
    let (status, _, metrics) = http(
        "GET",
        &gateway.addr,
        "/metrics",
        &[("Authorization", &format!("Bearer {KEY_ADMIN}"))],
        "",
    );
    assert_eq!(status, 200);
    let s = Scrape::parse(&metrics);
    assert!(
        s.value(
            "llm_gateway_tenant_requests_total",
            &[
                ("route", "/api/v1/exporters"),
                ("tenant", "quota"),
                ("outcome", "rate_limited")
            ]
        ) == Some(1.0),
        "{metrics}"
    );
    assert!(
        s.value(
            "llm_gateway_tenant_requests_total",
            &[
                ("route", "mcp:exporter_health"),
                ("tenant", "quota"),
                ("outcome", "rate_limited")
            ]
        ) == Some(1.0),
        "{metrics}"
    );
    assert!(!s
        .matching("llm_gateway_cache_requests_total", &[("result", "miss")])
        .is_empty());
    assert!(!s
        .matching(
            "llm_gateway_upstream_request_duration_seconds_count",
            &[("upstream", "aws")]
        )
        .is_empty());
    let (code, out) = promtool_check_metrics(&metrics);
    assert_eq!(code, 0, "{out}");
    // The documented metrics are the exposed ones, the admin's view (gateway/README.md,
    // "Resilience and metrics").
    let readme = std::fs::read_to_string(root().join("gateway/README.md")).unwrap();
    let documented: BTreeSet<&str> = readme
        .split('`')
        .filter(|w| w.starts_with("llm_gateway_"))
        .map(|w| w.split('{').next().unwrap())
        .collect();
    let exposed: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        documented, exposed,
        "gateway/README.md and /metrics disagree"
    );
    assert_eq!(gateway.get("/-/healthy").0, 200);
    assert_eq!(gateway.get("/-/ready").0, 200);
    let start = std::time::Instant::now();
    let status = gateway.proc.stop().unwrap();
    assert!(
        status.success() && start.elapsed() < Duration::from_secs(15),
        "{status:?}"
    );
    live.assert_read_only();
}
