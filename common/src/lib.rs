//! The pipeline every exporter shares, in the order data flows through it:
//!
//! `Source` (per cloud, [`source`]) -> [`poller`] -> [`accumulator`] -> [`metrics`] ->
//! [`server`]. Around it: [`config`] and [`sections`], [`pricing`], [`guard`] and [`cache`]
//! for cloud calls, [`cli`] for flags and logging, [`demo`] for the synthetic source. No
//! module here names a cloud: each exporter implements [`exporter::Exporter`] (its section,
//! its [`source::Source`]s) and its `main` calls [`main`], which starts it and calls [`run`].

pub mod accumulator;
pub mod atomic_file;
pub mod base;
pub mod basic_auth;
pub mod breaker;
pub mod budget;
pub mod cache;
pub mod cli;
pub mod config;
mod config_error;
pub mod demo;
pub mod edge;
pub mod error;
pub mod exporter;
pub mod exposition;
pub mod guard;
pub mod gzip;
pub mod idle;
pub mod landing;
pub mod logging;
pub mod metrics;
pub mod poller;
pub mod pricing;
pub mod publish;
pub mod reload;
pub mod run;
pub mod sections;
pub mod server;
pub mod shard;
pub mod shutdown;
pub mod source;
pub mod tls;
pub mod web_config;

pub use exporter::main;
pub use run::{load_config, run, RunSettings};
