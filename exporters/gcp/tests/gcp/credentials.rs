//! With no Google credentials anywhere, the failure names the sources tried, not the SDK's
//! "... but future attempts may succeed", which reads as if the problem were transient.

use testkit::bare::{first_failed_poll, start_bare};

#[test]
fn missing_credentials_name_the_sources_tried() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "poll_interval: 1s\ngcp:\n  projects: [p]\n  monitoring_endpoint: http://127.0.0.1:9\n  timeout: 2s\n",
    )
    .unwrap();
    let proc = start_bare(
        env!("CARGO_BIN_EXE_llm-exporter-gcp"),
        &["--config.file", cfg.to_str().unwrap()],
        dir.path(),
        // No metadata server here: a closed local port answers at once.
        &[("GCE_METADATA_HOST", "127.0.0.1:9")],
    );
    let line = first_failed_poll(&proc);
    assert!(line.contains("no usable Google credentials"), "{line}");
    assert!(
        line.contains("GOOGLE_APPLICATION_CREDENTIALS") && line.contains("metadata server"),
        "{line}"
    );
}
