//! The GCP binary's edges: bad input and the demo source.

use std::process::Command;

use crate::support::*;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_llm-exporter-gcp"))
        .args(args)
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/sa.json")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_non_zero_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("", "field `gcp.projects`"),
        (
            "gcp:\n  projects: [Not A Project]\n",
            "field `gcp.projects[0]`",
        ),
        (
            "gcp:\n  projects: [p1]\n  monitoring_endpoint: monitoring.googleapis.com\n",
            "field `gcp.monitoring_endpoint`",
        ),
        ("gcp:\n  project: [p1]\n", "field `gcp.project`"),
        (
            "gcp:\n  projects: [p1]\n  timeout: fast\n",
            "field `gcp.timeout`",
        ),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, text).unwrap();
        let (code, err) = run(&["--config.file", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{text}: {err}");
        assert!(
            err.contains(expected),
            "{text}: expected {expected:?} in {err:?}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, err) = run(&["--bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("--bogus"));
}

#[test]
fn demo_serves_the_contract_and_lints_clean() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = start_exporter(&["--demo"], &dir.path().join("unused.json"));
    let (status, body) = exporter.get("/metrics");
    assert_eq!(status, 200);
    let s = Scrape::parse(&body);
    assert_eq!(
        s.matching(
            "llm_tokens_total",
            &[("cloud", "gcp"), ("model", "claude-haiku-4-5")]
        )
        .len(),
        4,
        "Claude on Vertex reports cache reads and writes"
    );
    assert_eq!(
        s.matching(
            "llm_tokens_total",
            &[("cloud", "gcp"), ("model", "gemini-2.5-flash")]
        )
        .len(),
        4,
        "input and output, in two locations"
    );
    // One price per token series (two locations here), each with its series' labels.
    let prices = s.matching(
        "llm_model_price_usd_per_token",
        &[("model", "gemini-2.5-flash"), ("token_type", "input")],
    );
    assert_eq!(prices.len(), 2, "{}", s.text);
    assert!(prices.iter().all(|p| p.2 > 0.0 && p.2 == prices[0].2));
    assert_families_known(&body, common::metrics::names::ALL);
    let (code, lint) = promtool_check_metrics(&body);
    assert_eq!((code, lint.as_str()), (0, ""));
}
