//! With no credentials anywhere, the failure is one short line naming the sources tried, and
//! configured regions mean no probe of the EC2 metadata service: no SDK debug dump per failed
//! poll (1,335 characters), no IMDS warnings at start-up.

use testkit::bare::{first_failed_poll, start_bare};

#[test]
fn missing_credentials_are_one_short_line_naming_what_was_tried() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "poll_interval: 1s\naws:\n  regions: [us-east-1]\n  accounts: [{account_id: '111122223333'}]\n  timeout: 5s\n",
    )
    .unwrap();
    let proc = start_bare(
        env!("CARGO_BIN_EXE_llm-exporter-aws"),
        &["--config.file", cfg.to_str().unwrap()],
        dir.path(),
        // No metadata service here: the SDK would otherwise wait for it.
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")],
    );
    let line = first_failed_poll(&proc);
    assert!(line.contains("no usable AWS credentials"), "{line}");
    assert!(
        line.contains("environment variables") && line.contains("instance roles"),
        "{line}"
    );
    assert!(line.len() < 700, "{} characters: {line}", line.len());
    let log = proc.log();
    let start = log.split("poll failed").next().unwrap_or("");
    assert!(
        !start.to_ascii_lowercase().contains("imds"),
        "no metadata-service probe before the first poll:\n{start}"
    );
}
