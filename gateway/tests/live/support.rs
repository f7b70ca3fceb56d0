//! Helpers of every test in this binary: paths and binaries, HTTP and PromQL by hand, the
//! counting proxy in front of a Prometheus, the gateway process and its client, the MCP client.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;
use testkit::*;

pub fn root() -> PathBuf {
    workspace_root()
}

pub fn binary(name: &str) -> String {
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

pub fn gateway_bin() -> &'static str {
    env!("CARGO_BIN_EXE_llm-gateway")
}

/// The config's `api_key_sha256` of a key, from the binary itself.
pub fn hash(k: &str) -> String {
    let out = Command::new(gateway_bin())
        .args(["hash-key", k])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn yaml(path: &Path) -> Yaml {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn urlencode(s: &str) -> String {
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
pub fn http(
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
pub fn prom(addr: &str, expr: &str, t: &str) -> Vec<Value> {
    let (status, body) = http_get(
        addr,
        &format!("/api/v1/query?query={}&time={t}", urlencode(expr)),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{expr}: {e}: {body}"));
    assert_eq!(v["status"], "success", "{status} {expr}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

pub fn num(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(f64::NAN)
}

/// `expr` at `t` on one regional server: labels (of `keys`) -> value.
pub fn prom_map(addr: &str, expr: &str, t: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
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

pub fn assert_close(what: &str, got: f64, want: f64) {
    assert!(
        close(Some(got), want),
        "{what}: gateway {got}, Prometheus {want}"
    );
}

/// A proxy in front of one Prometheus: counts requests (method and path) and forwards them;
/// 502 when the Prometheus is down.
/// A proxy in front of one Prometheus: counts requests (method and path) and forwards them;
/// 502 when the Prometheus is down, or while [`CountingProxy::set_down`] says so.
pub struct CountingProxy {
    pub server: Server,
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
    down: Arc<AtomicBool>,
}

impl CountingProxy {
    pub fn start(upstream: String) -> CountingProxy {
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let down: Arc<AtomicBool> = Arc::default();
        let log = seen.clone();
        let is_down = down.clone();
        let client = reqwest::Client::new();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let log = log.clone();
            let client = client.clone();
            let upstream = upstream.clone();
            let is_down = is_down.clone();
            async move {
                let pq = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                log.lock()
                    .unwrap()
                    .push((req.method().to_string(), req.uri().path().to_string()));
                if is_down.load(Ordering::SeqCst) {
                    return (
                        axum::http::StatusCode::BAD_GATEWAY,
                        format!("{upstream}: connection refused"),
                    );
                }
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
            down,
        }
    }

    /// Answers 502 without forwarding (`true`), as when its Prometheus is stopped, or
    /// forwards again (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn queries(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p)| p == "/api/v1/query")
            .count()
    }

    /// Only read-only query endpoints ever reached Prometheus through this proxy.
    pub fn assert_read_only(&self) {
        for (method, path) in self.seen.lock().unwrap().iter() {
            assert!(
                method == "GET" && (path == "/api/v1/query" || path == "/-/ready"),
                "{method} {path}"
            );
        }
    }
}

pub fn start_gateway(config: &Path) -> Exporter {
    Exporter::start(
        gateway_bin(),
        &["--config.file", config.to_str().unwrap()],
        &[],
        &[],
    )
}

pub struct Gw<'a> {
    pub g: &'a Exporter,
}

impl Gw<'_> {
    pub fn get(&self, key: &str, path: &str) -> (u16, String, Value) {
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

    pub fn ok(&self, key: &str, path: &str) -> Value {
        let (status, _, v) = self.get(key, path);
        assert_eq!(
            status,
            200,
            "GET {path}: {v}\ngateway log:\n{}",
            self.g.proc.log()
        );
        v
    }

    pub fn post(&self, key: &str, path: &str) -> (u16, Value) {
        let (status, _, body) = http("POST", &self.g.addr, path, &[("X-API-Key", key)], "");
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// The Python MCP client: runs a plan, returns its JSON.
pub fn mcp_client(dir: &Path, plan: &Value) -> Value {
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

pub fn rand_u64() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

pub fn stdio_transport(config: &Path, key: &str) -> Value {
    json!({"kind": "stdio", "command": gateway_bin(),
           "args": ["mcp", "--stdio", "--config.file", config.to_str().unwrap()],
           "env": {"LLM_GATEWAY_API_KEY": key}})
}

/// Every series in a promql answer: (cloud, labels).
pub fn series(body: &Value) -> Vec<(String, Value)> {
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

pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    Scrape::parse(text).value(name, labels)
}
