//! Deployment files (deploy/): the Kubernetes manifests validated offline against the
//! Kubernetes and prometheus-operator schemas, the generated PrometheusRule matching the rule
//! files, the systemd units checked by systemd-analyze, the web-config example guarding a real
//! exporter with a hash made by mkpasswd, and Compose passing the clouds' credentials through.

use std::io::{Read, Write};
use std::process::Command;

use serde_yaml_ng::Value;
use testkit::*;

use crate::support::*;

const CLOUDS: [(&str, u16); 3] = [("aws", 9745), ("azure", 9746), ("gcp", 9747)];

fn venv_python() -> String {
    let py = root().join(".venv-k8s/bin/python");
    assert!(
        py.exists(),
        "run scripts/install-test-deps.sh (kubernetes-validate venv)"
    );
    py.display().to_string()
}

fn docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    // The manifests separate documents with a `---` line.
    text.split("\n---\n")
        .map(|d| serde_yaml_ng::from_str::<Value>(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn kubernetes_manifests_validate_offline_against_kubernetes_and_operator_schemas() {
    let (code, out) = tool(&venv_python(), &["deploy/kubernetes/validate.py"]);
    assert_eq!(code, 0, "{out}");
    // Every resource was checked, the custom ones against the operator's schemas.
    assert_eq!(out.matches("ok   ").count(), 14, "{out}");
    assert_eq!(
        out.matches("prometheus-operator CRD schema").count(),
        4,
        "{out}"
    );
    // And the validator does reject a typo (strict): a broken copy fails.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(root().join("deploy/kubernetes/llm-exporter-aws.yaml"))
        .unwrap()
        .replace("scrapeTimeout:", "scrapeTimout:");
    std::fs::write(&bad, text).unwrap();
    let (code, out) = tool(
        &venv_python(),
        &["deploy/kubernetes/validate.py", bad.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("'scrapeTimout' was unexpected"), "{out}");
}

#[test]
fn prometheus_rule_is_generated_from_the_rule_files_and_passes_promtool() {
    let (code, out) = tool(
        &venv_python(),
        &["deploy/kubernetes/generate-prometheusrule.py", "--check"],
    );
    assert_eq!(code, 0, "{out}");
    let rule = docs("deploy/kubernetes/prometheusrule.yaml").remove(0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    write_yaml(&file, &rule["spec"]);
    let (code, out) = tool("promtool", &["check", "rules", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let count = |v: &Value, key: &str| {
        v["groups"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_sequence().unwrap())
            .filter(|r| r.get(key).is_some())
            .count()
    };
    let alerts = yaml(&root().join("alerts/llm.alerts.yml"));
    assert_eq!(count(&rule["spec"], "alert"), count(&alerts, "alert"));
    let records = count(
        &yaml(&root().join("prometheus/rules/llm.rules.yml")),
        "record",
    ) + count(&yaml(&root().join("alerts/thresholds.yml")), "record");
    assert_eq!(count(&rule["spec"], "record"), records);
}

#[test]
fn kubernetes_deployments_are_non_root_read_only_and_probe_health_and_readiness() {
    for (cloud, port) in CLOUDS {
        let docs = docs(&format!("deploy/kubernetes/llm-exporter-{cloud}.yaml"));
        let kind = |k: &str| {
            docs.iter()
                .find(|d| d["kind"] == k)
                .unwrap_or_else(|| panic!("{cloud}: no {k}"))
        };
        let name = format!("llm-exporter-{cloud}");
        let dep = kind("Deployment");
        assert_eq!(
            dep["spec"]["replicas"], 1,
            "{cloud}: one replica counts once"
        );
        let pod = &dep["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["runAsUser"], 10001);
        let c = &pod["containers"][0];
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/-/healthy");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/-/ready");
        assert_eq!(c["ports"][0]["containerPort"], port);
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&format!("--config.file=/etc/llm-exporter/{cloud}.yaml").as_str()));
        // The Service is named like the job the alerts expect (the operator's default job).
        assert_eq!(kind("Service")["metadata"]["name"], name.as_str());
        assert_eq!(
            kind("ServiceMonitor")["spec"]["endpoints"][0]["port"],
            "metrics"
        );
        // Its config exists and keeps the state file in the pod's writable volume.
        let cm = &docs_configmap()[format!("{cloud}.yaml").as_str()];
        let config: Value = serde_yaml_ng::from_str(cm.as_str().unwrap()).unwrap();
        assert_eq!(config["state_file"], "/var/lib/llm-exporter/state");
    }
}

fn docs_configmap() -> Value {
    docs("deploy/kubernetes/configmap.yaml").remove(0)["data"].clone()
}

#[test]
fn the_exporters_accept_the_kubernetes_configmap() {
    // Each exporter loads its ConfigMap entry (the clouds' sections are placeholders, so only
    // the config is checked: --demo serves without calling a cloud).
    let dir = tempfile::tempdir().unwrap();
    let data = docs_configmap();
    for (cloud, _) in CLOUDS {
        let text = data[format!("{cloud}.yaml").as_str()]
            .as_str()
            .unwrap()
            .replace(
                "/var/lib/llm-exporter/state",
                &dir.path()
                    .join(format!("{cloud}.state"))
                    .display()
                    .to_string(),
            );
        let file = dir.path().join(format!("{cloud}.yaml"));
        std::fs::write(&file, text).unwrap();
        let e = Exporter::start(
            &binary(&format!("llm-exporter-{cloud}")),
            &["--demo", "--config.file", file.to_str().unwrap()],
            &[],
            &[],
        );
        e.wait_for("the exporter up", std::time::Duration::from_secs(30), |s| {
            s.value("llm_exporter_up", &[]) == Some(1.0)
        });
    }
}

// ---------------------------------------------------------------------------------------
// systemd

#[test]
fn systemd_units_verify_and_are_hardened() {
    let dir = tempfile::tempdir().unwrap();
    for (cloud, port) in CLOUDS {
        let name = format!("llm-exporter-{cloud}.service");
        let text = std::fs::read_to_string(root().join("deploy/systemd").join(&name)).unwrap();
        for setting in [
            "DynamicUser=yes",
            "ProtectSystem=strict",
            &format!("StateDirectory=llm-exporter-{cloud}"),
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=\n",
            "PrivateTmp=yes",
            "ProtectHome=yes",
            "SystemCallFilter=@system-service",
        ] {
            assert!(text.contains(setting), "{name}: no {setting}");
        }
        assert!(text.contains(&format!("--web.listen-address=:{port}")));
        // verify checks that ExecStart's binary exists: point it at the one just built.
        let unit = dir.path().join(&name);
        std::fs::write(
            &unit,
            text.replace(
                &format!("/usr/local/bin/llm-exporter-{cloud}"),
                &binary(&format!("llm-exporter-{cloud}")),
            ),
        )
        .unwrap();
        let (code, out) = tool("systemd-analyze", &["verify", unit.to_str().unwrap()]);
        assert!(code == 0 && out.trim().is_empty(), "{name}: {out}");
        let (code, out) = tool(
            "systemd-analyze",
            &["security", "--offline=yes", unit.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{out}");
        let level: f64 = out
            .lines()
            .find_map(|l| l.split_once("Overall exposure level for "))
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(level <= 2.0, "{name}: exposure {level}\n{out}");
    }
}

#[test]
fn systemd_exec_start_runs_the_exporter_with_its_state_in_the_state_directory() {
    for (cloud, _) in CLOUDS {
        let text = std::fs::read_to_string(
            root().join(format!("deploy/systemd/llm-exporter-{cloud}.service")),
        )
        .unwrap();
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        // The unit's own arguments, with the paths moved into a temporary "host": the config
        // the unit names, keeping state in what would be its StateDirectory.
        let host = tempfile::tempdir().unwrap();
        let state_dir = host.path().join(format!("var/lib/llm-exporter-{cloud}"));
        std::fs::create_dir_all(&state_dir).unwrap();
        let config = host.path().join(format!("{cloud}.yaml"));
        let state = state_dir.join("state");
        std::fs::write(&config, format!("state_file: {}\n", state.display())).unwrap();
        let port = non_ephemeral_free_port();
        let args: Vec<String> = exec
            .split_whitespace()
            .skip(1)
            .map(|a| {
                a.replace(
                    &format!("/etc/llm-exporter/{cloud}.yaml"),
                    config.to_str().unwrap(),
                )
                .replace(
                    &format!("--web.listen-address=:{}", a.rsplit(':').next().unwrap()),
                    &format!("--web.listen-address=127.0.0.1:{port}"),
                )
            })
            .collect();
        let mut cmd = Command::new(binary(&format!("llm-exporter-{cloud}")));
        cmd.args(&args).arg("--demo");
        let mut proc = Proc::spawn(cmd);
        let addr = format!("127.0.0.1:{port}");
        wait_until(
            &format!("{cloud} started as its unit says, ready"),
            std::time::Duration::from_secs(30),
            || {
                http_get(&addr, "/-/ready")
                    .ok()
                    .filter(|r| r.0 == 200)
                    .map(|_| ())
            },
        );
        // SIGTERM, as systemctl stop sends: the state file is written into the directory.
        let status = proc.stop();
        assert!(
            state.exists(),
            "{cloud}: no state file after stop\n{}",
            proc.log()
        );
        assert!(
            status.is_some_and(|s| s.success()),
            "{cloud}: {status:?}\n{}",
            proc.log()
        );
    }
}

// ---------------------------------------------------------------------------------------
// --web.config.file

/// GET with basic auth: the status code.
fn get_as(addr: &str, path: &str, user: &str, password: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let auth = base64(format!("{user}:{password}").as_bytes());
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn web_config_example_and_a_mkpasswd_hash_guard_a_real_exporter() {
    let bin = binary("llm-exporter-gcp");
    // The example as shipped: user prometheus, password change-me.
    let example = root().join("deploy/web-config.example.yml");
    let e = Exporter::start(
        &bin,
        &["--demo", "--web.config.file", example.to_str().unwrap()],
        &[],
        &[],
    );
    assert_eq!(e.get("/metrics").0, 401);
    assert_eq!(get_as(&e.addr, "/metrics", "prometheus", "change-me"), 200);
    assert_eq!(get_as(&e.addr, "/metrics", "prometheus", "wrong"), 401);
    drop(e);

    // The documented way to make a hash on a stock Debian: mkpasswd (package whois).
    let mut child = Command::new("mkpasswd")
        .args(["-m", "bcrypt", "-R", "10", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mkpasswd (run scripts/install-test-deps.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret-pass\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$2b$10$"), "{hash}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("web.yml");
    std::fs::write(&config, format!("basic_auth_users:\n  ops: '{hash}'\n")).unwrap();
    let e = Exporter::start(
        &bin,
        &["--demo", "--web.config.file", config.to_str().unwrap()],
        &[],
        &[],
    );
    assert_eq!(get_as(&e.addr, "/metrics", "ops", "s3cret-pass"), 200);
    assert_eq!(e.get("/metrics").0, 401);
}

// ---------------------------------------------------------------------------------------
// Compose

fn compose_config(files: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let bin = root().join(".venv-compose/bin/docker-compose-v2");
    let mut cmd = Command::new(bin);
    for f in files {
        cmd.args(["-f", f]);
    }
    cmd.args(["config", "--format", "json"])
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/home/tester");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("Compose v2 (run scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn compose_passes_every_cloud_credential_through_and_documents_its_variables() {
    let set = [
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-example"),
        ("AWS_SESSION_TOKEN", "token-example"),
        ("AZURE_TENANT_ID", "t"),
        ("AZURE_CLIENT_ID", "c"),
        ("AZURE_CLIENT_SECRET", "s"),
        (
            "GOOGLE_APPLICATION_CREDENTIALS",
            "/etc/llm-exporter/gcp-key.json",
        ),
    ];
    let c = compose_config(&["docker-compose.yml"], &set);
    let env_of = |service: &str| c["services"][service]["environment"].clone();
    for (k, v) in set {
        let service = match &k[..3] {
            "AWS" => "llm-exporter-aws",
            "AZU" => "llm-exporter-azure",
            _ => "llm-exporter-gcp",
        };
        assert_eq!(env_of(service)[k], v, "{k} does not reach {service}");
        // The gateway reads billing exports on S3 with the same chain.
        if service == "llm-exporter-aws" {
            assert_eq!(
                env_of("llm-gateway")[k],
                v,
                "{k} does not reach llm-gateway"
            );
        }
    }
    // Unset variables are not passed as empty strings (an empty AWS_PROFILE is an error).
    let c = compose_config(&["docker-compose.yml"], &[]);
    let aws = c["services"]["llm-exporter-aws"]["environment"].clone();
    for k in ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(aws[k].is_null(), "{k}: {}", aws[k]);
    }
    // The ~/.aws override mounts the shared config at the container user's home.
    let c = compose_config(
        &["docker-compose.yml", "deploy/compose/aws-shared-config.yml"],
        &[],
    );
    let volumes = c["services"]["llm-exporter-aws"]["volumes"]
        .as_array()
        .unwrap();
    assert!(
        volumes.iter().any(|v| v["source"] == "/home/tester/.aws"
            && v["target"] == "/var/lib/llm-exporter/.aws"
            && v["read_only"] == true),
        "{volumes:#?}"
    );
    assert_eq!(volumes.len(), 3, "the base volumes stay: {volumes:#?}");
    let volumes = c["services"]["llm-gateway"]["volumes"].as_array().unwrap();
    assert!(
        volumes.iter().any(|v| v["source"] == "/home/tester/.aws"
            && v["target"] == "/var/lib/llm-gateway/.aws"
            && v["read_only"] == true),
        "{volumes:#?}"
    );
    // Every variable the compose file reads is in docs/operations.md.
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let readme = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    let mut vars: Vec<String> = compose
        .split("${")
        .skip(1)
        .map(|s| s.split([':', '}', '-']).next().unwrap().to_string())
        .collect();
    vars.extend(compose.lines().filter_map(|l| {
        let t = l.trim();
        (t.ends_with(':')
            && t[..t.len() - 1]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_'))
        .then(|| t[..t.len() - 1].to_string())
    }));
    for v in &vars {
        assert!(
            readme.contains(&format!("`{v}`")),
            "docs/operations.md does not document {v}"
        );
    }
    assert!(vars.len() >= 15, "{vars:?}");
    for image in c["services"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|s| s["image"].as_str())
        .filter(|i| !i.ends_with(":local"))
    {
        assert!(
            readme.contains(&format!("`{image}`")),
            "docs/operations.md does not list {image}"
        );
    }
}
