//! Start-up of the GCP exporter ([`common::exporter::Exporter`]): application default
//! credentials and one Cloud Monitoring client, then one Source per project.

use std::sync::Arc;

use anyhow::Context;
use common::config::{Config, FieldError};
use common::demo::DemoSource;
use common::exporter::Exporter;
use common::guard::{Guard, GuardSettings};
use common::RunSettings;

use crate::ca_bundle::{trust_extra_ca, CaBundle};
use crate::config::GcpConfig;
use crate::http::Rest;
use crate::metrics_api::Monitoring;
use crate::source::VertexSource;
use crate::{billing, demo, points, token_types};

/// Google Vertex AI token usage, invocations, errors, latency and estimated cost, polled from
/// Cloud Monitoring (aiplatform.googleapis.com/PublisherModel).
pub struct Gcp;

impl Exporter for Gcp {
    const CLOUD: &'static str = "gcp";
    const CLOUD_NAME: &'static str = "Google Cloud";
    const BINARY: &'static str = "llm-exporter-gcp";
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    const DEFAULT_LISTEN_ADDRESS: &'static str = ":9747";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const REVISION: &'static str = env!("GIT_REVISION");
    const CAPACITY_RATES: &'static str = include_str!("../pricing/capacity-gcp.yaml");

    type Section = GcpConfig;
    /// Held until the exporter stops: the bundle `SSL_CERT_FILE` names.
    type Prepared = Option<CaBundle>;
    type Source = VertexSource;

    fn validate(section: &GcpConfig, polling: bool) -> Result<(), FieldError> {
        section.validate(polling)
    }

    fn prepare(config: &Config) -> anyhow::Result<Option<CaBundle>> {
        common::tls::install_crypto_provider();
        // SSL_CERT_FILE is process-wide: set here, before any thread exists.
        config
            .extra_ca_file
            .as_deref()
            .map(trust_extra_ca)
            .transpose()
    }

    fn demo_sources(extra_models: usize) -> Vec<DemoSource> {
        demo::sources(extra_models)
    }

    async fn sources(
        gcp: GcpConfig,
        _ca_bundle: &Option<CaBundle>,
        run: &RunSettings,
    ) -> anyhow::Result<Vec<VertexSource>> {
        let metrics = &run.metrics;
        // Application default credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file,
        // workload identity or the metadata server. Tokens are fetched on first use.
        let credentials = google_cloud_auth::credentials::Builder::default()
            .build()
            .context("cannot set up Google application default credentials")?;
        // Cloud Monitoring's REST endpoint, called directly so that no body is read past
        // max_response_bytes (http.rs says why not the generated client).
        let rest = Arc::new(
            Rest::new(
                &gcp.monitoring_endpoint,
                credentials,
                run.config.max_response_bytes,
            )
            .context("cannot create the Cloud Monitoring client")?,
        );
        let unknown_types = Arc::new(token_types::UnknownTypes::register(&metrics.registry));
        let unread = Arc::new(billing::WarnOnce::default());
        let duplicates = Arc::new(points::Duplicates::new(metrics.clone()));
        // A breaker and a rate limit per project: Cloud Monitoring's read quota is the
        // project's, and one project's outage or missing permission must not hold back the
        // others.
        let sources: Vec<VertexSource> = gcp
            .projects
            .iter()
            .map(|project| {
                let guard = Arc::new(Guard::for_target(
                    "timeSeries.list",
                    project,
                    GuardSettings {
                        timeout: gcp.timeout,
                        requests_per_second: gcp.requests_per_second,
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
                        usd_per_series: gcp.usd_per_million_time_series / 1e6,
                        duplicates: duplicates.clone(),
                    }),
                    unknown_types: unknown_types.clone(),
                    unread: unread.clone(),
                    fetched: Default::default(),
                    idle: common::idle::Idle::new(gcp.idle_poll_interval, run.config.lookback),
                    traffic: Default::default(),
                }
            })
            .collect();
        tracing::info!(projects = ?gcp.projects, endpoint = %gcp.monitoring_endpoint, "polling Cloud Monitoring for Vertex AI");
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::pricing::Pricing;

    /// The bundled capacity file (no rates yet) is a valid pricing file for this cloud.
    #[test]
    fn bundled_capacity_rates_load() {
        Pricing::load_with_capacity(Gcp::CLOUD, Gcp::CAPACITY_RATES, None)
            .expect("a valid pricing file");
    }
}
