//! `max_response_bytes` bounds what is read from any Azure response.

use std::time::Duration;

use crate::support::*;

const SUB: &str = "cccccccc-1111-2222-3333-444444444444";

fn account() -> FakeAccount {
    FakeAccount {
        subscription: SUB.into(),
        name: "oai-east".into(),
        location: "eastus".into(),
        deployments: vec![deployment(
            "chat",
            "gpt-4o",
            "2024-08-06",
            "OpenAI",
            "GlobalStandard",
        )],
    }
}

/// The exporter's peak resident memory in bytes (Linux `VmHWM`).
fn peak_rss(exporter: &Exporter) -> u64 {
    let pid = exporter.proc.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

/// An endless getBatch body, then a 1 MB one with its Content-Length, with
/// `max_response_bytes: 65536`: each call fails naming the key, the exporter keeps serving,
/// stops reading the endless one at the cap (the fake counts what it handed out), its peak
/// memory stays bounded (nothing was buffered whole), and counting resumes exactly once the
/// bodies are normal again. Buffered whole, the endless body would fill memory until the
/// 3 s timeout and the call would fail only as a timeout.
#[test]
fn a_body_past_max_response_bytes_fails_the_call_and_the_exporter_keeps_serving() {
    let t = setup(vec![account()]);
    let a = account();
    let cfg = config_with(&t, &[SUB], "max_response_bytes: 65536\n", "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 180;
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat", "", m, 1_000.0);

    t.fake.state().sticky.insert(BATCH.into(), Fault::Endless);
    let endless_calls = t.fake.calls(BATCH);
    exporter.wait_for("the endless body refused", Duration::from_secs(30), |s| {
        s.value("llm_exporter_up", &[]) == Some(0.0)
            && t.fake.calls(BATCH) >= endless_calls + 3
            && exporter
                .proc
                .log()
                .contains("exceeds max_response_bytes (65536 bytes)")
    });
    let calls = (t.fake.calls(BATCH) - endless_calls) as u64;
    let sent = t.fake.endless_sent();
    // Loopback socket buffers (autotuned to a few MB) and the TLS front take what the
    // exporter leaves unread: a bound per call well above them, far below what reading until
    // the 3 s timeout would pull (gigabytes on loopback).
    assert!(
        sent <= calls * 16 * 1024 * 1024,
        "{sent} bytes handed out for {calls} calls: the body was read far past the cap"
    );
    let rss = peak_rss(&exporter);
    assert!(rss < 100 * 1024 * 1024, "peak RSS {rss} bytes");
    assert!(
        !exporter.proc.log().contains("timed out"),
        "refused, not timed out"
    );

    t.fake
        .state()
        .sticky
        .insert(BATCH.into(), Fault::Huge(1_000_000));
    let huge_calls = t.fake.calls(BATCH);
    exporter.wait_for("the 1 MB body refused", Duration::from_secs(30), |s| {
        s.value("llm_exporter_up", &[]) == Some(0.0)
            && t.fake.calls(BATCH) >= huge_calls + 3
            && exporter.proc.log().contains("Content-Length is 1000000")
    });
    let rss = peak_rss(&exporter);
    assert!(rss < 100 * 1024 * 1024, "peak RSS {rss} bytes");

    // Normal bodies again: the minute is counted once.
    t.fake.state().sticky.remove(BATCH);
    exporter.wait_for("counting again", Duration::from_secs(30), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
            && s.value(
                "llm_tokens_total",
                &[("deployment", "oai-east/chat"), ("token_type", "input")],
            ) == Some(1_000.0)
    });
    assert!(!exporter.proc.log().contains("panicked"));
}

/// The token endpoint's answer is bounded too (azure_identity reads it through the exporter's
/// transport): a 1 MB token response fails the poll naming the key, and the next token
/// request, answered normally, lets counting start (azure_identity alone reads any body whole).
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
