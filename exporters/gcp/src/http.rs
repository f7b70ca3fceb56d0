//! One `projects.timeSeries.list` page over the documented REST endpoint
//! (`GET {endpoint}/v3/projects/{project}/timeSeries`), with the bearer token from Google's
//! application default credentials and the body read chunk by chunk up to
//! `max_response_bytes`. The generated client reads every body whole into memory and takes no
//! HTTP client of ours, so the one call the exporter makes is made here, with the same reqwest
//! and the same model types (the response is parsed into the client's
//! `ListTimeSeriesResponse`).

use common::error::{FailureKind, SourceError};
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_monitoring_v3::model::ListTimeSeriesResponse;
use serde_json::Value;

use crate::error::{credentials_error, error, http_error, parse_error, transport_error};

/// The API name in errors, metrics and the bill.
pub const API: &str = "timeSeries.list";

/// The most read of an error body: only its start is ever logged.
const ERROR_BODY_BYTES: u64 = 64 * 1024;

pub struct Rest {
    http: reqwest::Client,
    credentials: Credentials,
    endpoint: String,
    max_response_bytes: u64,
}

impl Rest {
    pub fn new(
        endpoint: &str,
        credentials: Credentials,
        max_response_bytes: u64,
    ) -> anyhow::Result<Self> {
        // HTTP/1.1 only and no decompression, as the generated client: what is counted
        // against the cap is what arrives.
        let http = reqwest::Client::builder().http1_only().build()?;
        Ok(Rest {
            http,
            credentials,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            max_response_bytes,
        })
    }

    /// One page: `params` are the query parameters (see [`query_params`]).
    pub async fn list_page(
        &self,
        project: &str,
        params: &[(String, String)],
    ) -> Result<ListTimeSeriesResponse, SourceError> {
        let headers = match self.credentials.headers(Default::default()).await {
            Ok(CacheableResource::New { data, .. }) => data,
            // Only returned when the caller passes an entity tag, which this call never does.
            Ok(CacheableResource::NotModified) => {
                return Err(error(
                    FailureKind::Denied,
                    "the credentials gave no headers".into(),
                ))
            }
            Err(e) => return Err(credentials_error(&e)),
        };
        let url = format!("{}/v3/projects/{project}/timeSeries", self.endpoint);
        let response = self
            .http
            .get(url)
            .headers(headers)
            .query(params)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            // An error body is only quoted: its start is enough, and a huge one is no reason
            // to fail differently.
            let body = read_capped(response, ERROR_BODY_BYTES)
                .await
                .unwrap_or_else(|e| match e {
                    Capped::TooLarge(partial) => partial,
                    Capped::Transport(_) => Vec::new(),
                });
            return Err(http_error(status.as_u16(), &body));
        }
        let body = match read_capped(response, self.max_response_bytes).await {
            Ok(body) => body,
            Err(Capped::TooLarge(_)) => {
                return Err(error(FailureKind::InvalidAnswer, format!(
                    "response body of {API} exceeds max_response_bytes ({} bytes); the rest was not read",
                    self.max_response_bytes
                )))
            }
            Err(Capped::Transport(e)) => return Err(transport_error(e)),
        };
        serde_json::from_slice(&body).map_err(|e| parse_error(API, &e))
    }
}

/// The query string of a list call, flattened as Google's REST transcoding expects: nested
/// fields joined with `.`, repeated fields repeated (the generated client does the same).
pub fn query_params(fields: &[(&str, Value)]) -> Vec<(String, String)> {
    fn add(out: &mut Vec<(String, String)>, name: &str, v: &Value) {
        match v {
            Value::Object(o) => o
                .iter()
                .for_each(|(k, v)| add(out, &format!("{name}.{k}"), v)),
            Value::Array(a) => a.iter().for_each(|v| add(out, name, v)),
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => out.push((name.to_string(), s.clone())),
            other => out.push((name.to_string(), other.to_string())),
        }
    }
    let mut out = vec![("$alt".to_string(), "json;enum-encoding=int".to_string())];
    for (name, v) in fields {
        add(&mut out, name, v);
    }
    out
}

enum Capped {
    /// What was read before the cap (at most the cap).
    TooLarge(Vec<u8>),
    Transport(reqwest::Error),
}

/// The body, read chunk by chunk and refused as soon as it passes `cap`: memory stays
/// bounded by the cap whatever the server sends or announces.
async fn read_capped(mut response: reqwest::Response, cap: u64) -> Result<Vec<u8>, Capped> {
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(Capped::TooLarge(Vec::new()));
    }
    let hint = response.content_length().unwrap_or(0).min(cap).min(1 << 20);
    let mut body = Vec::with_capacity(hint as usize);
    while let Some(chunk) = response.chunk().await.map_err(Capped::Transport)? {
        let room = (cap as usize).saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Err(Capped::TooLarge(body));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_flattened_as_rest_transcoding_wants() {
        let p = query_params(&[
            ("filter", json!("metric.type = \"x\"")),
            (
                "aggregation",
                json!({"alignmentPeriod": "60s", "groupByFields": ["a", "b"], "crossSeriesReducer": 4}),
            ),
            ("pageToken", json!("")),
        ]);
        let mut p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // The order of an object's fields is serde_json's; a server does not care.
        p.sort();
        assert_eq!(
            p,
            [
                ("$alt", "json;enum-encoding=int"),
                ("aggregation.alignmentPeriod", "60s"),
                ("aggregation.crossSeriesReducer", "4"),
                ("aggregation.groupByFields", "a"),
                ("aggregation.groupByFields", "b"),
                ("filter", "metric.type = \"x\""),
            ]
        );
    }
}
