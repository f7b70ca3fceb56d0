//! CloudWatch I/O: discovery with ListMetrics (cached; `AWS/Bedrock` and
//! `AWS/BedrockMantle`), and GetMetricData in chunks of at most
//! 500 queries (the SDK does not enforce CloudWatch's limit), following NextToken, merging
//! pages by query Id and failing when a query did not complete. Every call goes through the
//! guard.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    MessageData, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy, StatusCode,
};
use common::guard::{Guard, GuardError};
use common::metrics::SelfMetrics;
use common::source::Window;

use crate::error::AwsError;
pub use crate::listed::ListedMetric;
use crate::listing::Listing;
use crate::models::{MANTLE_NAMESPACE, NAMESPACE};

/// CloudWatch's limit of queries per GetMetricData call.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// GetMetricData price: $0.01 per 1,000 metrics requested
/// (https://aws.amazon.com/cloudwatch/pricing/).
pub const USD_PER_METRIC_REQUESTED: f64 = 0.01 / 1000.0;

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
    discovery: Listing<Vec<ListedMetric>>,
    metrics: Arc<SelfMetrics>,
    list_usd_per_request: f64,
}

impl CloudWatch {
    pub fn new(
        client: aws_sdk_cloudwatch::Client,
        list_guard: Arc<Guard>,
        data_guard: Arc<Guard>,
        discovery: Listing<Vec<ListedMetric>>,
        metrics: Arc<SelfMetrics>,
        list_usd_per_request: f64,
    ) -> Self {
        CloudWatch {
            client,
            list_guard,
            data_guard,
            discovery,
            metrics,
            list_usd_per_request,
        }
    }

    /// Every `AWS/Bedrock` metric with exactly a `ModelId` dimension and every
    /// `AWS/BedrockMantle` metric at the Project+Model level (cached for `discovery_ttl`).
    pub async fn list_metrics(&self) -> Result<Arc<Vec<ListedMetric>>, GuardError<AwsError>> {
        self.discovery.get(|| self.list_uncached()).await
    }

    async fn list_uncached(&self) -> Result<Vec<ListedMetric>, GuardError<AwsError>> {
        let mut out = Vec::new();
        for namespace in [NAMESPACE, MANTLE_NAMESPACE] {
            self.list_namespace(namespace, &mut out).await?;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn list_namespace(
        &self,
        namespace: &'static str,
        out: &mut Vec<ListedMetric>,
    ) -> Result<(), GuardError<AwsError>> {
        let mut next: Option<String> = None;
        // Bounded like GetMetricData's pages: 500 metrics a page.
        for _page in 0..MAX_LIST_PAGES {
            let token = next.clone();
            let page = self
                .list_guard
                .call(|| {
                    let req = self
                        .client
                        .list_metrics()
                        .namespace(namespace)
                        .set_next_token(token.clone());
                    async move { req.send().await.map_err(AwsError::from) }
                })
                .await?;
            // Each ListMetrics call is a billable API request: free within the free tier
            // (1,000,000 API requests a month per account, shared with every other call but
            // GetMetricData), then $0.01 per 1,000; the price is `list_metrics_usd_per_request`.
            self.metrics
                .bill("ListMetrics", "requests", 1, self.list_usd_per_request);
            out.extend(
                page.metrics()
                    .iter()
                    .filter_map(|m| ListedMetric::from_listed(namespace, m)),
            );
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                return Ok(());
            }
        }
        Err(GuardError::Failed {
            api: "ListMetrics".into(),
            source: AwsError::permanent(format!(
                "{namespace}: still a NextToken after {MAX_LIST_PAGES} pages"
            )),
        })
    }

    /// Datapoints of every query, each from its own start time to `window.end`, in calls of
    /// at most 500 queries that share a start time (a metric seen for the first time is
    /// fetched from further back than the others).
    pub async fn get_metric_data(
        &self,
        queries: &[(Query, i64)],
        window: Window,
    ) -> Result<Series, GuardError<AwsError>> {
        let mut series: Series = vec![Vec::new(); queries.len()];
        let mut by_start: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, (_, start)) in queries.iter().enumerate() {
            by_start.entry(*start).or_default().push(i);
        }
        for (start, indexes) in by_start {
            for chunk in indexes.chunks(MAX_QUERIES_PER_CALL) {
                let asked: Vec<&Query> = chunk.iter().map(|&i| &queries[i].0).collect();
                let points = self.fetch_chunk(&asked, start, window).await?;
                for (k, p) in points.into_iter().enumerate() {
                    series[chunk[k]] = p;
                }
            }
        }
        Ok(series)
    }

    /// One chunk from `start` to `window.end`, following NextToken. Returns the datapoints of
    /// each query in order; fails when any query did not complete.
    async fn fetch_chunk(
        &self,
        asked: &[&Query],
        start: i64,
        window: Window,
    ) -> Result<Series, GuardError<AwsError>> {
        let queries: Vec<MetricDataQuery> = asked
            .iter()
            .enumerate()
            .map(|(i, q)| build_query(i, q, window.period))
            .collect();
        let count = queries.len();
        let mut merged = Merged::default();
        let mut next: Option<String> = None;
        // Bounded: CloudWatch pages by datapoints (100,800 a call), so a window of a few hours
        // of one-minute data takes a handful of pages; a server that never stops is an error.
        for _page in 0..MAX_PAGES {
            let token = next.clone();
            let page = self
                .data_guard
                .call(|| {
                    let req = self
                        .client
                        .get_metric_data()
                        .set_metric_data_queries(Some(queries.clone()))
                        .start_time(DateTime::from_secs(start))
                        .end_time(DateTime::from_secs(window.end))
                        .scan_by(ScanBy::TimestampAscending)
                        .set_next_token(token.clone());
                    async move { req.send().await.map_err(AwsError::from) }
                })
                .await?;
            self.metrics.bill(
                "GetMetricData",
                "metrics_requested",
                count as u64,
                USD_PER_METRIC_REQUESTED,
            );
            merged.page(page.metric_data_results(), page.messages());
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                let ids = (0..count).map(|i| format!("q{i}"));
                return merged.finish(ids).map_err(|(i, why)| {
                    let q = asked[i];
                    GuardError::Failed {
                        api: "GetMetricData".into(),
                        source: AwsError::permanent(format!(
                            "{} {} did not complete: {why}",
                            q.metric.describe(),
                            q.stat
                        )),
                    }
                });
            }
        }
        Err(GuardError::Failed {
            api: "GetMetricData".into(),
            source: AwsError::permanent(format!(
                "still a NextToken after {MAX_PAGES} pages; the window is fetched again"
            )),
        })
    }
}

/// Pages one GetMetricData chunk may take before it is given up (and fetched again next poll).
const MAX_PAGES: usize = 100;
/// ListMetrics pages per namespace (500 metrics each) before the listing is given up.
const MAX_LIST_PAGES: usize = 1000;

/// The pages of one GetMetricData chunk, merged by query Id.
#[derive(Default)]
struct Merged {
    points: HashMap<String, Vec<(i64, f64)>>,
    /// Each query's last StatusCode and messages.
    status: HashMap<String, (Option<StatusCode>, String)>,
    /// Messages about the whole call ("as much of the operation as possible is still
    /// executed": some data may be missing).
    call_messages: Vec<String>,
}

fn messages(m: &[MessageData]) -> String {
    m.iter()
        .map(|m| match (m.code(), m.value()) {
            (Some(c), Some(v)) => format!("{c}: {v}"),
            (Some(s), None) | (None, Some(s)) => s.to_string(),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Merged {
    /// Merges one page (every page repeats every Id, each with its next datapoints; a query's
    /// status is the last page's).
    fn page(&mut self, results: &[MetricDataResult], call_messages: &[MessageData]) {
        for r in results {
            let Some(id) = r.id() else { continue };
            self.points.entry(id.to_string()).or_default().extend(
                r.timestamps()
                    .iter()
                    .zip(r.values())
                    .map(|(t, v)| (t.secs(), *v)),
            );
            self.status.insert(
                id.to_string(),
                (r.status_code().cloned(), messages(r.messages())),
            );
        }
        if !call_messages.is_empty() {
            self.call_messages.push(messages(call_messages));
        }
    }

    /// After the last page (no NextToken): the datapoints of `ids` in order, or the index of
    /// the first query that did not complete and why. `Complete` (or no status, which the
    /// API allows) is complete; `PartialData` with no NextToken left, `InternalError`,
    /// `Forbidden`, an unknown status, a query missing from the answer or a message about the
    /// whole call are not: the scope's poll fails and the window is fetched again.
    fn finish(mut self, ids: impl Iterator<Item = String>) -> Result<Series, (usize, String)> {
        let mut out = Vec::new();
        for (i, id) in ids.enumerate() {
            let why = match self.status.get(&id) {
                None => Some("no result for this query".to_string()),
                Some((None | Some(StatusCode::Complete), _)) => None,
                Some((Some(StatusCode::PartialData), m)) => Some(format!(
                    "PartialData and no NextToken to fetch the rest {m}"
                )),
                Some((Some(code), m)) => Some(format!("{} {m}", code.as_str())),
            };
            if let Some(why) = why {
                return Err((i, why.trim_end().to_string()));
            }
            if let Some(m) = self.call_messages.first() {
                return Err((i, format!("the call returned a message: {m}")));
            }
            out.push(self.points.remove(&id).unwrap_or_default());
        }
        Ok(out)
    }
}

fn build_query(index: usize, q: &Query, period: i64) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(q.metric.namespace())
        .metric_name(&q.metric.metric_name)
        .set_dimensions(Some(q.metric.dimensions()))
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
    use aws_sdk_cloudwatch::types::Dimension;

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

    fn ids(n: usize) -> impl Iterator<Item = String> {
        (0..n).map(|i| format!("q{i}"))
    }

    fn message(code: &str, value: &str) -> MessageData {
        MessageData::builder().code(code).value(value).build()
    }

    #[test]
    fn pages_are_merged_by_query_id() {
        let mut merged = Merged::default();
        // Page 1: both queries partial; page 2: the rest, in another order.
        merged.page(
            &[
                result("q0", &[(60, 1.0)], StatusCode::PartialData),
                result("q1", &[(60, 5.0)], StatusCode::PartialData),
            ],
            &[],
        );
        merged.page(
            &[
                result("q1", &[(120, 6.0)], StatusCode::Complete),
                result("q0", &[(120, 2.0), (180, 3.0)], StatusCode::Complete),
            ],
            &[],
        );
        let out = merged.finish(ids(2)).unwrap();
        assert_eq!(out[0], vec![(60, 1.0), (120, 2.0), (180, 3.0)]);
        assert_eq!(out[1], vec![(60, 5.0), (120, 6.0)]);
    }

    #[test]
    fn a_query_that_ends_in_error_fails_with_the_clouds_message() {
        let mut merged = Merged::default();
        let forbidden = MetricDataResult::builder()
            .id("q1")
            .status_code(StatusCode::Forbidden)
            .messages(message("Forbidden", "not authorized"))
            .build();
        merged.page(
            &[result("q0", &[(60, 1.0)], StatusCode::Complete), forbidden],
            &[],
        );
        let (i, why) = merged.finish(ids(2)).unwrap_err();
        assert_eq!(i, 1);
        assert!(
            why.contains("Forbidden") && why.contains("not authorized"),
            "{why}"
        );

        let mut merged = Merged::default();
        merged.page(&[result("q0", &[], StatusCode::InternalError)], &[]);
        let (_, why) = merged.finish(ids(1)).unwrap_err();
        assert!(why.contains("InternalError"), "{why}");

        // InternalError followed by a complete page (retried with NextToken) is fine.
        let mut merged = Merged::default();
        merged.page(&[result("q0", &[], StatusCode::InternalError)], &[]);
        merged.page(&[result("q0", &[(60, 1.0)], StatusCode::Complete)], &[]);
        assert_eq!(merged.finish(ids(1)).unwrap()[0], vec![(60, 1.0)]);
    }

    #[test]
    fn partial_data_on_the_last_page_is_not_complete() {
        // The caller calls finish() only when no NextToken came back: PartialData then means
        // datapoints are missing that no further page will bring (MetricDataResult.StatusCode:
        // "NextToken is not returned if you are performing a math expression").
        let mut merged = Merged::default();
        merged.page(&[result("q0", &[(60, 1.0)], StatusCode::PartialData)], &[]);
        let (i, why) = merged.finish(ids(1)).unwrap_err();
        assert_eq!(i, 0);
        assert!(why.contains("PartialData"), "{why}");
    }

    #[test]
    fn a_missing_query_or_a_message_about_the_call_is_not_complete() {
        let mut merged = Merged::default();
        merged.page(&[result("q0", &[(60, 1.0)], StatusCode::Complete)], &[]);
        assert_eq!(merged.finish(ids(2)).unwrap_err().0, 1, "q1 never answered");

        let mut merged = Merged::default();
        merged.page(
            &[result("q0", &[(60, 1.0)], StatusCode::Complete)],
            &[message(
                "MaxMetricsExceeded",
                "Maximum number of allowed metrics exceeded",
            )],
        );
        let (_, why) = merged.finish(ids(1)).unwrap_err();
        assert!(
            why.contains("Maximum number of allowed metrics exceeded"),
            "{why}"
        );
    }

    #[test]
    fn no_status_code_is_complete() {
        // StatusCode is optional in the API reference.
        let mut merged = Merged::default();
        let r = MetricDataResult::builder()
            .id("q0")
            .timestamps(DateTime::from_secs(60))
            .values(2.0)
            .build();
        merged.page(&[r], &[]);
        assert_eq!(merged.finish(ids(1)).unwrap()[0], vec![(60, 2.0)]);
    }

    #[test]
    fn queries_have_unique_lowercase_ids_and_whole_minute_periods() {
        let q = Query {
            metric: ListedMetric::runtime("InputTokenCount", "m"),
            stat: "Sum".into(),
        };
        let built = build_query(7, &q, 60);
        assert_eq!(built.id(), Some("q7"));
        let stat = built.metric_stat().unwrap();
        assert_eq!((stat.period(), stat.stat()), (Some(60), Some("Sum")));
        assert_eq!(stat.metric().unwrap().dimensions()[0].value(), Some("m"));
        assert_eq!(stat.metric().unwrap().namespace(), Some(NAMESPACE));
    }

    fn listed(namespace: &str, name: &str, dims: &[(&str, &str)]) -> Option<ListedMetric> {
        let m = Metric::builder()
            .namespace(namespace)
            .metric_name(name)
            .set_dimensions(Some(
                dims.iter()
                    .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
                    .collect(),
            ))
            .build();
        ListedMetric::from_listed(namespace, &m)
    }

    #[test]
    fn only_the_project_and_model_level_of_mantle_is_read() {
        let both = [("Project", "proj_a"), ("Model", "openai.gpt-oss-120b")];
        let m = listed(MANTLE_NAMESPACE, "Inferences", &both).unwrap();
        assert_eq!(m.series_id(), "mantle|proj_a|openai.gpt-oss-120b");
        let q = build_query(
            0,
            &Query {
                metric: m,
                stat: "Sum".into(),
            },
            60,
        );
        let metric = q.metric_stat().unwrap().metric().unwrap();
        assert_eq!(metric.namespace(), Some(MANTLE_NAMESPACE));
        assert_eq!(metric.dimensions().len(), 2);
        // The Account, Project and Model levels repeat the same requests.
        assert_eq!(listed(MANTLE_NAMESPACE, "Inferences", &[]), None);
        assert_eq!(
            listed(MANTLE_NAMESPACE, "Inferences", &[("Project", "p")]),
            None
        );
        assert_eq!(
            listed(MANTLE_NAMESPACE, "TotalInputTokens", &[("Model", "m")]),
            None
        );
        // A ModelId metric keeps its identity: the model id itself.
        let r = listed(NAMESPACE, "Invocations", &[("ModelId", "m")]).unwrap();
        assert_eq!(r.series_id(), "m");
    }

    #[test]
    fn tier_dimension_sets_are_read_as_shares_of_the_model() {
        let all = [
            ("ModelId", "amazon.nova-pro-v1:0"),
            ("ServiceTier", "reserved"),
            ("ResolvedServiceTier", "default"),
        ];
        let m = listed(NAMESPACE, "InputTokenCount", &all).unwrap();
        assert_eq!(m.model_id, "amazon.nova-pro-v1:0");
        assert_eq!(m.series_id(), "amazon.nova-pro-v1:0|tier|reserved|default");
        let q = build_query(
            0,
            &Query {
                metric: m,
                stat: "Sum".into(),
            },
            60,
        );
        let dims = q.metric_stat().unwrap().metric().unwrap().dimensions();
        let names: Vec<_> = dims.iter().filter_map(|d| d.name()).collect();
        assert_eq!(names, ["ModelId", "ServiceTier", "ResolvedServiceTier"]);
        let served = listed(
            NAMESPACE,
            "InputTokenCount",
            &[("ModelId", "m"), ("ResolvedServiceTier", "flex")],
        )
        .unwrap();
        assert_eq!(served.series_id(), "m|tier||flex");
        // Other dimension sets are not the model's traffic split by tier.
        assert_eq!(
            listed(
                NAMESPACE,
                "OutputImageCount",
                &[("ModelId", "m"), ("ImageSize", "1024")]
            ),
            None
        );
        assert_eq!(
            listed(NAMESPACE, "InputTokenCount", &[("ServiceTier", "flex")]),
            None
        );
    }
}
