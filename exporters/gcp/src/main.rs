//! `llm-exporter-gcp`: Vertex AI usage and cost from Cloud Monitoring, as Prometheus metrics.
//! `common::main` starts it ([`exporter::Gcp`]): one Source per project.

mod billing;
mod ca_bundle;
mod config;
mod demo;
mod error;
mod exporter;
mod http;
mod metrics_api;
mod models;
mod points;
mod source;
mod token_types;

#[cfg(test)]
mod fuzz_tests;

use std::process::ExitCode;

fn main() -> ExitCode {
    common::main::<exporter::Gcp>()
}
