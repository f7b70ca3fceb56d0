//! The exporter's own Cloud Monitoring bill: read calls are billed per time
//! series returned, at least one per call, priced at `gcp.usd_per_million_time_series`.

use std::time::Duration;

use crate::support::*;

fn model(name: &str) -> [(&str, &str); 4] {
    [
        ("model_user_id", name),
        ("model_version_id", ""),
        ("publisher", "google"),
        ("location", "us-central1"),
    ]
}

#[test]
fn billable_units_are_the_series_returned_and_cost_follows_the_configured_price() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let m = now_minute() - 120;
    for name in ["gemini-2.5-flash", "gemini-2.5-pro"] {
        add_tokens(&fake, "proj-a", &model(name), "input", m, 100);
        add_tokens(&fake, "proj-a", &model(name), "output", m, 10);
    }
    // Two series a page: paging is billed page by page; the latency calls return nothing
    // and still bill one series each.
    fake.state().page_size = 2;
    let cfg = write_config(dir.path(), &server.url(), "proj-a", "");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{cfg_text}  usd_per_million_time_series: 2.5\n"),
    )
    .unwrap();
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("three successful polls", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "success")])
            .is_some_and(|n| n >= 3.0)
    });
    // Freeze the bill: from now on every call is refused (nothing returned, nothing billed);
    // once a poll has failed, every answer served before has been billed.
    fake.state().sticky = Some(Fault::Status(400));
    let s = exporter.wait_for("a failed poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "error")])
            .is_some_and(|n| n >= 1.0)
    });
    let returned = fake.state().returned.clone();
    assert!(returned.contains(&2), "paging was exercised: {returned:?}");
    assert!(
        returned.contains(&0),
        "empty answers were served: {returned:?}"
    );
    let expected: usize = returned.iter().map(|&n| n.max(1)).sum();
    let units = s.value(
        "llm_exporter_api_billable_units_total",
        &[("api", "timeSeries.list"), ("unit", "time_series_returned")],
    );
    assert_eq!(units, Some(expected as f64), "{}", s.text);
    assert!(
        close(
            s.value("llm_exporter_api_cost_usd_total", &[]),
            expected as f64 * 2.5e-6
        ),
        "{:?}",
        s.value("llm_exporter_api_cost_usd_total", &[])
    );
}
