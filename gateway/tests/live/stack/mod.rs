//! The live stack, started once per test binary by the first test that asks for it and
//! stopped when the binary exits: the three exporters on their demo source (two tenants) ->
//! three regional Prometheus servers with the repository's configs and recording rules -> a
//! counting proxy in front of each -> the real `llm-gateway` binary. Tests that change what
//! the gateway or an upstream does (a disabled cloud, an outage, a rate limit) start a
//! gateway and proxies of their own over the same Prometheus servers. Its tests are this
//! module's children and `crate::answers`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_yaml_ng::Value as Yaml;
use testkit::*;

mod breaker;
mod disabled;
pub mod expect;
mod isolation;
mod limits;
mod mcp;
mod shared_upstream;

use crate::support::{binary, hash, num, prom, root, start_gateway, yaml, CountingProxy, Gw};
use expect::Expect;

pub const CLOUDS: [&str; 3] = ["aws", "azure", "gcp"];
pub const KEY_SUPPORT: &str = "key-support-0123456789";
pub const KEY_RESEARCH: &str = "key-research-0123456789";
pub const KEY_QUOTA: &str = "key-quota-0123456789";
pub const KEY_ADMIN: &str = "key-admin-0123456789";

pub struct Regional {
    pub cloud: &'static str,
    _proc: Proc,
    pub addr: String,
}

/// Fields drop in order: the gateway before the proxies it holds connections to, the
/// temporary directory last.
pub struct Stack {
    pub gateway: Exporter,
    pub proxies: Vec<CountingProxy>,
    pub regional: Vec<Regional>,
    _exporters: Vec<Exporter>,
    /// The shared gateway's config (the stdio MCP transport starts the binary with it).
    pub gw_config: PathBuf,
    /// `api_key_sha256` of support, research, quota and the admin.
    hashes: [String; 4],
    /// The evaluation time of every comparison: 3 s before the moment both tenants had data
    /// everywhere (every sample up to it is ingested).
    pub t: String,
    pub day_start: i64,
    pub today_secs: i64,
    pub today: String,
    pub yesterday: String,
    pub dir: tempfile::TempDir,
}

static STACK: Mutex<Option<Arc<Stack>>> = Mutex::new(None);

/// The shared stack, started on first use.
pub fn stack() -> Arc<Stack> {
    let mut held = STACK.lock().unwrap_or_else(|_| {
        panic!("the live stack failed to start in another test (its panic says why)")
    });
    if let Some(s) = &*held {
        return s.clone();
    }
    let s = Arc::new(Stack::start());
    *held = Some(s.clone());
    // SAFETY: registers a plain function with no arguments, run once at process exit.
    unsafe {
        libc::atexit(stop_stack);
    }
    s
}

/// Statics are never dropped: the processes of the stack are stopped at exit.
extern "C" fn stop_stack() {
    let s = STACK.lock().ok().and_then(|mut s| s.take());
    drop(s);
}

impl Stack {
    fn start() -> Stack {
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

        // Regional servers: the repository's configs and rules at 1-2 s intervals (the to-date
        // rules' `offset` with their interval, as the rules' comment requires).
        let rules = d.join("llm.rules.yml");
        let mut r = yaml(&repo.join("prometheus/rules/llm.rules.yml"));
        for group in r["groups"].as_sequence_mut().unwrap() {
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
                _proc: proc,
                addr: format!("127.0.0.1:{port}"),
            });
        }
        let proxies: Vec<CountingProxy> = regional
            .iter()
            .map(|r| CountingProxy::start(r.addr.clone()))
            .collect();
        let hashes = [KEY_SUPPORT, KEY_RESEARCH, KEY_QUOTA, KEY_ADMIN].map(hash);
        let gw_config = d.join("gateway.yaml");
        write_gateway_config(&gw_config, &hashes, &proxies, &d.join("gateway.state.json"));
        let gateway = start_gateway(&gw_config);

        // Data: both tenants' spend over 5 minutes and month to date, on their clouds.
        let tenant_clouds = [
            ("support", vec!["aws", "azure"]),
            ("research", vec!["aws", "azure", "gcp"]),
        ];
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
        let day_start = (t_f as i64) / 86400 * 86400;
        Stack {
            gateway,
            proxies,
            regional,
            _exporters: exporters,
            gw_config,
            hashes,
            t: format!("{t_f:.3}"),
            day_start,
            today_secs: t_f as i64 - day_start,
            today: date(day_start),
            yesterday: date(day_start - 86400),
            dir,
        }
    }

    pub fn gw(&self) -> Gw<'_> {
        Gw { g: &self.gateway }
    }

    /// What `tenant`'s answers must equal at the stack's evaluation time.
    pub fn expect<'a>(&'a self, tenant: &'a str) -> Expect<'a> {
        Expect {
            regional: &self.regional,
            t: &self.t,
            tenant,
        }
    }

    /// New proxies in front of the regional servers, counting only a test's own requests.
    pub fn own_proxies(&self) -> Vec<CountingProxy> {
        self.regional
            .iter()
            .map(|r| CountingProxy::start(r.addr.clone()))
            .collect()
    }

    /// A gateway of a test's own, with the shared gateway's tenants and limits, through
    /// `proxies`, keeping its state in `dir`. Returns it with its config file.
    pub fn own_gateway(&self, dir: &Path, proxies: &[CountingProxy]) -> (Exporter, PathBuf) {
        let config = dir.join("gateway.yaml");
        write_gateway_config(
            &config,
            &self.hashes,
            proxies,
            &dir.join("gateway.state.json"),
        );
        (start_gateway(&config), config)
    }

    /// Only read-only query endpoints ever reached Prometheus through the shared proxies.
    pub fn assert_read_only(&self) {
        for p in &self.proxies {
            p.assert_read_only();
        }
    }
}

/// One upstream per cloud (through `proxies`), two tenants, a tenant with a tiny rate limit,
/// an admin key; a quick breaker.
fn write_gateway_config(
    path: &Path,
    hashes: &[String; 4],
    proxies: &[CountingProxy],
    state_file: &Path,
) {
    let upstreams: String = CLOUDS
        .iter()
        .zip(proxies)
        .map(|(c, p)| {
            format!(
                "  - {{cloud: {c}, url: '{}', timeout: 2s}}\n",
                p.server.url()
            )
        })
        .collect();
    let [support, research, quota, admin] = hashes;
    std::fs::write(
        path,
        format!(
            "upstreams:\n{upstreams}tenants:\n  - {{name: support, api_key_sha256: {support}}}\n  - {{name: research, api_key_sha256: {research}}}\n  - {{name: quota, api_key_sha256: {quota}, clouds: [aws], queries_per_minute: 3}}\nadmin: {{api_key_sha256: {admin}}}\nrate_limit: {{queries_per_minute: 100000}}\ncache: {{now_ttl: 5s}}\nbreaker: {{failures: 2, open_for: 3s}}\nstate_file: {}\n",
            state_file.display()
        ),
    )
    .unwrap();
}

/// Civil date from Unix seconds (Howard Hinnant's algorithm).
fn date(secs: i64) -> String {
    let days = secs / 86400;
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
}
