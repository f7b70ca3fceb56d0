//! The `--demo` data set: realistic Bedrock model ids in two Regions, one application
//! inference profile, prompt caching on the Anthropic models.

use common::demo::{DemoModel, DemoSource};
use common::source::SeriesLabels;

/// `tokens` per call: [input, output, cache read, cache write].
fn model(region: &str, id: &str, deployment: &str, peak: f64, tokens: [f64; 4]) -> DemoModel {
    DemoModel {
        labels: SeriesLabels {
            account: "123456789012".into(),
            region: region.into(),
            model: id.into(),
            deployment: deployment.into(),
            billing: Default::default(),
        },
        peak_per_minute: peak,
        input_tokens_per_call: tokens[0],
        output_tokens_per_call: tokens[1],
        cache_read_per_call: tokens[2],
        cache_write_per_call: tokens[3],
        reports_first_token: id.contains("anthropic"),
    }
}

/// The demo sources; `extra_models` synthetic ones are added to the first, for load tests.
pub fn sources(extra_models: usize) -> Vec<DemoSource> {
    let us = "us-east-1";
    let eu = "eu-west-1";
    let us_models = vec![
        model(
            us,
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "",
            40.0,
            [1500.0, 400.0, 600.0, 60.0],
        ),
        model(
            us,
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "",
            120.0,
            [600.0, 150.0, 300.0, 30.0],
        ),
        model(
            us,
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "support-bot",
            25.0,
            [900.0, 220.0, 400.0, 20.0],
        ),
        model(
            us,
            "amazon.nova-pro-v1:0",
            "",
            30.0,
            [900.0, 300.0, 100.0, 0.0],
        ),
        model(
            us,
            "meta.llama3-3-70b-instruct-v1:0",
            "",
            15.0,
            [1200.0, 250.0, 0.0, 0.0],
        ),
    ];
    let eu_models = vec![
        model(
            eu,
            "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "",
            20.0,
            [2000.0, 500.0, 800.0, 80.0],
        ),
        model(
            eu,
            "amazon.nova-lite-v1:0",
            "",
            60.0,
            [700.0, 200.0, 0.0, 0.0],
        ),
    ];
    vec![
        DemoSource::new("demo/us-east-1", us_models).with_extra_models(extra_models),
        DemoSource::new("demo/eu-west-1", eu_models),
    ]
}
