//! `llm_billing_effective_rate_ratio{cloud,account,model}`: billed USD / estimated USD over
//! the last complete billing days of each cloud (7 by default), for Prometheus to graph a
//! calibrated month to date and for Alertmanager to page on drift. No tenant label: the
//! ratio is over every tenant.

use std::collections::BTreeMap;
use std::time::Duration;

use super::model_key::{model_key, without_geo};
use crate::answers::{samples, COST};
use crate::config::Cloud;
use crate::gateway::Gateway;
use crate::promql::{scope_query, TenantFilter};

/// Complete days the ratio is taken over.
pub const RATIO_DAYS: i64 = 7;

/// How often the ratio is computed again (one query per cloud).
pub const EVERY: Duration = Duration::from_secs(30);

/// Computes the ratio of every cloud with a billing export and sets the gauges.
pub async fn update(gw: &Gateway) {
    let mut values: Vec<(Cloud, String, String, f64)> = Vec::new();
    for cloud in Cloud::ALL {
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
        let Ok(scoped) = scope_query(
            &promql,
            &TenantFilter::Any,
            upstream.shared.then_some(cloud),
        ) else {
            continue;
        };
        let data = match upstream.query(&scoped, Some(end)).await {
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
