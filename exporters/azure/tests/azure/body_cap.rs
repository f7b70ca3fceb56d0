//! `max_response_bytes` bounds what is read from any Azure response: the metrics answers
//! (`testkit::drills::body_cap_drill`) and the token endpoint's.

use std::time::Duration;

use crate::support::drill_cloud::{account, AzureCloud, SUB};
use crate::support::*;

/// An endless getBatch body and a 1 MiB one with its Content-Length, with
/// `max_response_bytes: 65536`: each call fails naming the key, the exporter keeps serving,
/// stops reading the endless one at the cap (the fake counts what it handed out), its peak
/// memory stays bounded (nothing was buffered whole), and counting resumes exactly once the
/// bodies are normal again.
#[test]
fn a_body_past_max_response_bytes_fails_the_call_and_the_exporter_keeps_serving() {
    testkit::drills::body_cap_drill::<AzureCloud>();
}

/// The token endpoint's answer is bounded too (azure_identity reads it through the exporter's
/// transport): a 1 MB token response fails the poll naming the key, and the next token
/// request, answered normally, lets counting start. Before: azure_identity read any body whole.
#[test]
fn a_token_response_past_max_response_bytes_fails_clearly() {
    let t = setup(vec![account()]);
    t.fake
        .state()
        .faults
        .entry(TOKEN.into())
        .or_default()
        .push_back(Fault::Huge(1_000_000));
    let cfg = config_with(&t, &[SUB], "max_response_bytes: 65536\n", "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for(
        "polling after the refused token",
        Duration::from_secs(60),
        |s| s.value("llm_exporter_up", &[]) == Some(1.0),
    );
    let log = exporter.proc.log();
    assert!(
        log.contains("exceeds max_response_bytes (65536 bytes)"),
        "{log}"
    );
    assert!(t.fake.calls(TOKEN) >= 2);
    assert!(!log.contains(CLIENT_SECRET));
}
