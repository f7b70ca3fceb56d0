//! Which of an account's metrics queries a poll asks: an idle account is watched with its
//! counters only (see `common::idle`), and the Anthropic cache-token query is asked only
//! where an answer would be read.

use std::collections::HashMap;

use common::error::SourceError;
use common::idle::Plan;

use crate::answer::Metric;
use crate::discovery::Deployment;
use crate::models::{is_openai, meaning, Meaning};

/// Indexes in [`crate::models::QUERIES`].
pub const TOKENS: usize = 0;
pub const CACHE_TOKENS: usize = 1;
pub const LATENCIES: usize = 2;
pub const REQUESTS: usize = 3;
/// The order queries are asked in: the counters, which watch idle accounts, before the
/// latencies (see [`common::idle`]).
pub const QUERY_ORDER: [usize; 4] = [REQUESTS, TOKENS, CACHE_TOKENS, LATENCIES];

/// Whether an account asked as `plan`, with `deployments` listed, is asked query `q`, given
/// what its earlier queries of this poll answered (`so_far`).
/// A watched account is asked every counter but not its latencies (gauges of requests: none
/// without traffic). The cache-token metrics are read only for deployments of another format
/// than OpenAI ([`meaning`]), so an account whose listing has none, and whose answers name
/// no deployment the listing lacks (it may be one, once listed again), is not asked for them:
/// an answer would be thrown away.
pub fn asks(
    plan: Plan,
    deployments: &HashMap<String, Deployment>,
    q: usize,
    so_far: &Result<Vec<Metric>, SourceError>,
) -> bool {
    match plan {
        Plan::Skip => false,
        Plan::Watch if q == LATENCIES => false,
        _ if q == CACHE_TOKENS => {
            let other_format = deployments.values().any(|d| !is_openai(Some(d)));
            let unlisted = so_far.as_ref().is_ok_and(|metrics| {
                metrics.iter().flat_map(|m| &m.timeseries).any(|ts| {
                    let name = ts.dimension("ModelDeploymentName").to_ascii_lowercase();
                    !name.is_empty() && !deployments.contains_key(&name)
                })
            });
            other_format || unlisted
        }
        _ => true,
    }
}

/// Whether `metrics` hold a request or a token in any minute.
pub fn traffic(metrics: &[Metric]) -> bool {
    metrics.iter().any(|m| {
        meaning(&m.name.value, true)
            .or_else(|| meaning(&m.name.value, false))
            .is_some_and(|what| !matches!(what, Meaning::Latency(_)))
            && m.timeseries
                .iter()
                .flat_map(|ts| &ts.data)
                .any(|p| p.total.is_some_and(|v| v > 0.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(format: &str) -> HashMap<String, Deployment> {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "name": "d",
            "properties": {"model": {"format": format, "name": "m", "version": "1"}}
        }))
        .unwrap();
        HashMap::from([("d".to_string(), d)])
    }

    #[test]
    fn a_watch_skips_latencies_and_the_cache_query_is_asked_where_it_is_read() {
        let ok = Ok(Vec::new());
        let (openai, anthropic) = (listed("OpenAI"), listed("Anthropic"));
        assert!(!asks(Plan::Watch, &openai, LATENCIES, &ok));
        assert!(asks(Plan::Watch, &openai, REQUESTS, &ok));
        assert!(asks(Plan::Watch, &openai, TOKENS, &ok));
        assert!(asks(Plan::Full, &openai, LATENCIES, &ok));
        assert!(!asks(Plan::Full, &openai, CACHE_TOKENS, &ok));
        assert!(asks(Plan::Full, &anthropic, CACHE_TOKENS, &ok));
        assert!(asks(Plan::Watch, &anthropic, CACHE_TOKENS, &ok));
        assert!(!asks(Plan::Skip, &anthropic, REQUESTS, &ok));
        // A deployment the listing lacks may be of another format: asked.
        let unlisted: Vec<Metric> = serde_json::from_value(serde_json::json!([{
            "name": {"value": "InputTokens"},
            "timeseries": [{"metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": "new"}],
                            "data": [{"timeStamp": "2026-11-21T17:00:00Z", "total": 5.0}]}]
        }]))
        .unwrap();
        assert!(asks(
            Plan::Full,
            &openai,
            CACHE_TOKENS,
            &Ok(unlisted.clone())
        ));
        assert!(traffic(&unlisted));
    }
}
