//! Cloud Monitoring I/O: `projects.timeSeries.list`, aligned to whole minutes with
//! `ALIGN_DELTA` and reduced server-side as each query says, following page tokens. Every call
//! goes through the guard; the client's own retries are off so nothing is retried twice.

use std::fmt;
use std::sync::Arc;

use common::guard::{Classify, ErrorClass, Guard, GuardError};
use common::source::Window;
use google_cloud_monitoring_v3::client::MetricService;
use google_cloud_monitoring_v3::model::aggregation::Aligner;
use google_cloud_monitoring_v3::model::{
    Aggregation, ListTimeSeriesResponse, TimeInterval, TimeSeries,
};
use google_cloud_wkt::{Duration as WktDuration, Timestamp};

use crate::vertex::{filter, Query};

#[derive(Debug)]
pub struct GcpError {
    pub class: ErrorClass,
    pub message: String,
}

impl fmt::Display for GcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Classify for GcpError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

impl From<google_cloud_gax::error::Error> for GcpError {
    fn from(e: google_cloud_gax::error::Error) -> Self {
        let http = e.http_status_code();
        let status = e.status().map(|s| s.code as i32);
        // gRPC codes: 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 13 INTERNAL.
        let class = if http == Some(429) || status == Some(8) {
            ErrorClass::Throttled
        } else if e.is_timeout()
            || e.is_connect()
            || e.is_io()
            || http.is_some_and(|c| c >= 500)
            || matches!(status, Some(4 | 13 | 14))
        {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        };
        let mut message = match (http, e.status()) {
            (Some(code), Some(s)) => format!("HTTP {code}: {}", s.message),
            _ if e.is_authentication() => format!(
                "no usable Google credentials: tried GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default credentials file (gcloud auth application-default login) and the metadata server (GKE workload identity, GCE); set one of them ({})",
                common::config::shorten(&e.to_string(), 160)
            ),
            _ => e.to_string(),
        };
        // Bodies of malformed responses can be long; a log line needs the start only.
        message = truncate(&message, 600);
        GcpError { class, message }
    }
}

/// Why a list failed: the call itself, or an answer the cloud says may be incomplete.
#[derive(Debug)]
pub enum ListError {
    Call(GuardError<GcpError>),
    Incomplete(String),
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::Call(e) => e.fmt(f),
            ListError::Incomplete(m) => f.write_str(m),
        }
    }
}

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

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

pub struct Monitoring {
    pub client: MetricService,
    pub guard: Arc<Guard>,
}

impl Monitoring {
    /// Every series of `query` in `project` over `window`, one point per minute.
    pub async fn list(
        &self,
        project: &str,
        query: &Query,
        window: Window,
    ) -> Result<Vec<TimeSeries>, ListError> {
        let interval = TimeInterval::new()
            .set_start_time(Timestamp::clamp(window.start, 0))
            .set_end_time(Timestamp::clamp(window.end, 0));
        let aggregation = Aggregation::new()
            .set_alignment_period(WktDuration::clamp(window.period, 0))
            .set_per_series_aligner(Aligner::AlignDelta)
            .set_cross_series_reducer(query.reducer.clone())
            .set_group_by_fields(query.group_by.clone());
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut page = self
                .guard
                .call(|| {
                    let req = self
                        .client
                        .list_time_series()
                        .set_name(format!("projects/{project}"))
                        .set_filter(filter(query.metric_type))
                        .set_interval(interval.clone())
                        .set_aggregation(aggregation.clone())
                        .set_page_token(token.clone());
                    async move { req.send().await.map_err(GcpError::from) }
                })
                .await
                .map_err(ListError::Call)?;
            let series = std::mem::take(&mut page.time_series);
            // The reference: executionErrors are "query execution errors that may have caused
            // the time series data returned to be incomplete", unreachable the "cloud regions
            // that were unreachable which may have caused incomplete data". Counting an
            // incomplete answer would zero minutes now (or move them into the baseline on the
            // first poll), so the whole answer is refused and the window fetched again.
            if let Some(reason) = incomplete(&page) {
                return Err(ListError::Incomplete(format!(
                    "{}: incomplete answer: {reason}",
                    query.metric_type
                )));
            }
            out.extend(series);
            out.extend(page.time_series);
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }
}
