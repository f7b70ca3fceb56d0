//! The metrics API client: Cloud Monitoring's `projects.timeSeries.list`, aligned to whole
//! minutes and reduced server-side as each query says, following page tokens. Every call goes
//! through the guard (the only retries), and what it returns is billed.

use std::sync::Arc;

use common::error::{FailureKind, SourceError};
use common::guard::Guard;
use common::metrics::SelfMetrics;
use common::source::Window;
use google_cloud_monitoring_v3::model::{
    Aggregation, ListTimeSeriesResponse, TimeInterval, TimeSeries,
};
use google_cloud_wkt::{Duration as WktDuration, Timestamp};
use serde_json::json;

use crate::error::{error, truncate};
use crate::http::{query_params, Rest, API};
use crate::models::{filter, Query};
use crate::points::{self, Duplicates};

/// What makes a page incomplete, in the cloud's words (first error, truncated), if anything.
fn incomplete(page: &ListTimeSeriesResponse) -> Option<String> {
    if let Some(e) = page.execution_errors.first() {
        return Some(format!(
            "{} execution error(s), first: code {}: {}",
            page.execution_errors.len(),
            e.code,
            truncate(&e.message, 300)
        ));
    }
    // `unreachable` is in the REST reference but not in this client's model, which keeps
    // unknown fields: serialize the page (its series already taken out) to read it.
    let json = serde_json::to_value(page).ok()?;
    let regions: Vec<&str> = json
        .get("unreachable")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    (!regions.is_empty()).then(|| format!("unreachable: {}", truncate(&regions.join(", "), 300)))
}

pub struct Monitoring {
    pub rest: Arc<Rest>,
    pub guard: Arc<Guard>,
    pub metrics: Arc<SelfMetrics>,
    /// What Cloud Monitoring charges per time series a read returns.
    pub usd_per_series: f64,
    pub duplicates: Arc<Duplicates>,
}

impl Monitoring {
    /// Every series of `query` in `project` over `window`, one point per minute.
    pub async fn list(
        &self,
        project: &str,
        query: &Query,
        window: Window,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        let interval = TimeInterval::new()
            .set_start_time(Timestamp::clamp(window.start, 0))
            .set_end_time(Timestamp::clamp(window.end, 0));
        let aggregation = Aggregation::new()
            .set_alignment_period(WktDuration::clamp(window.period, 0))
            .set_per_series_aligner(query.aligner.clone())
            .set_cross_series_reducer(query.reducer.clone())
            .set_group_by_fields(query.group_by.clone());
        // The model's own JSON, flattened into the query string as the REST mapping wants.
        let fixed = [
            ("filter", json!(filter(query.metric_type))),
            (
                "interval",
                serde_json::to_value(&interval).unwrap_or_default(),
            ),
            (
                "aggregation",
                serde_json::to_value(&aggregation).unwrap_or_default(),
            ),
        ];
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut params = query_params(&fixed);
            if !token.is_empty() {
                params.push(("pageToken".into(), token.clone()));
            }
            let mut page = self
                .guard
                .call(|| self.rest.list_page(project, &params))
                .await
                .map_err(SourceError::from)?;
            // Billed per time series returned, at least one per read call (Google Cloud
            // Observability pricing, "Monitoring API reads", since 2 October 2025). A failed
            // call returned nothing to bill.
            let returned = page.time_series.len() as u64;
            self.metrics.bill(
                API,
                "time_series_returned",
                returned.max(1),
                self.usd_per_series,
            );
            let series = std::mem::take(&mut page.time_series);
            // The reference: executionErrors are "query execution errors that may have caused
            // the time series data returned to be incomplete", unreachable the "cloud regions
            // that were unreachable which may have caused incomplete data". Counting an
            // incomplete answer would zero minutes now (or move them into the baseline on the
            // first poll), so the whole answer is refused and the window fetched again.
            if let Some(reason) = incomplete(&page) {
                return Err(error(
                    FailureKind::Incomplete,
                    format!("{}: incomplete answer: {reason}", query.metric_type),
                ));
            }
            out.extend(series);
            if page.next_page_token.is_empty() {
                // Pages are merged first: one series may span several (points.rs).
                let (out, repeated) = points::merge(out, window.period);
                self.duplicates.count(project, query.metric_type, repeated);
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }
}
