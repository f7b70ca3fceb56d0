//! The read-only PromQL question, scoped like every other.

use serde::Serialize;

use super::*;
use crate::config::Cloud;
use crate::gateway::{Coverage, Ctx, Gateway, GatewayError, Query};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CloudResult {
    pub cloud: Cloud,
    pub result_type: String,
    pub result: Value,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct QueryAnswer {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub query: String,
    pub results: Vec<CloudResult>,
}

/// An instant query, scoped to the caller's tenant, run against every cloud of the plan.
/// Result series labelled with another tenant (a `label_replace` of the caller's own data)
/// are dropped as well.
pub async fn promql(gw: &Gateway, ctx: &Ctx, query: &str) -> Result<QueryAnswer, GatewayError> {
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            vec![Query::new(query.to_string(), ctx.time)]
        })
        .await?;
    let results = fan
        .answers
        .iter()
        .filter_map(|(cloud, data)| {
            let d = data.first()?;
            let result_type = d["resultType"].as_str().unwrap_or("").to_string();
            let mut result = d["result"].clone();
            if let Some(series) = result.as_array_mut() {
                if matches!(result_type.as_str(), "vector" | "matrix") {
                    series.retain(|s| filter.allows(s["metric"][TENANT_LABEL].as_str()));
                }
            }
            Some(CloudResult {
                cloud: *cloud,
                result_type,
                result,
            })
        })
        .collect();
    Ok(QueryAnswer {
        coverage: fan.coverage,
        query: query.to_string(),
        results,
    })
}
