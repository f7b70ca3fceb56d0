//! CloudWatch I/O: discovery with ListMetrics (cached), and GetMetricData in chunks of at most
//! 500 queries (the SDK does not enforce CloudWatch's limit), following NextToken and merging
//! pages by query Id. Every call goes through the guard.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy, StatusCode,
};
use common::cache::TtlCache;
use common::guard::{Guard, GuardError};
use common::metrics::SelfMetrics;
use common::source::Window;

use crate::error::AwsError;
use crate::models::{MODEL_DIMENSION, NAMESPACE};

/// CloudWatch's limit of queries per GetMetricData call.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// GetMetricData price: $0.01 per 1,000 metrics requested (shared/reference/cloud-apis.md §1.5).
pub const USD_PER_METRIC_REQUESTED: f64 = 0.01 / 1000.0;

/// A metric of `AWS/Bedrock` with a single `ModelId` dimension, as ListMetrics returns it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListedMetric {
    pub metric_name: String,
    pub model_id: String,
}

/// One statistic of one metric to fetch.
#[derive(Debug, Clone)]
pub struct Query {
    pub metric: ListedMetric,
    pub stat: String,
}

/// Datapoints per query, in the order of the queries given: (Unix seconds, value).
pub type Series = Vec<Vec<(i64, f64)>>;

pub struct CloudWatch {
    client: aws_sdk_cloudwatch::Client,
    list_guard: Arc<Guard>,
    data_guard: Arc<Guard>,
    discovery: TtlCache<(), Arc<Vec<ListedMetric>>>,
    metrics: Arc<SelfMetrics>,
}

impl CloudWatch {
    pub fn new(
        client: aws_sdk_cloudwatch::Client,
        list_guard: Arc<Guard>,
        data_guard: Arc<Guard>,
        discovery: TtlCache<(), Arc<Vec<ListedMetric>>>,
        metrics: Arc<SelfMetrics>,
    ) -> Self {
        CloudWatch {
            client,
            list_guard,
            data_guard,
            discovery,
            metrics,
        }
    }

    /// Every `AWS/Bedrock` metric with exactly a `ModelId` dimension (cached).
    pub async fn list_metrics(&self) -> Result<Arc<Vec<ListedMetric>>, Arc<GuardError<AwsError>>> {
        self.discovery
            .get_or_try_insert((), async { self.list_uncached().await.map(Arc::new) })
            .await
    }

    async fn list_uncached(&self) -> Result<Vec<ListedMetric>, GuardError<AwsError>> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let token = next.clone();
            let page = self
                .list_guard
                .call(|| {
                    let req = self
                        .client
                        .list_metrics()
                        .namespace(NAMESPACE)
                        .set_next_token(token.clone());
                    async move { req.send().await.map_err(AwsError::from) }
                })
                .await?;
            for m in page.metrics() {
                let dims = m.dimensions();
                if let ([d], Some(name)) = (dims, m.metric_name()) {
                    if d.name() == Some(MODEL_DIMENSION) {
                        if let Some(value) = d.value() {
                            out.push(ListedMetric {
                                metric_name: name.to_string(),
                                model_id: value.to_string(),
                            });
                        }
                    }
                }
            }
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| (&a.model_id, &a.metric_name).cmp(&(&b.model_id, &b.metric_name)));
        out.dedup();
        Ok(out)
    }

    /// Datapoints of every query over `window`, in calls of at most 500 queries.
    pub async fn get_metric_data(
        &self,
        queries: &[Query],
        window: Window,
    ) -> Result<Series, GuardError<AwsError>> {
        let mut series: Series = vec![Vec::new(); queries.len()];
        for (chunk_index, chunk) in queries.chunks(MAX_QUERIES_PER_CALL).enumerate() {
            let offset = chunk_index * MAX_QUERIES_PER_CALL;
            let built: Vec<MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, q)| build_query(i, q, window.period))
                .collect();
            for (i, points) in self.fetch_chunk(built, window).await? {
                series[offset + i] = points;
            }
        }
        Ok(series)
    }

    /// One chunk, following NextToken. Returns (index within the chunk, datapoints).
    async fn fetch_chunk(
        &self,
        queries: Vec<MetricDataQuery>,
        window: Window,
    ) -> Result<Vec<(usize, Vec<(i64, f64)>)>, GuardError<AwsError>> {
        let count = queries.len();
        let mut merged: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
        let mut failed: HashMap<String, String> = HashMap::new();
        let mut next: Option<String> = None;
        loop {
            let token = next.clone();
            let queries = queries.clone();
            let page = self
                .data_guard
                .call(|| {
                    let req = self
                        .client
                        .get_metric_data()
                        .set_metric_data_queries(Some(queries.clone()))
                        .start_time(DateTime::from_secs(window.start))
                        .end_time(DateTime::from_secs(window.end))
                        .scan_by(ScanBy::TimestampAscending)
                        .set_next_token(token.clone());
                    async move { req.send().await.map_err(AwsError::from) }
                })
                .await?;
            self.metrics
                .api_cost
                .inc_by(count as f64 * USD_PER_METRIC_REQUESTED);
            merge_page(&mut merged, &mut failed, page.metric_data_results());
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        if let Some((id, why)) = failed.into_iter().next() {
            return Err(GuardError::Failed {
                api: "GetMetricData".into(),
                source: AwsError::permanent(format!("query {id} did not complete: {why}")),
            });
        }
        Ok(merged
            .into_iter()
            .filter_map(|(id, points)| {
                id.strip_prefix('q')?
                    .parse::<usize>()
                    .ok()
                    .map(|i| (i, points))
            })
            .collect())
    }
}

/// Merges one page of results into `merged` by query Id (every page repeats every Id, each
/// with the next datapoints). A query whose last word is InternalError or Forbidden is
/// recorded in `failed`; PartialData just means "more on the next page".
fn merge_page(
    merged: &mut HashMap<String, Vec<(i64, f64)>>,
    failed: &mut HashMap<String, String>,
    results: &[MetricDataResult],
) {
    for r in results {
        let Some(id) = r.id() else { continue };
        let points = merged.entry(id.to_string()).or_default();
        points.extend(
            r.timestamps()
                .iter()
                .zip(r.values())
                .map(|(t, v)| (t.secs(), *v)),
        );
        match r.status_code() {
            Some(StatusCode::InternalError) | Some(StatusCode::Forbidden) => {
                let msg = r
                    .messages()
                    .iter()
                    .filter_map(|m| m.value())
                    .collect::<Vec<_>>()
                    .join("; ");
                failed.insert(id.to_string(), format!("{:?} {msg}", r.status_code()));
            }
            _ => {
                failed.remove(id);
            }
        }
    }
}

fn build_query(index: usize, q: &Query, period: i64) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(NAMESPACE)
        .metric_name(&q.metric.metric_name)
        .dimensions(
            Dimension::builder()
                .name(MODEL_DIMENSION)
                .value(&q.metric.model_id)
                .build(),
        )
        .build();
    MetricDataQuery::builder()
        // Ids must be unique within the call and start with a lowercase letter.
        .id(format!("q{index}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period as i32)
                .stat(&q.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::types::MessageData;

    fn result(id: &str, points: &[(i64, f64)], status: StatusCode) -> MetricDataResult {
        MetricDataResult::builder()
            .id(id)
            .set_timestamps(Some(
                points
                    .iter()
                    .map(|(t, _)| DateTime::from_secs(*t))
                    .collect(),
            ))
            .set_values(Some(points.iter().map(|(_, v)| *v).collect()))
            .status_code(status)
            .build()
    }

    #[test]
    fn pages_are_merged_by_query_id() {
        let mut merged = HashMap::new();
        let mut failed = HashMap::new();
        // Page 1: both queries partial; page 2: the rest, in another order.
        merge_page(
            &mut merged,
            &mut failed,
            &[
                result("q0", &[(60, 1.0)], StatusCode::PartialData),
                result("q1", &[(60, 5.0)], StatusCode::PartialData),
            ],
        );
        merge_page(
            &mut merged,
            &mut failed,
            &[
                result("q1", &[(120, 6.0)], StatusCode::Complete),
                result("q0", &[(120, 2.0), (180, 3.0)], StatusCode::Complete),
            ],
        );
        assert_eq!(merged["q0"], vec![(60, 1.0), (120, 2.0), (180, 3.0)]);
        assert_eq!(merged["q1"], vec![(60, 5.0), (120, 6.0)]);
        assert!(failed.is_empty());
    }

    #[test]
    fn a_query_that_ends_in_error_is_reported() {
        let mut merged = HashMap::new();
        let mut failed = HashMap::new();
        let forbidden = MetricDataResult::builder()
            .id("q3")
            .status_code(StatusCode::Forbidden)
            .messages(
                MessageData::builder()
                    .code("Forbidden")
                    .value("not authorized")
                    .build(),
            )
            .build();
        merge_page(&mut merged, &mut failed, &[forbidden]);
        assert!(failed["q3"].contains("not authorized"));
        // InternalError followed by a complete page (retried with NextToken) is fine.
        merge_page(
            &mut merged,
            &mut failed,
            &[result("q4", &[], StatusCode::InternalError)],
        );
        merge_page(
            &mut merged,
            &mut failed,
            &[result("q4", &[(60, 1.0)], StatusCode::Complete)],
        );
        assert!(!failed.contains_key("q4"));
    }

    #[test]
    fn queries_have_unique_lowercase_ids_and_whole_minute_periods() {
        let q = Query {
            metric: ListedMetric {
                metric_name: "InputTokenCount".into(),
                model_id: "m".into(),
            },
            stat: "Sum".into(),
        };
        let built = build_query(7, &q, 60);
        assert_eq!(built.id(), Some("q7"));
        let stat = built.metric_stat().unwrap();
        assert_eq!((stat.period(), stat.stat()), (Some(60), Some("Sum")));
        assert_eq!(stat.metric().unwrap().dimensions()[0].value(), Some("m"));
    }
}
