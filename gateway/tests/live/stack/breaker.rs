//! Upstream health and the breaker. All upstreams answering: health is ok. One cloud's
//! Prometheus unreachable: answers are partial and name it, its breaker opens (health,
//! metrics); once it is back the breaker closes again. The gateway reaches each
//! Prometheus only through a proxy, which answers 502 as it does when its Prometheus is
//! stopped: the same outage, seen from the gateway, without stopping a Prometheus that
//! other tests share. On a gateway and proxies of the test's own.

use std::time::Duration;

use serde_json::json;
use testkit::*;

use crate::stack::{stack, KEY_ADMIN, KEY_RESEARCH, KEY_SUPPORT};
use crate::support::{metric_value, Gw};

#[test]
fn an_unreachable_prometheus_gives_partial_answers_and_opens_then_closes_its_breaker() {
    let s = stack();
    let dir = tempfile::tempdir().unwrap();
    let proxies = s.own_proxies();
    let (gateway, _) = s.own_gateway(dir.path(), &proxies);
    let gw = Gw { g: &gateway };
    let gcp = &proxies[2];
    gcp.set_down(true);
    for i in 0..3 {
        let body = gw.ok(
            KEY_RESEARCH,
            &format!("/api/v1/costs/summary?window={}s", 200 + i),
        );
        let failed = body["clouds_failed"].as_array().unwrap();
        assert_eq!(failed.len(), 1, "{body}");
        assert_eq!(failed[0]["cloud"], "gcp");
        assert!(
            body["by_cloud"]["aws"].is_number() && body["by_cloud"]["azure"].is_number(),
            "the other clouds still answer: {body}"
        );
    }
    let health = gw.ok(KEY_ADMIN, "/api/v1/health");
    let gcp_health = health["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "gcp")
        .unwrap()
        .clone();
    assert_eq!(gcp_health["breaker"], "open", "{health}");
    assert_eq!(health["status"], "degraded");
    let (_, metrics) = gateway.get("/metrics");
    let state = metric_value(
        &metrics,
        "llm_gateway_circuit_state",
        &[("upstream", "gcp")],
    );
    assert!(
        state.is_some_and(|s| s >= 1.0),
        "open (or half-open on a slow machine): {state:?}"
    );
    let refused = metric_value(
        &metrics,
        "llm_gateway_upstream_requests_total",
        &[("upstream", "gcp"), ("outcome", "circuit_open")],
    );
    assert!(
        refused.is_some_and(|n| n >= 1.0),
        "requests the open breaker refused: {refused:?}"
    );
    gcp.set_down(false);
    wait_until("the gcp breaker to close", Duration::from_secs(30), || {
        let h = gw.ok(KEY_ADMIN, "/api/v1/health");
        (h["status"] == "ok").then_some(())
    });
    let body = gw.ok(KEY_RESEARCH, "/api/v1/costs/summary?window=220s");
    assert_eq!(body["clouds_failed"], json!([]), "{body}");
    let (_, metrics) = gateway.get("/metrics");
    assert_eq!(
        metric_value(
            &metrics,
            "llm_gateway_circuit_state",
            &[("upstream", "gcp")]
        ),
        Some(0.0)
    );
}

#[test]
fn health_is_ok_with_every_upstream_healthy_and_its_breaker_closed() {
    let s = stack();
    let health = s.gw().ok(KEY_SUPPORT, "/api/v1/health");
    assert_eq!(health["status"], "ok", "{health}");
    assert!(
        health["upstreams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["breaker"] == "closed" && u["healthy"] == true),
        "{health}"
    );
    s.assert_read_only();
}
