//! The billing gauges that need the estimate: `llm_billing_effective_rate_ratio{cloud,
//! account,model}` (billed USD / estimated USD over the last complete billing days of each
//! cloud, 7 by default) for Alertmanager to page on drift; the last complete day's billed and
//! estimated USD; and this month's billed USD through the last complete day beside the
//! estimate since then (their sum: the calibrated month to date). No tenant label: these are
//! over every tenant.

use std::collections::BTreeMap;

use chrono::Datelike;
use std::time::Duration;

use super::model_key::{model_key, without_geo};
use crate::answers::{samples, COST};
use crate::config::Cloud;
use crate::gateway::Gateway;
use crate::promql::{scope_query_with, TenantFilter};

/// How long the gateway's own background queries may run (capped by each upstream's
/// timeout): they are not a tenant's, so no tenant's query limits apply.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The matcher that selects `cloud`'s series on an upstream holding several clouds.
fn on_shared(shared: bool, cloud: Cloud) -> Option<promql_parser::label::Matcher> {
    shared.then(|| {
        promql_parser::label::Matcher::new(
            promql_parser::label::MatchOp::Equal,
            "cloud",
            cloud.as_str(),
        )
    })
}

/// Complete days the ratio is taken over.
pub const RATIO_DAYS: i64 = 7;

/// How often the ratio is computed again (one query per cloud).
pub const EVERY: Duration = Duration::from_secs(30);

/// Computes the ratio of every cloud with a billing export and sets the gauges.
pub async fn update(gw: &Gateway) {
    let mut values: Vec<(Cloud, String, String, f64)> = Vec::new();
    for cloud in Cloud::ALL {
        totals(gw, cloud).await;
        let Some(last) = gw.billing.complete_through(cloud) else {
            continue;
        };
        let Some(upstream) = gw.upstream_for(cloud) else {
            continue;
        };
        let Some(first) = last.checked_sub_signed(chrono::Duration::days(RATIO_DAYS - 1)) else {
            continue;
        };
        let Some(end) = last
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp() as f64)
        else {
            continue;
        };
        let promql = format!(
            "sum by (account, model) (increase({COST}[{}s]))",
            RATIO_DAYS * 86400
        );
        let Ok(scoped) = scope_query_with(
            &promql,
            &TenantFilter::Any,
            on_shared(upstream.shared, cloud),
        ) else {
            continue;
        };
        let data = match upstream.query(&scoped, Some(end), QUERY_TIMEOUT).await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(%cloud, error = %e, "billing ratio: no estimate");
                continue;
            }
        };
        // (account, model key) -> (estimated, a model label)
        let mut est: BTreeMap<(String, String), (f64, String)> = BTreeMap::new();
        for s in samples(&data) {
            let account = s.labels.get("account").cloned().unwrap_or_default();
            let model = s.labels.get("model").cloned().unwrap_or_default();
            let e = est
                .entry((account, model_key(&model)))
                .or_insert((0.0, without_geo(&model).to_string()));
            e.0 += s.value;
        }
        let mut billed: BTreeMap<(String, String), f64> = BTreeMap::new();
        for b in gw.billing.billed(first, last, &[cloud], None) {
            *billed.entry((b.account, model_key(&b.model))).or_default() += b.cost;
        }
        for ((account, key), (e, label)) in est {
            if e <= 0.0 {
                continue;
            }
            let b = billed.get(&(account.clone(), key)).copied().unwrap_or(0.0);
            values.push((cloud, account, label, b / e));
        }
    }
    let ratio = &gw.billing.metrics.ratio;
    ratio.reset();
    for (cloud, account, model, v) in values {
        ratio
            .with_label_values(&[cloud.as_str(), &account, &model])
            .set(v);
    }
}

/// One cloud's estimate (all series) over `secs` seconds ending at `time`; None when its
/// Prometheus does not answer.
async fn estimate(gw: &Gateway, cloud: Cloud, secs: i64, time: f64) -> Option<f64> {
    let upstream = gw.upstream_for(cloud)?;
    if secs <= 0 {
        return Some(0.0);
    }
    let promql = format!("sum(increase({COST}[{secs}s]))");
    let scoped = scope_query_with(
        &promql,
        &TenantFilter::Any,
        on_shared(upstream.shared, cloud),
    )
    .ok()?;
    let data = upstream
        .query(&scoped, Some(time), QUERY_TIMEOUT)
        .await
        .ok()?;
    Some(samples(&data).iter().map(|s| s.value).sum())
}

fn day_start(d: chrono::NaiveDate) -> f64 {
    d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp() as f64)
        .unwrap_or(0.0)
}

/// The last complete day (billed, estimated) and this month (billed through the last
/// complete day, estimated since).
async fn totals(gw: &Gateway, cloud: Cloud) {
    let Some(last) = gw.billing.complete_through(cloud) else {
        return;
    };
    let Some(next) = last.succ_opt() else {
        return;
    };
    let day = &gw.billing.metrics.day;
    let month = &gw.billing.metrics.month;
    let billed = |from, to| -> f64 {
        gw.billing
            .billed(from, to, &[cloud], None)
            .iter()
            .map(|b| b.cost)
            .sum()
    };
    day.with_label_values(&[cloud.as_str(), "billed"])
        .set(billed(last, last));
    if let Some(e) = estimate(gw, cloud, 86400, day_start(next)).await {
        day.with_label_values(&[cloud.as_str(), "estimated"]).set(e);
    }
    let now = crate::gateway::now();
    let today = chrono::DateTime::from_timestamp(now as i64, 0)
        .map(|t| t.date_naive())
        .unwrap_or(next);
    let Some(first) = today.with_day(1) else {
        return;
    };
    let billed_mtd = if last >= first {
        billed(first, last)
    } else {
        0.0
    };
    month
        .with_label_values(&[cloud.as_str(), "billed"])
        .set(billed_mtd);
    let since = day_start(next).max(day_start(first));
    if let Some(e) = estimate(gw, cloud, (now - since).floor() as i64, now).await {
        month
            .with_label_values(&[cloud.as_str(), "estimated"])
            .set(e);
    }
}

/// Keeps the ratio current in the background.
pub fn spawn(gw: std::sync::Arc<Gateway>) {
    tokio::spawn(async move {
        loop {
            update(&gw).await;
            tokio::select! {
                _ = gw.billing.refreshed.notified() => {}
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
    });
}
