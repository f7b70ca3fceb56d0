//! A fake Cloud Monitoring `projects.timeSeries.list` that speaks the documented REST shape
//! (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list):
//! server-side ALIGN_DELTA, then REDUCE_SUM grouped by
//! the requested fields or no reducer at all (every raw series with all its labels), page
//! tokens, int64 values as JSON strings, newest points first, enums as numbers when the client
//! asks for `enum-encoding=int`, and unknown or empty parameters ignored. Faults can be
//! injected per request.
//!
//! Raw `token_count` series carry the labels Google's metric list documents
//! (https://docs.cloud.google.com/monitoring/api/metrics_gcp_a_b#gcp-aiplatform): `type`,
//! `request_type` (`dedicated`, `spillover`, `shared` on the Provisioned Throughput page),
//! `max_token_size` (a bucket; its values are not published), `explicit_caching`,
//! `accounting_resource` (Provisioned Throughput only), `modality` and `source` (`global` or
//! the serving region, "can also have prefix, such as 'batch_'"); tests add them with
//! [`TokenLabels`].
#![allow(dead_code)]

pub mod drill_cloud;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
pub use testkit::*;

#[derive(Clone, Debug)]
pub enum PointValue {
    Int(i64),
    /// A latency distribution in milliseconds.
    Dist {
        count: i64,
        mean: f64,
    },
    /// A reducer's DOUBLE output (never stored).
    Double(f64),
    /// A latency distribution given by its requests' values in milliseconds, so that
    /// percentile reducers can be computed (served as a distribution's count and mean).
    Samples(Vec<f64>),
}

/// The `q` quantile of `values` by nearest rank (Cloud Monitoring interpolates within
/// buckets; with exact values the nearest rank is the exact answer).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// One raw (unreduced) series as Vertex would write it.
#[derive(Clone, Debug)]
pub struct RawSeries {
    pub project: String,
    pub metric_type: String,
    pub resource: BTreeMap<String, String>,
    pub metric: BTreeMap<String, String>,
    /// period start (Unix seconds) -> value
    pub points: BTreeMap<i64, PointValue>,
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// An HTTP error with a Google error body (429 RESOURCE_EXHAUSTED, 500 INTERNAL, ...).
    Status(u16),
    /// Answer only after this long.
    Hang(Duration),
    /// 200 with a body that is not JSON.
    Malformed,
    /// 200 without series and with `executionErrors` (google.rpc.Status objects), as
    /// ListTimeSeriesResponse documents for "query execution errors that may have caused the
    /// time series data returned to be incomplete".
    ExecutionError(String),
    /// 200 without series and with `unreachable` (cloud regions that were unreachable).
    Unreachable(String),
    /// 200 with a valid empty answer padded with whitespace to this many bytes, sent with
    /// its Content-Length.
    Oversized(usize),
    /// 200 with a chunked body that never ends (valid JSON so far), as a broken or hostile
    /// endpoint might send.
    Endless,
}

#[derive(Default)]
pub struct FakeState {
    pub series: Vec<RawSeries>,
    /// Requests answered or failed, by metric type.
    pub calls: BTreeMap<String, usize>,
    /// Series per page (0: all on one page).
    pub page_size: usize,
    /// Faults for the next requests, one each.
    pub faults: VecDeque<Fault>,
    /// A fault for every request while set.
    pub sticky: Option<Fault>,
    /// A fault for every request about one project while set.
    pub project_faults: BTreeMap<String, Fault>,
    pub unauthenticated: usize,
    /// Series in each successful answer (one entry per page served), what Cloud Monitoring
    /// bills a read by.
    pub returned: Vec<usize>,
    /// Every series answers its newest point twice (the same minute, the same value), although
    /// the API documents one point per alignment period.
    pub repeat_newest_point: bool,
}

#[derive(Clone, Default)]
pub struct Fake(pub Arc<Mutex<FakeState>>);

const PREFIX: &str = "aiplatform.googleapis.com/publisher/online_serving/";

impl Fake {
    pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().unwrap()
    }

    /// Adds `value` to a raw series' point (creating either), as usage arriving does.
    pub fn add(
        &self,
        project: &str,
        metric: &str,
        resource: &[(&str, &str)],
        labels: &[(&str, &str)],
        period: i64,
        value: PointValue,
    ) {
        let mut s = self.state();
        let metric_type = format!("{PREFIX}{metric}");
        let resource: BTreeMap<String, String> = resource
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let idx = match s.series.iter().position(|r| {
            r.project == project
                && r.metric_type == metric_type
                && r.resource == resource
                && r.metric == labels
        }) {
            Some(i) => i,
            None => {
                s.series.push(RawSeries {
                    project: project.into(),
                    metric_type,
                    resource,
                    metric: labels,
                    points: BTreeMap::new(),
                });
                s.series.len() - 1
            }
        };
        let points = &mut s.series[idx].points;
        let merged = match (points.remove(&period), value) {
            (Some(PointValue::Int(a)), PointValue::Int(b)) => PointValue::Int(a + b),
            (_, v) => v,
        };
        points.insert(period, merged);
    }

    pub fn calls(&self) -> usize {
        self.state().calls.values().sum()
    }

    pub fn start(&self) -> Server {
        Server::start(
            Router::new()
                .route("/v3/projects/{project}/timeSeries", get(list))
                .with_state(self.clone()),
        )
    }
}

fn google_error(status: u16, message: &str) -> Response {
    let code = match status {
        429 => "RESOURCE_EXHAUSTED",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        400 => "INVALID_ARGUMENT",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let body = json!({"error": {"code": status, "message": message, "status": code}});
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn quoted_after<'a>(filter: &'a str, key: &str) -> Option<&'a str> {
    let rest = &filter[filter.find(key)? + key.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix('=')?
        .trim_start()
        .strip_prefix('"')?;
    rest.split('"').next()
}

async fn list(
    State(fake): State<Fake>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let param = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let filter = param("filter").unwrap_or("");
    let Some(metric_type) = quoted_after(filter, "metric.type") else {
        return google_error(400, "filter must name exactly one metric.type");
    };
    let fault = {
        let mut s = fake.state();
        *s.calls.entry(metric_type.to_string()).or_default() += 1;
        s.faults
            .pop_front()
            .or_else(|| s.sticky.clone())
            .or_else(|| s.project_faults.get(&project).cloned())
    };
    match fault {
        Some(Fault::Status(code)) => return google_error(code, "injected fault"),
        Some(Fault::Hang(d)) => tokio::time::sleep(d).await,
        Some(Fault::Malformed) => {
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"timeSeries\": [ {\"metric\": ",
            )
                .into_response()
        }
        Some(Fault::ExecutionError(message)) => {
            let body = json!({
                "timeSeries": [],
                "unit": "",
                "executionErrors": [{"code": 14, "message": message}],
            });
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response();
        }
        Some(Fault::Unreachable(region)) => {
            let body = json!({"timeSeries": [], "unit": "", "unreachable": [region]});
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response();
        }
        Some(Fault::Oversized(n)) => {
            let mut body = json!({"timeSeries": [], "unit": ""})
                .to_string()
                .into_bytes();
            body.resize(n.max(body.len()), b' ');
            return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
        }
        Some(Fault::Endless) => {
            let start = futures_util::stream::once(async {
                Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"{\"timeSeries\": ["))
            });
            let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
            let rest = futures_util::stream::repeat_with(move || Ok(chunk.clone()));
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                axum::body::Body::from_stream(futures_util::StreamExt::chain(start, rest)),
            )
                .into_response();
        }
        None => {}
    }
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 20);
    if !authorized {
        fake.state().unauthenticated += 1;
        return google_error(
            401,
            "Request is missing required authentication credential.",
        );
    }
    if quoted_after(filter, "resource.type") != Some("aiplatform.googleapis.com/PublisherModel") {
        return google_error(400, "this fake serves resource.type PublisherModel only");
    }
    let (Some(start), Some(end)) = (
        param("interval.startTime").and_then(parse_rfc3339),
        param("interval.endTime").and_then(parse_rfc3339),
    ) else {
        return google_error(400, "interval.startTime and interval.endTime are required");
    };
    if param("aggregation.alignmentPeriod") != Some("60s") {
        return google_error(400, "this fake aligns to 60s only");
    }
    // No reducer (REDUCE_NONE = 0, or absent): every raw series as it is. REDUCE_SUM, or a
    // percentile of the merged distributions (REDUCE_PERCENTILE_99 = 9, _95 = 10, _50 = 11,
    // _05 = 12), valid for DELTA distributions, output DOUBLE.
    let reducer = param("aggregation.crossSeriesReducer");
    let raw_series = matches!(reducer, None | Some("0" | "REDUCE_NONE"));
    let percentile = match reducer {
        None | Some("0" | "REDUCE_NONE" | "4" | "REDUCE_SUM") => None,
        Some("9" | "REDUCE_PERCENTILE_99") => Some(0.99),
        Some("10" | "REDUCE_PERCENTILE_95") => Some(0.95),
        Some("11" | "REDUCE_PERCENTILE_50") => Some(0.50),
        Some("12" | "REDUCE_PERCENTILE_05") => Some(0.05),
        _ => Some(f64::NAN),
    };
    // ALIGN_DELTA for DELTA metrics; ALIGN_MAX (11) for the GAUGE `dedicated_gsu_limit`,
    // whose stored points are already one per minute.
    let gauge = metric_type.ends_with("/dedicated_gsu_limit");
    let aligner_ok = match param("aggregation.perSeriesAligner") {
        Some("1" | "ALIGN_DELTA") => !gauge,
        Some("11" | "ALIGN_MAX") => gauge,
        _ => false,
    };
    if !aligner_ok || percentile.is_some_and(f64::is_nan) {
        return google_error(
            400,
            "this fake implements ALIGN_DELTA (ALIGN_MAX for dedicated_gsu_limit) with no reducer, REDUCE_SUM or REDUCE_PERCENTILE_* only",
        );
    }
    let group_by: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "aggregation.groupByFields")
        .map(|(_, v)| v.as_str())
        .collect();
    let enums_as_int = param("$alt").is_some_and(|a| a.contains("enum-encoding=int"));

    // REDUCE_SUM per group of the requested fields; the output keeps only those labels.
    type Group = (BTreeMap<String, String>, BTreeMap<String, String>);
    let mut groups: BTreeMap<Group, BTreeMap<i64, PointValue>> = BTreeMap::new();
    let state = fake.state();
    for raw in state
        .series
        .iter()
        .filter(|r| r.project == project && r.metric_type == metric_type)
    {
        let mut resource = BTreeMap::new();
        let mut metric = BTreeMap::new();
        if raw_series {
            resource = raw.resource.clone();
            resource.insert("resource_container".into(), raw.project.clone());
            metric = raw.metric.clone();
        }
        for field in group_by.iter().filter(|_| !raw_series) {
            if let Some(name) = field.strip_prefix("resource.label.") {
                resource.insert(
                    name.to_string(),
                    raw.resource.get(name).cloned().unwrap_or_default(),
                );
            } else if let Some(name) = field.strip_prefix("metric.label.") {
                metric.insert(
                    name.to_string(),
                    raw.metric.get(name).cloned().unwrap_or_default(),
                );
            }
        }
        let points = groups.entry((resource, metric)).or_default();
        for (&t, v) in raw.points.range(start..end) {
            let merged = match (points.remove(&t), v) {
                (None, v) => v.clone(),
                (Some(PointValue::Int(a)), PointValue::Int(b)) => PointValue::Int(a + b),
                (
                    Some(PointValue::Dist {
                        count: c1,
                        mean: m1,
                    }),
                    PointValue::Dist {
                        count: c2,
                        mean: m2,
                    },
                ) => PointValue::Dist {
                    count: c1 + c2,
                    mean: (m1 * c1 as f64 + m2 * *c2 as f64) / (c1 + c2) as f64,
                },
                (Some(PointValue::Samples(mut a)), PointValue::Samples(b)) => {
                    a.extend(b);
                    PointValue::Samples(a)
                }
                (Some(_), v) => v.clone(),
            };
            points.insert(t, merged);
        }
    }
    let page_size = state.page_size;
    let repeat_newest_point = state.repeat_newest_point;
    drop(state);
    if let Some(q) = percentile {
        // A percentile reducer answers DOUBLE values; only distributions can be reduced so.
        for points in groups.values_mut() {
            for v in points.values_mut() {
                // A `Dist` has no spread: every request at its mean.
                let p = match v {
                    PointValue::Samples(values) => quantile(values, q),
                    PointValue::Dist { mean, .. } => *mean,
                    _ => return google_error(400, "percentile reducers need distributions"),
                };
                *v = PointValue::Double(p);
            }
        }
    }
    let all: Vec<Value> = groups
        .into_iter()
        .filter(|(_, points)| !points.is_empty())
        .map(|((resource, metric), points)| {
            let distribution = points.values().any(|v| matches!(v, PointValue::Dist { .. } | PointValue::Samples(_)));
            let double = points.values().any(|v| matches!(v, PointValue::Double(_)));
            // MetricKind GAUGE = 1, DELTA = 2; ValueType INT64 = 2, DOUBLE = 3,
            // DISTRIBUTION = 5.
            let (kind, value_type) = match (enums_as_int, distribution, double) {
                (true, true, _) => (json!(2), json!(5)),
                (true, _, true) => (json!(2), json!(3)),
                (true, _, _) => (json!(if gauge { 1 } else { 2 }), json!(2)),
                (false, true, _) => (json!("DELTA"), json!("DISTRIBUTION")),
                (false, _, true) => (json!("DELTA"), json!("DOUBLE")),
                (false, _, _) => (json!(if gauge { "GAUGE" } else { "DELTA" }), json!("INT64")),
            };
            json!({
                "metric": {"type": metric_type, "labels": metric},
                "resource": {"type": "aiplatform.googleapis.com/PublisherModel", "labels": resource},
                "metricKind": kind,
                "valueType": value_type,
                "unit": if distribution || double { "ms" } else { "1" },
                // Newest first, as Cloud Monitoring returns them.
                "points": points.iter().rev().map(|(t, v)| json!({
                    "interval": {"startTime": rfc3339(*t), "endTime": rfc3339(t + 60)},
                    "value": match v {
                        PointValue::Int(i) => json!({"int64Value": i.to_string()}),
                        PointValue::Dist { count, mean } => json!({"distributionValue": {"count": count.to_string(), "mean": mean}}),
                        PointValue::Samples(values) => json!({"distributionValue": {
                            "count": values.len().to_string(),
                            "mean": values.iter().sum::<f64>() / values.len().max(1) as f64,
                        }}),
                        PointValue::Double(d) => json!({"doubleValue": d}),
                    }
                })).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = all;
    if repeat_newest_point {
        for series in &mut all {
            if let Some(points) = series["points"].as_array_mut() {
                if let Some(newest) = points.first().cloned() {
                    points.insert(0, newest);
                }
            }
        }
    }
    let offset: usize = param("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let size = if page_size == 0 {
        all.len().max(1)
    } else {
        page_size
    };
    let page: Vec<Value> = all.iter().skip(offset).take(size).cloned().collect();
    fake.state().returned.push(page.len());
    let mut body = json!({"timeSeries": page, "unit": ""});
    if offset + size < all.len() {
        body["nextPageToken"] = json!((offset + size).to_string());
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A service-account key made at test time: the real ADC path signs its own JWT with it.
pub fn service_account_key(dir: &std::path::Path) -> std::path::PathBuf {
    let key = dir.join("key.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = json!({
        "type": "service_account",
        "project_id": "proj-a",
        "private_key_id": "0123456789abcdef",
        "private_key": std::fs::read_to_string(&key).unwrap(),
        "client_email": "llm-exporter@proj-a.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token"
    });
    let path = dir.join("sa.json");
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// The exporter binary Cargo built for the tests (set for integration tests only;
/// `examples/fake_fleet.rs` shares this module and starts no exporter).
fn exporter_bin() -> &'static str {
    option_env!("CARGO_BIN_EXE_llm-exporter-gcp").unwrap_or("llm-exporter-gcp")
}

/// The GCP exporter with credentials from `key` and nothing from the machine's Google set-up.
pub fn start_exporter(args: &[&str], key: &std::path::Path) -> Exporter {
    let remove = [
        "GOOGLE_CLOUD_PROJECT",
        "CLOUDSDK_CONFIG",
        "GCE_METADATA_HOST",
    ];
    let env = [("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap())];
    Exporter::start(exporter_bin(), args, &remove, &env)
}

pub fn now_minute() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 60
        * 60
}

/// The GCP exporter as [`start_exporter`] starts it, with `env` added (e.g. `TMPDIR`).
pub fn start_exporter_with(args: &[&str], key: &std::path::Path, env: &[(&str, &str)]) -> Exporter {
    let remove = [
        "GOOGLE_CLOUD_PROJECT",
        "CLOUDSDK_CONFIG",
        "GCE_METADATA_HOST",
    ];
    let mut all = vec![("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap())];
    all.extend_from_slice(env);
    Exporter::start(exporter_bin(), args, &remove, &all)
}

/// `token_count` of `model` (resource labels) with `type` `t`, pay-as-you-go.
pub fn add_tokens(
    fake: &Fake,
    project: &str,
    model: &[(&str, &str)],
    t: &str,
    period: i64,
    n: i64,
) {
    fake.add(
        project,
        "token_count",
        model,
        &[
            ("type", t),
            ("request_type", "shared"),
            ("modality", "TEXT"),
        ],
        period,
        PointValue::Int(n),
    );
}

/// The `token_count` metric labels of one raw series, as Vertex writes them.
#[derive(Clone, Copy)]
pub struct TokenLabels<'a> {
    pub t: &'a str,
    pub request_type: &'a str,
    pub source: &'a str,
    pub max_token_size: &'a str,
    pub modality: &'a str,
    /// Not in Google's metric list; seen on live descriptors (third-party report, 2026-08).
    pub shared_request_type: Option<&'a str>,
}

impl<'a> TokenLabels<'a> {
    /// Online pay-as-you-go text tokens served in `source`, in a small-request bucket.
    pub fn shared(t: &'a str, source: &'a str) -> Self {
        TokenLabels {
            t,
            request_type: "shared",
            source,
            max_token_size: "0-8K",
            modality: "TEXT",
            shared_request_type: None,
        }
    }

    pub fn add(self, fake: &Fake, project: &str, model: &[(&str, &str)], period: i64, n: i64) {
        let mut labels = vec![
            ("type", self.t),
            ("request_type", self.request_type),
            ("source", self.source),
            ("max_token_size", self.max_token_size),
            ("modality", self.modality),
        ];
        if let Some(s) = self.shared_request_type {
            labels.push(("shared_request_type", s));
        }
        fake.add(
            project,
            "token_count",
            model,
            &labels,
            period,
            PointValue::Int(n),
        );
    }
}

/// Idle projects are polled every poll (within the watch's 2 s margin), so a minute added to
/// the fake is seen at the next poll; `vertex.rs` sets a longer interval.
pub const IDLE_WATCH: &str = "idle_poll_interval: 2s";

/// A config polling `projects` at `endpoint` every second, with `extra` top-level keys.
pub fn write_config(dir: &std::path::Path, endpoint: &str, projects: &str, extra: &str) -> String {
    let path = dir.join("config.yaml");
    std::fs::write(&path, format!("poll_interval: 1s\n{extra}gcp:\n  projects: [{projects}]\n  monitoring_endpoint: {endpoint}\n  timeout: 2s\n  {IDLE_WATCH}\n")).unwrap();
    path.display().to_string()
}
