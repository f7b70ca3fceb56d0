//! Start-up of the Azure exporter ([`common::exporter::Exporter`]): one HTTPS client and
//! credential, the ARM listings and the metrics APIs, then one Source per subscription.

use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use common::config::{Config, FieldError};
use common::demo::DemoSource;
use common::exporter::Exporter;
use common::guard::{Guard, GuardSettings};
use common::RunSettings;

use crate::config::{AzureConfig, CredentialKind};
use crate::discovery::Arm;
use crate::guards::Guards;
use crate::http::AzClient;
use crate::metrics_api::Monitor;
use crate::source::AzureSource;
use crate::{capped, demo, metrics_api};

/// Azure OpenAI / AI Foundry token usage, requests, errors, latency and estimated cost,
/// polled from Azure Monitor (Microsoft.CognitiveServices/accounts).
pub struct Azure;

impl Exporter for Azure {
    const CLOUD: &'static str = "azure";
    const CLOUD_NAME: &'static str = "Azure";
    const BINARY: &'static str = "llm-exporter-azure";
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    const DEFAULT_LISTEN_ADDRESS: &'static str = ":9746";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const REVISION: &'static str = env!("GIT_REVISION");
    const CAPACITY_RATES: &'static str = include_str!("../pricing/capacity-azure.yaml");

    type Section = AzureConfig;
    /// `extra_ca_file`'s certificates, read and checked at start-up in every mode.
    type Prepared = Option<Vec<u8>>;
    type Source = AzureSource;

    fn validate(section: &AzureConfig, polling: bool) -> Result<(), FieldError> {
        section.validate(polling)
    }

    fn prepare(config: &Config) -> anyhow::Result<Option<Vec<u8>>> {
        common::tls::install_crypto_provider();
        match &config.extra_ca_file {
            Some(path) => Ok(Some(
                common::tls::read_ca_file(path).map_err(anyhow::Error::msg)?,
            )),
            None => Ok(None),
        }
    }

    fn demo_sources(extra_models: usize) -> Vec<DemoSource> {
        demo::sources(extra_models)
    }

    async fn sources(
        azure: AzureConfig,
        extra_ca: &Option<Vec<u8>>,
        run: &RunSettings,
    ) -> anyhow::Result<Vec<AzureSource>> {
        let metrics = &run.metrics;
        let max_body = run.config.max_response_bytes;
        let http = http_client(extra_ca.as_deref(), azure.timeout)?;
        let (credential, credential_hint) = credential(&azure, &http, max_body)?;
        let client = Arc::new(AzClient {
            http,
            credential,
            credential_hint,
            max_body,
        });
        let guard_settings = GuardSettings {
            timeout: azure.timeout,
            requests_per_second: azure.requests_per_second,
            retries: 2,
            ..GuardSettings::default()
        };
        let arm_base = azure
            .endpoints
            .resource_manager
            .trim_end_matches('/')
            .to_string();
        // ARM throttles per subscription and principal: one guard for the listings. The
        // metrics APIs get a guard per subscription and region (see guards::Guards).
        let arm = Arc::new(Arm::new(
            client.clone(),
            Arc::new(Guard::new(
                "ARM_List",
                guard_settings.clone(),
                metrics.clone(),
            )),
            arm_base.clone(),
            azure.endpoints.arm_scope(),
            azure.discovery_ttl,
            metrics.clone(),
        ));
        let monitor = Arc::new(Monitor {
            client,
            guards: Guards::new(guard_settings, metrics.clone()),
            arm_base,
            arm_scope: azure.endpoints.arm_scope(),
            metrics_scope: azure.endpoints.metrics_scope(),
            metrics_template: azure.endpoints.metrics.clone(),
            refused: Mutex::new(Default::default()),
            retry_batch: azure.getbatch_retry,
            batch_usd_per_call: azure.getbatch_usd_per_1000_calls / 1000.0,
            api_in_use: metrics_api::api_in_use_gauge(metrics),
            metrics: metrics.clone(),
        });
        let sources: Vec<AzureSource> = azure
            .subscriptions
            .iter()
            .map(|s| {
                let mut source = AzureSource::new(s.clone(), arm.clone(), monitor.clone());
                source.idle =
                    common::idle::Idle::new(azure.idle_poll_interval, run.config.lookback);
                source
            })
            .collect();
        tracing::info!(subscriptions = ?azure.subscriptions, resource_manager = %azure.endpoints.resource_manager, "polling Azure Monitor for Cognitive Services accounts");
        Ok(sources)
    }
}

/// One HTTPS client for tokens, ARM and metrics: rustls, the system roots plus
/// `extra_ca_file`, and the standard HTTPS_PROXY / NO_PROXY variables (reqwest's default).
fn http_client(
    extra_ca: Option<&[u8]>,
    timeout: std::time::Duration,
) -> anyhow::Result<reqwest::Client> {
    // Call deadlines belong to the guard (it counts them as timeouts); reqwest only bounds
    // connecting.
    let mut builder = reqwest::Client::builder().connect_timeout(timeout);
    if let Some(pem) = extra_ca {
        let certs = reqwest::Certificate::from_pem_bundle(pem).context("extra_ca_file")?;
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().context("cannot build the HTTPS client")
}

/// The credential named by `azure.credential`, or chosen from the standard environment:
/// AZURE_FEDERATED_TOKEN_FILE -> workload identity; AZURE_CLIENT_SECRET -> client secret;
/// otherwise managed identity.
fn credential(
    azure: &AzureConfig,
    http: &reqwest::Client,
    max_body: u64,
) -> anyhow::Result<(Arc<dyn TokenCredential>, String)> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let hint = match azure.credential {
        Some(k) => format!("credential {k:?} from azure.credential"),
        None if env("AZURE_FEDERATED_TOKEN_FILE").is_some() => {
            "workload identity, chosen because AZURE_FEDERATED_TOKEN_FILE is set".to_string()
        }
        None if env("AZURE_CLIENT_SECRET").is_some() => {
            "client secret, chosen because AZURE_CLIENT_SECRET is set".to_string()
        }
        None => "managed identity, chosen because neither AZURE_FEDERATED_TOKEN_FILE nor AZURE_CLIENT_SECRET is set; set azure.credential or those variables to use another".to_string(),
    };
    let kind = azure
        .credential
        .unwrap_or(if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            CredentialKind::WorkloadIdentity
        } else if env("AZURE_CLIENT_SECRET").is_some() {
            CredentialKind::ClientSecret
        } else {
            CredentialKind::ManagedIdentity
        });
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = azure.endpoints.authority_host.clone();
    let client_options = ClientOptions {
        transport: Some(Transport::new(Arc::new(capped::CappedHttp {
            inner: http.clone(),
            cap: max_body,
        }))),
        cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
        ..Default::default()
    };

    let credential: Arc<dyn TokenCredential> = match kind {
        CredentialKind::ClientSecret => {
            let (Some(tenant), Some(client_id), Some(secret)) = (env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"), env("AZURE_CLIENT_SECRET")) else {
                bail!("azure.credential client_secret needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET");
            };
            ClientSecretCredential::new(&tenant, client_id, Secret::new(secret), Some(ClientSecretCredentialOptions { client_options })).context("client secret credential")?
        }
        CredentialKind::WorkloadIdentity => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions { client_options },
            ..Default::default()
        }))
        .context("workload identity credential (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE)")?,
        CredentialKind::ManagedIdentity => ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions { client_options, ..Default::default() })).context("managed identity credential")?,
    };
    tracing::info!(credential = ?kind, "Azure credential");
    Ok((credential, hint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::pricing::Pricing;

    /// The hand-kept PTU rates ship with this exporter and are loaded with the catalog (Azure
    /// Retail Prices, "Provisioned Managed Global Unit"; see the file's sources).
    #[test]
    fn bundled_capacity_rates_price_provisioned_deployments() {
        let p = Pricing::load_with_capacity(Azure::CLOUD, Azure::CAPACITY_RATES, None).unwrap();
        assert_eq!(
            p.capacity_rate(&["provisioned/global".to_string()]),
            Some(1.0)
        );
    }
}
