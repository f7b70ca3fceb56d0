//! The exporters' own health, read from Prometheus.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;
use crate::config::Cloud;
use crate::gateway::{CloudBy, Coverage, Ctx, Gateway, GatewayError, Query};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ExporterHealth {
    pub cloud: Cloud,
    pub job: String,
    pub instance: String,
    /// Prometheus reached the exporter (`up`).
    pub scraped: bool,
    /// The exporter's last poll of its cloud succeeded (`llm_exporter_up`).
    pub polling: Option<bool>,
    pub last_success_timestamp: Option<f64>,
    pub data_age_seconds: Option<f64>,
    pub healthy: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ExportersHealth {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub healthy: bool,
    pub exporters: Vec<ExporterHealth>,
}

pub const HEALTH_QUERY: &str = "{__name__=~\"up|llm_exporter_up|llm_exporter_last_success_timestamp_seconds\", job=~\"llm-exporter-.*\"}";

/// The exporters' own health series (no tenant label): a fixed query, scoped to series
/// without a tenant, so it can show no tenant's usage.
pub async fn exporter_health(gw: &Gateway, ctx: &Ctx) -> Result<ExportersHealth, GatewayError> {
    let fan = gw
        .fan_out(ctx, &TenantFilter::Untenanted, |_| {
            // Exporters' own series carry no `cloud` label: on an upstream holding every
            // cloud, each cloud's are those scraped by its job (`llm-exporter-<cloud>`).
            vec![Query {
                by: CloudBy::Job,
                ..Query::new(HEALTH_QUERY, ctx.time)
            }]
        })
        .await?;
    let t = ctx.eval_time();
    let mut by: BTreeMap<(Cloud, String, String), ExporterHealth> = BTreeMap::new();
    for (cloud, ss) in first(&fan) {
        for s in ss {
            let job = s.labels.get("job").cloned().unwrap_or_default();
            let instance = s.labels.get("instance").cloned().unwrap_or_default();
            let e = by
                .entry((cloud, job.clone(), instance.clone()))
                .or_insert_with(|| ExporterHealth {
                    cloud,
                    job,
                    instance,
                    scraped: false,
                    polling: None,
                    last_success_timestamp: None,
                    data_age_seconds: None,
                    healthy: false,
                });
            match s.labels.get("__name__").map(String::as_str) {
                Some("up") => e.scraped = s.value == 1.0,
                Some("llm_exporter_up") => e.polling = Some(s.value == 1.0),
                Some("llm_exporter_last_success_timestamp_seconds") => {
                    e.last_success_timestamp = Some(s.value);
                    e.data_age_seconds = Some((t - s.value).max(0.0));
                }
                _ => {}
            }
        }
    }
    let exporters: Vec<ExporterHealth> = by
        .into_values()
        .map(|mut e| {
            e.healthy = e.scraped && e.polling.unwrap_or(false);
            e
        })
        .collect();
    Ok(ExportersHealth {
        healthy: !exporters.is_empty()
            && exporters.iter().all(|e| e.healthy)
            && fan.coverage.clouds_failed.is_empty(),
        coverage: fan.coverage,
        exporters,
    })
}
