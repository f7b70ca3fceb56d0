//! Helpers shared by the stack tests (stack.rs, single.rs, deploy.rs): the repository's
//! files, tools run to completion, and real Prometheus servers on 127.0.0.1.
#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn url_encode(s: &str) -> String {
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
