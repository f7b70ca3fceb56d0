//! Token usage by model and token type: over a window and the live rate.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;
use crate::config::Cloud;
use crate::gateway::{Coverage, Ctx, Gateway, GatewayError, Query};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokenRow {
    pub cloud: Cloud,
    pub model: String,
    pub token_type: String,
    /// Tokens in the window.
    pub tokens: f64,
    /// Over the last 5 minutes (before `time`).
    pub tokens_per_second: f64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokenUsage {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub window: String,
    pub model: Option<String>,
    /// Per token type, all clouds and models.
    pub totals: BTreeMap<String, f64>,
    pub rows: Vec<TokenRow>,
}

pub async fn token_usage(
    gw: &Gateway,
    ctx: &Ctx,
    window: &str,
    model: Option<&str>,
) -> Result<TokenUsage, GatewayError> {
    window_seconds(window)?;
    let selector = model_selector(TOKENS, model)?;
    let total = format!("sum by (model, token_type) (increase({selector}[{window}]))");
    let rate = format!("sum by (model, token_type) (rate({selector}[5m]))");
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            vec![
                Query::new(total.clone(), ctx.time),
                Query::new(rate.clone(), ctx.time),
            ]
        })
        .await?;
    let mut rows: BTreeMap<(Cloud, String, String), (f64, f64)> = BTreeMap::new();
    for (cloud, data) in &fan.answers {
        for (i, d) in data.iter().enumerate() {
            for s in samples(d) {
                let key = (
                    *cloud,
                    s.labels.get("model").cloned().unwrap_or_default(),
                    s.labels.get("token_type").cloned().unwrap_or_default(),
                );
                let e = rows.entry(key).or_default();
                if i == 0 {
                    e.0 = s.value;
                } else {
                    e.1 = s.value;
                }
            }
        }
    }
    let mut totals = BTreeMap::new();
    let rows: Vec<TokenRow> = rows
        .into_iter()
        .map(|((cloud, model, token_type), (tokens, tps))| {
            *totals.entry(token_type.clone()).or_insert(0.0) += tokens;
            TokenRow {
                cloud,
                model,
                token_type,
                tokens,
                tokens_per_second: tps,
            }
        })
        .collect();
    Ok(TokenUsage {
        coverage: fan.coverage,
        window: window.to_string(),
        model: model.map(String::from),
        totals,
        rows,
    })
}
