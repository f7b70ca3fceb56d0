//! A point Cloud Monitoring answers twice for the same series and minute is counted once
//! (the API documents one point per alignment period), counted in
//! `llm_exporter_samples_rejected_total{reason="duplicate"}` and logged, never summed.

use std::time::Duration;

use crate::support::*;

const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];

#[test]
fn a_point_answered_twice_is_counted_once_and_reported() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let m = now_minute() - 180;
    add_tokens(&fake, "proj-a", &GEMINI, "input", m, 99_999);
    fake.state().repeat_newest_point = true;
    let cfg = write_config(dir.path(), &server.url(), "proj-a", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    // New usage in two minutes, the newer one answered twice by every poll; the same
    // series' distinct types (input, output) are distinct usage and still add up.
    add_tokens(&fake, "proj-a", &GEMINI, "input", m + 60, 1_000);
    add_tokens(&fake, "proj-a", &GEMINI, "input", m + 120, 300);
    add_tokens(&fake, "proj-a", &GEMINI, "output", m + 120, 40);
    let input = [("model", "gemini-2.5-flash"), ("token_type", "input")];
    let output = [("model", "gemini-2.5-flash"), ("token_type", "output")];
    exporter.wait_for("new usage counted", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &input) == Some(1_300.0)
            && s.value("llm_tokens_total", &output) == Some(40.0)
    });
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(
        s.value("llm_tokens_total", &input),
        Some(1_300.0),
        "the repeated minute is never added twice"
    );
    assert_eq!(s.value("llm_tokens_total", &output), Some(40.0));
    assert!(
        s.value(
            "llm_exporter_samples_rejected_total",
            &[("reason", "duplicate")]
        )
        .is_some_and(|n| n >= 2.0),
        "{}",
        s.text
    );
    let log = exporter.proc.log();
    let warnings = log
        .matches("returned points twice for the same series and minute")
        .count();
    assert!(
        (1..=2).contains(&warnings),
        "logged, at most once a minute: {warnings} in {log}"
    );
}
