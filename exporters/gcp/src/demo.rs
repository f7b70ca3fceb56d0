//! The `--demo` data set: Gemini and partner models on Vertex AI in two locations.

use common::demo::{DemoModel, DemoSource};
use common::source::SeriesLabels;

/// `tokens` per call: [input, output]. Gemini reports no cache split on this metric; Claude
/// on Vertex does (`cache_read_input`, `cache_write_*_input`), see [`claude`].
fn model(location: &str, id: &str, peak: f64, tokens: [f64; 2]) -> DemoModel {
    DemoModel {
        labels: SeriesLabels {
            account: "demo-project".into(),
            region: location.into(),
            model: id.into(),
            deployment: String::new(),
            billing: Default::default(),
        },
        peak_per_minute: peak,
        input_tokens_per_call: tokens[0],
        output_tokens_per_call: tokens[1],
        cache_read_per_call: 0.0,
        cache_write_per_call: 0.0,
        reports_first_token: true,
    }
}

/// A Claude model with prompt caching: cache reads and writes per call as well.
fn claude(location: &str, id: &str, peak: f64, tokens: [f64; 4]) -> DemoModel {
    DemoModel {
        cache_read_per_call: tokens[2],
        cache_write_per_call: tokens[3],
        ..model(location, id, peak, [tokens[0], tokens[1]])
    }
}

/// The demo sources; `extra_models` synthetic ones are added to the first, for load tests.
/// What Cloud Monitoring gives (docs/metrics.md): invocation latency as a mean, time to first token as
/// a mean and a server-side 99th percentile.
const INVOCATION: &[(&str, f64)] = &[("avg", 1.0)];
const FIRST_TOKEN: &[(&str, f64)] = &[("avg", 1.0), ("p99", 2.2)];

pub fn sources(extra_models: usize) -> Vec<DemoSource> {
    let us = "us-central1";
    let eu = "europe-west4";
    vec![
        DemoSource::new(
            "demo-project/us",
            vec![
                model(us, "gemini-2.5-flash", 150.0, [900.0, 250.0]),
                model(us, "gemini-2.5-pro", 25.0, [3000.0, 800.0]),
                claude(
                    "us-east5",
                    "claude-haiku-4-5",
                    40.0,
                    [1200.0, 300.0, 2000.0, 150.0],
                ),
                model(
                    us,
                    "meta/llama-3.3-70b-instruct-maas",
                    10.0,
                    [1500.0, 300.0],
                ),
            ],
        )
        .with_extra_models(extra_models)
        .with_latency_stats(INVOCATION, FIRST_TOKEN),
        DemoSource::new(
            "demo-project/eu",
            vec![
                model(eu, "gemini-2.5-flash", 80.0, [800.0, 200.0]),
                model(eu, "gemini-2.5-flash-lite", 200.0, [400.0, 100.0]),
            ],
        )
        .with_latency_stats(INVOCATION, FIRST_TOKEN),
    ]
}
