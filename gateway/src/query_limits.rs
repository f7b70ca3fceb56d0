//! What one tenant's queries may cost: the bounds as written in the config (top level or per
//! tenant) and as resolved for a tenant. [`crate::config`] re-exports both.

use std::time::Duration;

use serde::Deserialize;

/// Bounds on one tenant's queries, as written in the config (top level or per tenant).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryLimitsConfig {
    /// Sent to Prometheus as the query's `timeout`: it stops evaluating after this long.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// The longest range of a matrix selector or subquery (`[30d]`, `[30d:5m]`).
    #[serde(default, with = "humantime_serde")]
    pub max_range: Option<Duration>,
    /// The most evaluation steps of a query's subqueries (range / step, multiplied through
    /// nested subqueries; a subquery without a step counts 15 s steps).
    #[serde(default)]
    pub max_steps: Option<u64>,
    /// Upstream queries of this tenant in flight at once, over every upstream.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

/// Bounds on one tenant's queries, resolved: the tenant's own, else the top level's, else
/// the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    pub timeout: Duration,
    pub max_range: Duration,
    pub max_steps: u64,
    pub max_concurrent: u32,
}

impl QueryLimitsConfig {
    pub fn resolve(&self, top: &QueryLimitsConfig) -> QueryLimits {
        QueryLimits {
            timeout: self
                .timeout
                .or(top.timeout)
                .unwrap_or(Duration::from_secs(5)),
            max_range: self
                .max_range
                .or(top.max_range)
                .unwrap_or(Duration::from_secs(93 * 86400)),
            max_steps: self.max_steps.or(top.max_steps).unwrap_or(11_000),
            max_concurrent: self.max_concurrent.or(top.max_concurrent).unwrap_or(4),
        }
    }

    pub fn validate(&self, field: &str) -> Result<(), String> {
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(format!("field `{field}.timeout`: must be above 0"));
        }
        if self.max_range.is_some_and(|t| t.is_zero()) {
            return Err(format!("field `{field}.max_range`: must be above 0"));
        }
        if self.max_steps == Some(0) {
            return Err(format!("field `{field}.max_steps`: must be at least 1"));
        }
        if self.max_concurrent == Some(0) {
            return Err(format!(
                "field `{field}.max_concurrent`: must be at least 1"
            ));
        }
        Ok(())
    }
}
