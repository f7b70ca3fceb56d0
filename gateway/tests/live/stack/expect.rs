//! What each gateway answer must equal: the same PromQL asked of each regional Prometheus
//! directly, at the same evaluation time.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Regional, Stack};
use crate::support::{assert_close, num, prom, prom_map, urlencode};

pub struct Expect<'a> {
    pub regional: &'a [Regional],
    pub t: &'a str,
    pub tenant: &'a str,
}

impl Expect<'_> {
    pub fn each(&self, expr: &str, keys: &[&str]) -> BTreeMap<(String, Vec<String>), f64> {
        let mut out = BTreeMap::new();
        for r in self.regional {
            for (k, v) in prom_map(&r.addr, expr, self.t, keys) {
                out.insert((r.cloud.to_string(), k), v);
            }
        }
        out
    }

    pub fn sel(&self, metric: &str) -> String {
        format!("{metric}{{tenant=\"{}\"}}", self.tenant)
    }

    pub fn check_summary(&self, body: &Value) {
        let want = self.each(
            &format!(
                "sum by (cloud, model) (increase({}[5m]))",
                self.sel("llm_estimated_cost_usd_total")
            ),
            &["cloud", "model"],
        );
        assert!(
            !want.is_empty(),
            "no spend for {} in Prometheus",
            self.tenant
        );
        let rows = body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), want.len(), "{body}");
        for row in rows {
            let cloud = row["labels"]["cloud"].as_str().unwrap().to_string();
            let model = row["labels"]["model"].as_str().unwrap().to_string();
            let w = want[&(cloud.clone(), vec![cloud.clone(), model.clone()])];
            assert_close(
                &format!("spend {cloud}/{model}"),
                row["cost_usd"].as_f64().unwrap(),
                w,
            );
        }
        let total: f64 = want.values().sum();
        assert_close("spend total", body["total_usd"].as_f64().unwrap(), total);
    }

    pub fn check_models(&self, body: &Value, model: Option<&str>, limit: Option<usize>) {
        let sel = match model {
            Some(m) => format!(
                "llm_estimated_cost_usd_total{{tenant=\"{}\", model=~\"{m}\"}}",
                self.tenant
            ),
            None => self.sel("llm_estimated_cost_usd_total"),
        };
        let want = self.each(&format!("sum by (model) (increase({sel}[5m]))"), &["model"]);
        let mut sorted: Vec<_> = want.iter().collect();
        sorted.sort_by(|a, b| b.1.total_cmp(a.1));
        let n = limit.unwrap_or(sorted.len()).min(sorted.len());
        let models = body["models"].as_array().unwrap();
        assert_eq!(models.len(), n, "{body}");
        for (m, ((cloud, k), v)) in models.iter().zip(sorted.iter().take(n)) {
            assert_eq!(m["cloud"], cloud.as_str(), "{body}");
            assert_eq!(m["model"], k[0].as_str(), "{body}");
            assert_close("model cost", m["cost_usd"].as_f64().unwrap(), **v);
        }
    }

    pub fn check_tokens(&self, body: &Value) {
        let keys = ["model", "token_type"];
        let total = self.each(
            &format!(
                "sum by (model, token_type) (increase({}[5m]))",
                self.sel("llm_tokens_total")
            ),
            &keys,
        );
        let rate = self.each(
            &format!(
                "sum by (model, token_type) (rate({}[5m]))",
                self.sel("llm_tokens_total")
            ),
            &keys,
        );
        let rows = body["rows"].as_array().unwrap();
        assert!(!rows.is_empty());
        assert_eq!(rows.len(), total.len(), "{body}");
        for r in rows {
            let k = (
                r["cloud"].as_str().unwrap().to_string(),
                vec![
                    r["model"].as_str().unwrap().to_string(),
                    r["token_type"].as_str().unwrap().to_string(),
                ],
            );
            assert_close("tokens", r["tokens"].as_f64().unwrap(), total[&k]);
            assert_close(
                "tokens/s",
                r["tokens_per_second"].as_f64().unwrap(),
                rate[&k],
            );
        }
    }

    pub fn check_daily(&self, body: &Value, today_secs: i64, yesterday_end: i64) {
        let days = body["days"].as_array().unwrap();
        assert_eq!(days.len(), 2, "{body}");
        let e = Expect {
            t: &yesterday_end.to_string(),
            ..*self
        };
        let y = e.each(
            &format!(
                "sum(increase({}[86400s]))",
                self.sel("llm_estimated_cost_usd_total")
            ),
            &[],
        );
        let today = self.each(
            &format!(
                "sum(increase({}[{today_secs}s]))",
                self.sel("llm_estimated_cost_usd_total")
            ),
            &[],
        );
        assert!(!today.is_empty());
        for (day, want, complete) in [(&days[0], &y, true), (&days[1], &today, false)] {
            assert_eq!(day["complete"], complete, "{body}");
            for (cloud, v) in day["by_cloud"].as_object().unwrap() {
                let w = want.get(&(cloud.clone(), vec![])).copied().unwrap_or(0.0);
                assert_close(&format!("daily {cloud}"), v.as_f64().unwrap(), w);
            }
            let total: f64 = want.values().sum();
            assert_close("daily total", day["total_usd"].as_f64().unwrap(), total);
        }
    }

    pub fn check_budget(&self, body: &Value) {
        let m = |metric: &str| -> Vec<f64> {
            self.each(&self.sel(metric), &[])
                .values()
                .copied()
                .collect()
        };
        let mtd: f64 = m("llm:tenant_cost_usd:month_to_date").iter().sum();
        let proj: f64 = m("llm:tenant_cost_usd:projected_month_end").iter().sum();
        let budget = m("llm_budget_usd").into_iter().fold(f64::MIN, f64::max);
        let ratio = m("llm_budget_alert_ratio")
            .into_iter()
            .fold(f64::MIN, f64::max);
        let tenants = body["tenants"].as_array().unwrap();
        assert_eq!(tenants.len(), 1, "{body}");
        let b = &tenants[0];
        assert_eq!(b["tenant"], self.tenant);
        assert!(mtd > 0.0);
        assert_close(
            "month to date",
            b["month_to_date_usd"].as_f64().unwrap(),
            mtd,
        );
        assert_close(
            "projected",
            b["projected_month_end_usd"].as_f64().unwrap(),
            proj,
        );
        assert_close("budget", b["budget_usd"].as_f64().unwrap(), budget);
        assert_close("alert ratio", b["alert_ratio"].as_f64().unwrap(), ratio);
        let used = mtd / budget;
        let status = if used >= 1.0 {
            "over_budget"
        } else if used >= ratio {
            "alert"
        } else {
            "ok"
        };
        assert_eq!(b["status"], status, "{body}");
        assert_eq!(b["projected_over_budget"], proj > budget, "{body}");
    }

    pub fn check_exporters(&self, body: &Value) {
        let exporters = body["exporters"].as_array().unwrap();
        assert_eq!(exporters.len(), 3, "{body}");
        for e in exporters {
            let r = self
                .regional
                .iter()
                .find(|r| r.cloud == e["cloud"])
                .unwrap();
            let last = prom(
                &r.addr,
                "llm_exporter_last_success_timestamp_seconds",
                self.t,
            );
            let up = prom(&r.addr, "llm_exporter_up", self.t);
            assert_close(
                "last success",
                e["last_success_timestamp"].as_f64().unwrap(),
                num(&last[0]["value"][1]),
            );
            assert_eq!(e["polling"], num(&up[0]["value"][1]) == 1.0, "{body}");
            assert_eq!(e["scraped"], true, "{body}");
        }
    }

    pub fn check_query(&self, body: &Value) {
        let want = self.each(&format!("sum({})", self.sel("llm_tokens_total")), &[]);
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "{body}");
        for r in results {
            let key = (r["cloud"].as_str().unwrap().to_string(), vec![]);
            match r["result"].as_array().unwrap().first() {
                None => assert!(!want.contains_key(&key), "{body}"),
                Some(s) => assert_close("promql", num(&s["value"][1]), want[&key]),
            }
        }
    }
}

/// Every REST answer compared with Prometheus: (what, path at the stack's evaluation time).
pub fn rest_paths(s: &Stack) -> Vec<(&'static str, String)> {
    let (t, today, yesterday) = (&s.t, &s.today, &s.yesterday);
    vec![
        (
            "summary",
            format!("/api/v1/costs/summary?window=5m&group_by=cloud,model&time={t}"),
        ),
        (
            "by_model",
            format!("/api/v1/costs/by-model?window=5m&time={t}"),
        ),
        (
            "by_model_filtered",
            format!(
                "/api/v1/costs/by-model?window=5m&model={}&time={t}",
                urlencode("gpt-4o|gemini.*")
            ),
        ),
        (
            "top",
            format!("/api/v1/costs/top-models?window=5m&limit=2&time={t}"),
        ),
        ("tokens", format!("/api/v1/tokens?window=5m&time={t}")),
        (
            "daily",
            format!("/api/v1/costs/daily?start_date={yesterday}&end_date={today}&time={t}"),
        ),
        ("budget", format!("/api/v1/budget?time={t}")),
        ("exporters", format!("/api/v1/exporters?time={t}")),
        (
            "query",
            format!(
                "/api/v1/query?query={}&time={t}",
                urlencode("sum(llm_tokens_total)")
            ),
        ),
    ]
}

/// Checks the answer `what` (a name of [`rest_paths`]) against Prometheus.
pub fn check(s: &Stack, e: &Expect, what: &str, body: &Value) {
    match what {
        "summary" => e.check_summary(body),
        "by_model" => e.check_models(body, None, None),
        "by_model_filtered" => e.check_models(body, Some("gpt-4o|gemini.*"), None),
        "top" => e.check_models(body, None, Some(2)),
        "tokens" => e.check_tokens(body),
        "daily" => e.check_daily(body, s.today_secs, s.day_start),
        "budget" => e.check_budget(body),
        "exporters" => e.check_exporters(body),
        "query" => e.check_query(body),
        other => panic!("{other}"),
    }
}
