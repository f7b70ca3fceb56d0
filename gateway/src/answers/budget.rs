//! Budget status: month to date and projected month end against each tenant's budget.

use std::collections::BTreeMap;

use chrono::Datelike;
use serde::Serialize;

use super::*;
use crate::config::Cloud;
use crate::gateway::{CloudBy, Coverage, Ctx, Gateway, GatewayError, Query};

pub const MONTH_TO_DATE: &str = "llm:tenant_cost_usd:month_to_date";
pub const PROJECTED: &str = "llm:tenant_cost_usd:projected_month_end";
pub const BUDGET: &str = "llm_budget_usd";
pub const ALERT_RATIO: &str = "llm_budget_alert_ratio";
pub const PACE_BASIS: &str = "llm:tenant_cost_usd:pace_basis_seconds";

#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct CloudSpend {
    pub month_to_date_usd: f64,
    pub projected_month_end_usd: f64,
    /// The window whose average pace the projection assumes for the rest of the month:
    /// 86400 (the last day), 3600 (the last hour: the data is younger than a day) or 300.
    pub projection_basis_seconds: Option<f64>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TenantBudget {
    pub tenant: String,
    pub month_to_date_usd: f64,
    pub projected_month_end_usd: f64,
    pub budget_usd: Option<f64>,
    pub alert_ratio: Option<f64>,
    /// month to date / budget
    pub used_ratio: Option<f64>,
    /// `ok`, `alert` (past the alert ratio), `over_budget`, or `no_budget`.
    pub status: String,
    pub projected_over_budget: bool,
    /// The shortest window any cloud's projection rests on (see `CloudSpend`).
    pub projection_basis_seconds: Option<f64>,
    pub by_cloud: BTreeMap<Cloud, CloudSpend>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BudgetStatus {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub month: String,
    pub tenants: Vec<TenantBudget>,
}

/// Month to date and projected month end from the recording rules (`llm:tenant_cost_usd:*`,
/// the same series the budget alerts read), summed over clouds; budget and alert ratio from
/// the exporters' `llm_budget_usd` / `llm_budget_alert_ratio` gauges.
pub async fn budget_status(gw: &Gateway, ctx: &Ctx) -> Result<BudgetStatus, GatewayError> {
    // Spend per tenant and cloud (the rules keep the `cloud` label); the budget gauges carry
    // none, and on an upstream holding every cloud each exporter serves them alike.
    let spend = format!("{{__name__=~\"{MONTH_TO_DATE}|{PROJECTED}|{PACE_BASIS}\"}}");
    let budgets = format!("{{__name__=~\"{BUDGET}|{ALERT_RATIO}\"}}");
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            vec![
                Query::new(spend.clone(), ctx.time),
                Query {
                    by: CloudBy::Any,
                    ..Query::new(budgets.clone(), ctx.time)
                },
            ]
        })
        .await?;
    let mut tenants: BTreeMap<String, TenantBudget> = BTreeMap::new();
    let every: Vec<(Cloud, Sample)> = fan
        .answers
        .iter()
        .flat_map(|(c, data)| data.iter().flat_map(|d| samples(d)).map(move |s| (*c, s)))
        .collect();
    for (cloud, s) in every.iter().filter(|(_, s)| keep_tenant(&filter, s)) {
        let cloud = *cloud;
        {
            let Some(tenant) = s.labels.get(TENANT_LABEL).filter(|t| !t.is_empty()) else {
                continue;
            };
            let t = tenants
                .entry(tenant.clone())
                .or_insert_with(|| TenantBudget {
                    tenant: tenant.clone(),
                    month_to_date_usd: 0.0,
                    projected_month_end_usd: 0.0,
                    budget_usd: None,
                    alert_ratio: None,
                    used_ratio: None,
                    status: String::new(),
                    projected_over_budget: false,
                    projection_basis_seconds: None,
                    by_cloud: BTreeMap::new(),
                });
            let name = s.labels.get("__name__").map(String::as_str).unwrap_or("");
            match name {
                MONTH_TO_DATE => {
                    t.month_to_date_usd += s.value;
                    t.by_cloud.entry(cloud).or_default().month_to_date_usd += s.value;
                }
                PROJECTED => {
                    t.projected_month_end_usd += s.value;
                    t.by_cloud.entry(cloud).or_default().projected_month_end_usd += s.value;
                }
                PACE_BASIS => {
                    t.by_cloud
                        .entry(cloud)
                        .or_default()
                        .projection_basis_seconds = Some(s.value);
                    t.projection_basis_seconds = Some(
                        t.projection_basis_seconds
                            .map_or(s.value, |b| b.min(s.value)),
                    );
                }
                BUDGET if s.labels.get("period").is_none_or(|p| p == "monthly") => {
                    t.budget_usd = Some(t.budget_usd.map_or(s.value, |b| b.max(s.value)));
                }
                ALERT_RATIO => {
                    t.alert_ratio = Some(t.alert_ratio.map_or(s.value, |r| r.max(s.value)));
                }
                _ => {}
            }
        }
    }
    let mut out: Vec<TenantBudget> = tenants.into_values().collect();
    for t in &mut out {
        match t.budget_usd.filter(|b| *b > 0.0) {
            None => t.status = "no_budget".into(),
            Some(b) => {
                let used = t.month_to_date_usd / b;
                t.used_ratio = Some(used);
                t.status = if used >= 1.0 {
                    "over_budget"
                } else if used >= t.alert_ratio.unwrap_or(0.8) {
                    "alert"
                } else {
                    "ok"
                }
                .into();
                t.projected_over_budget = t.projected_month_end_usd > b;
            }
        }
    }
    let month = chrono::DateTime::from_timestamp(ctx.eval_time() as i64, 0)
        .map(|d| format!("{:04}-{:02}", d.year(), d.month()))
        .unwrap_or_default();
    Ok(BudgetStatus {
        coverage: fan.coverage,
        month,
        tenants: out,
    })
}
