//! The integration tests of the GCP exporter, in one binary: one link of the dependencies and
//! one build of `support` instead of one per file. Each file is a module;
//! `cargo test -p llm-exporter-gcp --test gcp <module>` runs one.

mod support;

mod bill;
mod body_cap;
mod ca_bundle;
mod cli;
mod config_check;
mod credentials;
mod drills;
mod duplicates;
mod hostile;
mod incomplete;
mod reload;
mod restarts;
mod scopes;
mod versions;
mod vertex;
