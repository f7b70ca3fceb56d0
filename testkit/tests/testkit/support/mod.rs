//! Helpers shared by the stack tests (stack.rs, single.rs, deploy.rs): the repository's
//! files, tools run to completion, and real Prometheus servers on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_yaml_ng::Value;
use testkit::*;

pub fn root() -> PathBuf {
    workspace_root()
}

/// Runs a tool to completion in the repository root: (exit code, stdout + stderr).
pub fn tool(cmd: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (run scripts/install-test-deps.sh)"));
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A debug exporter binary built by cargo.
pub fn binary(name: &str) -> String {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let path = dir.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is not built: run the whole suite (cargo test --workspace)",
        path.display()
    );
    path.display().to_string()
}

pub fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn write_yaml(path: &Path, v: &Value) {
    std::fs::write(path, serde_yaml_ng::to_string(v).unwrap()).unwrap();
}

/// Starts Debian's Prometheus on a free 127.0.0.1 port and waits until it is ready.
pub fn start_prometheus(config: &Path, dir: &Path) -> (Proc, String) {
    let port = non_ephemeral_free_port();
    let proc = start_prometheus_at(config, &dir.join(format!("data-{port}")), port);
    (proc, format!("127.0.0.1:{port}"))
}

pub fn url_encode(s: &str) -> String {
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

/// An instant query against a Prometheus: the result vector.
pub fn query(addr: &str, expr: &str) -> Vec<serde_json::Value> {
    let (_, body) = http_get(addr, &format!("/api/v1/query?query={}", url_encode(expr))).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{expr}: {e}: {body}"));
    assert_eq!(v["status"], "success", "{expr}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The alerts a Prometheus holds (pending and firing).
pub fn alerts(addr: &str) -> Vec<serde_json::Value> {
    let (_, body) = http_get(addr, "/api/v1/alerts").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["alerts"].as_array().cloned().unwrap_or_default()
}

/// The repository's alert rules with every `for` set to `for_` (a test copy).
pub fn alert_rules_with_for(for_: &str) -> Value {
    let mut alerts = yaml(&root().join("alerts/llm.alerts.yml"));
    for group in alerts["groups"].as_sequence_mut().unwrap() {
        for rule in group["rules"].as_sequence_mut().unwrap() {
            if rule.get("for").is_some() {
                rule["for"] = Value::from(for_);
            }
        }
    }
    alerts
}

/// An instant query at Unix time `t`: the result vector.
pub fn query_at(addr: &str, expr: &str, t: i64) -> Vec<serde_json::Value> {
    let path = format!("/api/v1/query?query={}&time={t}", url_encode(expr));
    let (_, body) = http_get(addr, &path).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{expr}: {e}: {body}"));
    assert_eq!(v["status"], "success", "{expr}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Debian's VictoriaMetrics on a free 127.0.0.1 port with its data in `data`, serving
/// queries up to now (no 30 s latency offset); waits until it is healthy.
pub fn start_victoria_metrics(data: &Path) -> (Proc, String) {
    let port = non_ephemeral_free_port();
    let mut cmd = Command::new("victoria-metrics");
    cmd.arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-storageDataPath={}", data.display()))
        .arg("-retentionPeriod=1d")
        .arg("-search.latencyOffset=0s");
    let proc = Proc::spawn(cmd);
    let addr = format!("127.0.0.1:{port}");
    wait_until(
        "VictoriaMetrics to be healthy",
        Duration::from_secs(60),
        || {
            http_get(&addr, "/health")
                .ok()
                .filter(|r| r.0 == 200)
                .map(|_| ())
        },
    );
    (proc, addr)
}

/// GET `path` with `Authorization: Bearer <key>`: (status, JSON body).
pub fn get_with_key(addr: &str, path: &str, key: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// `expr` at `t`: labels (of `keys`) -> value.
pub fn by_labels(
    addr: &str,
    expr: &str,
    t: i64,
    keys: &[&str],
) -> std::collections::BTreeMap<Vec<String>, f64> {
    query_at(addr, expr, t)
        .iter()
        .map(|s| {
            let k = keys
                .iter()
                .map(|k| s["metric"][*k].as_str().unwrap_or_default().to_string())
                .collect();
            (k, s["value"][1].as_str().unwrap().parse::<f64>().unwrap())
        })
        .collect()
}

/// `v` with every array in a fixed order (sorted with numbers masked): the stores return
/// series in different orders.
pub fn canonical(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    fn masked(v: &J) -> J {
        match v {
            J::Number(_) => J::Null,
            J::String(s) if s.parse::<f64>().is_ok() => J::Null,
            J::Array(a) => J::Array(a.iter().map(masked).collect()),
            J::Object(o) => J::Object(o.iter().map(|(k, v)| (k.clone(), masked(v))).collect()),
            other => other.clone(),
        }
    }
    match v {
        J::Array(a) => {
            let mut items: Vec<J> = a.iter().map(canonical).collect();
            items.sort_by_key(|i| masked(i).to_string());
            J::Array(items)
        }
        J::Object(o) => J::Object(o.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()),
        other => other.clone(),
    }
}

/// Equal, numbers (and numeric strings, as PromQL writes values) up to floating-point
/// rounding: the stores add in different orders.
pub fn same_answer(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    let num = |v: &J| match v {
        J::Number(n) => n.as_f64(),
        J::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    match (a, b) {
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_answer(x, y))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_answer(v, w)))
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            _ => a == b,
        },
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
