//! The YAML config shared by every exporter.
//!
//! Every exporter reads the same file: the common keys here, plus one section per exporter
//! (named in `common/sections.yaml`, checked by [`crate::sections`]), kept as raw YAML and
//! parsed by its exporter with [`section`]. Errors name the field by its path, e.g.
//! `tenants[0].match.model` (the errors and the YAML parsing that makes them live in
//! `config_error.rs` and are re-exported here).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::base::shorten;
use crate::config_error::path_error;
pub use crate::config_error::{in_range, parse_yaml, section_range, shown, ConfigError};
pub use crate::error::FieldError;

/// The longest path a file key may hold (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// The longest tenant name: it becomes the `tenant` label of every series it matches.
pub const MAX_TENANT_NAME_BYTES: usize = 128;
/// The longest tenant pattern, checked before it is compiled (a megabyte pattern takes
/// seconds to compile before the regex crate's size limit refuses it).
pub const MAX_TENANT_PATTERN_BYTES: usize = 1024;

/// The common keys, and the exporters' sections. Unknown keys are errors, so a typo never
/// silently falls back to a default. `Serialize` gives the list of keys for that error.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Config {
    #[serde(default = "defaults::poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    #[serde(default = "defaults::lookback", with = "humantime_serde")]
    pub lookback: Duration,
    #[serde(default = "defaults::max_backfill", with = "humantime_serde")]
    pub max_backfill: Duration,
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    #[serde(default)]
    pub pricing_file: Option<PathBuf>,
    #[serde(default)]
    pub extra_ca_file: Option<PathBuf>,
    #[serde(default = "defaults::max_series")]
    pub max_series: usize,
    /// A counter that has not grown for this long is dropped and frees its `max_series` slot.
    #[serde(default = "defaults::series_ttl", with = "humantime_serde")]
    pub series_ttl: Duration,
    /// The largest value one minute of one series can plausibly have; larger ones are
    /// rejected (counted in `llm_exporter_samples_rejected_total{reason="implausible"}`).
    #[serde(default = "defaults::max_value_per_minute")]
    pub max_value_per_minute: f64,
    /// The most bytes read from one cloud response; a larger body fails the call (generous:
    /// a real page is a few MB at most, this only stops a broken or hostile endpoint).
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: u64,
    /// How many sources (each a cloud's scope: an account and region, a subscription, a
    /// project) are polled at once.
    #[serde(default = "defaults::max_concurrent_polls")]
    pub max_concurrent_polls: usize,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// A monthly budget in USD for this exporter's own API bill: while the projected bill is
    /// above it, the exporter polls less often ([`crate::budget`]).
    #[serde(default)]
    pub api_budget_usd_per_month: Option<f64>,
    /// Every other top-level key: the exporters' sections by name, each parsed by its exporter
    /// ([`section`]); `validate` refuses a key that names no section.
    #[serde(flatten)]
    pub sections: serde_yaml_ng::Mapping,
    /// Where the config came from, for error messages (not a YAML key).
    #[serde(skip)]
    pub origin: String,
}

mod defaults {
    use std::time::Duration;
    pub fn poll_interval() -> Duration {
        Duration::from_secs(15)
    }
    pub fn lookback() -> Duration {
        Duration::from_secs(600)
    }
    pub fn max_backfill() -> Duration {
        Duration::from_secs(3 * 3600)
    }
    pub fn max_series() -> usize {
        50_000
    }
    pub fn max_value_per_minute() -> f64 {
        1e12
    }
    pub fn max_response_bytes() -> u64 {
        64 * 1024 * 1024
    }
    /// Enough to keep every per-scope rate limit busy on a few thousand scopes
    /// (docs/performance.md), few enough that a poll's answers in memory stay small.
    pub fn max_concurrent_polls() -> usize {
        64
    }
    pub fn series_ttl() -> Duration {
        Duration::from_secs(24 * 3600)
    }
    pub fn alert_ratio() -> f64 {
        0.8
    }
}

/// A tenant: series whose labels match every pattern get `tenant="<name>"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub name: String,
    #[serde(rename = "match", default)]
    pub matchers: BTreeMap<String, String>,
    #[serde(default)]
    pub monthly_budget_usd: Option<f64>,
    #[serde(default = "defaults::alert_ratio")]
    pub alert_ratio: f64,
}

/// The YAML block of the "Every key, with its default" example (docs/configuration.md).
pub fn example_from_readme(readme: &str) -> Option<&str> {
    let after = readme.split("Every key, with its default:").nth(1)?;
    let block = after.split("```yaml\n").nth(1)?;
    block.split("\n```").next()
}

/// The labels a tenant may match on.
pub const TENANT_MATCH_LABELS: [&str; 5] = ["cloud", "account", "region", "model", "deployment"];

impl Default for Config {
    fn default() -> Self {
        Config {
            poll_interval: defaults::poll_interval(),
            lookback: defaults::lookback(),
            max_backfill: defaults::max_backfill(),
            state_file: None,
            pricing_file: None,
            extra_ca_file: None,
            max_series: defaults::max_series(),
            series_ttl: defaults::series_ttl(),
            max_value_per_minute: defaults::max_value_per_minute(),
            max_response_bytes: defaults::max_response_bytes(),
            max_concurrent_polls: defaults::max_concurrent_polls(),
            tenants: Vec::new(),
            api_budget_usd_per_month: None,
            sections: serde_yaml_ng::Mapping::new(),
            origin: "built-in defaults (no --config.file)".to_string(),
        }
    }
}

impl Config {
    /// Reads and validates a config file. Relative paths in it (`state_file`, `pricing_file`,
    /// `extra_ca_file`) are resolved against the config file's directory, not the working
    /// directory, so the same file works wherever the exporter is started.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, &format!("config file {}", shown(path)))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut config.state_file,
            &mut config.pricing_file,
            &mut config.extra_ca_file,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok(config)
    }

    /// The state file of exporter `exporter` (its cloud id): `{exporter}` in the
    /// configured path is replaced, so one config shared by every exporter gives each its own.
    pub fn state_file_for(&self, exporter: &str) -> Option<PathBuf> {
        self.state_file
            .as_ref()
            .map(|p| PathBuf::from(p.to_string_lossy().replace("{exporter}", exporter)))
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        // An empty file is a valid config: all defaults.
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            parse_yaml(text, origin, "")?
        };
        config.origin = origin.to_string();
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let o = &self.origin;
        self.refuse_unknown_keys()?;
        // Every duration within a range a user can mean (beyond it, caches and clocks
        // overflow or panic).
        let day = 86_400;
        for (field, value, min, max) in [
            ("poll_interval", self.poll_interval, 1, 3600),
            ("lookback", self.lookback, 60, day),
            ("max_backfill", self.max_backfill, 60, 14 * day),
            ("series_ttl", self.series_ttl, 60, 366 * day),
        ] {
            in_range(o, field, value, min, max)?;
        }
        if !(self.max_value_per_minute.is_finite() && self.max_value_per_minute >= 1.0) {
            return Err(ConfigError::field(
                o,
                "max_value_per_minute",
                "must be a number of at least 1",
            ));
        }
        if !(1024..=4 * 1024 * 1024 * 1024).contains(&self.max_response_bytes) {
            return Err(ConfigError::field(
                o,
                "max_response_bytes",
                "must be between 1024 and 4294967296 (4 GiB)",
            ));
        }
        if let Some(b) = self.api_budget_usd_per_month {
            if !(b.is_finite() && b > 0.0) {
                return Err(ConfigError::field(
                    o,
                    "api_budget_usd_per_month",
                    "must be a number above 0 (USD per month)",
                ));
            }
        }
        if !(1..=10_000).contains(&self.max_concurrent_polls) {
            return Err(ConfigError::field(
                o,
                "max_concurrent_polls",
                "must be between 1 and 10000",
            ));
        }
        if self.max_backfill < self.lookback {
            return Err(ConfigError::field(
                o,
                "max_backfill",
                format!(
                    "must be at least lookback ({})",
                    humantime::format_duration(self.lookback)
                ),
            ));
        }
        if self.max_series == 0 || self.max_series > 10_000_000 {
            return Err(ConfigError::field(
                o,
                "max_series",
                "must be between 1 and 10000000",
            ));
        }
        if self.series_ttl < self.max_backfill {
            return Err(ConfigError::field(
                o,
                "series_ttl",
                format!(
                    "must be at least max_backfill ({})",
                    humantime::format_duration(self.max_backfill)
                ),
            ));
        }
        crate::sections::check(&self.sections).map_err(|e| e.in_file(o))?;
        for (field, path) in [
            ("state_file", &self.state_file),
            ("pricing_file", &self.pricing_file),
            ("extra_ca_file", &self.extra_ca_file),
        ] {
            let len = path.as_ref().map_or(0, |p| p.as_os_str().len());
            if len > MAX_PATH_BYTES {
                return Err(ConfigError::field(
                    o,
                    field,
                    format!("a path of {len} bytes; at most {MAX_PATH_BYTES}"),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, tenant) in self.tenants.iter().enumerate() {
            let at = |f: &str| format!("tenants[{i}].{f}");
            if tenant.name.trim().is_empty() {
                return Err(ConfigError::field(o, at("name"), "must not be empty"));
            }
            if tenant.name.len() > MAX_TENANT_NAME_BYTES {
                return Err(ConfigError::field(
                    o,
                    at("name"),
                    format!(
                        "{} bytes; at most {MAX_TENANT_NAME_BYTES} (it becomes the `tenant` label)",
                        tenant.name.len()
                    ),
                ));
            }
            if !names.insert(tenant.name.clone()) {
                return Err(ConfigError::field(
                    o,
                    at("name"),
                    format!("tenant `{}` is named twice", tenant.name),
                ));
            }
            for (label, pattern) in &tenant.matchers {
                if !TENANT_MATCH_LABELS.contains(&label.as_str()) {
                    return Err(ConfigError::field(
                        o,
                        at(&format!("match.{label}")),
                        format!("unknown label; expected one of {TENANT_MATCH_LABELS:?}"),
                    ));
                }
                if pattern.len() > MAX_TENANT_PATTERN_BYTES {
                    return Err(ConfigError::field(
                        o,
                        at(&format!("match.{label}")),
                        format!(
                            "a pattern of {} bytes; at most {MAX_TENANT_PATTERN_BYTES}",
                            pattern.len()
                        ),
                    ));
                }
                if let Err(e) = anchored_regex(pattern) {
                    return Err(ConfigError::field(
                        o,
                        at(&format!("match.{label}")),
                        format!("invalid regex: {e}"),
                    ));
                }
            }
            if let Some(budget) = tenant.monthly_budget_usd {
                if !budget.is_finite() || budget < 0.0 {
                    return Err(ConfigError::field(
                        o,
                        at("monthly_budget_usd"),
                        "must be a non-negative number",
                    ));
                }
            }
            if !(tenant.alert_ratio > 0.0 && tenant.alert_ratio <= 1.0) {
                return Err(ConfigError::field(
                    o,
                    at("alert_ratio"),
                    "must be in (0, 1], e.g. 0.8 to alert at 80 %",
                ));
            }
        }
        Ok(())
    }

    /// A top-level key that is neither a common key nor a section is refused, in the words
    /// serde uses for the common keys' struct.
    fn refuse_unknown_keys(&self) -> Result<(), ConfigError> {
        let known = crate::sections::known();
        let Some(key) = self
            .sections
            .keys()
            .find(|k| !k.as_str().is_some_and(|name| known.contains_key(name)))
        else {
            return Ok(());
        };
        let key = crate::sections::key_text(key);
        let expected: Vec<String> = common_keys()
            .iter()
            .map(String::as_str)
            .chain(known.keys().map(String::as_str))
            .map(|k| format!("`{k}`"))
            .collect();
        Err(ConfigError::field(
            &self.origin,
            key.clone(),
            format!(
                "unknown field `{key}`, expected one of {}",
                expected.join(", ")
            ),
        ))
    }

    /// Compiled tenant matchers, in config order (the first match wins).
    pub fn tenant_matchers(&self) -> Vec<TenantMatcher> {
        self.tenants
            .iter()
            .map(|t| TenantMatcher {
                name: t.name.clone(),
                patterns: t
                    .matchers
                    .iter()
                    // Validated in `validate`, so compiling again cannot fail.
                    .filter_map(|(k, v)| anchored_regex(v).ok().map(|r| (k.clone(), r)))
                    .collect(),
            })
            .collect()
    }
}

fn common_keys() -> &'static [String] {
    static KEYS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| match serde_yaml_ng::to_value(Config::default()) {
        Ok(serde_yaml_ng::Value::Mapping(m)) => m
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    })
}

/// A compiled tenant rule.
#[derive(Debug, Clone)]
pub struct TenantMatcher {
    pub name: String,
    patterns: Vec<(String, Regex)>,
}

impl TenantMatcher {
    /// True when every pattern matches the whole value of its label.
    pub fn matches(&self, label: impl Fn(&str) -> String) -> bool {
        self.patterns.iter().all(|(k, r)| r.is_match(&label(k)))
    }
}

/// Patterns match whole label values, as in PromQL's `=~`.
fn anchored_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// Parses the section `name` (an exporter's cloud id) of an already loaded config. A missing
/// section is the section's defaults.
pub fn section<T: DeserializeOwned + Default>(
    config: &Config,
    name: &str,
) -> Result<T, ConfigError> {
    match config.sections.get(name) {
        None | Some(serde_yaml_ng::Value::Null) => Ok(T::default()),
        Some(v) => serde_path_to_error::deserialize(v.clone())
            .map_err(|e| path_error(&config.origin, name, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_all_defaults() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(15));
        assert_eq!(c.lookback, Duration::from_secs(600));
        assert_eq!(c.max_backfill, Duration::from_secs(10800));
        assert_eq!(c.max_series, 50_000);
    }

    #[test]
    fn relative_paths_follow_the_config_file_and_exporter_is_a_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "state_file: state/{exporter}.state\npricing_file: /abs/p.yaml\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(
            c.state_file_for("gcp").unwrap(),
            dir.path().join("state/gcp.state")
        );
        assert_eq!(c.pricing_file.unwrap(), PathBuf::from("/abs/p.yaml"));
    }

    #[test]
    fn design_example_parses() {
        let text = r#"
poll_interval: 15s
lookback: 10m
max_backfill: 3h
state_file: /var/lib/llm-exporter/aws.state
pricing_file: prices.yaml
extra_ca_file: /etc/ssl/corp-ca.pem
max_series: 50000
tenants:
  - name: search
    match: {cloud: aws, account: "1234.*", model: "anthropic\\..*"}
    monthly_budget_usd: 5000
    alert_ratio: 0.8
aws:
  regions: [us-east-1, us-west-2]
azure:
  subscriptions: [00000000-0000-0000-0000-000000000000]
gcp:
  projects: [my-project]
"#;
        let c = Config::parse(text, "t").unwrap();
        assert_eq!(c.tenants.len(), 1);
        let m = &c.tenant_matchers()[0];
        let labels = |k: &str| match k {
            "cloud" => "aws".to_string(),
            "account" => "123456789012".to_string(),
            "model" => "anthropic.claude-3-haiku".to_string(),
            _ => String::new(),
        };
        assert!(m.matches(labels));
        // Anchored: a model that merely contains the pattern does not match.
        assert!(!m.matches(|k| match k {
            "cloud" => "aws".into(),
            "account" => "123456789012".into(),
            "model" => "us.anthropic.claude".into(),
            _ => String::new(),
        }));
    }

    fn err(text: &str) -> String {
        Config::parse(text, "cfg.yaml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err("poll_interval: soon").contains("field `poll_interval`"));
        assert!(err("pol_interval: 15s").contains("pol_interval"));
        assert!(err("tenants:\n  - name: a\n    match: {model: \"(\"}")
            .contains("field `tenants[0].match.model`: invalid regex"));
        assert!(err("tenants:\n  - name: a\n    match: {colour: x}")
            .contains("tenants[0].match.colour"));
        assert!(
            err("tenants:\n  - name: a\n    alert_ratio: 1.5").contains("tenants[0].alert_ratio")
        );
        assert!(err("tenants:\n  - name: a\n    monthly_budget_usd: -1")
            .contains("tenants[0].monthly_budget_usd"));
        assert!(err("tenants:\n  - name: a\n  - name: a").contains("named twice"));
        assert!(err("lookback: 5m\nmax_backfill: 1m").contains("field `max_backfill`"));
        assert!(err("max_series: 0").contains("field `max_series`"));
        assert!(err("lookback: 1001y").contains("field `lookback`: must be between"));
        // A typo in another cloud's section of a shared config is not ignored.
        assert!(err("aws:\n  regons: [us-east-1]\n").contains("field `aws.regons`: unknown key"));
        assert!(err("gcp: [p]\n").contains("field `gcp`"));
        assert!(err("poll_interval: 0s").contains("field `poll_interval`"));
        assert!(err("max_value_per_minute: -5").contains("field `max_value_per_minute`"));
        let huge = format!(
            "tenants:\n  - name: a\n    match: {{model: \"({}\"}}",
            "x".repeat(1_000_000)
        );
        let e = err(&huge);
        assert!(
            e.len() < 1_000 && e.contains("at most 1024"),
            "{}",
            &e[..200.min(e.len())]
        );
        assert!(err("tenants: [ {name: x, budget: 3} ]").contains("tenants[0]"));
        assert!(err("- just\n- a list").contains("cfg.yaml"));
    }

    #[test]
    fn an_unknown_top_level_key_lists_every_common_key_and_section() {
        let e = err("awss: {regions: [a]}\n");
        assert!(
            e.contains(
                "field `awss`: unknown field `awss`, expected one of `poll_interval`, `lookback`,"
            ),
            "{e}"
        );
        assert!(
            e.ends_with("`api_budget_usd_per_month`, `aws`, `azure`, `gcp`"),
            "{e}"
        );
    }

    #[test]
    fn a_section_field_error_names_the_file_and_the_field() {
        let e = FieldError::new("aws.regions[0]", "x".repeat(10_000));
        assert!(e.message.len() < 400, "{}", e.message.len());
        let e = FieldError::new("aws.regions[0]", "not a region").in_file("config file c.yaml");
        assert_eq!(
            e.to_string(),
            "config file c.yaml: field `aws.regions[0]`: not a region"
        );
    }

    #[test]
    fn paths_tenant_names_and_patterns_are_bounded_and_quoted_short() {
        // 10 MB once (the pattern); 100 KB, already far past every bound, elsewhere.
        let huge = "x".repeat(100 * 1024);
        for key in ["state_file", "pricing_file", "extra_ca_file"] {
            let e = err(&format!("{key}: /{huge}\n"));
            assert!(e.len() < 2048, "{key}: {} bytes", e.len());
            assert!(e.contains(&format!("field `{key}`: a path of")), "{e}");
        }
        let e = err(&format!("tenants:\n  - name: {huge}\n"));
        assert!(
            e.len() < 2048 && e.contains("field `tenants[0].name`: "),
            "{e:.300}"
        );
        assert!(e.contains("at most 128"), "{e:.300}");
        assert!(Config::parse(&format!("tenants:\n  - name: {}\n", "t".repeat(128)), "t").is_ok());
        // Refused by length before the regex is compiled (which takes seconds at this size).
        let ten_mb = "x".repeat(10 * 1024 * 1024);
        let e = err(&format!(
            "tenants:\n  - name: a\n    match: {{model: '{ten_mb}'}}\n"
        ));
        assert!(
            e.contains("tenants[0].match.model`: a pattern of 10485760 bytes; at most 1024"),
            "{e:.300}"
        );
        // A path under the bound is still cut short wherever it is shown.
        let long = std::path::PathBuf::from(format!("/{}", "d".repeat(4000)));
        let read = ConfigError::ReadFile {
            key: "pricing_file",
            path: long.clone(),
            message: "No such file or directory".into(),
        };
        assert!(read.to_string().len() < 500, "{}", read.to_string().len());
        assert!(shown(&long).len() < 400);
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Section {
        #[serde(default)]
        regions: Vec<String>,
    }

    #[test]
    fn sections_are_parsed_with_their_prefix() {
        let c = Config::parse("aws:\n  regions: [a]\n", "t").unwrap();
        let s: Section = section(&c, "aws").unwrap();
        assert_eq!(s.regions, vec!["a"]);
        // A nested typo is the exporter's own parser's to name.
        let c = Config::parse("aws:\n  regions: {a: b}\n", "t").unwrap();
        let e = section::<Section>(&c, "aws").unwrap_err().to_string();
        assert!(e.contains("field `aws.regions`"), "{e}");
        let missing: Section = section(&c, "gcp").unwrap();
        assert!(missing.regions.is_empty());
    }
}
