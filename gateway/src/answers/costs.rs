//! Spend over a window: grouped (spend summary) and per model (costs by model, top models).

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;
use crate::config::Cloud;
use crate::gateway::{Coverage, Ctx, Gateway, GatewayError, Query};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SpendRow {
    pub labels: Labels,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SpendSummary {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub window: String,
    pub group_by: Vec<String>,
    pub total_usd: f64,
    pub by_cloud: BTreeMap<Cloud, f64>,
    /// Largest first.
    pub rows: Vec<SpendRow>,
}

pub async fn spend_summary(
    gw: &Gateway,
    ctx: &Ctx,
    window: &str,
    group_by: &[String],
) -> Result<SpendSummary, GatewayError> {
    window_seconds(window)?;
    let mut labels: Vec<String> = Vec::new();
    for g in group_by {
        if !GROUP_LABELS.contains(&g.as_str()) {
            return Err(GatewayError::BadRequest(format!(
                "group_by {g:?}: one of {}",
                GROUP_LABELS.join(", ")
            )));
        }
        if !labels.contains(g) {
            labels.push(g.clone());
        }
    }
    let promql = format!(
        "sum by ({}) (increase({COST}[{window}]))",
        labels.join(", ")
    );
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| vec![Query::new(promql.clone(), ctx.time)])
        .await?;
    let answers = first(&fan);
    let mut merged: BTreeMap<Labels, f64> = BTreeMap::new();
    for (_, ss) in &answers {
        for s in ss.iter().filter(|s| keep_tenant(&filter, s)) {
            *merged.entry(s.labels.clone()).or_default() += s.value;
        }
    }
    let mut rows: Vec<SpendRow> = merged
        .into_iter()
        .map(|(labels, cost_usd)| SpendRow { labels, cost_usd })
        .collect();
    rows.sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd));
    let by_cloud = per_cloud_sum(&answers);
    Ok(SpendSummary {
        coverage: fan.coverage,
        window: window.to_string(),
        group_by: labels,
        total_usd: by_cloud.values().fold(0.0, |a, b| a + b),
        by_cloud,
        rows,
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ModelCost {
    pub cloud: Cloud,
    pub model: String,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ModelCosts {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub window: String,
    pub model: Option<String>,
    pub total_usd: f64,
    pub by_cloud: BTreeMap<Cloud, f64>,
    /// Per cloud and model, largest first.
    pub models: Vec<ModelCost>,
}

pub async fn costs_by_model(
    gw: &Gateway,
    ctx: &Ctx,
    window: &str,
    model: Option<&str>,
    limit: Option<usize>,
) -> Result<ModelCosts, GatewayError> {
    window_seconds(window)?;
    let selector = model_selector(COST, model)?;
    let promql = format!("sum by (model) (increase({selector}[{window}]))");
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| vec![Query::new(promql.clone(), ctx.time)])
        .await?;
    let answers = first(&fan);
    let mut models: Vec<ModelCost> = answers
        .iter()
        .flat_map(|(cloud, ss)| {
            ss.iter().map(move |s| ModelCost {
                cloud: *cloud,
                model: s.labels.get("model").cloned().unwrap_or_default(),
                cost_usd: s.value,
            })
        })
        .collect();
    models.sort_by(|a, b| {
        b.cost_usd
            .total_cmp(&a.cost_usd)
            .then_with(|| (a.cloud, &a.model).cmp(&(b.cloud, &b.model)))
    });
    if let Some(n) = limit {
        models.truncate(n);
    }
    let by_cloud = per_cloud_sum(&answers);
    Ok(ModelCosts {
        coverage: fan.coverage,
        window: window.to_string(),
        model: model.map(String::from),
        total_usd: by_cloud.values().fold(0.0, |a, b| a + b),
        by_cloud,
        models,
    })
}
