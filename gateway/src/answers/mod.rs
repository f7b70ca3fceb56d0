//! The answers (the response aggregator): each question as PromQL per cloud, merged across
//! clouds. REST handlers and MCP tools are thin wrappers around these functions. This file
//! holds what they share; each question has its own file.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::config::Cloud;
use crate::gateway::{FanOut, GatewayError};
pub use crate::promql::TENANT_LABEL;
use crate::promql::{selector_with_regex, TenantFilter};

pub const COST: &str = "llm_estimated_cost_usd_total";
pub const TOKENS: &str = "llm_tokens_total";

/// Labels a spend summary may be grouped by.
pub const GROUP_LABELS: &[&str] = &[
    "cloud",
    "account",
    "region",
    "model",
    "deployment",
    "tenant",
];

type Labels = BTreeMap<String, String>;

/// One series of an instant vector (or a scalar, with no labels).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

pub fn samples(data: &Value) -> Vec<Sample> {
    let value = |v: &Value| {
        v.get(1)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<f64>().ok())
    };
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        let labels = s["metric"]
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some(Sample {
                            labels,
                            value: value(&s["value"])?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Some("scalar") => value(&data["result"])
            .map(|v| {
                vec![Sample {
                    labels: Labels::new(),
                    value: v,
                }]
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A Prometheus duration: `90s`, `1h`, `7d`, `1h30m`; at most 400 days.
pub fn window_seconds(w: &str) -> Result<u64, GatewayError> {
    let bad = || {
        GatewayError::BadRequest(format!(
            "window {w:?}: expected a Prometheus duration like 15m, 1h, 24h, 7d"
        ))
    };
    let mut total: u64 = 0;
    let mut rest = w;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || digits > 9 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (0, 2)
        } else {
            let u = match rest.chars().next() {
                Some('s') => 1,
                Some('m') => 60,
                Some('h') => 3600,
                Some('d') => 86400,
                Some('w') => 7 * 86400,
                Some('y') => 365 * 86400,
                _ => return Err(bad()),
            };
            (u, 1)
        };
        total = total.saturating_add(n.saturating_mul(unit));
        rest = &rest[len..];
    }
    if total == 0 || total > 400 * 86400 {
        return Err(bad());
    }
    Ok(total)
}

fn model_selector(metric: &str, model: Option<&str>) -> Result<String, GatewayError> {
    match model.filter(|m| !m.is_empty()) {
        None => Ok(metric.to_string()),
        Some(m) => Ok(selector_with_regex(metric, "model", m)?),
    }
}

fn per_cloud_sum(answers: &[(Cloud, Vec<Sample>)]) -> BTreeMap<Cloud, f64> {
    answers
        .iter()
        .map(|(c, s)| (*c, s.iter().map(|x| x.value).fold(0.0, |a, b| a + b)))
        .collect()
}

fn first(fan: &FanOut) -> Vec<(Cloud, Vec<Sample>)> {
    fan.answers
        .iter()
        .map(|(c, v)| (*c, v.first().map(|d| samples(d)).unwrap_or_default()))
        .collect()
}

fn keep_tenant(filter: &TenantFilter, s: &Sample) -> bool {
    filter.allows(s.labels.get(TENANT_LABEL).map(String::as_str))
}

mod budget;
mod costs;
mod daily;
mod exporters;
mod health;
mod query;
mod reconcile;
mod tokens;

pub use budget::*;
pub use costs::*;
pub use daily::*;
pub use exporters::*;
pub use health::*;
pub use query::*;
pub use reconcile::*;
pub use tokens::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Gateway;

    #[tokio::test]
    async fn extreme_dates_and_times_are_answers_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "upstreams: [{{cloud: aws, url: 'http://127.0.0.1:1', timeout: 1s}}]\ntenants: [{{name: a, api_key_sha256: {}}}]\nstate_file: {}\n",
            crate::auth::hash_key("ka"),
            dir.path().join("s.json").display()
        );
        let config = crate::config::Config::parse(&yaml).unwrap();
        let gw =
            Gateway::new(&config, std::sync::Arc::new(crate::metrics::Metrics::new())).unwrap();
        for (start, end, time) in [
            ("262143-12-01", "262143-12-31", None),
            ("2026-01-01", "2026-01-31", Some("1e300")),
            ("2026-01-01", "2026-01-02", Some("0")),
            ("1970-01-01", "1970-01-01", Some("86400.5")),
        ] {
            let ctx = gw.context(Some("ka"), None, None, time);
            if let Ok(ctx) = ctx {
                let _ = daily_costs(&gw, &ctx, start, end).await;
            }
        }
        let ctx = gw.context(Some("ka"), None, None, None).unwrap();
        for w in ["999999999y", "1ms", "5m5m5m5m"] {
            let _ = spend_summary(&gw, &ctx, w, &[]).await;
            let _ = token_usage(&gw, &ctx, w, Some("(")).await;
        }
        assert!(daily_costs(&gw, &ctx, "2026-02-30", "2026-03-01")
            .await
            .is_err());
        assert!(daily_costs(&gw, &ctx, "2026-03-02", "2026-03-01")
            .await
            .is_err());
        assert!(daily_costs(&gw, &ctx, "2026-01-01", "2026-12-31")
            .await
            .is_err());
    }

    #[test]
    fn windows_are_prometheus_durations() {
        assert_eq!(window_seconds("1h30m").unwrap(), 5400);
        assert_eq!(window_seconds("7d").unwrap(), 604800);
        for bad in ["", "h", "1x", "0s", "401d", "1h]", "1 h", "5m) or x"] {
            assert!(window_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn samples_of_vectors_and_scalars() {
        let v: Value = serde_json::from_str(r#"{"resultType":"vector","result":[{"metric":{"cloud":"aws"},"value":[1,"2.5"]},{"metric":{},"value":[1,"NaN"]}]}"#).unwrap();
        let s = samples(&v);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].value, 2.5);
        assert!(s[1].value.is_nan());
        let v: Value = serde_json::from_str(r#"{"resultType":"scalar","result":[1,"3"]}"#).unwrap();
        assert_eq!(samples(&v)[0].value, 3.0);
    }
}
