//! `llm-exporter-azure`: Azure OpenAI / AI Foundry usage and cost from Azure Monitor, as
//! Prometheus metrics. `common::main` starts it ([`exporter::Azure`]): one Source per
//! subscription.

mod arm;
mod billing;
mod capped;
mod config;
mod demo;
mod exporter;
mod http;
mod models;
mod monitor;
mod points;
mod source;
mod watch;

#[cfg(test)]
mod fuzz_tests;

use std::process::ExitCode;

fn main() -> ExitCode {
    common::main::<exporter::Azure>()
}
