//! One project's outage never holds back another (issue 8, scenario 5): each project has its
//! own breaker and rate limit. Before: one breaker per API was shared by every project, so a
//! project answering 503 opened it for all.

mod support;

use std::time::{Duration, Instant};

use support::*;

const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];

#[test]
fn one_failing_project_does_not_hold_back_another() {
    let fake = Fake::default();
    fake.state()
        .project_faults
        .insert("proj-b".into(), Fault::Status(503));
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let cfg = write_config(dir.path(), &server.url(), "proj-a, proj-b", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("proj-b's breaker to open", Duration::from_secs(90), |s| {
        s.value(
            "llm_exporter_circuit_state",
            &[("api", "timeSeries.list"), ("target", "proj-b")],
        ) == Some(2.0)
            && s.value("llm_exporter_target_up", &[("target", "proj-a")]) == Some(1.0)
    });
    let m = now_minute();
    add_tokens(&fake, "proj-a", &GEMINI, "input", m, 1_234);
    let input = [("account", "proj-a"), ("token_type", "input")];
    exporter.wait_for("proj-a to count", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &input) == Some(1_234.0)
    });
    // For 10 s of scrapes, proj-a stays up and its breaker closed while proj-b fails.
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let s = exporter.scrape();
        assert_eq!(
            s.value("llm_exporter_target_up", &[("target", "proj-a")]),
            Some(1.0)
        );
        assert_eq!(
            s.value("llm_exporter_target_up", &[("target", "proj-b")]),
            Some(0.0)
        );
        assert_eq!(
            s.value(
                "llm_exporter_circuit_state",
                &[("api", "timeSeries.list"), ("target", "proj-a")]
            ),
            Some(0.0)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(exporter.proc.log().contains("proj-b"));

    // The landing page shows each target's state and error, the breakers and the config
    // (issue 13: before, it was three links).
    let (status, page) = exporter.get("/");
    assert_eq!(status, 200);
    for expected in [
        "proj-a",
        "proj-b",
        "failed",
        "circuit open",
        "timeSeries.list proj-b</td><td>open",
        "usage series held",
        "poll_interval",
        "litellm 1.109.1",
    ] {
        assert!(
            page.contains(expected),
            "{expected:?} missing from the landing page:\n{page}"
        );
    }
}
