//! Answers Cloud Monitoring marks as incomplete (`executionErrors`, `unreachable`) fail the
//! poll, so the window is fetched again: nothing lost, nothing counted twice.

use std::time::Duration;

use crate::support::*;

const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];

#[test]
fn an_incomplete_answer_fails_the_poll_and_is_fetched_again() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let m = now_minute() - 180;
    // Usage from before start-up: the baseline, never counted.
    add_tokens(&fake, "proj-a", &GEMINI, "input", m, 99_999);
    // The first poll's answers all say they may be incomplete (and carry no series).
    fake.state().sticky = Some(Fault::ExecutionError(
        "Deadline exceeded while reading from the metric store".into(),
    ));
    let cfg = write_config(dir.path(), &server.url(), "proj-a", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    let s = exporter.wait_for("a failed poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "error")])
            .is_some_and(|n| n >= 2.0)
    });
    assert_eq!(s.value("llm_exporter_up", &[]), Some(0.0));
    assert_eq!(
        s.value("llm_exporter_circuit_state", &[("api", "timeSeries.list")]),
        Some(0.0),
        "the calls themselves succeeded"
    );
    let log = exporter.proc.log();
    assert!(
        log.contains("token_count") && log.contains("Deadline exceeded while reading"),
        "the log names the metric and the cloud's message: {log}"
    );

    fake.state().sticky = None;
    let input = [("model", "gemini-2.5-flash"), ("token_type", "input")];
    exporter.wait_for("the baseline", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    add_tokens(&fake, "proj-a", &GEMINI, "input", m + 60, 1_000);
    exporter.wait_for("new usage counted", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &input) == Some(1_000.0)
    });

    // Later: regions unreachable while usage goes on; counted once when they answer again.
    fake.state().sticky = Some(Fault::Unreachable("us-central1".into()));
    add_tokens(&fake, "proj-a", &GEMINI, "input", m + 60, 500);
    add_tokens(&fake, "proj-a", &GEMINI, "input", m + 120, 2_000);
    exporter.wait_for(
        "the unreachable region fails polls",
        Duration::from_secs(60),
        |s| s.value("llm_exporter_up", &[]) == Some(0.0),
    );
    assert!(exporter.proc.log().contains("unreachable: us-central1"));
    // One incomplete answer among complete ones: that poll fails, the next one counts.
    fake.state().sticky = None;
    fake.state()
        .faults
        .push_back(Fault::ExecutionError("partial".into()));
    let s = exporter.wait_for("recovery", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
            && s.value("llm_tokens_total", &input) == Some(3_500.0)
    });
    assert!(close(
        s.value("llm_estimated_cost_usd_total", &input),
        3_500.0 * 0.30e-6
    ));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        exporter.scrape().value("llm_tokens_total", &input),
        Some(3_500.0),
        "nothing counted twice, the baseline never counted"
    );
}
