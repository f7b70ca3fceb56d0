//! The arguments of the MCP tools, with the descriptions their input schemas show.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Cloud;

/// What a spend summary may be grouped by.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Cloud,
    Model,
    Region,
    Tenant,
    Account,
    Deployment,
}

impl GroupBy {
    pub fn label(self) -> &'static str {
        match self {
            GroupBy::Cloud => "cloud",
            GroupBy::Model => "model",
            GroupBy::Region => "region",
            GroupBy::Tenant => "tenant",
            GroupBy::Account => "account",
            GroupBy::Deployment => "deployment",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SpendSummaryArgs {
    /// Look-back window as a Prometheus duration (15m, 1h, 24h, 7d). Default 1d.
    pub window: Option<String>,
    /// Labels to group by. Default [cloud].
    pub group_by: Option<Vec<GroupBy>>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TopModelsArgs {
    /// Look-back window (Prometheus duration). Default 1d.
    pub window: Option<String>,
    /// How many models. Default 5.
    pub limit: Option<u32>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TokenUsageArgs {
    /// Look-back window (Prometheus duration). Default 1h.
    pub window: Option<String>,
    /// Model name or regular expression (RE2, anchored), e.g. "gemini.*".
    pub model: Option<String>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DailyCostsArgs {
    /// First day, YYYY-MM-DD (UTC).
    pub start_date: String,
    /// Last day, YYYY-MM-DD (UTC). Default: start_date.
    pub end_date: Option<String>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReconcileCostsArgs {
    /// First day, YYYY-MM-DD (UTC).
    pub from: String,
    /// Last day, YYYY-MM-DD (UTC). Default: from.
    pub to: Option<String>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct BudgetStatusArgs {
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExporterHealthArgs {
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PromqlQueryArgs {
    /// A PromQL instant query. It only ever sees your tenant's series.
    pub query: String,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}
