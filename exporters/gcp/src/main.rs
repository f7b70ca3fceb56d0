//! `llm-exporter-gcp`: Vertex AI usage and cost from Cloud Monitoring, as Prometheus metrics.
//! Flags -> config -> one Source per project -> `common::run`.

mod billing;
mod config;
mod demo;
mod error;
mod http;
mod metrics_api;
mod models;
mod points;
mod source;
mod token_types;

#[cfg(test)]
mod fuzz_tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use common::cli::{init_logging, Flags};
use common::config::{section, Config, ConfigError};
use common::guard::{Guard, GuardSettings};
use common::metrics::SelfMetrics;
use common::pricing::Pricing;
use common::RunSettings;

use crate::config::GcpConfig;
use crate::http::Rest;
use crate::metrics_api::Monitoring;
use crate::source::VertexSource;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit this binary was built from (common/build/revision.rs), or `unknown`.
const REVISION: &str = env!("GIT_REVISION");
const DEFAULT_LISTEN_ADDRESS: &str = ":9747";

/// Prometheus exporter for Google Vertex AI token usage, invocations, errors, latency and
/// estimated cost, polled from Cloud Monitoring (aiplatform.googleapis.com/PublisherModel).
#[derive(Parser)]
#[command(
    name = "llm-exporter-gcp",
    version = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("GIT_REVISION"), ")"),
    about,
    after_help = "Default --web.listen-address: :9747"
)]
struct Args {
    #[command(flatten)]
    flags: Flags,
}

/// Everything read and checked before any thread starts.
struct Prepared {
    flags: Flags,
    config: Config,
    gcp: GcpConfig,
    pricing: Pricing,
    /// Held until `run` returns: the bundle `SSL_CERT_FILE` names.
    _ca_bundle: Option<CaBundle>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.flags.log_level, args.flags.log_format);
    let prepared = match prepare(args.flags) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("llm-exporter-gcp: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    common::cli::block_on_main("llm-exporter-gcp", run(prepared))
}

fn prepare(flags: Flags) -> anyhow::Result<Prepared> {
    flags.validate().map_err(anyhow::Error::msg)?;
    let config = common::load_config(&flags)?;
    let gcp: GcpConfig = section(&config, &config.gcp, "gcp")?;
    gcp.validate(!flags.demo)
        .map_err(|(field, message)| ConfigError::Field {
            path: config.origin.clone(),
            field,
            message,
        })?;
    let pricing = common::load_pricing("gcp", &config)?;
    common::tls::install_crypto_provider();
    let ca_bundle = match &config.extra_ca_file {
        Some(path) => Some(trust_extra_ca(path)?),
        None => None,
    };
    Ok(Prepared {
        flags,
        config,
        gcp,
        pricing,
        _ca_bundle: ca_bundle,
    })
}

/// Both HTTPS stacks (ours for Cloud Monitoring, google-cloud-auth's own for token endpoints,
/// which takes no client of ours) read their roots through rustls-native-certs, which takes
/// `SSL_CERT_FILE` when set: point it at the system bundle plus `extra_ca_file`. Done before
/// any thread exists, because the environment is process-wide.
fn trust_extra_ca(path: &Path) -> anyhow::Result<CaBundle> {
    let extra = common::tls::read_ca_file(path).map_err(anyhow::Error::msg)?;
    let candidates: Vec<PathBuf> = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        )
        .collect();
    let mut bundle = candidates
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .unwrap_or_default();
    bundle.push(b'\n');
    bundle.extend_from_slice(&extra);
    let (path, keep) = bundle_path(&bundle)?;
    std::env::set_var("SSL_CERT_FILE", &path);
    Ok(keep)
}

/// A path to `bundle` that leaves nothing behind, even after kill -9: on Linux an unnamed
/// temporary file (O_TMPFILE) held open for the life of the process and named through
/// `/proc/self/fd`; elsewhere a named temporary file removed at exit.
#[cfg(target_os = "linux")]
fn bundle_path(bundle: &[u8]) -> anyhow::Result<(PathBuf, CaBundle)> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let mut file = tempfile::tempfile().context("cannot create the CA bundle file")?;
    file.write_all(bundle)
        .context("cannot write the CA bundle file")?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    // The client reads the bundle whenever it builds an HTTPS stack: the caller keeps the
    // file open for the life of the process.
    Ok((path, file))
}

#[cfg(not(target_os = "linux"))]
fn bundle_path(bundle: &[u8]) -> anyhow::Result<(PathBuf, CaBundle)> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("llm-exporter-gcp-ca-")
        .suffix(".pem")
        .tempfile()
        .context("cannot create the CA bundle file")?;
    file.write_all(bundle)
        .context("cannot write the CA bundle file")?;
    // Removed when the caller drops it, at exit.
    let path = file.into_temp_path();
    Ok((path.to_path_buf(), path))
}

/// What keeps the CA bundle readable until the process ends.
#[cfg(target_os = "linux")]
type CaBundle = std::fs::File;
#[cfg(not(target_os = "linux"))]
type CaBundle = tempfile::TempPath;

async fn run(p: Prepared) -> anyhow::Result<()> {
    let _ca_bundle = p._ca_bundle;
    let metrics = Arc::new(SelfMetrics::with_revision("gcp", VERSION, REVISION));
    let max_response_bytes = p.config.max_response_bytes;
    let lookback = p.config.lookback;
    let settings = RunSettings {
        cloud: "gcp",
        version: VERSION,
        default_listen_address: DEFAULT_LISTEN_ADDRESS,
        flags: p.flags.clone(),
        config: p.config,
        metrics: metrics.clone(),
        pricing: p.pricing,
    };
    if p.flags.demo || p.flags.config_check {
        // --config.check needs no credentials: it checks files and exits before polling.
        if !p.flags.config_check {
            tracing::info!("demo mode: synthetic data, no Google Cloud calls");
        }
        return common::run(
            settings,
            common::demo::guarded(demo::sources(p.flags.demo_extra_models), &metrics),
        )
        .await;
    }
    // Application default credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file,
    // workload identity or the metadata server. Tokens are fetched on first use.
    let credentials = google_cloud_auth::credentials::Builder::default()
        .build()
        .context("cannot set up Google application default credentials")?;
    // Cloud Monitoring's REST endpoint, called directly so that no body is read past
    // max_response_bytes (http.rs says why not the generated client).
    let rest = Arc::new(
        Rest::new(&p.gcp.monitoring_endpoint, credentials, max_response_bytes)
            .context("cannot create the Cloud Monitoring client")?,
    );
    let unknown_types = Arc::new(token_types::UnknownTypes::register(&metrics.registry));
    let unread = Arc::new(billing::WarnOnce::default());
    let duplicates = Arc::new(points::Duplicates::new(metrics.clone()));
    // A breaker and a rate limit per project: Cloud Monitoring's read quota is the project's,
    // and one project's outage or missing permission must not hold back the others.
    let sources: Vec<VertexSource> = p
        .gcp
        .projects
        .iter()
        .map(|project| {
            let guard = Arc::new(Guard::for_target(
                "timeSeries.list",
                project,
                GuardSettings {
                    timeout: p.gcp.timeout,
                    requests_per_second: p.gcp.requests_per_second,
                    retries: 2,
                    ..GuardSettings::default()
                },
                metrics.clone(),
            ));
            VertexSource {
                project: project.clone(),
                scope: project.clone(),
                monitoring: Arc::new(Monitoring {
                    rest: rest.clone(),
                    guard,
                    metrics: metrics.clone(),
                    usd_per_series: p.gcp.usd_per_million_time_series / 1e6,
                    duplicates: duplicates.clone(),
                }),
                unknown_types: unknown_types.clone(),
                unread: unread.clone(),
                fetched: Default::default(),
                idle: common::idle::Idle::new(p.gcp.idle_poll_interval, lookback),
                traffic: Default::default(),
            }
        })
        .collect();
    tracing::info!(projects = ?p.gcp.projects, endpoint = %p.gcp.monitoring_endpoint, "polling Cloud Monitoring for Vertex AI");
    common::run(settings, sources).await
}
