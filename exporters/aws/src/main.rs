//! `llm-exporter-aws`: AWS Bedrock usage and cost from CloudWatch, as Prometheus metrics.
//! `common::main` starts it ([`exporter::Aws`]): one Source per account and region.

mod assemble;
mod capped;
mod config;
#[cfg(test)]
mod costs;
mod demo;
mod discovery;
mod error;
mod exporter;
mod listed;
mod listing;
mod metrics_api;
mod models;
mod pages;
mod plan;
mod probe;
mod provisioned;
mod regions;
mod source;
mod tiers;
mod watch;

#[cfg(test)]
mod fuzz_tests;

use std::process::ExitCode;

fn main() -> ExitCode {
    common::main::<exporter::Aws>()
}
