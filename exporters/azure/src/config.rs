//! The `azure:` section of the shared config file.

use std::time::Duration;

use common::config::FieldError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// Subscriptions whose Cognitive Services accounts to poll (the `account` label).
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// `client_secret`, `workload_identity` or `managed_identity`; default: chosen from the
    /// standard AZURE_* environment variables.
    #[serde(default)]
    pub credential: Option<CredentialKind>,
    #[serde(default)]
    pub endpoints: Endpoints,
    /// How long the account and deployment lists are cached.
    #[serde(default = "default_discovery_ttl", with = "humantime_serde")]
    pub discovery_ttl: Duration,
    /// Client-side limit on calls per second, per API.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Time allowed for one API call.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// After getBatch is refused (Metrics - List used instead), how long until it is tried
    /// again.
    #[serde(default = "default_getbatch_retry", with = "humantime_serde")]
    pub getbatch_retry: Duration,
    /// What Azure charges for 1,000 metrics data-plane (getBatch) calls, in USD.
    #[serde(default = "default_getbatch_price")]
    pub getbatch_usd_per_1000_calls: f64,
    /// How often an account without requests is watched (one getBatch query instead of
    /// four, see idle.rs); `0s` polls every account in full every poll.
    #[serde(default = "default_idle_poll_interval", with = "humantime_serde")]
    pub idle_poll_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ClientSecret,
    WorkloadIdentity,
    ManagedIdentity,
}

/// Sovereign clouds override all three; the defaults are the public cloud's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    #[serde(default = "default_authority")]
    pub authority_host: String,
    #[serde(default = "default_resource_manager")]
    pub resource_manager: String,
    /// A URL template with `{region}`.
    #[serde(default = "default_metrics")]
    pub metrics: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            authority_host: default_authority(),
            resource_manager: default_resource_manager(),
            metrics: default_metrics(),
        }
    }
}

fn default_authority() -> String {
    "https://login.microsoftonline.com".into()
}
fn default_resource_manager() -> String {
    "https://management.azure.com".into()
}
fn default_metrics() -> String {
    "https://{region}.metrics.monitor.azure.com".into()
}
fn default_discovery_ttl() -> Duration {
    Duration::from_secs(600)
}
fn default_rps() -> u32 {
    10
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
/// Azure's metrics have one-minute resolution: watching an idle account once a minute sees
/// its first request as soon as a poll every 15 s would see its minute complete.
fn default_idle_poll_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_getbatch_retry() -> Duration {
    Duration::from_secs(300)
}
/// "$0.01 per 1,000 API calls" after a free 1,000,000 a month (see docs/polling-costs.md
/// for the sources): the free allowance is not subtracted.
fn default_getbatch_price() -> f64 {
    0.01
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            subscriptions: Vec::new(),
            credential: None,
            endpoints: Endpoints::default(),
            discovery_ttl: default_discovery_ttl(),
            requests_per_second: default_rps(),
            timeout: default_timeout(),
            getbatch_retry: default_getbatch_retry(),
            getbatch_usd_per_1000_calls: default_getbatch_price(),
            idle_poll_interval: default_idle_poll_interval(),
        }
    }
}

impl Endpoints {
    /// The OAuth scope of ARM: `<resource_manager>/.default`.
    pub fn arm_scope(&self) -> String {
        format!("{}/.default", self.resource_manager.trim_end_matches('/'))
    }

    /// The OAuth scope of the metrics data plane: the template's host without the region,
    /// e.g. `https://metrics.monitor.azure.com/.default`.
    pub fn metrics_scope(&self) -> String {
        let t = self
            .metrics
            .replace("{region}.", "")
            .replace("{region}", "");
        let (scheme, rest) = t.split_once("://").unwrap_or(("https", &t));
        let host = rest.split('/').next().unwrap_or(rest);
        format!("{scheme}://{host}/.default")
    }
}

impl AzureConfig {
    /// Checks what serde cannot; errors name the field. `polling` is false in demo mode.
    pub fn validate(&self, polling: bool) -> Result<(), FieldError> {
        if polling && self.subscriptions.is_empty() {
            return Err(FieldError::new(
                "azure.subscriptions",
                "name at least one subscription id to poll",
            ));
        }
        for (i, s) in self.subscriptions.iter().enumerate() {
            let groups: Vec<usize> = s.split('-').map(str::len).collect();
            if groups != [8, 4, 4, 4, 12] || !s.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                return Err(FieldError::new(
                    format!("azure.subscriptions[{i}]"),
                    format!(
                        "{:?} is not a subscription id (a GUID)",
                        common::config::shorten(s, 80)
                    ),
                ));
            }
        }
        let https = |field: &str, v: &str| -> Result<(), FieldError> {
            if v.starts_with("https://") {
                Ok(())
            } else {
                Err(FieldError::new(
                    format!("azure.endpoints.{field}"),
                    format!(
                        "{:?} must be an https:// URL",
                        common::config::shorten(v, 200)
                    ),
                ))
            }
        };
        // Entra ID and ARM tokens only travel over HTTPS.
        https("authority_host", &self.endpoints.authority_host)?;
        https("resource_manager", &self.endpoints.resource_manager)?;
        https("metrics", &self.endpoints.metrics)?;
        if !self.endpoints.metrics.contains("{region}") {
            return Err(FieldError::new(
                "azure.endpoints.metrics",
                "must contain {region}, e.g. https://{region}.metrics.monitor.azure.com",
            ));
        }
        if self.requests_per_second == 0 {
            return Err(FieldError::new(
                "azure.requests_per_second",
                "must be at least 1",
            ));
        }
        // Durations and numbers within what a user can mean (a TTL of 1001 years panics the
        // cache).
        common::config::section_range("azure.timeout", self.timeout, 1, 600)?;
        common::config::section_range("azure.discovery_ttl", self.discovery_ttl, 1, 86400)?;
        common::config::section_range("azure.getbatch_retry", self.getbatch_retry, 1, 86400)?;
        if !self.idle_poll_interval.is_zero() {
            // At most an hour: an idle account's first request is seen within it, and its
            // minutes must still be open then (docs/configuration.md says to keep it under `lookback`).
            common::config::section_range(
                "azure.idle_poll_interval",
                self.idle_poll_interval,
                1,
                3600,
            )?;
        }
        let price = self.getbatch_usd_per_1000_calls;
        if !(price.is_finite() && (0.0..=100.0).contains(&price)) {
            return Err(FieldError::new(
                "azure.getbatch_usd_per_1000_calls",
                format!("{price} must be a price in USD between 0 and 100"),
            ));
        }
        if self.requests_per_second > 10_000 {
            return Err(FieldError::new(
                "azure.requests_per_second",
                "must be at most 10000",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_endpoints() {
        let e = Endpoints::default();
        assert_eq!(e.arm_scope(), "https://management.azure.com/.default");
        assert_eq!(
            e.metrics_scope(),
            "https://metrics.monitor.azure.com/.default"
        );
        let gov = Endpoints {
            authority_host: "https://login.microsoftonline.us".into(),
            resource_manager: "https://management.usgovcloudapi.net/".into(),
            metrics: "https://{region}.metrics.monitor.azure.us".into(),
        };
        assert_eq!(
            gov.arm_scope(),
            "https://management.usgovcloudapi.net/.default"
        );
        assert_eq!(
            gov.metrics_scope(),
            "https://metrics.monitor.azure.us/.default"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let c = AzureConfig::default();
        assert_eq!(c.validate(true).unwrap_err().field, "azure.subscriptions");
        assert!(c.validate(false).is_ok());
        let c = AzureConfig {
            subscriptions: vec!["not-a-guid".into()],
            ..AzureConfig::default()
        };
        assert_eq!(
            c.validate(true).unwrap_err().field,
            "azure.subscriptions[0]"
        );
        let sub = "00000000-0000-0000-0000-000000000000".to_string();
        let mut c = AzureConfig {
            subscriptions: vec![sub],
            ..AzureConfig::default()
        };
        c.endpoints.authority_host = "http://login".into();
        assert_eq!(
            c.validate(true).unwrap_err().field,
            "azure.endpoints.authority_host"
        );
        c.endpoints.authority_host = default_authority();
        c.endpoints.metrics = "https://metrics.example".into();
        assert_eq!(
            c.validate(true).unwrap_err().field,
            "azure.endpoints.metrics"
        );
    }

    /// The config block of docs/configuration.md (every key, with its default) is what this
    /// parser takes;
    /// common/sections.yaml is checked against the same block.
    #[test]
    fn the_readme_example_is_a_valid_azure_section() {
        let readme = include_str!("../../../docs/configuration.md");
        let block = common::config::example_from_readme(readme).expect("the config block");
        let c = common::config::Config::parse(block, "README").expect("valid");
        let parsed: Result<AzureConfig, _> = common::config::section(&c, "azure");
        assert!(parsed.is_ok(), "{:?}", parsed.err());
    }

    /// Every exporter checks the `azure:` keys of a shared config by common/sections.yaml.
    #[test]
    fn the_shared_section_list_has_every_azure_key() {
        assert_eq!(
            common::sections::known()["azure"],
            common::sections::section_keys::<AzureConfig>()
        );
    }

    /// A duration too large for the cache (`discovery_ttl: 1001y`) is a config error, not a
    /// panic inside the cache (exit 101).
    #[test]
    fn absurd_durations_are_refused_naming_the_field() {
        let c = common::config::Config::parse("azure:\n  subscriptions: [00000000-0000-0000-0000-000000000000]\n  discovery_ttl: 1001y\n", "t").unwrap();
        let parsed: AzureConfig = common::config::section(&c, "azure").unwrap();
        let FieldError { field, message } = parsed.validate(true).unwrap_err();
        assert_eq!(field, "azure.discovery_ttl", "{message}");
        assert!(message.contains("must be between"), "{message}");
    }
}
