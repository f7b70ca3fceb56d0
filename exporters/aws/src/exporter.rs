//! Start-up of the AWS exporter ([`common::exporter::Exporter`]): one HTTPS client for every
//! AWS call, then one Source per account and region.

use std::sync::Arc;

use anyhow::{bail, Context};
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudwatch::config::SharedHttpClient;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use common::config::{Config, FieldError};
use common::demo::DemoSource;
use common::exporter::Exporter;
use common::guard::{Guard, GuardSettings};
use common::metrics::SelfMetrics;
use common::RunSettings;
use tokio::sync::OnceCell;

use crate::config::{account_of_role, cloudwatch_stat, AccountConfig, AwsConfig};
use crate::listing::Listing;
use crate::source::{AccountId, BedrockSource};
use crate::{capped, demo, discovery, metrics_api, provisioned};

/// AWS Bedrock token usage, invocations, errors, latency and estimated cost, polled from
/// CloudWatch (namespaces AWS/Bedrock and AWS/BedrockMantle).
pub struct Aws;

impl Exporter for Aws {
    const CLOUD: &'static str = "aws";
    const CLOUD_NAME: &'static str = "AWS";
    const BINARY: &'static str = "llm-exporter-aws";
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    const DEFAULT_LISTEN_ADDRESS: &'static str = ":9745";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const REVISION: &'static str = env!("GIT_REVISION");
    const CAPACITY_RATES: &'static str = include_str!("../pricing/capacity-aws.yaml");

    type Section = AwsConfig;
    type Prepared = ();
    type Source = BedrockSource;

    fn validate(section: &AwsConfig, _polling: bool) -> Result<(), FieldError> {
        // Without regions the SDK's region is polled: nothing is required for polling.
        section.validate()
    }

    fn prepare(_config: &Config) -> anyhow::Result<()> {
        Ok(())
    }

    fn demo_sources(extra_models: usize) -> Vec<DemoSource> {
        demo::sources(extra_models)
    }

    async fn sources(
        aws: AwsConfig,
        _prepared: &(),
        run: &RunSettings,
    ) -> anyhow::Result<Vec<BedrockSource>> {
        // One HTTP client for every AWS call (CloudWatch, Bedrock, STS, the credential chain),
        // with each response body capped at max_response_bytes.
        let http_client = capped::CappedClient::wrap(
            https_client(run.config.extra_ca_file.as_deref())?,
            run.config.max_response_bytes,
        );
        let half_lookback = (run.config.lookback.as_secs() as i64 / 2).max(1);
        let mut tier_split_delay = aws.tier_split_delay.as_secs() as i64;
        if tier_split_delay > half_lookback {
            // A split still open when its minute leaves the lookback would never count its
            // Standard remainder.
            tracing::warn!(
                tier_split_delay = ?aws.tier_split_delay,
                lookback = ?run.config.lookback,
                "aws.tier_split_delay is longer than half the lookback: half the lookback is used"
            );
            tier_split_delay = half_lookback;
        }
        let pace = Pacing {
            poll_interval: run.config.poll_interval.as_secs().max(1) as i64,
            slowest: half_lookback,
            tier_split_delay,
        };
        let catalog = Arc::new(run.pricing.clone());
        build_sources(&aws, &run.metrics, http_client, catalog, pace).await
    }
}

/// The SDK's HTTPS client (the one its `default-https-client` feature builds: rustls with
/// aws-lc), trusting `extra_ca_file` besides the system roots (corporate TLS-intercepting
/// proxies, private endpoints).
fn https_client(extra_ca_file: Option<&std::path::Path>) -> anyhow::Result<SharedHttpClient> {
    let builder =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
    let Some(path) = extra_ca_file else {
        return Ok(builder.build_https());
    };
    let pem = common::tls::read_ca_file(path).map_err(anyhow::Error::msg)?;
    let trust = TrustStore::default().with_pem_certificate(pem);
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .with_context(|| format!("extra_ca_file {}", common::config::shown(path)))?;
    Ok(builder.tls_context(tls).build_https())
}

/// `poll_interval`, the longest interval a budget slowdown may reach and how long a tier
/// split stays open, in seconds.
struct Pacing {
    poll_interval: i64,
    slowest: i64,
    tier_split_delay: i64,
}

/// A profile unknown to the cached listing lists again at once, at most this often per scope.
const PROFILE_REFRESH_MIN: std::time::Duration = std::time::Duration::from_secs(60);

/// One source per (account, region), each with its own guards: CloudWatch's quotas are per
/// account and region, and a bad role or a missing permission in one scope (or throttling, or
/// an unreachable regional endpoint) must not open a breaker or spend a rate budget that the
/// other scopes use.
async fn build_sources(
    aws: &AwsConfig,
    metrics: &Arc<SelfMetrics>,
    http_client: SharedHttpClient,
    catalog: Arc<common::pricing::Pricing>,
    pace: Pacing,
) -> anyhow::Result<Vec<BedrockSource>> {
    let guard = |api: &str, scope: &str, rps: u32, retries_in_sdk: bool| {
        Arc::new(Guard::for_target(
            api,
            scope,
            GuardSettings {
                timeout: aws.timeout,
                requests_per_second: rps,
                // The SDK retries throttling and 5xx itself (standard mode, 3 attempts).
                retries: if retries_in_sdk { 0 } else { 2 },
                ..GuardSettings::default()
            },
            metrics.clone(),
        ))
    };

    let loader =
        || aws_config::defaults(BehaviorVersion::latest()).http_client(http_client.clone());
    // With regions configured, name one for the base config too: otherwise the SDK's region
    // chain probes the EC2 instance metadata service (and warns) on hosts that are not EC2.
    let base = match aws.regions.first() {
        Some(r) => loader().region(Region::new(r.clone())).load().await,
        None => loader().load().await,
    };
    let regions: Vec<String> = if aws.regions.is_empty() {
        match base.region() {
            Some(r) => vec![r.to_string()],
            None => bail!("no AWS region: set aws.regions in the config file, or AWS_REGION"),
        }
    } else {
        aws.regions.clone()
    };
    let accounts = if aws.accounts.is_empty() {
        vec![AccountConfig::default()]
    } else {
        aws.accounts.clone()
    };
    let latency_stats: Vec<(String, String)> = aws
        .latency_stats
        .iter()
        .filter_map(|s| cloudwatch_stat(s).map(|cw| (s.clone(), cw)))
        .collect();

    let mut sources = Vec::new();
    for account in &accounts {
        let known = account
            .account_id
            .clone()
            .or_else(|| account.role_arn.as_deref().and_then(account_of_role));
        for region in &regions {
            let mut loader = loader().region(Region::new(region.clone()));
            if let Some(role) = &account.role_arn {
                let mut builder = AssumeRoleProvider::builder(role.clone())
                    .session_name("llm-exporter")
                    .configure(&base)
                    .region(Region::new(region.clone()));
                if let Some(ext) = &account.external_id {
                    builder = builder.external_id(ext.clone());
                }
                loader = loader.credentials_provider(builder.build().await);
            }
            let sdk = loader.load().await;
            let scope = format!("{}/{region}", known.as_deref().unwrap_or("default"));
            // ListMetrics: 25 TPS per account and region (CloudWatch service quotas,
            // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html).
            let list_guard = guard("ListMetrics", &scope, aws.requests_per_second.min(25), true);
            let data_guard = guard("GetMetricData", &scope, aws.requests_per_second, true);
            let profile_guard = guard("ListInferenceProfiles", &scope, 5, true);
            let throughput_guard = guard("ListProvisionedModelThroughputs", &scope, 5, true);
            let bedrock = aws_sdk_bedrock::Client::new(&sdk);
            let account_id = match &known {
                Some(id) => AccountId::Known(id.clone()),
                None => AccountId::FromSts {
                    client: aws_sdk_sts::Client::new(&sdk),
                    guard: guard("GetCallerIdentity", &scope, 5, true),
                },
            };
            sources.push(BedrockSource {
                scope,
                region: region.clone(),
                account_id,
                account: OnceCell::new(),
                cloudwatch: metrics_api::CloudWatch::new(
                    aws_sdk_cloudwatch::Client::new(&sdk),
                    list_guard,
                    data_guard,
                    Listing::new(
                        "list_metrics",
                        aws.discovery_ttl,
                        aws.discovery_ttl,
                        metrics.clone(),
                    ),
                    metrics.clone(),
                    aws.list_metrics_usd_per_request,
                ),
                profiles: discovery::ProfileResolver::new(
                    bedrock.clone(),
                    profile_guard,
                    Listing::new(
                        "inference_profiles",
                        aws.profile_ttl,
                        PROFILE_REFRESH_MIN,
                        metrics.clone(),
                    ),
                ),
                // Bedrock's control-plane listings are free API calls: no cost is counted.
                throughputs: provisioned::ThroughputLister::new(
                    bedrock,
                    throughput_guard,
                    Listing::new(
                        "provisioned_throughputs",
                        aws.profile_ttl,
                        aws.profile_ttl,
                        metrics.clone(),
                    ),
                ),
                latency_stats: latency_stats.clone(),
                fetched: Default::default(),
                levels: Default::default(),
                watch: Default::default(),
                poll_interval: pace.poll_interval,
                slowest: pace.slowest.max(pace.poll_interval),
                probe_every: aws.idle_probe_interval.as_secs() as i64,
                tier_split_delay: pace.tier_split_delay,
                metrics: metrics.clone(),
                catalog: catalog.clone(),
            });
        }
    }
    let scopes: Vec<&str> = sources.iter().map(|s| s.scope.as_str()).collect();
    tracing::info!(targets = ?scopes, "polling CloudWatch AWS/Bedrock and AWS/BedrockMantle");
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::pricing::Pricing;

    /// The hand-kept Provisioned Throughput rates ship with this exporter and are loaded with
    /// the catalog (AWS Bedrock pricing, "Provisioned Throughput"; see the file's sources).
    #[test]
    fn bundled_capacity_rates_price_provisioned_throughput() {
        let p = Pricing::load_with_capacity(Aws::CLOUD, Aws::CAPACITY_RATES, None).unwrap();
        let key = ["us-east-1/1-month-commitment/anthropic.claude-v2:1".to_string()];
        assert_eq!(p.capacity_rate(&key), Some(63.0));
    }
}
