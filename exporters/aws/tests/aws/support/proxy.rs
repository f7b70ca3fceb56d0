//! A reverse proxy in front of LocalStack's CloudWatch that speaks enough of the SDK's
//! Smithy RPC v2 CBOR protocol to play CloudWatch's documented misbehaviours:
//! - ListMetrics lags: ModelId values in `hidden` are dropped from ListMetrics answers
//!   (CloudWatch: "After you create a metric, allow up to 15 minutes for the metric to
//!   appear", ListMetrics API reference), while GetMetricData still returns their data;
//! - a region whose every call is refused (`failing`: region -> HTTP status and error code,
//!   e.g. 403 AccessDenied for a role without permission there), the region read from the
//!   SigV4 credential scope of the request;
//! - oversized answers (`oversize`): GetMetricData's real answer padded with an extra CBOR
//!   field to a given size (Content-Length set), or a stream of that many bytes with no
//!   Content-Length (chunked), generated as it is sent.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Response, StatusCode};
use axum::Router;
use ciborium::Value;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use testkit::Server;

#[derive(Default)]
pub struct Rules {
    pub hidden: Mutex<HashSet<String>>,
    /// (region, operation or "" for every operation) -> (HTTP status, error code).
    pub failing: Mutex<HashMap<(String, String), (u16, String)>>,
    /// While set, every GetMetricData result says PartialData (and no NextToken comes).
    pub partial: Mutex<bool>,
    /// Calls seen, by (region, operation).
    pub calls: Mutex<HashMap<(String, String), usize>>,
    pub oversize: Mutex<Option<Oversize>>,
}

/// How GetMetricData answers are made large.
#[derive(Clone, Copy, Debug)]
pub enum Oversize {
    /// The real answer plus a `Padding` field, this many bytes in all, with Content-Length.
    Padded(usize),
    /// This many bytes of junk, streamed in 64 KiB chunks without Content-Length.
    Streamed(usize),
}

/// A body of `left` bytes made as it is read (the proxy holds none of it).
struct Junk {
    left: usize,
}

impl http_body::Body for Junk {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(64 * 1024);
        self.left -= n;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from(
            vec![0u8; n],
        )))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        // Unknown length: sent chunked.
        http_body::SizeHint::default()
    }
}

/// The answer with a `Padding` byte string added so that it is at least `size` bytes.
fn pad(body: &[u8], size: usize) -> Vec<u8> {
    let mut value: Value = ciborium::from_reader(body).expect("GetMetricData answer is CBOR");
    if let Value::Map(fields) = &mut value {
        fields.push((
            Value::Text("Padding".into()),
            Value::Bytes(vec![0u8; size.saturating_sub(body.len())]),
        ));
    }
    cbor(&value)
}

impl Rules {
    /// Hides from ListMetrics the metrics with this dimension value, or with every one of
    /// these `|`-separated values.
    pub fn hide(&self, values: &str) {
        self.hidden.lock().unwrap().insert(values.to_string());
    }
    pub fn unhide(&self, values: &str) {
        self.hidden.lock().unwrap().remove(values);
    }
    /// Refuses `operation` (every operation if "") in `region`.
    pub fn fail(&self, region: &str, operation: &str, status: u16, code: &str) {
        self.failing.lock().unwrap().insert(
            (region.to_string(), operation.to_string()),
            (status, code.to_string()),
        );
    }
    pub fn set_partial(&self, on: bool) {
        *self.partial.lock().unwrap() = on;
    }
    pub fn calls(&self, region: &str, operation: &str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls
            .get(&(region.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// The region of a SigV4 request: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn region_of(req: &axum::extract::Request) -> String {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("")
        .to_string()
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("CBOR encodes");
    out
}

/// An RPC v2 CBOR error as CloudWatch (awsQueryCompatible) sends it.
fn error(status: u16, code: &str) -> Response<Body> {
    let body = Value::Map(vec![
        (Value::Text("__type".into()), Value::Text(code.into())),
        (
            Value::Text("message".into()),
            Value::Text(format!("{code}: refused by the test proxy")),
        ),
    ]);
    Response::builder()
        .status(status)
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("x-amzn-query-error", format!("{code};Sender"))
        .body(Body::from(cbor(&body)))
        .unwrap()
}

/// Drops from a ListMetrics answer the metrics whose dimension values include every
/// `|`-separated value of a hidden entry (`reserved`: any set with a reserved tier;
/// `priority|default`: asked as priority, served at Standard).
fn filter_list(body: &[u8], hidden: &HashSet<String>) -> Vec<u8> {
    let mut value: Value = ciborium::from_reader(body).expect("ListMetrics answer is CBOR");
    let hides = |metric: &Value| -> bool {
        let Value::Map(fields) = metric else {
            return false;
        };
        let mut values: Vec<&str> = Vec::new();
        for (k, v) in fields {
            if let (Value::Text(k), Value::Array(dims)) = (k, v) {
                if k == "Dimensions" {
                    for d in dims {
                        let Value::Map(d) = d else { continue };
                        for (k, v) in d {
                            if let (Value::Text(k), Value::Text(v)) = (k, v) {
                                if k == "Value" {
                                    values.push(v);
                                }
                            }
                        }
                    }
                }
            }
        }
        hidden
            .iter()
            .any(|h| h.split('|').all(|part| values.contains(&part)))
    };
    if let Value::Map(fields) = &mut value {
        for (k, v) in fields.iter_mut() {
            if let (Value::Text(k), Value::Array(metrics)) = (k, v) {
                if k == "Metrics" {
                    metrics.retain(|m| !hides(m));
                }
            }
        }
    }
    cbor(&value)
}

/// Sets every result's StatusCode of a GetMetricData answer to PartialData, with a message.
fn mark_partial(body: &[u8]) -> Vec<u8> {
    let mut value: Value = ciborium::from_reader(body).expect("GetMetricData answer is CBOR");
    let text = |s: &str| Value::Text(s.into());
    if let Value::Map(fields) = &mut value {
        for (k, v) in fields.iter_mut() {
            if let (Value::Text(k), Value::Array(results)) = (k, v) {
                if k != "MetricDataResults" {
                    continue;
                }
                for r in results {
                    let Value::Map(r) = r else { continue };
                    r.retain(|(k, _)| !matches!(k, Value::Text(k) if k == "StatusCode" || k == "Messages"));
                    r.push((text("StatusCode"), text("PartialData")));
                    r.push((
                        text("Messages"),
                        Value::Array(vec![Value::Map(vec![
                            (text("Code"), text("Partial")),
                            (text("Value"), text("test proxy: data missing")),
                        ])]),
                    ));
                }
            }
        }
    }
    cbor(&value)
}

pub fn start(upstream: String, rules: Arc<Rules>) -> Server {
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let app = Router::new().fallback(move |req: axum::extract::Request| {
        let client = client.clone();
        let upstream = upstream.clone();
        let rules = rules.clone();
        async move {
            let region = region_of(&req);
            let operation = req
                .uri()
                .path()
                .rsplit_once("/operation/")
                .map(|(_, op)| op.to_string())
                .unwrap_or_default();
            *rules
                .calls
                .lock()
                .unwrap()
                .entry((region.clone(), operation.clone()))
                .or_default() += 1;
            let refused = {
                let failing = rules.failing.lock().unwrap();
                failing
                    .get(&(region.clone(), operation.clone()))
                    .or_else(|| failing.get(&(region.clone(), String::new())))
                    .cloned()
            };
            if let Some((status, code)) = refused {
                return error(status, &code);
            }
            let oversize = *rules.oversize.lock().unwrap();
            if let (Some(Oversize::Streamed(n)), "GetMetricData") = (oversize, operation.as_str()) {
                return Response::builder()
                    .header("content-type", "application/cbor")
                    .header("smithy-protocol", "rpc-v2-cbor")
                    .body(Body::new(Junk { left: n }))
                    .unwrap();
            }
            let (mut parts, body) = req.into_parts();
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            parts.uri = format!("{upstream}{path}").parse().unwrap();
            let resp = match client
                .request(axum::http::Request::from_parts(parts, body))
                .await
            {
                Ok(resp) => resp,
                Err(e) => {
                    return Response::builder()
                        .status(StatusCode::BAD_GATEWAY)
                        .body(Body::from(e.to_string()))
                        .unwrap()
                }
            };
            let hidden = rules.hidden.lock().unwrap().clone();
            let partial = *rules.partial.lock().unwrap();
            let rewrite = match operation.as_str() {
                "ListMetrics" => !hidden.is_empty(),
                "GetMetricData" => partial || oversize.is_some(),
                _ => false,
            };
            if !rewrite || !resp.status().is_success() {
                return resp.map(Body::new);
            }
            let (mut parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(Body::new(body), usize::MAX)
                .await
                .expect("LocalStack's answer");
            let filtered = if operation == "ListMetrics" {
                filter_list(&bytes, &hidden)
            } else if let Some(Oversize::Padded(n)) = oversize {
                pad(&bytes, n)
            } else {
                mark_partial(&bytes)
            };
            parts.headers.remove("content-length");
            parts.headers.remove("transfer-encoding");
            Response::from_parts(parts, Body::from(filtered))
        }
    });
    Server::start(app)
}

#[test]
fn list_answers_lose_only_the_hidden_models() {
    let metric = |model: &str| {
        Value::Map(vec![
            (
                Value::Text("MetricName".into()),
                Value::Text("InputTokenCount".into()),
            ),
            (
                Value::Text("Dimensions".into()),
                Value::Array(vec![Value::Map(vec![
                    (Value::Text("Name".into()), Value::Text("ModelId".into())),
                    (Value::Text("Value".into()), Value::Text(model.into())),
                ])]),
            ),
        ])
    };
    let answer = Value::Map(vec![(
        Value::Text("Metrics".into()),
        Value::Array(vec![metric("a"), metric("b")]),
    )]);
    let hidden: HashSet<String> = ["b".to_string()].into();
    let out: Value = ciborium::from_reader(&filter_list(&cbor(&answer), &hidden)[..]).unwrap();
    assert_eq!(
        out,
        Value::Map(vec![(
            Value::Text("Metrics".into()),
            Value::Array(vec![metric("a")])
        )])
    );
}
