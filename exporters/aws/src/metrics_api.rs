//! The metrics API client, CloudWatch: discovery with ListMetrics (cached; `AWS/Bedrock` and
//! `AWS/BedrockMantle`), and GetMetricData in chunks of at most
//! 500 queries (the SDK does not enforce CloudWatch's limit), following NextToken, merging
//! pages by query Id and failing when a query did not complete. Every call goes through the
//! guard.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat, ScanBy};
use common::error::{FailureKind, SourceError};
use common::guard::{Guard, GuardError};
use common::metrics::SelfMetrics;
use common::source::Window;

use crate::error::from_sdk;
use crate::listed::ListedMetric;
use crate::listing::Listing;
use crate::models::{MANTLE_NAMESPACE, NAMESPACE};
use crate::pages::{Merged, Series};

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
    pub async fn list_metrics(&self) -> Result<Arc<Vec<ListedMetric>>, GuardError<SourceError>> {
        self.discovery.get(|| self.list_uncached()).await
    }

    async fn list_uncached(&self) -> Result<Vec<ListedMetric>, GuardError<SourceError>> {
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
    ) -> Result<(), GuardError<SourceError>> {
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
                    async move { req.send().await.map_err(from_sdk) }
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
            source: SourceError::new(
                FailureKind::InvalidAnswer,
                format!("{namespace}: still a NextToken after {MAX_LIST_PAGES} pages"),
            ),
        })
    }

    /// Datapoints of every query, each from its own start time to `window.end`, in calls of
    /// at most 500 queries that share a start time (a metric seen for the first time is
    /// fetched from further back than the others).
    pub async fn get_metric_data(
        &self,
        queries: &[(Query, i64)],
        window: Window,
    ) -> Result<Series, GuardError<SourceError>> {
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
    ) -> Result<Series, GuardError<SourceError>> {
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
                    async move { req.send().await.map_err(from_sdk) }
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
                        source: SourceError::new(
                            merged.failure_kind(&format!("q{i}")),
                            format!("{} {} did not complete: {why}", q.metric.describe(), q.stat),
                        ),
                    }
                });
            }
        }
        Err(GuardError::Failed {
            api: "GetMetricData".into(),
            source: SourceError::new(
                FailureKind::InvalidAnswer,
                format!("still a NextToken after {MAX_PAGES} pages; the window is fetched again"),
            ),
        })
    }
}

/// Pages one GetMetricData chunk may take before it is given up (and fetched again next poll).
const MAX_PAGES: usize = 100;
/// ListMetrics pages per namespace (500 metrics each) before the listing is given up.
const MAX_LIST_PAGES: usize = 1000;

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
