//! The gateway against the live stack: the three exporters on their demo source (two tenants)
//! -> three regional Prometheus servers with the repository's configs and recording rules ->
//! a counting proxy in front of each -> the real `llm-gateway` binary. Every REST endpoint and
//! every MCP tool (through the official MCP Python SDK, over Streamable HTTP and stdio) is
//! checked against the same PromQL asked of Prometheus directly; then isolation, 401s, a
//! disabled cloud, a stopped Prometheus (partial answers, breaker) and the rate limit.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;
use testkit::*;

mod billing;

const CLOUDS: [&str; 3] = ["aws", "azure", "gcp"];
const KEY_SUPPORT: &str = "key-support-0123456789";
const KEY_RESEARCH: &str = "key-research-0123456789";
const KEY_QUOTA: &str = "key-quota-0123456789";
const KEY_ADMIN: &str = "key-admin-0123456789";

fn root() -> PathBuf {
    workspace_root()
}

fn binary(name: &str) -> String {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let path = dir.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is not built: cargo build -p llm-exporter-aws -p llm-exporter-azure -p llm-exporter-gcp (cargo test --workspace builds them)",
        path.display()
    );
    path.display().to_string()
}

fn gateway_bin() -> &'static str {
    env!("CARGO_BIN_EXE_llm-gateway")
}

/// The config's `api_key_sha256` of a key, from the binary itself.
fn hash(k: &str) -> String {
    let out = Command::new(gateway_bin())
        .args(["hash-key", k])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[path = "live/single.rs"]
mod single;

fn yaml(path: &Path) -> Yaml {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A minimal HTTP/1.0 request: (status, raw head, body).
fn http(
    method: &str,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// An instant query straight at a Prometheus: the result vector.
fn prom(addr: &str, expr: &str, t: &str) -> Vec<Value> {
    let (status, body) = http_get(
        addr,
        &format!("/api/v1/query?query={}&time={t}", urlencode(expr)),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{expr}: {e}: {body}"));
    assert_eq!(v["status"], "success", "{status} {expr}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn num(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(f64::NAN)
}

/// `expr` at `t` on one regional server: labels (of `keys`) -> value.
fn prom_map(addr: &str, expr: &str, t: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    prom(addr, expr, t)
        .iter()
        .map(|s| {
            let k = keys
                .iter()
                .map(|k| s["metric"][*k].as_str().unwrap_or("").to_string())
                .collect();
            (k, num(&s["value"][1]))
        })
        .collect()
}

fn assert_close(what: &str, got: f64, want: f64) {
    assert!(
        close(Some(got), want),
        "{what}: gateway {got}, Prometheus {want}"
    );
}

/// A proxy in front of one Prometheus: counts requests (method and path) and forwards them;
/// 502 when the Prometheus is down.
struct CountingProxy {
    server: Server,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl CountingProxy {
    fn start(upstream: String) -> CountingProxy {
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let log = seen.clone();
        let client = reqwest::Client::new();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let log = log.clone();
            let client = client.clone();
            let upstream = upstream.clone();
            async move {
                let pq = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                log.lock()
                    .unwrap()
                    .push((req.method().to_string(), req.uri().path().to_string()));
                match client.get(format!("http://{upstream}{pq}")).send().await {
                    Ok(r) => {
                        let status = axum::http::StatusCode::from_u16(r.status().as_u16()).unwrap();
                        (status, r.text().await.unwrap_or_default())
                    }
                    Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()),
                }
            }
        });
        CountingProxy {
            server: Server::start(app),
            seen,
        }
    }

    fn queries(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p)| p == "/api/v1/query")
            .count()
    }
}

struct Regional {
    cloud: &'static str,
    proc: Proc,
    addr: String,
    config: PathBuf,
    data: PathBuf,
}

fn start_gateway(config: &Path) -> Exporter {
    Exporter::start(
        gateway_bin(),
        &["--config.file", config.to_str().unwrap()],
        &[],
        &[],
    )
}

struct Gw<'a> {
    g: &'a Exporter,
}

impl Gw<'_> {
    fn get(&self, key: &str, path: &str) -> (u16, String, Value) {
        let (status, head, body) = http(
            "GET",
            &self.g.addr,
            path,
            &[("Authorization", &format!("Bearer {key}"))],
            "",
        );
        let v = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, head, v)
    }

    fn ok(&self, key: &str, path: &str) -> Value {
        let (status, _, v) = self.get(key, path);
        assert_eq!(
            status,
            200,
            "GET {path}: {v}\ngateway log:\n{}",
            self.g.proc.log()
        );
        v
    }

    fn post(&self, key: &str, path: &str) -> (u16, Value) {
        let (status, _, body) = http("POST", &self.g.addr, path, &[("X-API-Key", key)], "");
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// The Python MCP client: runs a plan, returns its JSON.
fn mcp_client(dir: &Path, plan: &Value) -> Value {
    let python = root().join(".venv-mcp/bin/python");
    assert!(
        python.exists(),
        "run scripts/install-test-deps.sh (the MCP Python SDK venv)"
    );
    let file = dir.join(format!("plan-{}.json", rand_u64()));
    std::fs::write(&file, plan.to_string()).unwrap();
    let out = Command::new(&python)
        .arg(root().join("gateway/tests/mcp_client.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mcp_client.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn rand_u64() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn stdio_transport(config: &Path, key: &str) -> Value {
    json!({"kind": "stdio", "command": gateway_bin(),
           "args": ["mcp", "--stdio", "--config.file", config.to_str().unwrap()],
           "env": {"LLM_GATEWAY_API_KEY": key}})
}

// ---------------------------------------------------------------------------------------
// What each answer must equal, from Prometheus directly.

struct Expect<'a> {
    regional: &'a [Regional],
    t: &'a str,
    tenant: &'a str,
}

impl Expect<'_> {
    fn each(&self, expr: &str, keys: &[&str]) -> BTreeMap<(String, Vec<String>), f64> {
        let mut out = BTreeMap::new();
        for r in self.regional {
            for (k, v) in prom_map(&r.addr, expr, self.t, keys) {
                out.insert((r.cloud.to_string(), k), v);
            }
        }
        out
    }

    fn sel(&self, metric: &str) -> String {
        format!("{metric}{{tenant=\"{}\"}}", self.tenant)
    }

    fn check_summary(&self, body: &Value) {
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

    fn check_models(&self, body: &Value, model: Option<&str>, limit: Option<usize>) {
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

    fn check_tokens(&self, body: &Value) {
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

    fn check_daily(&self, body: &Value, today_secs: i64, yesterday_end: i64) {
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

    fn check_budget(&self, body: &Value) {
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

    fn check_exporters(&self, body: &Value) {
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

    fn check_query(&self, body: &Value) {
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

/// Every series in a promql answer: (cloud, labels).
fn series(body: &Value) -> Vec<(String, Value)> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let cloud = r["cloud"].as_str().unwrap().to_string();
            r["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |s| (cloud.clone(), s["metric"].clone()))
        })
        .collect()
}

fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    Scrape::parse(text).value(name, labels)
}

#[test]
fn gateway_answers_match_prometheus_and_isolate_tenants() {
    common::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = root();

    // Exporters: two tenants with data on several clouds.
    let exporter_config = d.join("exporter.yaml");
    std::fs::write(
        &exporter_config,
        "poll_interval: 1s\ntenants:\n  - {name: support, match: {deployment: 'support-bot|chat-prod'}, monthly_budget_usd: 100, alert_ratio: 0.8}\n  - {name: research, match: {model: 'gemini.*|o3-mini|amazon\\.nova.*'}, monthly_budget_usd: 0.000001, alert_ratio: 0.5}\n",
    )
    .unwrap();
    let exporters: Vec<Exporter> = CLOUDS
        .iter()
        .map(|c| {
            Exporter::start(
                &binary(&format!("llm-exporter-{c}")),
                &["--demo", "--config.file", exporter_config.to_str().unwrap()],
                &[],
                &[],
            )
        })
        .collect();

    // Regional servers: the repository's configs and rules at 1-2 s intervals.
    let rules = d.join("llm.rules.yml");
    let mut r = yaml(&repo.join("prometheus/rules/llm.rules.yml"));
    for group in r["groups"].as_sequence_mut().unwrap() {
        if group.get("interval").is_some() {
            group["interval"] = Yaml::from("2s");
        }
    }
    std::fs::write(&rules, serde_yaml_ng::to_string(&r).unwrap()).unwrap();
    let mut regional = Vec::new();
    for (cloud, exporter) in CLOUDS.iter().zip(&exporters) {
        let mut c = yaml(&repo.join(format!("prometheus/{cloud}.yml")));
        c["global"]["scrape_interval"] = Yaml::from("1s");
        c["global"]["evaluation_interval"] = Yaml::from("1s");
        c["rule_files"] = Yaml::Sequence(vec![Yaml::from(rules.display().to_string())]);
        let job = &mut c["scrape_configs"][0];
        job["scrape_interval"] = Yaml::from("1s");
        job["scrape_timeout"] = Yaml::from("1s");
        job["static_configs"][0]["targets"] =
            Yaml::Sequence(vec![Yaml::from(exporter.addr.clone())]);
        let config = d.join(format!("{cloud}.yml"));
        std::fs::write(&config, serde_yaml_ng::to_string(&c).unwrap()).unwrap();
        let port = non_ephemeral_free_port();
        let data = d.join(format!("data-{cloud}"));
        let proc = start_prometheus_at(&config, &data, port);
        regional.push(Regional {
            cloud,
            proc,
            addr: format!("127.0.0.1:{port}"),
            config,
            data,
        });
    }
    let proxies: Vec<CountingProxy> = regional
        .iter()
        .map(|r| CountingProxy::start(r.addr.clone()))
        .collect();

    // The gateway: one upstream per cloud (through the proxies), two tenants, a tenant with a
    // tiny rate limit, an admin key; a quick breaker.
    let gw_config = d.join("gateway.yaml");
    let upstreams: String = CLOUDS
        .iter()
        .zip(&proxies)
        .map(|(c, p)| {
            format!(
                "  - {{cloud: {c}, url: '{}', timeout: 2s}}\n",
                p.server.url()
            )
        })
        .collect();
    std::fs::write(
        &gw_config,
        format!(
            "upstreams:\n{upstreams}tenants:\n  - {{name: support, api_key_sha256: {}}}\n  - {{name: research, api_key_sha256: {}}}\n  - {{name: quota, api_key_sha256: {}, clouds: [aws], queries_per_minute: 3}}\nadmin: {{api_key_sha256: {}}}\nrate_limit: {{queries_per_minute: 100000}}\ncache: {{now_ttl: 5s}}\nbreaker: {{failures: 2, open_for: 3s}}\nstate_file: {}\n",
            hash(KEY_SUPPORT),
            hash(KEY_RESEARCH),
            hash(KEY_QUOTA),
            hash(KEY_ADMIN),
            d.join("gateway.state.json").display()
        ),
    )
    .unwrap();
    let mut gateway = start_gateway(&gw_config);

    // Data: both tenants' spend over 5 minutes and month to date, on their clouds.
    let tenant_clouds = [
        ("support", vec!["aws", "azure"]),
        ("research", vec!["aws", "azure", "gcp"]),
    ];
    // The evaluation time of every comparison: 3 s in the past (every sample up to it is
    // ingested), at a moment when both tenants have data everywhere.
    let t_f = wait_until(
        "both tenants' spend and recording rules in every regional Prometheus",
        Duration::from_secs(90),
        || {
            let t_f = ((SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64)
                - 3000) as f64
                / 1000.0;
            let now = format!("{t_f:.3}");
            tenant_clouds.iter().all(|(tenant, clouds)| {
            clouds.iter().all(|c| {
                let r = regional.iter().find(|r| r.cloud == *c).unwrap();
                let has = |e: String| prom(&r.addr, &e, &now).first().is_some_and(|s| num(&s["value"][1]) > 0.0);
                has(format!("sum(increase(llm_estimated_cost_usd_total{{tenant=\"{tenant}\"}}[5m]))"))
                    && has(format!("sum(llm:tenant_cost_usd:month_to_date{{tenant=\"{tenant}\"}})"))
                    && has(format!("sum(rate(llm_tokens_total{{tenant=\"{tenant}\"}}[5m]))"))
            })
        })
        .then_some(t_f)
        },
    );

    // One evaluation time for everything: the gateway and the direct queries agree exactly.
    let t = format!("{t_f:.3}");
    let day_start = (t_f as i64) / 86400 * 86400;
    let today_secs = t_f as i64 - day_start;
    let date = |secs: i64| {
        let days = secs / 86400;
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let dd = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{dd:02}")
    };
    let (today, yesterday) = (date(day_start), date(day_start - 86400));

    let gw = Gw { g: &gateway };
    let rest_paths = || -> Vec<(&'static str, String)> {
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
    };
    let check = |e: &Expect, what: &str, body: &Value| match what {
        "summary" => e.check_summary(body),
        "by_model" => e.check_models(body, None, None),
        "by_model_filtered" => e.check_models(body, Some("gpt-4o|gemini.*"), None),
        "top" => e.check_models(body, None, Some(2)),
        "tokens" => e.check_tokens(body),
        "daily" => e.check_daily(body, today_secs, day_start),
        "budget" => e.check_budget(body),
        "exporters" => e.check_exporters(body),
        "query" => e.check_query(body),
        other => panic!("{other}"),
    };

    // REST, both tenants: every endpoint equals Prometheus.
    let mut rest_answers: BTreeMap<(String, String), Value> = BTreeMap::new();
    for (tenant, key) in [("support", KEY_SUPPORT), ("research", KEY_RESEARCH)] {
        let e = Expect {
            regional: &regional,
            t: &t,
            tenant,
        };
        for (what, path) in rest_paths() {
            let body = gw.ok(key, &path);
            assert_eq!(body["clouds_failed"], json!([]), "{what}: {body}");
            check(&e, what, &body);
            rest_answers.insert((tenant.into(), what.into()), body);
        }
    }
    let health = gw.ok(KEY_SUPPORT, "/api/v1/health");
    assert_eq!(health["status"], "ok", "{health}");
    assert!(
        health["upstreams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["breaker"] == "closed" && u["healthy"] == true),
        "{health}"
    );
    // The admin key names a tenant and gets the same answer.
    let admin = gw.ok(
        KEY_ADMIN,
        &format!("/api/v1/costs/summary?window=5m&group_by=cloud,model&time={t}&tenant_id=support"),
    );
    Expect {
        regional: &regional,
        t: &t,
        tenant: "support",
    }
    .check_summary(&admin);

    // One upstream holding every cloud (here a Prometheus federating the regional servers'
    // raw series, with their `cloud` external label): the same answers, per cloud by matcher.
    let shared_config = d.join("shared.yml");
    let targets: Vec<String> = regional.iter().map(|r| format!("'{}'", r.addr)).collect();
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
        "support's spend and month to date federated from both its clouds",
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
                && clouds("llm:tenant_cost_usd:month_to_date{tenant=\"support\"}").len() == 2)
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

    // MCP through the official Python SDK, over Streamable HTTP and stdio: every tool, the
    // same numbers; then each tool twice at "now" for latency (cold, then warm cache).
    let tool_calls = |with_time: bool, repeat: u32| -> Vec<Value> {
        let time = |mut v: Value| {
            if with_time {
                v["time"] = json!(t);
            }
            v
        };
        vec![
            json!({"name": "spend_summary", "arguments": time(json!({"window": "5m", "group_by": ["cloud", "model"]})), "repeat": repeat}),
            json!({"name": "top_models", "arguments": time(json!({"window": "5m", "limit": 2})), "repeat": repeat}),
            json!({"name": "token_usage", "arguments": time(json!({"window": "5m"})), "repeat": repeat}),
            json!({"name": "daily_costs", "arguments": time(json!({"start_date": yesterday, "end_date": today})), "repeat": repeat}),
            json!({"name": "budget_status", "arguments": time(json!({})), "repeat": repeat}),
            json!({"name": "exporter_health", "arguments": time(json!({})), "repeat": repeat}),
            json!({"name": "promql_query", "arguments": time(json!({"query": "sum(llm_tokens_total)"})), "repeat": repeat}),
        ]
    };
    let mut calls = tool_calls(true, 1);
    calls.push(json!({"name": "promql_query", "arguments": {"query": "sum by (tenant) (llm_estimated_cost_usd_total{tenant=\"research\"} or {__name__=~\"llm_.*\", tenant!=\"support\"})", "time": t}, "repeat": 1}));
    calls.push(
        json!({"name": "promql_query", "arguments": {"query": "sum(", "time": t}, "repeat": 1}),
    );
    calls.extend(tool_calls(false, 6));
    let plan = json!({"transports": [
        {"kind": "http", "url": format!("http://{}/mcp", gateway.addr), "key": KEY_SUPPORT},
        stdio_transport(&gw_config, KEY_SUPPORT)], "calls": calls});
    let out = mcp_client(d, &plan);
    let e = Expect {
        regional: &regional,
        t: &t,
        tenant: "support",
    };
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
            check(&e, what, body);
        }
        // The structured results are the REST answers, field for field.
        assert_eq!(
            one(0),
            &rest_answers[&("support".into(), "summary".into())],
            "{transport}"
        );
        assert_eq!(
            one(4),
            &rest_answers[&("support".into(), "budget".into())],
            "{transport}"
        );
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

    // Isolation: tenant support's key, each escape attempt, never a research series.
    let research_sum = prom(
        &regional[0].addr,
        "sum(llm_estimated_cost_usd_total{tenant=\"research\"})",
        &t,
    );
    assert!(
        num(&research_sum[0]["value"][1]) > 0.0,
        "research has data to leak"
    );
    // Per cloud: the one value of `expr` (0 when it has no result).
    let direct = |expr: &str| -> BTreeMap<String, f64> {
        regional
            .iter()
            .map(|r| {
                (
                    r.cloud.to_string(),
                    prom(&r.addr, expr, &t)
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
            &format!("/api/v1/query?query={}&time={t}", urlencode(attempt)),
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
            &gateway.addr,
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
    let (status, _, _) = http("GET", &gateway.addr, "/api/v1/health", &[], "");
    assert_eq!(status, 401);

    // Only read-only query endpoints ever reached Prometheus.
    for p in &proxies {
        for (method, path) in p.seen.lock().unwrap().iter() {
            assert!(
                method == "GET" && (path == "/api/v1/query" || path == "/-/ready"),
                "{method} {path}"
            );
        }
    }

    // A disabled cloud is never queried, and stays disabled across a restart.
    let (status, body) = gw.post(KEY_SUPPORT, "/api/v1/clouds/azure/disable");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled_clouds"], json!(["azure"]));
    let azure = &proxies[1];
    let before = azure.queries();
    let body = gw.ok(KEY_SUPPORT, "/api/v1/costs/summary?window=4m");
    assert_eq!(body["clouds_disabled"], json!(["azure"]), "{body}");
    assert!(!body["clouds_queried"]
        .as_array()
        .unwrap()
        .contains(&json!("azure")));
    assert!(body["by_cloud"].get("azure").is_none(), "{body}");
    assert_eq!(
        azure.queries(),
        before,
        "support's disabled azure was queried"
    );
    gw.ok(KEY_RESEARCH, "/api/v1/costs/summary?window=4m");
    assert_eq!(
        azure.queries(),
        before + 1,
        "research still queries azure (and the proxy counts)"
    );
    gateway.proc.stop();
    gateway = start_gateway(&gw_config);
    let gw = Gw { g: &gateway };
    let before = azure.queries();
    let body = gw.ok(KEY_SUPPORT, "/api/v1/costs/summary?window=3m");
    assert_eq!(
        body["clouds_disabled"],
        json!(["azure"]),
        "after a restart: {body}"
    );
    let body = gw.ok(
        KEY_SUPPORT,
        &format!("/api/v1/costs/daily?start_date={today}&end_date={today}"),
    );
    assert!(body["days"][0]["by_cloud"].get("azure").is_none(), "{body}");
    assert_eq!(azure.queries(), before);
    assert_eq!(
        gw.post(KEY_RESEARCH, "/api/v1/clouds/gcp/enable?tenant_id=support")
            .0,
        403
    );
    assert_eq!(
        gw.post(KEY_ADMIN, "/api/v1/clouds/azure/enable?tenant_id=support")
            .0,
        200
    );
    let body = gw.ok(KEY_SUPPORT, "/api/v1/costs/summary?window=3m");
    assert_eq!(body["clouds_disabled"], json!([]), "{body}");
    assert_eq!(azure.queries(), before + 1);

    // One cloud's Prometheus stopped: partial answers naming it, the breaker opens; after it
    // returns the breaker closes again.
    let gcp = regional.iter_mut().find(|r| r.cloud == "gcp").unwrap();
    gcp.proc.stop();
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
    let port: u16 = gcp.addr.rsplit(':').next().unwrap().parse().unwrap();
    gcp.proc = start_prometheus_at(&gcp.config, &gcp.data, port);
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

    // Rate limit (3 per minute for tenant quota): the MCP call past it is an MCP error, the
    // REST request past it a 429 with Retry-After.
    let plan = json!({"transports": [{"kind": "http", "url": format!("http://{}/mcp", gateway.addr), "key": KEY_QUOTA}],
                      "calls": [{"name": "exporter_health", "arguments": {}, "repeat": 4}]});
    let out = mcp_client(d, &plan);
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
}
