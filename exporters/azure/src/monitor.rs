//! Azure Monitor's metrics: the data-plane `metrics:getBatch` (up to 50 resources of one
//! subscription and region per call), and the per-resource ARM `Metrics - List` where getBatch
//! is refused (e.g. no data-plane permission). Response shapes: shared/reference/cloud-apis.md
//! §2.3, §2.4.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use common::guard::{Guard, GuardError};
use common::source::Window;
use serde::Deserialize;

use crate::http::{AzClient, AzError};
use crate::models::{MetricQuery, NAMESPACE};

/// getBatch's limit of resources per call.
pub const MAX_RESOURCES_PER_BATCH: usize = 50;
/// Series per resource and metric; the default of 10 silently drops series.
const TOP_SERIES: usize = 1000;
const TOP: &str = "1000";

#[derive(Debug, Deserialize)]
struct BatchResponse {
    #[serde(default)]
    values: Vec<ResourceValues>,
}

#[derive(Debug, Deserialize)]
struct ResourceValues {
    #[serde(default)]
    resourceid: Option<String>,
    #[serde(default)]
    value: Vec<Metric>,
}

#[derive(Debug, Deserialize)]
struct ListResponse {
    #[serde(default)]
    value: Vec<Metric>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Localizable {
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metric {
    pub name: Localizable,
    #[serde(rename = "errorCode", default)]
    pub error_code: Option<String>,
    #[serde(rename = "errorMessage", default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TimeSeries {
    #[serde(default)]
    pub metadatavalues: Vec<MetadataValue>,
    #[serde(default)]
    pub data: Vec<MetricValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetadataValue {
    pub name: Localizable,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricValue {
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(default)]
    pub total: Option<f64>,
    #[serde(default)]
    pub average: Option<f64>,
}

impl TimeSeries {
    /// A dimension's value; Azure lower-cases dimension names in responses, so the match
    /// ignores case.
    pub fn dimension(&self, name: &str) -> &str {
        self.metadatavalues
            .iter()
            .find(|m| m.name.value.eq_ignore_ascii_case(name))
            .and_then(|m| m.value.as_deref())
            .unwrap_or("")
    }
}

impl MetricValue {
    /// Unix seconds of the point.
    pub fn seconds(&self) -> Option<i64> {
        humantime::parse_rfc3339_weak(&self.time_stamp)
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs() as i64)
    }
}

fn iso(secs: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
        .to_string()
}

pub struct Monitor {
    pub client: Arc<AzClient>,
    pub batch_guard: Arc<Guard>,
    pub list_guard: Arc<Guard>,
    pub arm_base: String,
    pub arm_scope: String,
    pub metrics_scope: String,
    /// `https://{region}.metrics...` with `{region}` to fill in.
    pub metrics_template: String,
    /// (subscription, region) pairs where getBatch was refused: Metrics_List from then on.
    pub refused: Mutex<HashSet<(String, String)>>,
}

impl Monitor {
    /// `query` for every resource (all in `subscription` and `region`) over `window`:
    /// (resource id, metric) pairs. Metrics a resource does not have come back with an error
    /// code of their own and are skipped.
    pub async fn fetch(
        &self,
        subscription: &str,
        region: &str,
        resources: &[String],
        query: &MetricQuery,
        window: Window,
    ) -> Result<Vec<(String, Metric)>, GuardError<AzError>> {
        let key = (subscription.to_string(), region.to_string());
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key);
        if refused {
            return self.list_each(resources, query, window).await;
        }
        let mut out = Vec::new();
        for chunk in resources.chunks(MAX_RESOURCES_PER_BATCH) {
            match self.batch(subscription, region, chunk, query, window).await {
                Ok(results) => out.extend(results),
                Err(GuardError::Failed { source, .. }) if source.is_refusal() => {
                    tracing::warn!(subscription, region, error = %source, "metrics:getBatch refused; using the per-resource Metrics - List API instead");
                    self.refused
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key);
                    return self.list_each(resources, query, window).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(without_metric_errors(out))
    }

    /// The per-resource fallback: one Metrics - List call per resource.
    async fn list_each(
        &self,
        resources: &[String],
        query: &MetricQuery,
        window: Window,
    ) -> Result<Vec<(String, Metric)>, GuardError<AzError>> {
        let mut out = Vec::new();
        for id in resources {
            for metric in self.list(id, query, window).await? {
                out.push((id.clone(), metric));
            }
        }
        Ok(without_metric_errors(out))
    }

    async fn batch(
        &self,
        subscription: &str,
        region: &str,
        resources: &[String],
        query: &MetricQuery,
        window: Window,
    ) -> Result<Vec<(String, Metric)>, GuardError<AzError>> {
        let base = format!(
            "{}/subscriptions/{subscription}/metrics:getBatch",
            self.metrics_template
                .replace("{region}", region)
                .trim_end_matches('/')
        );
        let params = [
            ("api-version", "2024-02-01".to_string()),
            ("metricnamespace", NAMESPACE.to_string()),
            ("metricnames", query.names.join(",")),
            ("starttime", iso(window.start)),
            ("endtime", iso(window.end)),
            ("interval", "PT1M".to_string()),
            ("aggregation", query.aggregation.to_string()),
            ("filter", query.filter.to_string()),
            ("top", TOP.to_string()),
        ];
        let url = url(&base, &params, "metrics:getBatch")?;
        // The body key is lower-case `resourceids`, as the API requires.
        let body = serde_json::json!({ "resourceids": resources });
        let resp: BatchResponse = self
            .batch_guard
            .call(|| self.client.post(url.as_str(), &self.metrics_scope, &body))
            .await?;
        Ok(resp
            .values
            .into_iter()
            .flat_map(|r| {
                let id = r.resourceid.unwrap_or_default();
                r.value.into_iter().map(move |m| (id.clone(), m))
            })
            .collect())
    }

    async fn list(
        &self,
        resource: &str,
        query: &MetricQuery,
        window: Window,
    ) -> Result<Vec<Metric>, GuardError<AzError>> {
        let base = format!(
            "{}{resource}/providers/Microsoft.Insights/metrics",
            self.arm_base
        );
        let params = [
            ("api-version", "2023-10-01".to_string()),
            ("metricnamespace", NAMESPACE.to_string()),
            ("metricnames", query.names.join(",")),
            (
                "timespan",
                format!("{}/{}", iso(window.start), iso(window.end)),
            ),
            ("interval", "PT1M".to_string()),
            ("aggregation", query.aggregation.to_string()),
            ("$filter", query.filter.to_string()),
            ("top", TOP.to_string()),
        ];
        let url = url(&base, &params, "Metrics_List")?;
        let resp: ListResponse = self
            .list_guard
            .call(|| self.client.get(url.as_str(), &self.arm_scope))
            .await?;
        Ok(resp.value)
    }
}

/// `base` with the query parameters, or an error naming the configured endpoint.
fn url(
    base: &str,
    params: &[(&str, String)],
    api: &str,
) -> Result<reqwest::Url, GuardError<AzError>> {
    reqwest::Url::parse_with_params(base, params).map_err(|e| GuardError::Failed {
        api: api.into(),
        source: AzError {
            class: common::guard::ErrorClass::Permanent,
            status: None,
            retry_after: None,
            message: format!("bad endpoint {base}: {e}"),
        },
    })
}

fn without_metric_errors(results: Vec<(String, Metric)>) -> Vec<(String, Metric)> {
    results
        .into_iter()
        .filter(|(id, m)| {
            if m.timeseries.len() >= TOP_SERIES {
                tracing::warn!(resource = %id, metric = %m.name.value, top = TOP_SERIES, "as many series as `top` allows: some may be missing");
            }
            let failed = m.error_code.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case("Success"));
            if failed {
                tracing::debug!(resource = %id, metric = %m.name.value, code = ?m.error_code, message = ?m.error_message, "metric not available on this resource");
            }
            !failed
        })
        .collect()
}
