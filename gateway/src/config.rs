//! The gateway's one YAML file: upstream Prometheus servers, tenants and their keys, limits,
//! cache TTLs, timeouts and the state file (the query limits' own types are in
//! `query_limits.rs`). Errors name the file and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::query_limits::{QueryLimits, QueryLimitsConfig};

/// The clouds the exporters report; the `cloud` label's values.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Aws,
    Azure,
    Gcp,
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::Aws, Cloud::Azure, Cloud::Gcp];

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
        }
    }

    pub fn parse(s: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// One Prometheus per cloud (`cloud: aws`), or one holding several clouds told apart by
    /// their `cloud` label (`clouds: [aws, azure, gcp]`).
    pub upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// A key that sees every tenant (and may name any `tenant_id`).
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// What one tenant's queries may cost; each tenant has its own bounds.
    #[serde(default)]
    pub query_limits: QueryLimitsConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Where enable/disable decisions per tenant and cloud are kept across restarts.
    #[serde(default = "default_state_file")]
    pub state_file: PathBuf,
    #[serde(default)]
    pub mcp: McpConfig,
    /// Billing exports read for the reconciliation answer.
    #[serde(default)]
    pub billing: Vec<crate::billing::ExportConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// A name for logs, metrics and /api/v1/health; default: the cloud, or `global`.
    #[serde(default)]
    pub name: Option<String>,
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus-aws:9090`.
    pub url: String,
    /// This Prometheus holds one cloud's series only (a regional server).
    #[serde(default)]
    pub cloud: Option<Cloud>,
    /// This Prometheus holds several clouds; every query gets a `cloud` matcher.
    #[serde(default)]
    pub clouds: Option<Vec<Cloud>>,
    /// Per request to this upstream.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The exporters' `tenant` label value.
    pub name: String,
    /// `llm-gateway hash-key` output: SHA-256 of the API key, hex.
    pub api_key_sha256: String,
    /// Clouds this tenant may see; default: all.
    #[serde(default)]
    pub clouds: Option<Vec<Cloud>>,
    /// Upstream queries per minute per cloud; default: `rate_limit.queries_per_minute`.
    #[serde(default, rename = "queries_per_minute", alias = "requests_per_minute")]
    pub requests_per_minute: Option<u32>,
    /// This tenant's own query cost bounds; unset fields: the top-level `query_limits`.
    #[serde(default)]
    pub query_limits: QueryLimitsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub api_key_sha256: String,
    #[serde(default, rename = "queries_per_minute", alias = "requests_per_minute")]
    pub requests_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Upstream queries (the work a request causes, not the request) per tenant and cloud.
    #[serde(
        default = "default_rpm",
        rename = "queries_per_minute",
        alias = "requests_per_minute"
    )]
    pub requests_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            requests_per_minute: default_rpm(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Answers about a time that is over (a `time` in the past).
    #[serde(default = "default_past_ttl", with = "humantime_serde")]
    pub past_ttl: Duration,
    /// Answers about "now".
    #[serde(default = "default_now_ttl", with = "humantime_serde")]
    pub now_ttl: Duration,
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            past_ttl: default_past_ttl(),
            now_ttl: default_now_ttl(),
            max_entries: default_max_entries(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open an upstream's breaker.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// How long it stays open before one trial request.
    #[serde(default = "default_open_for", with = "humantime_serde")]
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: default_failures(),
            open_for: default_open_for(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// `Host` header values accepted at /mcp (DNS-rebinding protection); add your public
    /// hostname when the gateway is not reached as localhost.
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            allowed_hosts: default_allowed_hosts(),
        }
    }
}

fn default_state_file() -> PathBuf {
    PathBuf::from("llm-gateway.state.json")
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_rpm() -> u32 {
    100
}
fn default_past_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_now_ttl() -> Duration {
    Duration::from_secs(15)
}
fn default_max_entries() -> u64 {
    10_000
}
fn default_failures() -> u32 {
    3
}
fn default_open_for() -> Duration {
    Duration::from_secs(30)
}
fn default_allowed_hosts() -> Vec<String> {
    ["localhost", "127.0.0.1", "::1", "llm-gateway"]
        .map(String::from)
        .to_vec()
}

#[derive(Debug, thiserror::Error)]
#[error("config file {file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

/// An upstream after validation: which clouds it answers for and whether it needs a `cloud`
/// matcher to tell them apart.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub url: reqwest::Url,
    pub clouds: Vec<Cloud>,
    pub shared: bool,
    pub timeout: Duration,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text).map_err(|message| ConfigError { file, message })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                e.into_inner().to_string()
            } else {
                format!("field `{path}`: {}", e.into_inner())
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        /// The exporters' bound on a tenant name (common/src/config.rs).
        const MAX_TENANT_NAME_BYTES: usize = 128;
        if self.upstreams.is_empty() {
            return Err("field `upstreams`: at least one Prometheus is needed".into());
        }
        self.upstreams()?;
        let mut names = BTreeSet::new();
        let mut hashes = BTreeSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let field = |f: &str| format!("field `tenants[{i}].{f}`");
            if t.name.is_empty() || t.name.chars().any(|c| c.is_control()) {
                return Err(format!(
                    "{}: must be the exporters' tenant label value",
                    field("name")
                ));
            }
            // The exporters refuse longer names (the `tenant` label), so none could match.
            if t.name.len() > MAX_TENANT_NAME_BYTES {
                return Err(format!(
                    "{}: {} bytes; at most {MAX_TENANT_NAME_BYTES}, as the exporters' tenant names",
                    field("name"),
                    t.name.len()
                ));
            }
            if !names.insert(t.name.clone()) {
                return Err(format!(
                    "{}: tenant {:?} is named twice",
                    field("name"),
                    t.name
                ));
            }
            check_hash(&t.api_key_sha256)
                .map_err(|m| format!("{}: {m}", field("api_key_sha256")))?;
            if !hashes.insert(t.api_key_sha256.to_ascii_lowercase()) {
                return Err(format!(
                    "{}: two tenants share one key",
                    field("api_key_sha256")
                ));
            }
            if t.requests_per_minute == Some(0) {
                return Err(format!(
                    "{}: must be at least 1",
                    field("queries_per_minute")
                ));
            }
            t.query_limits
                .validate(&format!("tenants[{i}].query_limits"))?;
            if t.clouds.as_ref().is_some_and(|c| c.is_empty()) {
                return Err(format!(
                    "{}: empty: the tenant could see nothing",
                    field("clouds")
                ));
            }
        }
        if let Some(admin) = &self.admin {
            check_hash(&admin.api_key_sha256)
                .map_err(|m| format!("field `admin.api_key_sha256`: {m}"))?;
            if !hashes.insert(admin.api_key_sha256.to_ascii_lowercase()) {
                return Err(
                    "field `admin.api_key_sha256`: the admin key is also a tenant's".into(),
                );
            }
            if admin.requests_per_minute == Some(0) {
                return Err("field `admin.queries_per_minute`: must be at least 1".into());
            }
        }
        if self.rate_limit.requests_per_minute == 0 {
            return Err("field `rate_limit.queries_per_minute`: must be at least 1".into());
        }
        self.query_limits.validate("query_limits")?;
        if self.breaker.failures == 0 {
            return Err("field `breaker.failures`: must be at least 1".into());
        }
        if self.cache.now_ttl > self.cache.past_ttl {
            return Err("field `cache.now_ttl`: longer than `cache.past_ttl`".into());
        }
        crate::billing::config::validate(&self.billing)?;
        Ok(())
    }

    /// The validated upstreams; each cloud is served by at most one.
    pub fn upstreams(&self) -> Result<Vec<Upstream>, String> {
        let mut seen: BTreeMap<Cloud, String> = BTreeMap::new();
        let mut out = Vec::new();
        for (i, u) in self.upstreams.iter().enumerate() {
            let field = |f: &str| format!("field `upstreams[{i}].{f}`");
            let url = reqwest::Url::parse(&u.url)
                .map_err(|e| format!("{}: {:?} is not a URL: {e}", field("url"), u.url))?;
            if !["http", "https"].contains(&url.scheme()) {
                return Err(format!("{}: must be http or https", field("url")));
            }
            let (clouds, shared) = match (&u.cloud, &u.clouds) {
                (Some(c), None) => (vec![*c], false),
                (None, Some(cs)) if !cs.is_empty() => (cs.clone(), true),
                _ => {
                    return Err(format!(
                        "{}: give exactly one of `cloud` (a regional Prometheus) or a non-empty `clouds` (one holding several)",
                        field("cloud")
                    ))
                }
            };
            let name = u.name.clone().unwrap_or_else(|| {
                if shared {
                    "global".into()
                } else {
                    clouds[0].to_string()
                }
            });
            for c in &clouds {
                if let Some(other) = seen.insert(*c, name.clone()) {
                    return Err(format!(
                        "{}: cloud {c} is already served by upstream {other:?}",
                        field("cloud")
                    ));
                }
            }
            if u.timeout.is_zero() {
                return Err(format!("{}: must be above 0", field("timeout")));
            }
            out.push(Upstream {
                name,
                url,
                clouds,
                shared,
                timeout: u.timeout,
            });
        }
        Ok(out)
    }
}

fn check_hash(h: &str) -> Result<(), String> {
    if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("must be 64 hex digits (the output of `llm-gateway hash-key`)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_full_config_parses_with_defaults() {
        let c = Config::parse(&format!(
            "upstreams:\n  - {{cloud: aws, url: 'http://p:9090'}}\n  - {{clouds: [azure, gcp], url: 'http://g:9090', timeout: 3s}}\ntenants:\n  - {{name: support, api_key_sha256: {H}, clouds: [aws]}}\n"
        ))
        .unwrap();
        assert_eq!(c.rate_limit.requests_per_minute, 100);
        assert_eq!(c.cache.past_ttl, Duration::from_secs(300));
        let ups = c.upstreams().unwrap();
        assert_eq!(ups[0].name, "aws");
        assert!(!ups[0].shared);
        assert_eq!(ups[1].name, "global");
        assert!(ups[1].shared);
        assert_eq!(ups[1].timeout, Duration::from_secs(3));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("upstreams: []\n", "upstreams"),
            ("upstreams: [{cloud: aws, url: 'nope'}]\n", "upstreams[0].url"),
            ("upstreams: [{cloud: aws, url: 'http://a'}, {cloud: aws, url: 'http://b'}]\n", "upstreams[1].cloud"),
            ("upstreams: [{cloud: mars, url: 'http://a'}]\n", "upstreams[0].cloud"),
            ("upstreams: [{url: 'http://a'}]\n", "upstreams[0].cloud"),
            ("upstreams: [{cloud: aws, url: 'http://a', extra: 1}]\n", "upstreams[0]"),
            ("upstreams: [{cloud: aws, url: 'http://a'}]\ntenants: [{name: a, api_key_sha256: xyz}]\n", "tenants[0].api_key_sha256"),
            (&format!("upstreams: [{{cloud: aws, url: 'http://a'}}]\ntenants: [{{name: a, api_key_sha256: {H}}}, {{name: a, api_key_sha256: {H}}}]\n"), "tenants[1].name"),
            (&format!("upstreams: [{{cloud: aws, url: 'http://a'}}]\ntenants: [{{name: a, api_key_sha256: {H}}}]\nadmin: {{api_key_sha256: {H}}}\n"), "admin.api_key_sha256"),
            ("upstreams: [{cloud: aws, url: 'http://a'}]\ncache: {past_ttl: soon}\n", "cache.past_ttl"),
            (&format!("upstreams: [{{cloud: aws, url: 'http://a'}}]\ntenants: [{{name: {}, api_key_sha256: {H}}}]\n", "t".repeat(1_000_000)), "tenants[0].name`: 1000000 bytes; at most 128"),
        ];
        for (yaml, field) in cases {
            let err = Config::parse(yaml).unwrap_err();
            assert!(
                err.contains(&format!("`{field}")),
                "{yaml:.200}: {err:.300}"
            );
            assert!(err.len() < 2048, "{} bytes", err.len());
        }
    }

    #[test]
    fn load_names_the_file() {
        let err = Config::load(Path::new("/nonexistent/gw.yaml")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("config file /nonexistent/gw.yaml: "));
    }
}
