//! The gateway over the documented single-Prometheus set-up (`prometheus/single.yml` and its
//! rule files, one upstream `{clouds: [aws, azure, gcp]}`), and two tenants sharing it, one
//! of them abusive. The exporters here are small stand-ins serving the exporters' series
//! (usage counters growing at a known pace, self-metrics, budget gauges) under the job names
//! of single.yml: what is tested is the rules, the dashboard and the gateway.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;
use testkit::*;

use crate::{http, mcp_client, num, prom, root, start_gateway, urlencode, yaml, Gw};

const ALPHA: &str = "key-alpha-0123456789";
const BETA: &str = "key-beta-0123456789";
const GAMMA: &str = "key-gamma-0123456789";
const ADMIN: &str = "key-admin-single-0123456789";

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

fn now_str() -> String {
    format!(
        "{:.3}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            - 1.0
    )
}

fn hash(k: &str) -> String {
    crate::hash(k)
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
