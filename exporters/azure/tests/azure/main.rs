//! The integration tests of the Azure exporter, in one binary: one link of the dependencies and
//! one build of `support` instead of one per file. Each file is a module;
//! `cargo test -p llm-exporter-azure --test azure <module>` runs one.

mod support;

mod azure;
mod body_cap;
mod cache_tiers;
mod cli;
mod drills;
mod duplicates;
mod exact;
mod get_batch;
mod hostile;
mod restarts;
