//! The estimate beside the bill, per UTC day, cloud, account and model: estimated USD from
//! Prometheus (as the daily costs answer computes it, grouped by account and model) and
//! billed USD from the billing exports (`crate::billing`). The billed side is answered even
//! when Prometheus is not.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::*;
use crate::billing::ledger::ExportStatus;
use crate::billing::model_key::{model_key, without_geo};
use crate::config::Cloud;
use crate::gateway::{Coverage, Ctx, Gateway, GatewayError, Query};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReconRow {
    pub day: String,
    pub cloud: Cloud,
    pub account: String,
    /// The exporters' model name (without a cross-Region geo prefix) when the estimate has
    /// the model, else the bill's.
    pub model: String,
    /// Null: the cloud's Prometheus did not answer.
    pub estimated_usd: Option<f64>,
    /// Null: the billing data does not reach this day (or cannot be attributed to the
    /// tenant).
    pub billed_usd: Option<f64>,
    /// billed / estimated; null when either is missing or the estimate is 0.
    pub drift_ratio: Option<f64>,
    /// The day is at or before the cloud's last complete billing day.
    pub billed_complete: bool,
    /// What the bill calls it (usage types, product names, SKUs).
    pub billed_as: Vec<String>,
    /// The exporters' model labels summed into `estimated_usd`.
    pub estimated_as: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Reconciliation {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub from: String,
    pub to: String,
    /// Some side is missing for some cloud: see `notes` and `clouds_failed`.
    pub partial: bool,
    pub notes: Vec<String>,
    /// The last day each cloud's billing data holds completely (null: no data yet).
    pub billed_through: BTreeMap<Cloud, Option<String>>,
    /// The exports read: their reach and their errors.
    pub billing: Vec<ExportStatus>,
    pub days: Vec<ReconRow>,
}

type Cell = (NaiveDate, Cloud, String, String);

#[derive(Default)]
struct Side {
    usd: f64,
    /// The model names of this side.
    names: BTreeSet<String>,
    /// The bill's own descriptions (billed side only).
    billed_as: BTreeSet<String>,
}

pub async fn reconciliation(
    gw: &Gateway,
    ctx: &Ctx,
    from: &str,
    to: &str,
) -> Result<Reconciliation, GatewayError> {
    let from_d = parse_date("from", from)?;
    let to_d = parse_date("to", to)?;
    let n = (to_d - from_d).num_days() + 1;
    if n < 1 {
        return Err(GatewayError::BadRequest("to is before from".into()));
    }
    if n > MAX_DAYS {
        return Err(GatewayError::BadRequest(format!(
            "at most {MAX_DAYS} days per request"
        )));
    }
    gw.billing.ensure_read().await;
    let t = ctx.eval_time();
    // (day, window seconds, evaluation time)
    let mut plan: Vec<(NaiveDate, i64, Option<f64>)> = Vec::new();
    for i in 0..n {
        let Some(day) = from_d.checked_add_signed(chrono::Duration::days(i)) else {
            break;
        };
        let start = day
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp())
            .unwrap_or(0) as f64;
        if start >= t {
            break;
        }
        if start + 86400.0 <= t {
            plan.push((day, 86400, Some(start + 86400.0)));
        } else if (t - start).floor() as i64 > 0 {
            plan.push((day, (t - start).floor() as i64, ctx.time));
        }
    }
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            plan.iter()
                .map(|(_, secs, time)| {
                    Query::new(
                        format!("sum by (account, model) (increase({COST}[{secs}s]))"),
                        *time,
                    )
                })
                .collect()
        })
        .await?;
    let mut notes = Vec::new();
    let mut estimated: BTreeMap<Cell, Side> = BTreeMap::new();
    let answered: BTreeSet<Cloud> = fan.answers.iter().map(|(c, _)| *c).collect();
    for (cloud, data) in &fan.answers {
        for ((day, _, _), d) in plan.iter().zip(data) {
            for s in samples(d).iter().filter(|s| keep_tenant(&filter, s)) {
                let account = s.labels.get("account").cloned().unwrap_or_default();
                let model = s.labels.get("model").cloned().unwrap_or_default();
                let side = estimated
                    .entry((*day, *cloud, account, model_key(&model)))
                    .or_default();
                side.usd += s.value;
                side.names.insert(model);
            }
        }
    }
    for f in &fan.coverage.clouds_failed {
        notes.push(format!(
            "{}: no estimate, its Prometheus ({}) failed: {}",
            f.cloud, f.upstream, f.error
        ));
    }
    // Clouds the caller may see and has not disabled, with or without a Prometheus.
    let clouds: Vec<Cloud> = ctx
        .scope
        .clouds
        .iter()
        .copied()
        .filter(|c| ctx.cloud.is_none_or(|f| f == *c))
        .filter(|c| !fan.coverage.clouds_disabled.contains(c))
        .collect();
    let tenant = ctx.scope.tenant.as_deref();
    let untagged = if tenant.is_some() {
        gw.billing.untagged(&clouds)
    } else {
        Vec::new()
    };
    for name in &untagged {
        notes.push(format!(
            "billing export {name:?} has no tenant_tag configured: its rows cannot be attributed to tenant {:?}, so its billed side is not shown",
            tenant.unwrap_or("")
        ));
    }
    let statuses: Vec<ExportStatus> = gw
        .billing
        .statuses()
        .into_iter()
        .filter(|s| clouds.contains(&s.cloud))
        .collect();
    let mut reach: BTreeMap<Cloud, NaiveDate> = BTreeMap::new();
    for s in &statuses {
        if let Some(d) = s.last_day.as_deref().and_then(|d| d.parse().ok()) {
            let e = reach.entry(s.cloud).or_insert(d);
            *e = (*e).min(d);
        }
    }
    let attributable: BTreeSet<Cloud> = clouds
        .iter()
        .copied()
        .filter(|c| {
            statuses
                .iter()
                .any(|s| s.cloud == *c && !untagged.contains(&s.name))
        })
        .collect();
    let mut billed: BTreeMap<Cell, Side> = BTreeMap::new();
    for b in gw.billing.billed(from_d, to_d, &clouds, tenant) {
        let side = billed
            .entry((b.day, b.cloud, b.account, model_key(&b.model)))
            .or_default();
        side.usd += b.cost;
        side.names.insert(b.model);
        side.billed_as.extend(b.billed_as);
    }
    let billed_through: BTreeMap<Cloud, Option<String>> = clouds
        .iter()
        .filter(|c| statuses.iter().any(|s| s.cloud == **c))
        .map(|c| (*c, gw.billing.complete_through(*c).map(|d| d.to_string())))
        .collect();
    let keys: BTreeSet<&Cell> = estimated.keys().chain(billed.keys()).collect();
    let mut days = Vec::new();
    for key in keys {
        let (day, cloud, account, _) = key;
        let est = estimated.get(key);
        let bill = billed.get(key);
        let estimated_usd = if answered.contains(cloud) {
            Some(est.map_or(0.0, |s| s.usd))
        } else {
            None
        };
        let in_reach = reach.get(cloud).is_some_and(|r| day <= r);
        let billed_usd = if attributable.contains(cloud) && (in_reach || bill.is_some()) {
            Some(bill.map_or(0.0, |s| s.usd))
        } else {
            None
        };
        let drift_ratio = match (estimated_usd, billed_usd) {
            (Some(e), Some(b)) if e > 0.0 => Some(b / e),
            _ => None,
        };
        let estimated_as: Vec<String> = est
            .map(|s| s.names.iter().cloned().collect())
            .unwrap_or_default();
        let model = match (estimated_as.first(), bill.and_then(|s| s.names.first())) {
            (Some(m), _) => without_geo(m).to_string(),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        };
        let billed_as: Vec<String> = bill
            .map(|s| s.billed_as.iter().cloned().collect())
            .unwrap_or_default();
        days.push(ReconRow {
            day: day.to_string(),
            cloud: *cloud,
            account: account.clone(),
            model,
            estimated_usd,
            billed_usd,
            drift_ratio,
            billed_complete: gw
                .billing
                .complete_through(*cloud)
                .is_some_and(|c| *day <= c),
            billed_as,
            estimated_as,
        });
    }
    for c in &clouds {
        if !statuses.iter().any(|s| s.cloud == *c) && answered.contains(c) {
            notes.push(format!("{c}: no billing export configured"));
        }
    }
    let partial = !fan.coverage.clouds_failed.is_empty()
        || !untagged.is_empty()
        || statuses.iter().any(|s| !s.errors.is_empty());
    Ok(Reconciliation {
        coverage: fan.coverage,
        from: from_d.to_string(),
        to: to_d.to_string(),
        partial,
        notes,
        billed_through,
        billing: statuses,
        days,
    })
}
