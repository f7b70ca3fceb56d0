//! What is read from Cloud Monitoring is bounded by `max_response_bytes`: a
//! body past the cap fails the call naming the key, the exporter keeps serving, memory stays
//! bounded even when the body never ends, and polling recovers when answers are sane again.

use std::time::Duration;

use crate::support::*;

const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];

/// The exporter's peak resident memory in bytes (Linux `VmHWM`).
fn peak_rss(exporter: &Exporter) -> u64 {
    let pid = exporter.proc.child.as_ref().expect("running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

fn requests(outcome: &str) -> [(&str, &str); 2] {
    [("api", "timeSeries.list"), ("outcome", outcome)]
}

#[test]
fn bodies_past_max_response_bytes_fail_the_call_and_memory_stays_bounded() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let m = now_minute() - 180;
    add_tokens(&fake, "proj-a", &GEMINI, "input", m, 5_000);
    // A valid answer of 1 MB, 16 times the cap.
    fake.state().sticky = Some(Fault::Oversized(1024 * 1024));
    let cfg = write_config(
        dir.path(),
        &server.url(),
        "proj-a",
        "max_response_bytes: 65536\n",
    );
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    let s = exporter.wait_for("polls failing on the cap", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "error")])
            .is_some_and(|n| n >= 2.0)
    });
    assert_eq!(s.value("llm_exporter_up", &[]), Some(0.0));
    assert!(
        s.value("llm_exporter_api_requests_total", &requests("error"))
            .is_some_and(|n| n >= 2.0),
        "each refused body is a failed call: {}",
        s.text
    );
    assert_eq!(
        s.value("llm_exporter_circuit_state", &[("api", "timeSeries.list")]),
        Some(0.0),
        "a refused body is the endpoint's answer, not an outage"
    );
    let log = exporter.proc.log();
    assert!(
        log.contains("response body of timeSeries.list exceeds max_response_bytes (65536 bytes)"),
        "the log names the key and the limit: {log}"
    );

    // A body that never ends: refused at the cap, long before the 2 s call timeout.
    let errors_before = s
        .value("llm_exporter_api_requests_total", &requests("error"))
        .unwrap();
    fake.state().sticky = Some(Fault::Endless);
    let s = exporter.wait_for("endless bodies refused", Duration::from_secs(60), |s| {
        s.value("llm_exporter_api_requests_total", &requests("error"))
            .is_some_and(|n| n >= errors_before + 5.0)
    });
    assert_eq!(
        s.value("llm_exporter_api_requests_total", &requests("timeout")),
        None,
        "reading stopped at the cap instead of running into the timeout"
    );
    let (status, _) = exporter.get("/-/healthy");
    assert_eq!(status, 200, "the exporter keeps serving");
    let peak = peak_rss(&exporter);
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {peak} bytes while endless bodies were refused"
    );

    // Sane answers again: polling recovers and counts what arrives from then on.
    fake.state().sticky = None;
    exporter.wait_for("recovery", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    add_tokens(&fake, "proj-a", &GEMINI, "input", m + 60, 1_000);
    exporter.wait_for("new usage counted", Duration::from_secs(60), |s| {
        s.value(
            "llm_tokens_total",
            &[("model", "gemini-2.5-flash"), ("token_type", "input")],
        ) == Some(1_000.0)
    });
}
