//! A fake Azure that speaks the documented shapes (Azure Monitor and ARM REST references): the
//! Entra ID v2 token endpoint (client credentials), ARM account and deployment listings with
//! `nextLink` paging, the data-plane `metrics:getBatch` and the ARM `Metrics - List`. It is
//! served over TLS (a test CA) because azure_identity only talks to HTTPS authorities. It
//! enforces what the real service does: tokens per scope, `resourceids` lower-case and at most
//! 50 per call, one subscription and region per batch, `top` defaulting to 10, and a filter
//! naming a dimension a metric lacks failing that metric. Faults can be injected per API.
#![allow(dead_code)]

mod answers;
mod arm;
pub mod drill_cloud;
mod setup;
#[allow(unused_imports)] // not every test binary uses it
pub use setup::*;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};
pub use testkit::*;

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "s3cret-never-logged";

#[derive(Clone, Debug)]
pub struct FakeDeployment {
    pub name: String,
    pub model: String,
    pub version: String,
    pub format: String,
    pub sku: String,
    /// ARM `sku.capacity`: PTUs for provisioned SKUs, thousands of tokens per minute else.
    pub capacity: u32,
    /// ARM `properties.serviceTier` (`Default` or `Priority`), when set.
    pub service_tier: Option<String>,
    /// ARM `systemData.createdAt` (Unix seconds), when set.
    pub created_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct FakeAccount {
    pub subscription: String,
    pub name: String,
    pub location: String,
    pub deployments: Vec<FakeDeployment>,
}

impl FakeAccount {
    pub fn id(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/rg-llm/providers/Microsoft.CognitiveServices/accounts/{}", self.subscription, self.name)
    }
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 with `Retry-After: 1`, 529, 500, 403...
    Status(u16),
    Hang(Duration),
    Malformed,
    /// A 200 answer of this many bytes, with its Content-Length.
    Huge(usize),
    /// A 200 answer that does not end: chunked, no Content-Length, 64 KiB chunks for as long
    /// as the client reads (bounded at 16 GiB). Bytes handed out are in `endless_sent`.
    Endless,
}

/// Which API a fault or a call belongs to.
pub const TOKEN: &str = "token";
pub const ARM: &str = "arm";
pub const BATCH: &str = "getBatch";
pub const LIST: &str = "Metrics_List";

/// resource (lower), metric, deployment, dimension (name, value) pairs, minute.
type PointKey = (String, String, String, Vec<(String, String)>, i64);
/// (total, average) of one minute.
type PointValue = (Option<f64>, Option<f64>);

#[derive(Default)]
pub struct FakeState {
    /// The https://IP:PORT clients see (behind the TLS proxy).
    pub public: String,
    pub accounts: Vec<FakeAccount>,
    pub points: BTreeMap<PointKey, (Option<f64>, Option<f64>)>,
    pub calls: BTreeMap<String, usize>,
    pub largest_batch: usize,
    pub scopes_issued: Vec<String>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    pub sticky: HashMap<String, Fault>,
    /// ARM list page size (0: one page).
    pub page_size: usize,
    /// Per account name: every metric of that resource fails with this (code, message) in
    /// getBatch, and its Metrics_List calls with HTTP 500.
    pub resource_faults: HashMap<String, (String, String)>,
    /// Per metric name: the metric fails with this (code, message) for every resource.
    pub metric_errors: HashMap<String, (String, String)>,
    /// Bytes handed out by `Fault::Endless` answers so far.
    pub endless_sent: Arc<std::sync::atomic::AtomicU64>,
    /// Every time series is answered twice, identical (a minute given twice for the same
    /// metric and dimension values).
    pub repeat_series: bool,
    /// Every time series also carries a point dated `0001-01-01T00:00:00Z` with this total.
    pub ancient_point: Option<f64>,
}

#[derive(Clone, Default)]
pub struct FakeAzure(pub Arc<Mutex<FakeState>>);

impl FakeAzure {
    pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().unwrap()
    }

    /// Adds to a `total` (counts) for a deployment and minute; `status` for request metrics.
    pub fn add(
        &self,
        account: &FakeAccount,
        metric: &str,
        deployment: &str,
        status: &str,
        minute: i64,
        total: f64,
    ) {
        let dims: &[(&str, &str)] = if status.is_empty() {
            &[]
        } else {
            &[("StatusCode", status)]
        };
        self.add_with(account, metric, deployment, dims, minute, total);
    }

    /// Adds to a `total` for a deployment, minute and other dimension values (e.g.
    /// `ServiceTierResponse`, `ContextLength`).
    pub fn add_with(
        &self,
        account: &FakeAccount,
        metric: &str,
        deployment: &str,
        dims: &[(&str, &str)],
        minute: i64,
        total: f64,
    ) {
        let key = (
            account.id().to_ascii_lowercase(),
            metric.to_string(),
            deployment.to_string(),
            dims.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            minute,
        );
        let mut s = self.state();
        let e = s.points.entry(key).or_insert((None, None));
        e.0 = Some(e.0.unwrap_or(0.0) + total);
    }

    /// Sets an `average` (latency, ms) for a deployment and minute.
    pub fn average(
        &self,
        account: &FakeAccount,
        metric: &str,
        deployment: &str,
        minute: i64,
        ms: f64,
    ) {
        let key = (
            account.id().to_ascii_lowercase(),
            metric.to_string(),
            deployment.to_string(),
            Vec::new(),
            minute,
        );
        self.state().points.entry(key).or_insert((None, None)).1 = Some(ms);
    }

    pub fn calls(&self, api: &str) -> usize {
        self.state().calls.get(api).copied().unwrap_or(0)
    }

    /// Serves the fake over TLS; returns the server, the TLS front's stop handle and
    /// https://IP:PORT.
    pub fn start(
        &self,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> (Server, tokio::sync::oneshot::Sender<()>, String) {
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/subscriptions/{sub}/providers/Microsoft.CognitiveServices/accounts", get(arm::accounts))
            .route("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}/deployments", get(arm::deployments))
            .route("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}/providers/Microsoft.Insights/metrics", get(metrics_list))
            .route("/{region}/subscriptions/{sub}/{op}", post(get_batch))
            .with_state(self.clone());
        let server = Server::start(app);
        let (addr, stop) = tls_proxy(server.addr.clone(), cert, key);
        let public = format!("https://{addr}");
        self.state().public = public.clone();
        (server, stop, public)
    }

    /// Bytes handed out by `Fault::Endless` answers so far.
    pub fn endless_sent(&self) -> u64 {
        self.state()
            .endless_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn fault(&self, api: &str) -> Option<Fault> {
        let mut s = self.state();
        *s.calls.entry(api.to_string()).or_default() += 1;
        let queued = s.faults.get_mut(api).and_then(|q| q.pop_front());
        queued.or_else(|| s.sticky.get(api).cloned())
    }

    fn authorized(&self, headers: &HeaderMap, scope_host: &str) -> bool {
        let want = format!("Bearer fake-token:{scope_host}/.default");
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str())
    }

    /// What every ARM and metrics handler does first: count the call, apply an injected
    /// fault, and refuse a missing or wrong-audience token. `None`: go on.
    async fn admit(&self, api: &str, headers: &HeaderMap) -> Option<Response> {
        let sent = self.state().endless_sent.clone();
        if let Some(r) = apply_counting(self.fault(api), sent).await {
            return Some(r);
        }
        let public = self.state().public.clone();
        if !self.authorized(headers, &public) {
            return Some(error(
                401,
                "InvalidAuthenticationToken",
                "The access token is missing, invalid or for another audience.",
            ));
        }
        None
    }
}

pub(crate) fn error(status: u16, code: &str, message: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
        .into_response();
    if status == 429 {
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
    }
    r
}

async fn apply(fault: Option<Fault>) -> Option<Response> {
    apply_counting(fault, Default::default()).await
}

async fn apply_counting(
    fault: Option<Fault>,
    sent: Arc<std::sync::atomic::AtomicU64>,
) -> Option<Response> {
    match fault? {
        Fault::Huge(n) => {
            // Valid JSON start, then padding: only its size is wrong.
            let mut body = b"{\"values\": [], \"pad\": \"".to_vec();
            body.resize(n.saturating_sub(2).max(body.len()), b'x');
            body.extend_from_slice(b"\"}");
            Some((StatusCode::OK, [("content-type", "application/json")], body).into_response())
        }
        Fault::Endless => {
            const CHUNK: usize = 64 * 1024;
            let chunk = axum::body::Bytes::from(vec![b' '; CHUNK]);
            let chunks = (16u64 << 30) / CHUNK as u64;
            let stream = futures_util::stream::iter(0..chunks).map(move |_| {
                sent.fetch_add(CHUNK as u64, std::sync::atomic::Ordering::Relaxed);
                Ok::<_, std::convert::Infallible>(chunk.clone())
            });
            let mut r = axum::body::Body::from_stream(stream).into_response();
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            Some(r)
        }
        Fault::Status(code) => Some(error(code, "InjectedFault", "injected by the test")),
        Fault::Hang(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Malformed => Some(
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"value\": [ {\"id\": ",
            )
                .into_response(),
        ),
    }
}

async fn token(
    State(fake): State<FakeAzure>,
    Path(tenant): Path<String>,
    body: String,
) -> Response {
    if let Some(r) = apply(fake.fault(TOKEN)).await {
        return r;
    }
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if tenant != TENANT
        || get("client_id") != CLIENT_ID
        || get("client_secret") != CLIENT_SECRET
        || get("grant_type") != "client_credentials"
    {
        return (StatusCode::UNAUTHORIZED, [("content-type", "application/json")], json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}).to_string()).into_response();
    }
    let scope = get("scope").to_string();
    fake.state().scopes_issued.push(scope.clone());
    let host = scope.trim_end_matches("/.default");
    (StatusCode::OK, [("content-type", "application/json")], json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": format!("fake-token:{host}/.default")}).to_string()).into_response()
}

/// The metrics of one resource, as both APIs return them (the query's parameters, as given).
#[allow(clippy::too_many_arguments)]
fn resource_metrics(
    fake: &FakeAzure,
    resource: &str,
    names: &str,
    filter: &str,
    aggregation: &str,
    start: i64,
    end: i64,
    top: usize,
) -> Vec<Value> {
    let dims: Vec<&str> = filter
        .split(" and ")
        .filter_map(|c| c.split_whitespace().next())
        .collect();
    // Dimensions split into series of their own (`X eq '*'`), besides the deployment's.
    let split: Vec<&str> = dims
        .iter()
        .copied()
        .filter(|d| !d.eq_ignore_ascii_case("ModelDeploymentName"))
        .collect();
    let state = fake.state();
    let resource = resource.to_ascii_lowercase();
    names
        .split(',')
        .map(|metric| {
            let name = resource.rsplit('/').next().unwrap_or("");
            let injected = state
                .resource_faults
                .get(name)
                .or_else(|| state.metric_errors.get(metric))
                .cloned();
            if let Some((code, message)) =
                injected.or_else(|| answers::query_error(metric, aggregation, &dims))
            {
                return answers::failed(&resource, metric, &code, &message);
            }
            let wants = |a: &str| aggregation.is_empty() || aggregation.split(',').any(|x| x.trim().eq_ignore_ascii_case(a));
            let mut series: BTreeMap<(String, Vec<String>), BTreeMap<i64, PointValue>> = BTreeMap::new();
            for ((r, m, dep, point_dims, minute), v) in state.points.iter() {
                if *r == resource && m == metric && (start..end).contains(minute) {
                    // A dimension the point was not given has the empty value.
                    let values: Vec<String> = split
                        .iter()
                        .map(|d| {
                            point_dims
                                .iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(d))
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        })
                        .collect();
                    let e = series.entry((dep.clone(), values)).or_default().entry(*minute).or_insert((None, None));
                    e.0 = match (e.0, v.0) {
                        (Some(a), Some(b)) => Some(a + b),
                        (a, b) => a.or(b),
                    };
                    e.1 = e.1.or(v.1);
                }
            }
            let timeseries: Vec<Value> = series
                .into_iter()
                .take(top)
                .map(|((dep, values), minutes)| {
                    let mut meta = vec![json!({"name": {"value": "modeldeploymentname", "localizedValue": "modeldeploymentname"}, "value": dep})];
                    // Responses lower-case dimension names.
                    for (d, v) in split.iter().zip(values) {
                        let d = d.to_ascii_lowercase();
                        meta.push(json!({"name": {"value": d, "localizedValue": d}, "value": v}));
                    }
                    // Every minute of the span; a minute without data has no `total` key.
                    let ancient = state.ancient_point.map(|v| json!({"timeStamp": "0001-01-01T00:00:00Z", "total": v}));
                    let data: Vec<Value> = ancient.into_iter().chain((start..end)
                        .step_by(60)
                        .map(|t| {
                            let mut p = json!({"timeStamp": rfc3339(t)});
                            if let Some((total, avg)) = minutes.get(&t) {
                                // Only the aggregations asked for are answered.
                                if let (Some(v), true) = (total, wants("total")) {
                                    p["total"] = json!(v);
                                }
                                if let (Some(v), true) = (avg, wants("average")) {
                                    p["average"] = json!(v);
                                }
                            }
                            p
                        }))
                        .collect();
                    json!({"metadatavalues": meta, "data": data})
                })
                .collect();
            let timeseries: Vec<Value> = if state.repeat_series {
                timeseries.iter().flat_map(|t| [t.clone(), t.clone()]).collect()
            } else {
                timeseries
            };
            json!({"id": format!("{resource}/providers/Microsoft.Insights/metrics/{metric}"), "type": "Microsoft.Insights/metrics", "name": {"value": metric, "localizedValue": metric}, "displayDescription": "", "unit": "Count", "errorCode": "Success", "timeseries": timeseries})
        })
        .collect()
}

fn query_pairs(q: &Option<String>) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .collect()
}

async fn get_batch(
    State(fake): State<FakeAzure>,
    Path((region, sub, op)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    if op != "metrics:getBatch" {
        return error(404, "NotFound", "unknown operation");
    }
    if let Some(r) = fake.admit(BATCH, &headers).await {
        return r;
    }
    let p = query_pairs(&q);
    if p.get("metricnamespace").map(String::as_str) != Some("Microsoft.CognitiveServices/accounts")
        || !p.contains_key("api-version")
    {
        return error(
            400,
            "BadRequest",
            "metricnamespace and api-version are required",
        );
    }
    if p.contains_key("$filter") || p.contains_key("timespan") {
        return error(
            400,
            "BadRequest",
            "getBatch takes filter (no $) and starttime/endtime",
        );
    }
    if p.get("interval").map(String::as_str) != Some("PT1M") {
        return error(400, "BadRequest", "this fake serves PT1M only");
    }
    let (Some(start), Some(end)) = (
        p.get("starttime").and_then(|s| parse_rfc3339(s)),
        p.get("endtime").and_then(|s| parse_rfc3339(s)),
    ) else {
        return error(400, "BadRequest", "starttime and endtime are required");
    };
    let Ok(Value::Object(b)) = serde_json::from_str::<Value>(&body) else {
        return error(400, "BadRequest", "the body must be a JSON object");
    };
    let Some(ids) = b.get("resourceids").and_then(|v| v.as_array()) else {
        return error(
            400,
            "BadRequest",
            "the body needs `resourceids` (lower case)",
        );
    };
    let ids: Vec<String> = ids
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if ids.len() > 50 {
        return error(400, "BadRequest", "at most 50 resource ids per call");
    }
    {
        let mut s = fake.state();
        s.largest_batch = s.largest_batch.max(ids.len());
        for id in &ids {
            let Some(a) = s.accounts.iter().find(|a| a.id().eq_ignore_ascii_case(id)) else {
                return error(400, "BadRequest", &format!("unknown resource {id}"));
            };
            if a.subscription != sub || a.location != region {
                return error(
                    400,
                    "BadRequest",
                    "all resources of a batch must be in the subscription and region of the call",
                );
            }
        }
    }
    let top = p.get("top").and_then(|t| t.parse().ok()).unwrap_or(10);
    let names = p.get("metricnames").cloned().unwrap_or_default();
    let filter = p.get("filter").cloned().unwrap_or_default();
    let aggregation = p.get("aggregation").cloned().unwrap_or_default();
    let values: Vec<Value> = ids
        .iter()
        .map(|id| json!({"starttime": rfc3339(start), "endtime": rfc3339(end), "interval": "PT1M", "namespace": "Microsoft.CognitiveServices/accounts", "resourceregion": region, "resourceid": id, "value": resource_metrics(&fake, id, &names, &filter, &aggregation, start, end, top)}))
        .collect();
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"values": values}).to_string(),
    )
        .into_response()
}

async fn metrics_list(
    State(fake): State<FakeAzure>,
    Path((sub, rg, name)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fake.admit(LIST, &headers).await {
        return r;
    }
    let p = query_pairs(&q);
    let Some((start, end)) = p
        .get("timespan")
        .and_then(|t| t.split_once('/'))
        .and_then(|(a, b)| Some((parse_rfc3339(a)?, parse_rfc3339(b)?)))
    else {
        return error(400, "BadRequest", "timespan start/end is required");
    };
    let resource = format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}");
    let top = p.get("top").and_then(|t| t.parse().ok()).unwrap_or(10);
    let names = p.get("metricnames").cloned().unwrap_or_default();
    let filter = p.get("$filter").cloned().unwrap_or_default();
    let aggregation = p.get("aggregation").cloned().unwrap_or_default();
    if fake.state().resource_faults.contains_key(&name) {
        return error(
            500,
            "InternalServerError",
            "injected for this resource by the test",
        );
    }
    let region = fake
        .state()
        .accounts
        .iter()
        .find(|a| a.id().eq_ignore_ascii_case(&resource))
        .map(|a| a.location.clone())
        .unwrap_or_default();
    let body = json!({"cost": 0, "timespan": format!("{}/{}", rfc3339(start), rfc3339(end)), "interval": "PT1M", "namespace": "Microsoft.CognitiveServices/accounts", "resourceregion": region, "value": resource_metrics(&fake, &resource, &names, &filter, &aggregation, start, end, top)});
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub fn now_minute() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 60
        * 60
}

pub fn deployment(
    name: &str,
    model: &str,
    version: &str,
    format: &str,
    sku: &str,
) -> FakeDeployment {
    FakeDeployment {
        name: name.into(),
        model: model.into(),
        version: version.into(),
        format: format.into(),
        sku: sku.into(),
        capacity: 10,
        service_tier: None,
        created_at: None,
    }
}

/// Idle accounts are watched every poll (within the watch's 2 s margin), so a minute added to
/// the fake is seen at the next poll as before; `get_batch.rs` sets a longer interval.
pub const IDLE_WATCH: &str = "idle_poll_interval: 2s";

/// A config pointing every Azure endpoint at the fake, trusting the test CA.
pub fn config(
    dir: &std::path::Path,
    public: &str,
    ca: &std::path::Path,
    subscriptions: &[&str],
    extra: &str,
) -> String {
    let path = dir.join("config.yaml");
    let subs = subscriptions.join(", ");
    std::fs::write(
        &path,
        format!("poll_interval: 1s\nextra_ca_file: {}\n{extra}azure:\n  subscriptions: [{subs}]\n  credential: client_secret\n  timeout: 3s\n  {IDLE_WATCH}\n  endpoints:\n    authority_host: {public}\n    resource_manager: {public}\n    metrics: \"{public}/{{region}}\"\n", ca.display()),
    )
    .unwrap();
    path.display().to_string()
}

/// The Azure exporter with the fake's client secret and nothing from the machine.
pub fn start_exporter(args: &[&str]) -> Exporter {
    let remove = [
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_AUTHORITY_HOST",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ];
    let env = [
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
    ];
    // A copy of the binary can be named instead (`LLM_EXPORTER_AZURE_BIN`): a target dir
    // shared by several checkouts may rebuild the one Cargo names while the tests run.
    let bin = std::env::var("LLM_EXPORTER_AZURE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_llm-exporter-azure").to_string());
    Exporter::start(&bin, args, &remove, &env)
}
