//! The one start-up path: an exporter is a type implementing [`Exporter`] (its cloud, its
//! config section, its real and demo sources); [`main`] runs it. Adding a cloud means
//! implementing that trait, listing its section in `common/sections.yaml`, and a `main.rs` of
//! one line: `fn main() -> ExitCode { common::main::<MyExporter>() }`.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, FromArgMatches};
use serde::de::DeserializeOwned;

use crate::cli::{self, Flags};
use crate::config::{self, Config, ConfigError, FieldError};
use crate::demo::{self, DemoSource};
use crate::metrics::SelfMetrics;
use crate::pricing::Pricing;
use crate::run::RunSettings;
use crate::source::Source;

/// One cloud's exporter, as [`main`] starts it.
pub trait Exporter: 'static {
    /// The cloud's id: the `cloud` label, the name of the config section this exporter reads,
    /// `{exporter}` in `state_file`, its name under `models:` in a pricing file (`aws`).
    const CLOUD: &'static str;
    /// The cloud as logs name it (`AWS`, `Google Cloud`).
    const CLOUD_NAME: &'static str;
    /// The binary's name, which starts its usage line and its errors (`llm-exporter-aws`).
    const BINARY: &'static str;
    /// `--help`'s first line: `env!("CARGO_PKG_DESCRIPTION")`.
    const ABOUT: &'static str;
    /// `--web.listen-address` when the flag is not given (`:9745`).
    const DEFAULT_LISTEN_ADDRESS: &'static str;
    /// `env!("CARGO_PKG_VERSION")`: `--version` and `llm_exporter_build_info`.
    const VERSION: &'static str;
    /// `env!("GIT_REVISION")`, the commit the binary was built from (common/build/revision.rs).
    const REVISION: &'static str;
    /// Hourly rates of provisioned capacity kept by hand, in the pricing file format
    /// (`include_str!` of the exporter's `pricing/capacity-<cloud>.yaml`); empty for none.
    const CAPACITY_RATES: &'static str;

    /// The config section named [`Exporter::CLOUD`]; a missing section is its `Default`.
    /// Unknown keys must be refused (`#[serde(deny_unknown_fields)]`).
    type Section: DeserializeOwned + Default;
    /// What [`Exporter::prepare`] makes and the exporter holds until it stops.
    type Prepared;
    /// The cloud's source: one per scope, or one per group of scopes found by discovery.
    type Source: Source;

    /// Checks what serde cannot; the error names the field (`aws.regions[0]`). `polling` is
    /// false with `--demo`, when no cloud is called.
    fn validate(section: &Self::Section, polling: bool) -> Result<(), FieldError>;

    /// Work done once after the config is checked and before the async runtime starts (so
    /// before any thread exists: process-wide settings such as environment variables), in
    /// every mode (`--demo` and `--config.check` too).
    fn prepare(config: &Config) -> anyhow::Result<Self::Prepared>;

    /// The synthetic sources of `--demo` (and of `--config.check`, which polls nothing).
    fn demo_sources(extra_models: usize) -> Vec<DemoSource>;

    /// The real sources: cloud clients, credentials and guards, from the section and the run's
    /// settings (`run.config`, `run.metrics`, `run.pricing`).
    fn sources(
        section: Self::Section,
        prepared: &Self::Prepared,
        run: &RunSettings,
    ) -> impl Future<Output = anyhow::Result<Vec<Self::Source>>>;
}

/// Runs exporter `E` as its binary's `main`: flags, logging, config and section, validation,
/// pricing, [`Exporter::prepare`], then (on the async runtime) self-metrics, the demo or real
/// sources, and [`crate::run::run`]. Exits 2 on bad flags, 1 on any other error, printed as
/// `<binary>: <error with its causes>`.
pub fn main<E: Exporter>() -> ExitCode {
    let flags = parse_flags::<E>();
    cli::init_logging(flags.log_level, flags.log_format);
    let started = match start::<E>(flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e:#}", E::BINARY);
            return ExitCode::FAILURE;
        }
    };
    cli::block_on_main(E::BINARY, run::<E>(started))
}

/// Parses the config file's section of exporter `E` and validates it, as start-up and
/// `--config.check` do; errors name the field and the file.
pub fn section_of<E: Exporter>(config: &Config, polling: bool) -> Result<E::Section, ConfigError> {
    let section: E::Section = config::section(config, E::CLOUD)?;
    E::validate(&section, polling).map_err(|e| e.in_file(&config.origin))?;
    Ok(section)
}

/// The flags, with the binary's own name, version, description and default address.
fn parse_flags<E: Exporter>() -> Flags {
    // Built once per process: the leaked strings live as long as it does.
    let version: &'static str = format!("{} (revision {})", E::VERSION, E::REVISION).leak();
    let command = Flags::augment_args(
        clap::Command::new(E::BINARY)
            .version(version)
            .about(E::ABOUT)
            .after_help(format!(
                "Default --web.listen-address: {}",
                E::DEFAULT_LISTEN_ADDRESS
            )),
    );
    let matches = command.get_matches();
    Flags::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Everything read and checked before the async runtime starts.
struct Started<E: Exporter> {
    flags: Flags,
    config: Config,
    section: E::Section,
    pricing: Pricing,
    prepared: E::Prepared,
}

fn start<E: Exporter>(flags: Flags) -> anyhow::Result<Started<E>> {
    flags.validate().map_err(anyhow::Error::msg)?;
    let config = crate::run::load_config(&flags)?;
    let section = section_of::<E>(&config, !flags.demo)?;
    let pricing =
        Pricing::load_with_capacity(E::CLOUD, E::CAPACITY_RATES, config.pricing_file.as_deref())?;
    let prepared = E::prepare(&config)?;
    Ok(Started {
        flags,
        config,
        section,
        pricing,
        prepared,
    })
}

async fn run<E: Exporter>(started: Started<E>) -> anyhow::Result<()> {
    let Started {
        flags,
        config,
        section,
        pricing,
        // Held until the exporter stops.
        prepared,
    } = started;
    let metrics = Arc::new(SelfMetrics::with_revision(
        E::CLOUD,
        E::VERSION,
        E::REVISION,
    ));
    let settings = RunSettings {
        cloud: E::CLOUD,
        version: E::VERSION,
        default_listen_address: E::DEFAULT_LISTEN_ADDRESS,
        flags: flags.clone(),
        config,
        metrics: metrics.clone(),
        pricing,
        capacity_rates: E::CAPACITY_RATES,
    };
    // --config.check needs no credentials: it checks files and exits before polling.
    if flags.demo || flags.config_check {
        if !flags.config_check {
            tracing::info!("demo mode: synthetic data, no {} calls", E::CLOUD_NAME);
        }
        let sources = demo::guarded(E::demo_sources(flags.demo_extra_models), &metrics);
        return crate::run::run(settings, sources).await;
    }
    let sources = E::sources(section, &prepared, &settings).await?;
    crate::run::run(settings, sources).await
}
