//! Two tenants sharing the documented single-Prometheus set-up ([`crate::single`]), one of
//! them abusive: hostile and costly queries are refused or contained, its breaker and
//! concurrency bound pause it alone, MCP sessions belong to their key, and the other tenant's
//! answers stay whole.

use serde_json::{json, Value};
use testkit::*;

use crate::single::{hash, now_str, start_single_stack, ADMIN, ALPHA, BETA, GAMMA};
use crate::support::{http, mcp_client, num, prom, start_gateway, urlencode, Gw};

/// The body of a raw /mcp POST or DELETE: (status, head, body).
fn mcp_raw(
    addr: &str,
    method: &str,
    key: &str,
    session: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let auth = format!("Bearer {key}");
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    http(method, addr, "/mcp", &headers, body)
}

#[test]
fn an_abusive_tenant_costs_the_others_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stack = start_single_stack(d);
    // beta may send costly queries (two million subquery steps) but has 1 ms for each (the
    // gateway waits a second more: Prometheus does not stop a subquery over vector(1) at its
    // deadline); gamma has a tiny rate limit; a quick breaker for the upstream and each tenant.
    let config = d.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "upstreams:\n  - {{clouds: [aws, azure, gcp], url: 'http://{}', timeout: 5s}}\ntenants:\n  - {{name: alpha, api_key_sha256: {}}}\n  - {{name: beta, api_key_sha256: {}, queries_per_minute: 60, query_limits: {{timeout: 1ms, max_steps: 2000000, max_concurrent: 2}}}}\n  - {{name: gamma, api_key_sha256: {}, clouds: [aws], queries_per_minute: 2}}\nadmin: {{api_key_sha256: {}}}\nrate_limit: {{queries_per_minute: 100000}}\nbreaker: {{failures: 2, open_for: 60s}}\nstate_file: {}\n",
            stack.addr,
            hash(ALPHA),
            hash(BETA),
            hash(GAMMA),
            hash(ADMIN),
            d.join("state.json").display()
        ),
    )
    .unwrap();
    let g = start_gateway(&config);
    let gw = Gw { g: &g };
    let alive = || assert_eq!(g.get("/-/healthy").0, 200, "{}", g.proc.log());

    // Hostile depth over REST: 400, and the process stays up.
    let hostile = [
        format!("{}1{}", "(".repeat(3000), ")".repeat(3000)),
        format!("{}1", "-".repeat(9000)),
        format!("{}1{}", "abs(".repeat(1500), ")".repeat(1500)),
    ];
    for q in &hostile {
        let (status, _, body) = gw.get(BETA, &format!("/api/v1/query?query={}", urlencode(q)));
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains("query"), "{body}");
        alive();
    }
    // Too costly to send at all: refused with the reason.
    let (status, _, body) = gw.get(
        BETA,
        &format!(
            "/api/v1/query?query={}",
            urlencode("sum_over_time(vector(1)[10y:1s])")
        ),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    // A 93-day daily answer is 93 queries per cloud: more than beta's 60 a minute.
    let (status, _, body) = gw.get(
        BETA,
        "/api/v1/costs/daily?start_date=2026-01-01&end_date=2026-04-03",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("93 queries"),
        "{body}"
    );

    // beta's costly queries, six at once, four times, while alpha asks: beta's run past its
    // limit and then pause beta alone; alpha's answers stay whole and equal Prometheus'.
    let alpha_asks = |i: usize| {
        let t = now_str();
        let body = gw.ok(
            ALPHA,
            &format!(
                "/api/v1/costs/summary?window={}s&group_by=cloud&time={t}",
                60 + i
            ),
        );
        assert_eq!(
            body["clouds_failed"],
            json!([]),
            "alpha, during the abuse: {body}"
        );
        let want = prom(
            &stack.addr,
            &format!(
                "sum(increase(llm_estimated_cost_usd_total{{tenant=\"alpha\"}}[{}s]))",
                60 + i
            ),
            &t,
        );
        assert!(
            close(body["total_usd"].as_f64(), num(&want[0]["value"][1])),
            "{body} vs {want:?}"
        );
    };
    let beta_failures = std::thread::scope(|s| {
        let abuser = s.spawn(|| {
            let mut failures: Vec<String> = Vec::new();
            for round in 0..4 {
                let handles: Vec<_> = (0..6)
                    .map(|i| {
                        s.spawn(move || {
                            let q = format!("count_over_time(vector({})[20d:1s])", round * 10 + i);
                            Gw { g: gw.g }
                                .get(BETA, &format!("/api/v1/query?query={}", urlencode(&q)))
                        })
                    })
                    .collect();
                for h in handles {
                    let (status, _, body) = h.join().unwrap();
                    assert_eq!(status, 200, "{body}");
                    for f in body["clouds_failed"].as_array().unwrap() {
                        failures.push(f["error"].as_str().unwrap().to_string());
                    }
                }
            }
            failures
        });
        for i in 0..12 {
            alpha_asks(i);
        }
        abuser.join().unwrap()
    });
    assert!(
        beta_failures.iter().any(|e| e.contains("limit of 1ms")),
        "beta's queries timed out in Prometheus: {beta_failures:?}"
    );
    assert!(
        beta_failures
            .iter()
            .any(|e| e.contains("paused") || e.contains("in flight")),
        "beta's own breaker or concurrency bound: {beta_failures:?}"
    );
    for i in 12..15 {
        alpha_asks(i);
    }
    let health = gw.ok(ADMIN, "/api/v1/health");
    assert_eq!(health["upstreams"][0]["breaker"], "closed", "{health}");

    // Hostile depth over MCP's promql_query, then an ordinary call: errors, not an abort.
    let mut calls: Vec<Value> = hostile
        .iter()
        .map(|q| json!({"name": "promql_query", "arguments": {"query": q}}))
        .collect();
    calls.push(json!({"name": "budget_status", "arguments": {}}));
    calls.push(json!({"name": "token_usage", "arguments": {"window": "1m"}}));
    let out = mcp_client(
        d,
        &json!({"transports": [{"kind": "http", "url": format!("http://{}/mcp", g.addr), "key": BETA}],
                "calls": calls}),
    );
    let results = out["http"]["calls"].as_array().unwrap();
    for r in &results[..3] {
        assert_eq!(r["attempts"][0]["error"]["code"], -32602, "{r}");
    }
    // The structured answers satisfy the declared output schemas (the SDK checks them).
    for r in &results[3..] {
        assert!(r["attempts"][0]["error"].is_null(), "{r}");
    }
    let text = results[4]["attempts"][0]["text"].as_str().unwrap();
    assert!(!text.contains("-0.0"), "{text}");
    for tool in out["http"]["tools"].as_array().unwrap() {
        assert!(tool["output_schema"].is_object(), "{tool}");
        assert!(
            tool["input_schema"]
                .to_string()
                .matches("Only this cloud.")
                .count()
                <= 1,
            "{tool}"
        );
    }
    alive();

    // MCP sessions belong to their key; a body that is not JSON is a JSON-RPC parse error.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let (status, head, body) = mcp_raw(&g.addr, "POST", ALPHA, None, init);
    assert_eq!(status, 200, "{head}\n{body}");
    let session = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("mcp-session-id:")
                .map(|_| l[15..].trim().to_string())
        })
        .expect("a session id");
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let (status, _, body) = mcp_raw(&g.addr, "POST", BETA, Some(&session), list);
    assert_eq!(status, 404, "another key uses alpha's session: {body}");
    let (status, _, body) = mcp_raw(&g.addr, "DELETE", BETA, Some(&session), "");
    assert_eq!(status, 404, "another key deletes alpha's session: {body}");
    let (status, _, body) = mcp_raw(&g.addr, "DELETE", ALPHA, Some(&session), "");
    assert!((200..300).contains(&status), "{status} {body}");
    let (status, _, body) = mcp_raw(
        &g.addr,
        "POST",
        ALPHA,
        None,
        "{\"jsonrpc\": \"2.0\", \"id\": 1, ",
    );
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], -32700, "{body}");

    // A cloud the admin disabled stays disabled for the tenant's key.
    assert_eq!(
        gw.post(ADMIN, "/api/v1/clouds/gcp/disable?tenant_id=alpha")
            .0,
        200
    );
    let (status, body) = gw.post(ALPHA, "/api/v1/clouds/gcp/enable");
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
    let body = gw.ok(ALPHA, "/api/v1/costs/summary?window=1m");
    assert_eq!(body["clouds_disabled"], json!(["gcp"]), "{body}");
    assert_eq!(
        gw.post(ADMIN, "/api/v1/clouds/gcp/enable?tenant_id=alpha")
            .0,
        200
    );

    // Retry-After and the body give the same figure.
    for _ in 0..2 {
        gw.ok(GAMMA, "/api/v1/costs/summary?window=1m");
    }
    let (status, head, body) = gw.get(GAMMA, "/api/v1/costs/summary?window=1m");
    assert_eq!(status, 429, "{body}");
    let header: u64 = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&format!("retry after {header} s")),
        "{header} vs {body}"
    );

    // /metrics names no tenant without the admin key, and every tenant with it.
    let (_, public) = g.get("/metrics");
    for name in ["alpha", "beta", "gamma", "tenant="] {
        assert!(
            !public.contains(name),
            "{name} in the open /metrics:\n{public}"
        );
    }
    let (status, _, _) = http(
        "GET",
        &g.addr,
        "/metrics",
        &[("Authorization", &format!("Bearer {ALPHA}"))],
        "",
    );
    assert_eq!(status, 200);
    let (_, _, admin) = http(
        "GET",
        &g.addr,
        "/metrics",
        &[("Authorization", &format!("Bearer {ADMIN}"))],
        "",
    );
    let s = Scrape::parse(&admin);
    assert!(
        s.value(
            "llm_gateway_tenant_requests_total",
            &[
                ("route", "/api/v1/query"),
                ("tenant", "beta"),
                ("outcome", "bad_request")
            ]
        )
        .is_some_and(|n| n >= 4.0),
        "{admin}"
    );
    assert!(
        Scrape::parse(&public)
            .value(
                "llm_gateway_upstream_requests_total",
                &[("upstream", "global"), ("outcome", "query_timeout")]
            )
            .is_some_and(|n| n >= 1.0),
        "{public}"
    );
    alive();
}
