//! Hostile responses, against the real binary: a Cloud Monitoring
//! that answers the documented `timeSeries.list` shape with values no real project reports
//! (1.797e308 tokens in two series, `"NaN"` and `"Infinity"` doubles, a negative count, a
//! point dated tomorrow, points dated 1970 and 9999, a minute reported twice) beside sane
//! series. The exporter keeps serving, counters stay finite and never decrease, every
//! rejected point is counted in `llm_exporter_samples_rejected_total{reason}`, the sane totals
//! are exact, the state file holds only finite numbers and the next start accepts it.
//!
//! The responder is the test's own (the shared fake stores sane values only); it answers
//! every request whatever its interval, as a broken or hostile endpoint would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use testkit::hostile::{assert_state_finite, check_counters, rejected};
use testkit::{wait_until, Scrape, Server};

const TOKEN_COUNT: &str = "aiplatform.googleapis.com/publisher/online_serving/token_count";

/// (model_user_id, model_version_id) -> points in the REST shape.
type Series = BTreeMap<(String, String), Vec<Value>>;

#[derive(Clone, Default)]
struct Hostile(Arc<Mutex<Series>>);

impl Hostile {
    fn add(&self, model: &str, version: &str, start: i64, value: Value) {
        self.0
            .lock()
            .unwrap()
            .entry((model.into(), version.into()))
            .or_default()
            .push(json!({
                "interval": {"startTime": rfc3339(start), "endTime": rfc3339(start + 60)},
                "value": value,
            }));
    }
}

async fn list(State(h): State<Hostile>, RawQuery(q): RawQuery) -> String {
    let q = q.unwrap_or_default();
    // Only token_count carries data here; the other metric types answer no series.
    if !q.contains("token_count") {
        return json!({"timeSeries": [], "unit": ""}).to_string();
    }
    let series: Vec<Value> = h
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|((model, version), points)| {
            json!({
                "metric": {"type": TOKEN_COUNT, "labels": {"type": "input", "request_type": "shared"}},
                "resource": {"type": "aiplatform.googleapis.com/PublisherModel", "labels": {
                    "model_user_id": model, "model_version_id": version,
                    "publisher": "google", "location": "us-central1"}},
                "metricKind": "DELTA",
                "valueType": "INT64",
                "unit": "1",
                "points": points,
            })
        })
        .collect();
    json!({"timeSeries": series, "unit": ""}).to_string()
}

fn int(v: i64) -> Value {
    json!({"int64Value": v.to_string()})
}

fn double(v: Value) -> Value {
    json!({"doubleValue": v})
}

fn config(dir: &std::path::Path, endpoint: &str, state: &std::path::Path) -> String {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "poll_interval: 1s\nstate_file: {}\ngcp:\n  projects: [proj-a]\n  monitoring_endpoint: {endpoint}\n  timeout: 2s\n  idle_poll_interval: 2s\n",
            state.display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn tokens(s: &Scrape, model: &str) -> f64 {
    s.matching(
        "llm_tokens_total",
        &[("model", model), ("token_type", "input")],
    )
    .iter()
    .map(|x| x.2)
    .sum()
}

#[test]
fn hostile_values_are_rejected_and_counted_and_sane_totals_stay_exact() {
    let hostile = Hostile::default();
    let server = Server::start(
        Router::new()
            .route("/v3/projects/{project}/timeSeries", get(list))
            .with_state(hostile.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let state = dir.path().join("gcp.state");
    let cfg = config(dir.path(), &server.url(), &state);
    let mut exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    let m = now_minute();
    // Sane: 3,000 tokens over two minutes.
    hostile.add("gemini-2.5-flash", "", m - 120, int(1_000));
    hostile.add("gemini-2.5-flash", "", m - 60, int(2_000));
    // 1.797e308 in two series of one exported model: added up they are +Inf.
    hostile.add("absurd", "v1", m - 120, double(json!(1.797e308)));
    hostile.add("absurd", "v2", m - 120, double(json!(1.797e308)));
    // Non-finite doubles, as proto3 JSON writes them.
    hostile.add("nonfinite", "", m - 120, double(json!("NaN")));
    hostile.add("nonfinite", "", m - 180, double(json!("Infinity")));
    hostile.add("nonfinite", "", m - 240, double(json!("-Infinity")));
    hostile.add("negative", "", m - 120, int(-5));
    // Tomorrow: held (not counted before its minute).
    hostile.add("future", "", m + 86_400, int(50));
    // 1970 and the first minute of 1970: before anything the window asked for.
    hostile.add("old", "", 0, int(50));
    hostile.add("old", "", 60, int(50));

    let s = exporter.wait_for(
        "the sane tokens and the rejections",
        Duration::from_secs(60),
        |s| {
            tokens(s, "gemini-2.5-flash") == 3_000.0
                && rejected(s, "implausible") >= 2.0
                && rejected(s, "non_finite") >= 3.0
                && rejected(s, "negative") >= 1.0
                && rejected(s, "future") >= 1.0
                && rejected(s, "before_window") >= 2.0
        },
    );
    for model in ["absurd", "nonfinite", "negative", "future", "old"] {
        assert_eq!(
            tokens(&s, model),
            0.0,
            "{model}: nothing counted\n{}",
            s.text
        );
    }

    // A minute reported twice in one series (as a broken endpoint might): counted at most
    // once per value reported, never more than both.
    hostile.add("twice", "", m - 120, int(100));
    hostile.add("twice", "", m - 120, int(100));
    // The exporter keeps serving through a few polls; nothing decreases, nothing is infinite.
    let mut before = exporter.scrape();
    let polls = before
        .value("llm_exporter_polls_total", &[("outcome", "success")])
        .unwrap();
    wait_until("five more polls", Duration::from_secs(30), || {
        let s = exporter.scrape();
        check_counters(&before, &s, false);
        let done = s.value("llm_exporter_polls_total", &[("outcome", "success")])? >= polls + 5.0;
        before = s;
        done.then_some(())
    });
    let s = exporter.scrape();
    let twice = tokens(&s, "twice");
    assert!(
        (100.0..=200.0).contains(&twice),
        "a minute reported twice: {twice}"
    );
    println!("a minute reported twice (100 + 100) counts {twice}");
    assert_eq!(
        tokens(&s, "gemini-2.5-flash"),
        3_000.0,
        "the sane total is exact"
    );

    // The state file holds only finite numbers, and the next start accepts it.
    exporter.proc.stop();
    assert_state_finite(&state);
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    let s = exporter.wait_for("the restart's poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    assert_eq!(
        tokens(&s, "gemini-2.5-flash"),
        3_000.0,
        "restored, not counted again"
    );
    check_counters(&before, &s, true);
    drop(server);
}
