//! The Azure binary's edges: bad input and the demo source.

use std::process::Command;

use crate::support::*;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-exporter-azure"));
    cmd.args(args)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_non_zero_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let sub = "00000000-0000-0000-0000-000000000000";
    let cases = [
        (String::new(), "field `azure.subscriptions`"),
        ("azure:\n  subscriptions: [my-sub]\n".to_string(), "field `azure.subscriptions[0]`"),
        (format!("azure:\n  subscriptions: [{sub}]\n  credential: password\n"), "field `azure.credential`"),
        (format!("azure:\n  subscriptions: [{sub}]\n  endpoints: {{authority_host: 'http://login'}}\n"), "field `azure.endpoints.authority_host`"),
        (format!("azure:\n  subscriptions: [{sub}]\n  endpoints: {{metrics: 'https://metrics.example'}}\n"), "field `azure.endpoints.metrics`"),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, &text).unwrap();
        let (code, err) = run(&["--config.file", path.to_str().unwrap()], &[]);
        assert_eq!(code, 1, "{text}: {err}");
        assert!(
            err.contains(expected),
            "{text}: expected {expected:?} in {err:?}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // A client-secret credential without its variables names them, and never a secret.
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        format!("azure:\n  subscriptions: [{sub}]\n  credential: client_secret\n"),
    )
    .unwrap();
    let (code, err) = run(
        &["--config.file", path.to_str().unwrap()],
        &[("AZURE_TENANT_ID", "t")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("AZURE_CLIENT_SECRET"), "{err}");

    // --config.check is no demo run, and says nothing of one.
    std::fs::write(&path, format!("azure:\n  subscriptions: [{sub}]\n")).unwrap();
    let (code, err) = run(
        &["--config.file", path.to_str().unwrap(), "--config.check"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("demo"), "{err}");
}

#[test]
fn demo_serves_the_contract_and_lints_clean() {
    let exporter = start_exporter(&["--demo"]);
    let (status, body) = exporter.get("/metrics");
    assert_eq!(status, 200);
    let s = Scrape::parse(&body);
    assert!(
        s.matching(
            "llm_tokens_total",
            &[("cloud", "azure"), ("deployment", "chat-prod")]
        )
        .len()
            == 2
    );
    assert_families_known(&body, common::metrics::names::ALL);
    let (code, lint) = promtool_check_metrics(&body);
    assert_eq!((code, lint.as_str()), (0, ""));
}
