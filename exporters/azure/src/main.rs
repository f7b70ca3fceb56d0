//! `llm-exporter-azure`: Azure OpenAI / AI Foundry usage and cost from Azure Monitor, as
//! Prometheus metrics. Flags -> config -> one Source per subscription -> `common::run`.

mod answer;
mod billing;
mod capped;
mod config;
mod demo;
mod discovery;
mod error;
mod guards;
mod http;
mod metrics_api;
mod models;
mod points;
mod samples;
mod source;
mod watch;

#[cfg(test)]
mod fuzz_tests;

use std::process::ExitCode;
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
use clap::Parser;
use common::cli::{init_logging, Flags};
use common::config::{section, ConfigError};
use common::guard::{Guard, GuardSettings};
use common::metrics::SelfMetrics;
use common::RunSettings;

use crate::config::{AzureConfig, CredentialKind};
use crate::discovery::Arm;
use crate::guards::Guards;
use crate::http::AzClient;
use crate::metrics_api::Monitor;
use crate::source::AzureSource;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit this binary was built from (common/build/revision.rs), or `unknown`.
const REVISION: &str = env!("GIT_REVISION");
const DEFAULT_LISTEN_ADDRESS: &str = ":9746";

/// Prometheus exporter for Azure OpenAI / AI Foundry token usage, requests, errors, latency
/// and estimated cost, polled from Azure Monitor (Microsoft.CognitiveServices/accounts).
#[derive(Parser)]
#[command(
    name = "llm-exporter-azure",
    version = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("GIT_REVISION"), ")"),
    about,
    after_help = "Default --web.listen-address: :9746"
)]
struct Args {
    #[command(flatten)]
    flags: Flags,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.flags.log_level, args.flags.log_format);
    common::tls::install_crypto_provider();
    common::cli::block_on_main("llm-exporter-azure", run(args.flags))
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    flags.validate().map_err(anyhow::Error::msg)?;
    let config = common::load_config(&flags)?;
    let azure: AzureConfig = section(&config, &config.azure, "azure")?;
    azure
        .validate(!flags.demo)
        .map_err(|(field, message)| ConfigError::Field {
            path: config.origin.clone(),
            field,
            message,
        })?;
    let pricing = common::load_pricing("azure", &config)?;
    let extra_ca = match &config.extra_ca_file {
        Some(path) => Some(common::tls::read_ca_file(path).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let metrics = Arc::new(SelfMetrics::with_revision("azure", VERSION, REVISION));
    let max_body = config.max_response_bytes;
    let lookback = config.lookback;
    let settings = RunSettings {
        cloud: "azure",
        version: VERSION,
        default_listen_address: DEFAULT_LISTEN_ADDRESS,
        flags: flags.clone(),
        config,
        metrics: metrics.clone(),
        pricing,
    };
    // --config.check needs no credentials: it checks files and exits before polling.
    if flags.demo || flags.config_check {
        if !flags.config_check {
            tracing::info!("demo mode: synthetic data, no Azure calls");
        }
        return common::run(
            settings,
            common::demo::guarded(demo::sources(flags.demo_extra_models), &metrics),
        )
        .await;
    }

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
    // ARM throttles per subscription and principal: one guard for the listings. The metrics
    // APIs get a guard per subscription and region (see guards::Guards).
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
        api_in_use: metrics_api::api_in_use_gauge(&metrics),
        metrics: metrics.clone(),
    });
    let sources: Vec<AzureSource> = azure
        .subscriptions
        .iter()
        .map(|s| {
            let mut source = AzureSource::new(s.clone(), arm.clone(), monitor.clone());
            source.idle = common::idle::Idle::new(azure.idle_poll_interval, lookback);
            source
        })
        .collect();
    tracing::info!(subscriptions = ?azure.subscriptions, resource_manager = %azure.endpoints.resource_manager, "polling Azure Monitor for Cognitive Services accounts");
    common::run(settings, sources).await
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
