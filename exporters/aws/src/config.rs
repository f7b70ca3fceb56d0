//! The `aws:` section of the shared config file.

use std::time::Duration;

use common::config::FieldError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Regions to poll; default: the SDK's region (AWS_REGION, the profile).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Accounts to poll; default: one, the SDK's default credential chain.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// Latency statistics to request, `avg` and/or percentiles `pNN` (each one is a metric
    /// requested, so each costs money; see docs/polling-costs.md).
    #[serde(default = "default_latency_stats")]
    pub latency_stats: Vec<String>,
    /// How long the list of metrics and models (ListMetrics) is cached. Short by default so a
    /// model used for the first time shows within a minute of CloudWatch listing it.
    #[serde(default = "default_discovery_ttl", with = "humantime_serde")]
    pub discovery_ttl: Duration,
    /// How long Bedrock's listings (application inference profiles, Provisioned
    /// Throughputs) are cached.
    #[serde(default = "default_profile_ttl", with = "humantime_serde")]
    pub profile_ttl: Duration,
    /// Client-side limit on CloudWatch calls per second, per account and region.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Time allowed for one API call, including the SDK's own retries.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// USD per ListMetrics request in `llm_exporter_api_cost_usd_total`. Default 0: ListMetrics
    /// is free within CloudWatch's free tier (1,000,000 API requests a month); beyond it,
    /// $0.01 per 1,000 requests (0.00001).
    #[serde(default)]
    pub list_metrics_usd_per_request: f64,
    /// How often a model with no traffic in the open window is probed (its request metrics
    /// only) instead of fetched in full every poll; 0 fetches every model in full every poll.
    #[serde(default = "default_idle_probe_interval", with = "humantime_serde")]
    pub idle_probe_interval: Duration,
    /// How long after a minute ends its split by service tier stays open: its Standard
    /// remainder waits this long for tier metrics published or listed late (tiers.rs says
    /// why). At most half the lookback is used.
    #[serde(default = "default_tier_split_delay", with = "humantime_serde")]
    pub tier_split_delay: Duration,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Role to assume in that account (through the default chain's credentials).
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    /// The `account` label; default: from `role_arn`, else STS GetCallerIdentity.
    #[serde(default)]
    pub account_id: Option<String>,
}

fn default_latency_stats() -> Vec<String> {
    vec!["avg".into(), "p90".into(), "p99".into()]
}
fn default_discovery_ttl() -> Duration {
    // With the default 15 s poll_interval, the listing is refreshed every third poll, so a
    // metric CloudWatch starts listing is queried at most 45 s + 15 s later.
    Duration::from_secs(45)
}
fn default_profile_ttl() -> Duration {
    Duration::from_secs(600)
}
fn default_idle_probe_interval() -> Duration {
    // CloudWatch's resolution: a probe more often finds no minute a probe a minute misses.
    Duration::from_secs(60)
}
fn default_tier_split_delay() -> Duration {
    // Two refreshes of the ListMetrics cache at the default discovery_ttl (45 s) and a poll
    // more: a tier set CloudWatch lists within half a minute of the minute's end is read
    // while the split is open. Short enough that the remainder shows within 3 minutes.
    Duration::from_secs(120)
}
fn default_rps() -> u32 {
    20
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            regions: Vec::new(),
            accounts: Vec::new(),
            latency_stats: default_latency_stats(),
            discovery_ttl: default_discovery_ttl(),
            profile_ttl: default_profile_ttl(),
            requests_per_second: default_rps(),
            timeout: default_timeout(),
            list_metrics_usd_per_request: 0.0,
            idle_probe_interval: default_idle_probe_interval(),
            tier_split_delay: default_tier_split_delay(),
        }
    }
}

impl AwsConfig {
    /// Checks what serde cannot; errors name the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (i, r) in self.regions.iter().enumerate() {
            crate::regions::check(r)
                .map_err(|m| FieldError::new(format!("aws.regions[{i}]"), m))?;
        }
        if self.tier_split_delay > Duration::from_secs(3600) {
            return Err(FieldError::new(
                "aws.tier_split_delay",
                "must be at most 1h (and at most half the lookback is used)",
            ));
        }
        if self.idle_probe_interval > Duration::from_secs(3600) {
            return Err(FieldError::new(
                "aws.idle_probe_interval",
                "must be at most 1h (0s: no probes, every model fetched in full)",
            ));
        }
        for (i, stat) in self.latency_stats.iter().enumerate() {
            if cloudwatch_stat(stat).is_none() {
                return Err(FieldError::new(
                    format!("aws.latency_stats[{i}]"),
                    format!(
                        "{:?} is not avg or a percentile like p99",
                        common::config::shorten(stat, 80)
                    ),
                ));
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if let Some(arn) = &a.role_arn {
                if account_of_role(arn).is_none() {
                    return Err(FieldError::new(
                        format!("aws.accounts[{i}].role_arn"),
                        format!(
                            "{:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)",
                            common::config::shorten(arn, 200)
                        ),
                    ));
                }
            }
            if let Some(id) = &a.account_id {
                if id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit()) {
                    return Err(FieldError::new(
                        format!("aws.accounts[{i}].account_id"),
                        "must be a 12-digit AWS account id",
                    ));
                }
            }
        }
        if self.requests_per_second == 0 {
            return Err(FieldError::new(
                "aws.requests_per_second",
                "must be at least 1",
            ));
        }
        // Durations and numbers within what a user can mean (a TTL of 1001 years panics the
        // cache).
        common::config::section_range("aws.timeout", self.timeout, 1, 600)?;
        common::config::section_range("aws.discovery_ttl", self.discovery_ttl, 1, 86400)?;
        common::config::section_range("aws.profile_ttl", self.profile_ttl, 1, 86400)?;
        let price = self.list_metrics_usd_per_request;
        if !(0.0..=0.01).contains(&price) {
            return Err(FieldError::new(
                "aws.list_metrics_usd_per_request",
                format!("{price} is not a price between 0 and 0.01 USD per request (list price beyond the free tier: 0.00001)"),
            ));
        }
        if self.requests_per_second > 10_000 {
            return Err(FieldError::new(
                "aws.requests_per_second",
                "must be at most 10000",
            ));
        }
        Ok(())
    }
}

/// The CloudWatch statistic for a configured latency stat: `avg` -> `Average`, `p99` -> `p99`.
pub fn cloudwatch_stat(stat: &str) -> Option<String> {
    if stat == "avg" {
        return Some("Average".into());
    }
    let n = stat.strip_prefix('p')?;
    let v: f64 = n.parse().ok()?;
    (v > 0.0 && v < 100.0).then(|| stat.to_string())
}

/// The account id in `arn:aws:iam::123456789012:role/NAME` (any partition).
pub fn account_of_role(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _partition, "iam", "", account, resource]
            if account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.starts_with("role/") =>
        {
            Some(account.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_give_their_account() {
        assert_eq!(
            account_of_role("arn:aws:iam::123456789012:role/llm-exporter").as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            account_of_role("arn:aws-us-gov:iam::123456789012:role/a/b").as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_of_role("arn:aws:iam::1234:role/x"), None);
        assert_eq!(account_of_role("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn latency_stats_map_to_cloudwatch() {
        assert_eq!(cloudwatch_stat("avg").as_deref(), Some("Average"));
        assert_eq!(cloudwatch_stat("p99").as_deref(), Some("p99"));
        assert_eq!(cloudwatch_stat("p99.9").as_deref(), Some("p99.9"));
        assert_eq!(cloudwatch_stat("max"), None);
        assert_eq!(cloudwatch_stat("p100"), None);
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = AwsConfig {
            regions: vec!["us-east-1".into(), "US East".into()],
            ..AwsConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "aws.regions[1]");
        c.regions.clear();
        c.latency_stats = vec!["max".into()];
        assert_eq!(c.validate().unwrap_err().field, "aws.latency_stats[0]");
        c.latency_stats.clear();
        c.accounts = vec![AccountConfig {
            role_arn: Some("arn:aws:iam::12:role/x".into()),
            ..Default::default()
        }];
        assert_eq!(c.validate().unwrap_err().field, "aws.accounts[0].role_arn");
    }

    /// The config block of docs/configuration.md (every key, with its default) is what this
    /// parser takes;
    /// common/sections.yaml is checked against the same block.
    #[test]
    fn the_readme_example_is_a_valid_aws_section() {
        let readme = include_str!("../../../docs/configuration.md");
        let block = common::config::example_from_readme(readme).expect("the config block");
        let c = common::config::Config::parse(block, "README").expect("valid");
        let parsed: Result<AwsConfig, _> = common::config::section(&c, "aws");
        assert!(parsed.is_ok(), "{:?}", parsed.err());
    }

    /// Every exporter checks the `aws:` keys of a shared config by common/sections.yaml.
    #[test]
    fn the_shared_section_list_has_every_aws_key() {
        assert_eq!(
            common::sections::known()["aws"],
            common::sections::section_keys::<AwsConfig>()
        );
    }

    /// A duration too large for the cache (`discovery_ttl: 1001y`) is a config error, not a
    /// panic inside the cache (exit 101).
    #[test]
    fn absurd_durations_are_refused_naming_the_field() {
        let c = common::config::Config::parse("aws:\n  discovery_ttl: 1001y\n", "t").unwrap();
        let parsed: AwsConfig = common::config::section(&c, "aws").unwrap();
        let FieldError { field, message } = parsed.validate().unwrap_err();
        assert_eq!(field, "aws.discovery_ttl", "{message}");
        assert!(message.contains("must be between"), "{message}");
    }
}
