//! The MCP tools through the official Python SDK, over Streamable HTTP and stdio, against the
//! live stack: every tool, the same numbers as Prometheus and as the REST API; then each tool
//! at "now" for latency (cold, then warm from the cache).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::stack::expect::{check, rest_paths};
use crate::stack::{stack, KEY_SUPPORT};
use crate::support::{mcp_client, series, stdio_transport};

#[test]
fn every_mcp_tool_over_http_and_stdio_equals_prometheus_and_the_rest_answer() {
    let s = stack();
    // The REST answers the structured results must equal, field for field.
    let rest_answer = |what: &str| -> Value {
        let (_, path) = rest_paths(&s)
            .into_iter()
            .find(|(w, _)| *w == what)
            .unwrap();
        s.gw().ok(KEY_SUPPORT, &path)
    };
    let tool_calls = |with_time: bool, repeat: u32| -> Vec<Value> {
        let time = |mut v: Value| {
            if with_time {
                v["time"] = json!(s.t);
            }
            v
        };
        vec![
            json!({"name": "spend_summary", "arguments": time(json!({"window": "5m", "group_by": ["cloud", "model"]})), "repeat": repeat}),
            json!({"name": "top_models", "arguments": time(json!({"window": "5m", "limit": 2})), "repeat": repeat}),
            json!({"name": "token_usage", "arguments": time(json!({"window": "5m"})), "repeat": repeat}),
            json!({"name": "daily_costs", "arguments": time(json!({"start_date": s.yesterday, "end_date": s.today})), "repeat": repeat}),
            json!({"name": "budget_status", "arguments": time(json!({})), "repeat": repeat}),
            json!({"name": "exporter_health", "arguments": time(json!({})), "repeat": repeat}),
            json!({"name": "promql_query", "arguments": time(json!({"query": "sum(llm_tokens_total)"})), "repeat": repeat}),
        ]
    };
    let mut calls = tool_calls(true, 1);
    calls.push(json!({"name": "promql_query", "arguments": {"query": "sum by (tenant) (llm_estimated_cost_usd_total{tenant=\"research\"} or {__name__=~\"llm_.*\", tenant!=\"support\"})", "time": s.t}, "repeat": 1}));
    calls.push(
        json!({"name": "promql_query", "arguments": {"query": "sum(", "time": s.t}, "repeat": 1}),
    );
    calls.extend(tool_calls(false, 6));
    let plan = json!({"transports": [
        {"kind": "http", "url": format!("http://{}/mcp", s.gateway.addr), "key": KEY_SUPPORT},
        stdio_transport(&s.gw_config, KEY_SUPPORT)], "calls": calls});
    let out = mcp_client(s.dir.path(), &plan);
    let e = s.expect("support");
    let mut latency: Vec<String> = Vec::new();
    for transport in ["http", "stdio"] {
        let tools: BTreeSet<&str> = out[transport]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            tools,
            BTreeSet::from([
                "spend_summary",
                "top_models",
                "token_usage",
                "daily_costs",
                "budget_status",
                "exporter_health",
                "promql_query",
                "reconcile_costs"
            ]),
            "{transport}"
        );
        for tool in out[transport]["tools"].as_array().unwrap() {
            assert_eq!(tool["input_schema"]["type"], "object", "{tool}");
        }
        let results = out[transport]["calls"].as_array().unwrap();
        let one = |i: usize| -> &Value {
            let a = &results[i]["attempts"][0];
            assert!(
                a["error"].is_null() && a["is_error"] == false,
                "{transport} {}: {a}",
                results[i]["name"]
            );
            assert!(!a["text"].as_str().unwrap_or("").is_empty());
            &a["structured"]
        };
        for (i, what) in [
            "summary",
            "top",
            "tokens",
            "daily",
            "budget",
            "exporters",
            "query",
        ]
        .iter()
        .enumerate()
        {
            let body = one(i);
            check(&s, &e, what, body);
        }
        // The structured results are the REST answers, field for field.
        assert_eq!(one(0), &rest_answer("summary"), "{transport}");
        assert_eq!(one(4), &rest_answer("budget"), "{transport}");
        // An escape attempt through the tool sees only the caller's tenant.
        for (_, labels) in series(one(7)) {
            assert!(
                labels["tenant"].is_null() || labels["tenant"] == "support",
                "{transport}: {labels}"
            );
        }
        let bad = &results[8]["attempts"][0];
        assert_eq!(bad["error"]["code"], -32602, "{transport}: {bad}");
        for r in &results[9..] {
            let a = r["attempts"].as_array().unwrap();
            for x in a {
                assert!(x["error"].is_null(), "{transport}: {x}");
            }
            let mut warm: Vec<f64> = a[1..].iter().map(|x| x["ms"].as_f64().unwrap()).collect();
            warm.sort_by(f64::total_cmp);
            latency.push(format!(
                "{transport:5} {:16} cold {:7.1} ms  warm (median of {}) {:7.1} ms",
                r["name"].as_str().unwrap(),
                a[0]["ms"].as_f64().unwrap(),
                warm.len(),
                warm[warm.len() / 2]
            ));
        }
    }
    eprintln!(
        "MCP tool latency against the live stack (the first call at \"now\" is cold, the next five warm from the cache):\n{}",
        latency.join("\n")
    );
    if let Ok(path) = std::env::var("GATEWAY_LATENCY_FILE") {
        std::fs::write(path, latency.join("\n") + "\n").unwrap();
    }

    s.assert_read_only();
}
