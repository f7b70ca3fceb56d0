//! A fake Cloud Monitoring serving a fleet of projects, for `scripts/scale.sh` (run by hand,
//! not in CI). It is the tests' fake (tests/gcp/support), seeded once with a point a minute from
//! 20 minutes ago to `FLEET_HOURS` ahead, so the exporter sees new minutes as time passes.
//!
//! `fake_fleet <projects> <models per project> <share of projects in use>`: in a project in
//! use, 2 of its models have traffic (tokens in and out, invocations, both latencies); every
//! other model is idle and, as on Cloud Monitoring, has no series. Prints the endpoint's URL,
//! then serves until killed.

#[path = "../tests/gcp/support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use support::{now_minute, Fake, PointValue, RawSeries};

const PREFIX: &str = "aiplatform.googleapis.com/publisher/online_serving/";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: f64| {
        args.get(i)
            .map(|a| a.parse::<f64>().expect("numeric arguments"))
            .unwrap_or(default)
    };
    let (projects, models, share) = (
        number(0, 100.0) as usize,
        number(1, 20.0) as usize,
        number(2, 0.1),
    );
    let hours: i64 = std::env::var("FLEET_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(2);
    let fake = Fake::default();
    let first = now_minute() - 20 * 60;
    let minutes: Vec<i64> = (0..(20 + hours * 60)).map(|i| first + i * 60).collect();
    let every = (1.0 / share.max(1e-6)).round().max(1.0) as usize;
    let mut series = Vec::new();
    for p in 0..projects {
        if p % every != 0 {
            continue;
        }
        let project = format!("proj-{p:05}");
        for m in 0..models.min(2) {
            let resource: BTreeMap<String, String> = [
                ("model_user_id", format!("gemini-fleet-{m:02}")),
                ("model_version_id", String::new()),
                ("publisher", "google".to_string()),
                ("location", "us-central1".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let mut add = |metric: &str, labels: &[(&str, &str)], value: PointValue| {
                series.push(RawSeries {
                    project: project.clone(),
                    metric_type: format!("{PREFIX}{metric}"),
                    resource: resource.clone(),
                    metric: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    points: minutes.iter().map(|&t| (t, value.clone())).collect(),
                });
            };
            for t in ["input", "output"] {
                let labels = [
                    ("type", t),
                    ("request_type", "shared"),
                    ("modality", "TEXT"),
                ];
                add("token_count", &labels, PointValue::Int(1_000));
            }
            add(
                "model_invocation_count",
                &[("response_code", "200"), ("error_category", "")],
                PointValue::Int(10),
            );
            let dist = PointValue::Dist {
                count: 10,
                mean: 800.0,
            };
            add(
                "model_invocation_latencies",
                &[("latency_type", "model")],
                dist.clone(),
            );
            add("first_token_latencies", &[], dist);
        }
    }
    let seeded = series.len();
    fake.state().series = series;
    let server = fake.start();
    println!("{}", server.url());
    eprintln!(
        "fake_fleet: {projects} projects, {models} models each, {seeded} series with traffic"
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
