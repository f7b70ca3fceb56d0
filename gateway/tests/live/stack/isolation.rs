//! Tenant isolation on the live stack: a tenant's key, whatever PromQL it sends, never sees
//! another tenant's series; keys that are wrong, missing or ask for another tenant are refused;
//! the admin key names the tenant it asks for.

use std::collections::BTreeMap;

use crate::stack::{stack, KEY_ADMIN, KEY_SUPPORT};
use crate::support::{assert_close, http, num, prom, series, urlencode};

#[test]
fn no_escape_attempt_shows_another_tenants_series() {
    let s = stack();
    let gw = s.gw();
    let research_sum = prom(
        &s.regional[0].addr,
        "sum(llm_estimated_cost_usd_total{tenant=\"research\"})",
        &s.t,
    );
    assert!(
        num(&research_sum[0]["value"][1]) > 0.0,
        "research has data to leak"
    );
    // Per cloud: the one value of `expr` (0 when it has no result).
    let direct = |expr: &str| -> BTreeMap<String, f64> {
        s.regional
            .iter()
            .map(|r| {
                (
                    r.cloud.to_string(),
                    prom(&r.addr, expr, &s.t)
                        .first()
                        .map_or(0.0, |s| num(&s["value"][1])),
                )
            })
            .collect()
    };
    enum Want {
        /// As many series as this count of the caller's own.
        Count(&'static str),
        /// The one value equals this query on the caller's own series.
        Equal(&'static str),
        /// Only the tenant check.
        Nothing,
    }
    use Want::{Count, Equal, Nothing};
    let escapes: Vec<(&str, Want)> = vec![
        ("{__name__=~\".+\"}", Count("count({__name__=~\".+\", tenant=\"support\"})")),
        ("count({__name__=~\".+\"})", Equal("count({__name__=~\".+\", tenant=\"support\"})")),
        ("llm_tokens_total{tenant=\"research\"}", Count("count(llm_tokens_total{tenant=\"support\"})")),
        ("llm_tokens_total or llm_estimated_cost_usd_total{tenant=\"research\"}", Nothing),
        ("sum(llm_estimated_cost_usd_total{tenant!=\"support\"})", Equal("sum(llm_estimated_cost_usd_total{tenant=\"support\"})")),
        ("sum(llm_estimated_cost_usd_total{tenant=~\".*\"})", Equal("sum(llm_estimated_cost_usd_total{tenant=\"support\"})")),
        ("sum(llm_estimated_cost_usd_total{tenant=~\"research|support\"})", Equal("sum(llm_estimated_cost_usd_total{tenant=\"support\"})")),
        ("sum(llm_estimated_cost_usd_total{tenant=~\"(?i)RESEARCH\"})", Equal("sum(llm_estimated_cost_usd_total{tenant=\"support\"})")),
        (
            "max_over_time(sum(llm_estimated_cost_usd_total{tenant=\"research\"})[1m:5s])",
            Equal("max_over_time(sum(llm_estimated_cost_usd_total{tenant=\"support\"})[1m:5s])"),
        ),
        ("label_replace(llm_tokens_total{tenant=\"research\"}, \"tenant\", \"research\", \"tenant\", \".*\")", Nothing),
        ("label_replace(llm_tokens_total, \"x\", \"$1\", \"tenant\", \"(.*)\")", Count("count(llm_tokens_total{tenant=\"support\"})")),
        ("sum by (tenant) ({tenant=\"research\"}) or on() vector(0)", Nothing),
        ("llm_budget_usd", Count("count(llm_budget_usd{tenant=\"support\"})")),
    ];
    for (attempt, want) in &escapes {
        let body = gw.ok(
            KEY_SUPPORT,
            &format!("/api/v1/query?query={}&time={}", urlencode(attempt), s.t),
        );
        for (cloud, labels) in series(&body) {
            let tenant = labels["tenant"].as_str();
            assert!(
                tenant.is_none() || tenant == Some("support"),
                "{attempt}: {cloud} {labels}"
            );
            assert!(
                labels
                    .as_object()
                    .is_none_or(|o| o.values().all(|v| v != "research")),
                "{attempt}: {labels}"
            );
        }
        let (expected, count) = match want {
            Count(e) => (direct(e), true),
            Equal(e) => (direct(e), false),
            Nothing => continue,
        };
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "{attempt}: {body}");
        for r in results {
            let cloud = r["cloud"].as_str().unwrap();
            let result = r["result"].as_array().unwrap();
            let got = if count {
                result.len() as f64
            } else {
                result.first().map_or(0.0, |s| num(&s["value"][1]))
            };
            assert_close(&format!("{attempt} on {cloud}"), got, expected[cloud]);
        }
    }
    s.assert_read_only();
}

#[test]
fn wrong_missing_and_foreign_keys_are_refused() {
    let s = stack();
    let gw = s.gw();
    // Another tenant's id, wrong and missing keys.
    assert_eq!(
        gw.get(KEY_SUPPORT, "/api/v1/budget?tenant_id=research").0,
        403
    );
    for key in ["", "wrong-key"] {
        let (status, head, _) = gw.get(key, "/api/v1/costs/summary");
        assert_eq!(status, 401, "{key:?}");
        assert!(
            head.to_lowercase().contains("www-authenticate: bearer"),
            "{head}"
        );
        let (status, _, _) = http(
            "POST",
            &s.gateway.addr,
            "/mcp",
            &[
                ("Authorization", &format!("Bearer {key}")),
                ("Content-Type", "application/json"),
                ("Accept", "application/json, text/event-stream"),
            ],
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        );
        assert_eq!(status, 401, "/mcp with {key:?}");
    }
    let (status, _, _) = http("GET", &s.gateway.addr, "/api/v1/health", &[], "");
    assert_eq!(status, 401);
    s.assert_read_only();
}

#[test]
fn the_admin_key_names_a_tenant_and_gets_its_answer() {
    let s = stack();
    let admin = s.gw().ok(
        KEY_ADMIN,
        &format!(
            "/api/v1/costs/summary?window=5m&group_by=cloud,model&time={}&tenant_id=support",
            s.t
        ),
    );
    s.expect("support").check_summary(&admin);
    s.assert_read_only();
}
