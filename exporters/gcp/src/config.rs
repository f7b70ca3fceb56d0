//! The `gcp:` section of the shared config file.

use std::time::Duration;

use common::config::FieldError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpConfig {
    /// Projects whose Vertex AI usage to poll (the `account` label).
    #[serde(default)]
    pub projects: Vec<String>,
    /// Cloud Monitoring API endpoint (private or restricted endpoints, tests).
    #[serde(default = "default_endpoint")]
    pub monitoring_endpoint: String,
    /// Client-side limit on timeSeries.list calls per second.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Time allowed for one API call.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// What Cloud Monitoring charges per million time series a read returns (the
    /// exporter's own bill, `llm_exporter_api_cost_usd_total`).
    #[serde(default = "default_usd_per_million_time_series")]
    pub usd_per_million_time_series: f64,
    /// How often a project without traffic is polled (see common/src/idle.rs); `0s` polls
    /// every project every poll.
    #[serde(default = "default_idle_poll_interval", with = "humantime_serde")]
    pub idle_poll_interval: Duration,
}

fn default_endpoint() -> String {
    "https://monitoring.googleapis.com".into()
}
fn default_rps() -> u32 {
    5
}
/// Vertex AI's metrics have one-minute resolution: a project watched once a minute shows its
/// first request as soon as a poll every 15 s would show its minute complete.
fn default_idle_poll_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
/// Google Cloud Observability pricing, "Monitoring API reads" (since 2 October 2025): $0.50
/// per million time series returned, after the first million per billing account and month.
fn default_usd_per_million_time_series() -> f64 {
    0.50
}

impl Default for GcpConfig {
    fn default() -> Self {
        GcpConfig {
            projects: Vec::new(),
            monitoring_endpoint: default_endpoint(),
            requests_per_second: default_rps(),
            timeout: default_timeout(),
            usd_per_million_time_series: default_usd_per_million_time_series(),
            idle_poll_interval: default_idle_poll_interval(),
        }
    }
}

impl GcpConfig {
    /// Checks what serde cannot; errors name the field. `polling` is false in demo mode.
    pub fn validate(&self, polling: bool) -> Result<(), FieldError> {
        if polling && self.projects.is_empty() {
            return Err(FieldError::new(
                "gcp.projects",
                "name at least one project to poll",
            ));
        }
        for (i, p) in self.projects.iter().enumerate() {
            // Project ids: 6-30 lowercase letters, digits and hyphens (numbers are accepted too).
            let ok = !p.is_empty()
                && p.len() <= 30
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err(FieldError::new(
                    format!("gcp.projects[{i}]"),
                    format!("{:?} is not a project id", common::config::shorten(p, 80)),
                ));
            }
        }
        if !(self.monitoring_endpoint.starts_with("https://")
            || self.monitoring_endpoint.starts_with("http://"))
        {
            return Err(FieldError::new(
                "gcp.monitoring_endpoint",
                format!(
                    "{:?} is not an http(s) URL",
                    common::config::shorten(&self.monitoring_endpoint, 200)
                ),
            ));
        }
        if self.requests_per_second == 0 {
            return Err(FieldError::new(
                "gcp.requests_per_second",
                "must be at least 1",
            ));
        }
        // Durations and numbers within what a user can mean (a TTL of 1001 years panics the
        // cache).
        common::config::section_range("gcp.timeout", self.timeout, 1, 600)?;
        if !self.idle_poll_interval.is_zero() {
            common::config::section_range(
                "gcp.idle_poll_interval",
                self.idle_poll_interval,
                1,
                3600,
            )?;
        }
        if !(0.0..=1000.0).contains(&self.usd_per_million_time_series) {
            return Err(FieldError::new(
                "gcp.usd_per_million_time_series",
                "must be a price between 0 and 1000 (USD per million time series)",
            ));
        }
        if self.requests_per_second > 10_000 {
            return Err(FieldError::new(
                "gcp.requests_per_second",
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
    fn validation_names_the_field() {
        let c = GcpConfig::default();
        assert_eq!(c.validate(true).unwrap_err().field, "gcp.projects");
        assert!(c.validate(false).is_ok(), "the demo needs no project");
        let c = GcpConfig {
            projects: vec!["ok-project".into(), "Bad Project".into()],
            ..GcpConfig::default()
        };
        assert_eq!(c.validate(true).unwrap_err().field, "gcp.projects[1]");
        let c = GcpConfig {
            projects: vec!["p1".into()],
            monitoring_endpoint: "monitoring.googleapis.com".into(),
            ..GcpConfig::default()
        };
        assert_eq!(
            c.validate(true).unwrap_err().field,
            "gcp.monitoring_endpoint"
        );
        for bad in [-0.5, f64::NAN, f64::INFINITY] {
            let c = GcpConfig {
                projects: vec!["p1".into()],
                usd_per_million_time_series: bad,
                ..GcpConfig::default()
            };
            assert_eq!(
                c.validate(true).unwrap_err().field,
                "gcp.usd_per_million_time_series"
            );
        }
    }

    /// The config block of docs/configuration.md (every key, with its default) is what this
    /// parser takes;
    /// common/sections.yaml is checked against the same block.
    #[test]
    fn the_readme_example_is_a_valid_gcp_section() {
        let readme = include_str!("../../../docs/configuration.md");
        let block = common::config::example_from_readme(readme).expect("the config block");
        let c = common::config::Config::parse(block, "README").expect("valid");
        let parsed: Result<GcpConfig, _> = common::config::section(&c, "gcp");
        assert!(parsed.is_ok(), "{:?}", parsed.err());
    }

    /// Every exporter checks the `gcp:` keys of a shared config by common/sections.yaml.
    #[test]
    fn the_shared_section_list_has_every_gcp_key() {
        assert_eq!(
            common::sections::known()["gcp"],
            common::sections::section_keys::<GcpConfig>()
        );
    }
}
