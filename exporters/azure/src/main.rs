//! `llm-exporter-azure`: Azure OpenAI / AI Foundry usage and cost from Azure Monitor, as
//! Prometheus metrics. `common::main` starts it ([`exporter::Azure`]): one Source per
//! subscription.

mod answer;
mod billing;
mod capped;
mod config;
mod demo;
mod discovery;
mod error;
mod exporter;
mod guards;
mod http;
mod metrics_api;
mod models;
mod points;
mod samples;
mod source;
mod watch;

#[cfg(test)]
mod fuzz_tests;

use std::process::ExitCode;

fn main() -> ExitCode {
    common::main::<exporter::Azure>()
}
