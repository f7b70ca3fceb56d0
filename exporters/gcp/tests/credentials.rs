//! With no Google credentials anywhere, the failure names the sources tried (issue 13, defect
//! 3). Before: "... but future attempts may succeed", as if the problem were transient.

use std::process::Command;
use std::time::Duration;

use testkit::{wait_until, Proc};

#[test]
fn missing_credentials_name_the_sources_tried() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "poll_interval: 1s\ngcp:\n  projects: [p]\n  monitoring_endpoint: http://127.0.0.1:9\n  timeout: 2s\n",
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-exporter-gcp"));
    cmd.args([
        "--config.file",
        cfg.to_str().unwrap(),
        "--web.listen-address=127.0.0.1:0",
    ])
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("HOME", dir.path())
    // No metadata server here: a closed local port answers at once.
    .env("GCE_METADATA_HOST", "127.0.0.1:9");
    let proc = Proc::spawn(cmd);
    let line = wait_until("a failed poll", Duration::from_secs(60), || {
        proc.log()
            .lines()
            .find(|l| l.contains("poll failed"))
            .map(str::to_string)
    });
    assert!(line.contains("no usable Google credentials"), "{line}");
    assert!(
        line.contains("GOOGLE_APPLICATION_CREDENTIALS") && line.contains("metadata server"),
        "{line}"
    );
}
