//! The `--demo` data set: Azure OpenAI deployments in two regions and a Foundry partner model.

use common::demo::{DemoModel, DemoSource};
use common::source::SeriesLabels;

/// `tokens` per call: [input, output, cache read, cache write].
fn deployment(region: &str, model: &str, name: &str, peak: f64, tokens: [f64; 4]) -> DemoModel {
    DemoModel {
        labels: SeriesLabels {
            account: "00000000-0000-0000-0000-000000000000".into(),
            region: region.into(),
            model: model.into(),
            deployment: name.into(),
            billing: Default::default(),
        },
        peak_per_minute: peak,
        input_tokens_per_call: tokens[0],
        output_tokens_per_call: tokens[1],
        cache_read_per_call: tokens[2],
        cache_write_per_call: tokens[3],
        reports_first_token: true,
    }
}

/// Azure Monitor reports latency as averages only (no percentiles), and so does the demo.
const AVERAGE_ONLY: &[(&str, f64)] = &[("avg", 1.0)];

/// The demo sources; `extra_models` synthetic ones are added to the first, for load tests.
pub fn sources(extra_models: usize) -> Vec<DemoSource> {
    vec![
        DemoSource::new(
            "demo-subscription/eastus",
            vec![
                deployment(
                    "eastus",
                    "gpt-4o",
                    "chat-prod",
                    90.0,
                    [1200.0, 300.0, 0.0, 0.0],
                ),
                deployment(
                    "eastus",
                    "gpt-4o-mini",
                    "summarizer",
                    200.0,
                    [800.0, 120.0, 0.0, 0.0],
                ),
                deployment(
                    "eastus",
                    "o3-mini",
                    "reasoning",
                    10.0,
                    [2000.0, 1500.0, 0.0, 0.0],
                ),
            ],
        )
        .with_extra_models(extra_models)
        .with_latency_stats(AVERAGE_ONLY, AVERAGE_ONLY),
        DemoSource::new(
            "demo-subscription/swedencentral",
            vec![deployment(
                "swedencentral",
                "gpt-4.1",
                "eu-assistant",
                40.0,
                [1500.0, 400.0, 0.0, 0.0],
            )],
        )
        .with_latency_stats(AVERAGE_ONLY, AVERAGE_ONLY),
    ]
}
