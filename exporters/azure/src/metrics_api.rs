//! The metrics API client, Azure Monitor: the data-plane `metrics:getBatch` (up to 50
//! resources of one subscription and region per call), and the per-resource ARM
//! `Metrics - List` where getBatch is refused (e.g. no data-plane permission). Response
//! shapes (answer.rs): https://learn.microsoft.com/rest/api/monitor/metrics-batch/batch and
//! https://learn.microsoft.com/rest/api/monitor/metrics/list.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::error::{FailureKind, SourceError};
use common::guard::{Guard, GuardError};
use common::metrics::SelfMetrics;
use common::source::Window;

use crate::answer::{BatchResponse, ListResponse, Metric};
use crate::discovery::account_scope;
use crate::error::is_refusal;
use crate::guards::{Guards, Limiter};
use crate::http::AzClient;
use crate::models::{MetricQuery, NAMESPACE};
use common::base::lock;

/// getBatch's limit of resources per call.
pub const MAX_RESOURCES_PER_BATCH: usize = 50;
/// Series per resource and metric; the default of 10 silently drops series.
const TOP_SERIES: usize = 1000;
const TOP: &str = "1000";

fn iso(secs: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
        .to_string()
}

/// What one query returned for each resource (by the id it was asked with): its metrics, or
/// why they could not be read. Resources fail apart, so one bad account holds back no other.
pub type PerResource = Vec<(String, Result<Vec<Metric>, SourceError>)>;

pub struct Monitor {
    pub client: Arc<AzClient>,
    pub guards: Guards,
    pub arm_base: String,
    pub arm_scope: String,
    pub metrics_scope: String,
    /// `https://{region}.metrics...` with `{region}` to fill in.
    pub metrics_template: String,
    /// (subscription, region) pairs where getBatch was refused, with when: Metrics_List
    /// until `retry_batch` has passed, then getBatch is tried again (a role assignment can be
    /// granted, or a 401 be a passing fault of the data plane's token check).
    pub refused: Mutex<HashMap<(String, String), Instant>>,
    /// `azure.getbatch_retry`.
    pub retry_batch: Duration,
    /// `azure.getbatch_usd_per_1000_calls` / 1000: what one getBatch call costs.
    pub batch_usd_per_call: f64,
    pub metrics: Arc<SelfMetrics>,
    /// `llm_exporter_azure_metrics_api{subscription, region, api}`: 1 for the API in use.
    pub api_in_use: prometheus::IntGaugeVec,
}

/// The names of the two metrics APIs, as in `llm_exporter_api_requests_total{api}`.
pub const GET_BATCH: &str = "metrics:getBatch";
pub const METRICS_LIST: &str = "Metrics_List";

/// The gauge of which metrics API serves a subscription and region, registered in the
/// exporter's registry.
pub fn api_in_use_gauge(metrics: &SelfMetrics) -> prometheus::IntGaugeVec {
    let gauge = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            common::metrics::names::AZURE_METRICS_API,
            "1 for the Azure Monitor metrics API that serves this subscription and region (metrics:getBatch, or Metrics_List while getBatch is refused), 0 for the other.",
        ),
        &["subscription", "region", "api"],
    )
    .expect("valid metric");
    // Registered once per process; a second registration (never made) would only be a
    // duplicate name.
    let _ = metrics.registry.register(Box::new(gauge.clone()));
    gauge
}

impl Monitor {
    /// `query` for every resource (all in `subscription` and `region`) over `window`. A
    /// failed getBatch call fails the resources it asked for; a per-metric error inside a
    /// successful answer fails that resource (see [`checked`]).
    pub async fn fetch(
        &self,
        subscription: &str,
        region: &str,
        resources: &[String],
        query: &MetricQuery,
        window: Window,
    ) -> PerResource {
        let key = (subscription.to_string(), region.to_string());
        let target = format!("{subscription}/{region}");
        let refused_at = lock(&self.refused).get(&key).copied();
        match refused_at {
            Some(at) if at.elapsed() < self.retry_batch => {
                return self.list_each(subscription, resources, query, window).await;
            }
            Some(_) => {
                tracing::info!(
                    subscription,
                    region,
                    "trying metrics:getBatch again after it was refused"
                )
            }
            None => {}
        }
        let made = self.guards.get(GET_BATCH, &target);
        let guard = (&*made.0, &*made.1);
        let mut out = Vec::new();
        for chunk in resources.chunks(MAX_RESOURCES_PER_BATCH) {
            match self
                .batch(guard, subscription, region, chunk, query, window)
                .await
            {
                Ok(results) => {
                    out.extend(results);
                    self.serving(subscription, region, GET_BATCH);
                    let back = lock(&self.refused).remove(&key).is_some();
                    if back {
                        tracing::info!(
                            subscription,
                            region,
                            "metrics:getBatch works again; Metrics - List no longer used"
                        );
                    }
                }
                Err(GuardError::Failed { source, .. }) if is_refusal(&source) => {
                    let retry = humantime::format_duration(self.retry_batch).to_string();
                    tracing::warn!(subscription, region, error = %source, retry_in = %retry, "metrics:getBatch refused; using the per-resource Metrics - List API instead");
                    lock(&self.refused).insert(key, Instant::now());
                    self.serving(subscription, region, METRICS_LIST);
                    // Every resource of the region from Metrics_List, those of batches
                    // answered earlier in this call too: one answer per resource.
                    return self.list_each(subscription, resources, query, window).await;
                }
                Err(e) => {
                    let e = SourceError::from(e);
                    out.extend(chunk.iter().map(|id| (id.clone(), Err(e.clone()))));
                }
            }
        }
        out
    }

    /// Records which API serves `subscription` and `region`.
    fn serving(&self, subscription: &str, region: &str, api: &str) {
        for other in [GET_BATCH, METRICS_LIST] {
            self.api_in_use
                .with_label_values(&[subscription, region, other])
                .set(i64::from(other == api));
        }
    }

    /// The per-resource fallback: one Metrics - List call per resource.
    async fn list_each(
        &self,
        subscription: &str,
        resources: &[String],
        query: &MetricQuery,
        window: Window,
    ) -> PerResource {
        let mut out = Vec::new();
        for id in resources {
            let made = self
                .guards
                .get(METRICS_LIST, &account_scope(subscription, id));
            let guard = (&*made.0, &*made.1);
            let result = match self.list(guard, id, query, window).await {
                Ok(metrics) => checked(id, metrics).map_err(incomplete),
                Err(e) => Err(SourceError::from(e)),
            };
            out.push((id.clone(), result));
        }
        out
    }

    async fn batch(
        &self,
        (guard, limiter): (&Guard, &Limiter),
        subscription: &str,
        region: &str,
        resources: &[String],
        query: &MetricQuery,
        window: Window,
    ) -> Result<PerResource, GuardError<SourceError>> {
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
        let resp: BatchResponse = guard
            .call(|| async {
                limiter.until_ready().await;
                let result = self
                    .client
                    .post(url.as_str(), &self.metrics_scope, &body)
                    .await;
                // Azure bills every data-plane call ("all metrics data plane and batching
                // calls are billed", migrate-to-batch-api): each one it answered, whatever
                // the status, is counted.
                if result
                    .as_ref()
                    .map_or_else(|e| e.status.is_some(), |_| true)
                {
                    self.metrics
                        .bill("getBatch", "calls", 1, self.batch_usd_per_call);
                }
                result
            })
            .await?;
        // Answers come back by resource id, in any case.
        let mut answers: HashMap<String, Vec<Metric>> = HashMap::new();
        for r in resp.values {
            let id = r.resourceid.unwrap_or_default().to_ascii_lowercase();
            answers.entry(id).or_default().extend(r.value);
        }
        Ok(resources
            .iter()
            .map(|id| {
                let metrics = answers.remove(&id.to_ascii_lowercase()).unwrap_or_default();
                (id.clone(), checked(id, metrics).map_err(incomplete))
            })
            .collect())
    }

    async fn list(
        &self,
        (guard, limiter): (&Guard, &Limiter),
        resource: &str,
        query: &MetricQuery,
        window: Window,
    ) -> Result<Vec<Metric>, GuardError<SourceError>> {
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
        let resp: ListResponse = guard
            .call(|| async {
                limiter.until_ready().await;
                self.client.get(url.as_str(), &self.arm_scope).await
            })
            .await?;
        Ok(resp.value)
    }
}

/// `base` with the query parameters, or an error naming the configured endpoint.
fn url(
    base: &str,
    params: &[(&str, String)],
    api: &str,
) -> Result<reqwest::Url, GuardError<SourceError>> {
    reqwest::Url::parse_with_params(base, params).map_err(|e| GuardError::Failed {
        api: api.into(),
        source: SourceError::new(
            FailureKind::InvalidRequest,
            format!("bad endpoint {base}: {e}"),
        ),
    })
}

/// A per-metric error: the answer may miss data.
fn incomplete(message: String) -> SourceError {
    SourceError::new(FailureKind::Incomplete, message)
}

/// A resource's metrics, or the first per-metric error in them. Azure reports a metric it
/// could not query (an unsupported aggregation, a back-end failure) inside a 200 answer, with
/// `errorCode` other than `Success` and no data (metricBatch.json / metrics_API.json: "'Success'
/// or the error details on query failures for this metric"). Treating that as "no data" would
/// silently zero the metric and let its minutes pass the horizon, so it fails the resource's
/// poll and the window is fetched again. Metrics the resource type defines but a deployment
/// does not use answer `Success` with no time series: that is no data, not an error.
fn checked(id: &str, metrics: Vec<Metric>) -> Result<Vec<Metric>, String> {
    for m in &metrics {
        if m.timeseries.len() >= TOP_SERIES {
            tracing::warn!(resource = %id, metric = %m.name.value, top = TOP_SERIES, "as many series as `top` allows: some may be missing");
        }
        let code = m.error_code.as_deref().unwrap_or("Success");
        if !code.eq_ignore_ascii_case("Success") {
            return Err(format!(
                "Azure Monitor could not query metric {} ({code}): {}",
                m.name.value,
                m.error_message.as_deref().unwrap_or("no message")
            ));
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::ResourceValues;

    /// A getBatch answer for one resource in the documented shape (metricBatch.json).
    fn metrics(json: &str) -> Vec<Metric> {
        serde_json::from_str::<ResourceValues>(json).unwrap().value
    }

    #[test]
    fn a_per_metric_error_fails_the_resource_and_names_the_metric() {
        let ok = metrics(
            r#"{"resourceid": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a",
                "value": [{"name": {"value": "GeneratedTokens", "localizedValue": "x"}, "errorCode": "Success", "timeseries": []}]}"#,
        );
        assert_eq!(
            checked("a", ok).unwrap().len(),
            1,
            "Success with no series: no data, no error"
        );
        let failed = metrics(
            r#"{"value": [
                {"name": {"value": "GeneratedTokens"}, "errorCode": "Success", "timeseries": []},
                {"name": {"value": "ProcessedPromptTokens"}, "errorCode": "BadRequest",
                 "errorMessage": "Aggregation type(s) average not supported", "timeseries": []}]}"#,
        );
        let e = checked("a", failed).unwrap_err();
        assert!(
            e.contains("ProcessedPromptTokens")
                && e.contains("BadRequest")
                && e.contains("not supported"),
            "{e}"
        );
        let no_code =
            metrics(r#"{"value": [{"name": {"value": "InputTokens"}, "timeseries": []}]}"#);
        assert!(checked("a", no_code).is_ok(), "no errorCode: success");
    }
}
