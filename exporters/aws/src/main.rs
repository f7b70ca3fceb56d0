//! `llm-exporter-aws`: AWS Bedrock usage and cost from CloudWatch, as Prometheus metrics.
//! `common::main` starts it ([`exporter::Aws`]): one Source per account and region.

mod assemble;
mod bedrock;
mod capped;
mod cloudwatch;
mod config;
#[cfg(test)]
mod costs;
mod demo;
mod error;
mod exporter;
mod listed;
mod listing;
mod models;
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
