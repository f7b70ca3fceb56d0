//! The REST API (JSON), the gateway's own /metrics, /-/healthy and /-/ready.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::answers;
use crate::auth::{key_from_headers, AuthError};
use crate::gateway::{retry_after_seconds, Ctx, Gateway, GatewayError};
use common::breaker::BreakerState;

type Params = Query<HashMap<String, String>>;

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/api/v1/costs/daily", get(daily))
        .route("/api/v1/costs/by-model", get(by_model))
        .route("/api/v1/costs/top-models", get(top_models))
        .route("/api/v1/costs/summary", get(summary))
        .route("/api/v1/costs/reconciliation", get(reconciliation))
        .route("/api/v1/tokens", get(tokens))
        .route("/api/v1/budget", get(budget))
        .route("/api/v1/exporters", get(exporters))
        .route("/api/v1/query", get(query))
        .route("/api/v1/clouds/{cloud}/enable", post(enable))
        .route("/api/v1/clouds/{cloud}/disable", post(disable))
        .route("/api/v1/health", get(health))
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/", get(landing))
        .with_state(gw)
}

/// The HTTP status of a gateway error.
pub fn status_of(e: &GatewayError) -> StatusCode {
    match e {
        GatewayError::Auth(AuthError::Missing | AuthError::Unknown) => StatusCode::UNAUTHORIZED,
        GatewayError::Auth(AuthError::OtherTenant { .. } | AuthError::AdminOnly(_)) => {
            StatusCode::FORBIDDEN
        }
        GatewayError::Auth(AuthError::UnknownTenant(_)) => StatusCode::NOT_FOUND,
        GatewayError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
        GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `outcome` label of `llm_gateway_requests_total`.
pub fn outcome_of(e: &GatewayError) -> &'static str {
    match e {
        GatewayError::Auth(AuthError::Missing | AuthError::Unknown) => "unauthorized",
        GatewayError::Auth(_) => "forbidden",
        GatewayError::RateLimited(_) => "rate_limited",
        GatewayError::BadRequest(_) => "bad_request",
        GatewayError::Internal(_) => "error",
    }
}

fn error_response(e: &GatewayError) -> Response {
    let status = status_of(e);
    let body = serde_json::json!({"status": "error", "error": e.to_string()});
    let mut r = (status, Json(body)).into_response();
    match e {
        GatewayError::RateLimited(wait) => {
            if let Ok(v) = HeaderValue::from_str(&retry_after_seconds(*wait).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        GatewayError::Auth(AuthError::Missing | AuthError::Unknown) => {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    r
}

fn param<'a>(p: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    p.get(name).map(String::as_str).filter(|s| !s.is_empty())
}

/// Authenticates, scopes, runs `f`, answers JSON and counts the request.
async fn answer<T, F, Fut>(
    gw: Arc<Gateway>,
    route: &'static str,
    headers: &HeaderMap,
    p: &HashMap<String, String>,
    f: F,
) -> Response
where
    T: Serialize,
    F: FnOnce(Arc<Gateway>, Ctx) -> Fut,
    Fut: Future<Output = Result<T, GatewayError>>,
{
    let start = Instant::now();
    let key = key_from_headers(headers);
    let ctx = gw.context(
        key.as_deref(),
        param(p, "tenant_id"),
        param(p, "cloud_provider").or(param(p, "cloud")),
        param(p, "time"),
    );
    let tenant = match &ctx {
        Ok(c) => c.principal.label().to_string(),
        Err(_) => "-".to_string(),
    };
    let result = match ctx {
        Ok(ctx) => f(gw.clone(), ctx).await,
        Err(e) => Err(e),
    };
    let (outcome, response) = match result {
        Ok(v) => match serde_json::to_value(&v) {
            Ok(body) => {
                let partial = body["clouds_failed"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty());
                (
                    if partial { "partial" } else { "ok" },
                    (StatusCode::OK, Json(body)).into_response(),
                )
            }
            Err(e) => {
                let e = GatewayError::Internal(e.to_string());
                ("error", error_response(&e))
            }
        },
        Err(e) => (outcome_of(&e), error_response(&e)),
    };
    gw.metrics.request(route, &tenant, outcome);
    gw.metrics
        .request_duration
        .with_label_values(&[route])
        .observe(start.elapsed().as_secs_f64());
    response
}

async fn daily(State(gw): State<Arc<Gateway>>, headers: HeaderMap, Query(p): Params) -> Response {
    let q = p.clone();
    answer(
        gw,
        "/api/v1/costs/daily",
        &headers,
        &p,
        |gw, ctx| async move {
            let today = chrono::DateTime::from_timestamp(ctx.eval_time() as i64, 0)
                .map(|d| d.date_naive())
                .unwrap_or_default();
            let end = param(&q, "end_date")
                .map(String::from)
                .unwrap_or_else(|| today.to_string());
            let start = match param(&q, "start_date") {
                Some(s) => s.to_string(),
                None => answers::parse_date("end_date", &end)?
                    .checked_sub_signed(chrono::Duration::days(6))
                    .ok_or_else(|| GatewayError::BadRequest("end_date out of range".into()))?
                    .to_string(),
            };
            answers::daily_costs(&gw, &ctx, &start, &end).await
        },
    )
    .await
}

async fn by_model(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(p): Params,
) -> Response {
    let q = p.clone();
    answer(
        gw,
        "/api/v1/costs/by-model",
        &headers,
        &p,
        |gw, ctx| async move {
            let window = param(&q, "window").unwrap_or("1d");
            answers::costs_by_model(&gw, &ctx, window, param(&q, "model"), None).await
        },
    )
    .await
}

fn limit(q: &HashMap<String, String>, default: usize) -> Result<usize, GatewayError> {
    match param(q, "limit") {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| GatewayError::BadRequest(format!("limit {s:?}: 1 to 1000"))),
    }
}

async fn top_models(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(p): Params,
) -> Response {
    let q = p.clone();
    answer(
        gw,
        "/api/v1/costs/top-models",
        &headers,
        &p,
        |gw, ctx| async move {
            let window = param(&q, "window").unwrap_or("1d");
            let n = limit(&q, 10)?;
            answers::costs_by_model(&gw, &ctx, window, param(&q, "model"), Some(n)).await
        },
    )
    .await
}

async fn summary(State(gw): State<Arc<Gateway>>, headers: HeaderMap, Query(p): Params) -> Response {
    let q = p.clone();
    answer(
        gw,
        "/api/v1/costs/summary",
        &headers,
        &p,
        |gw, ctx| async move {
            let window = param(&q, "window").unwrap_or("1d");
            let group_by: Vec<String> = param(&q, "group_by")
                .unwrap_or("cloud")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            answers::spend_summary(&gw, &ctx, window, &group_by).await
        },
    )
    .await
}

async fn reconciliation(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(p): Params,
) -> Response {
    let q = p.clone();
    answer(
        gw,
        "/api/v1/costs/reconciliation",
        &headers,
        &p,
        |gw, ctx| async move {
            let from = param(&q, "from")
                .ok_or_else(|| GatewayError::BadRequest("from (YYYY-MM-DD) is required".into()))?;
            let to = param(&q, "to").unwrap_or(from);
            answers::reconciliation(&gw, &ctx, from, to).await
        },
    )
    .await
}

async fn tokens(State(gw): State<Arc<Gateway>>, headers: HeaderMap, Query(p): Params) -> Response {
    let q = p.clone();
    answer(gw, "/api/v1/tokens", &headers, &p, |gw, ctx| async move {
        let window = param(&q, "window").unwrap_or("1h");
        answers::token_usage(&gw, &ctx, window, param(&q, "model")).await
    })
    .await
}

async fn budget(State(gw): State<Arc<Gateway>>, headers: HeaderMap, Query(p): Params) -> Response {
    answer(gw, "/api/v1/budget", &headers, &p, |gw, ctx| async move {
        answers::budget_status(&gw, &ctx).await
    })
    .await
}

async fn exporters(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(p): Params,
) -> Response {
    answer(
        gw,
        "/api/v1/exporters",
        &headers,
        &p,
        |gw, ctx| async move { answers::exporter_health(&gw, &ctx).await },
    )
    .await
}

async fn query(State(gw): State<Arc<Gateway>>, headers: HeaderMap, Query(p): Params) -> Response {
    let q = p.clone();
    answer(gw, "/api/v1/query", &headers, &p, |gw, ctx| async move {
        let query = param(&q, "query")
            .ok_or_else(|| GatewayError::BadRequest("query is required".into()))?;
        answers::promql(&gw, &ctx, query).await
    })
    .await
}

async fn switch(
    gw: Arc<Gateway>,
    route: &'static str,
    headers: HeaderMap,
    cloud: String,
    p: HashMap<String, String>,
    enabled: bool,
) -> Response {
    // The path's cloud is the one switched, not a filter on the plan.
    let mut q = p.clone();
    q.remove("cloud_provider");
    q.remove("cloud");
    answer(gw, route, &headers, &q, move |gw, ctx| async move {
        answers::set_cloud(&gw, &ctx, &cloud, enabled)
    })
    .await
}

async fn enable(
    State(gw): State<Arc<Gateway>>,
    Path(cloud): Path<String>,
    headers: HeaderMap,
    Query(p): Params,
) -> Response {
    switch(gw, "/api/v1/clouds/{cloud}/enable", headers, cloud, p, true).await
}

async fn disable(
    State(gw): State<Arc<Gateway>>,
    Path(cloud): Path<String>,
    headers: HeaderMap,
    Query(p): Params,
) -> Response {
    switch(
        gw,
        "/api/v1/clouds/{cloud}/disable",
        headers,
        cloud,
        p,
        false,
    )
    .await
}

async fn health(State(gw): State<Arc<Gateway>>, headers: HeaderMap, Query(p): Params) -> Response {
    answer(gw, "/api/v1/health", &headers, &p, |gw, ctx| async move {
        answers::health(&gw, &ctx).await
    })
    .await
}

/// Open to anyone who reaches the port, so without tenant names; with the admin key (a
/// scrape config's `authorization`) the per-tenant families as well.
async fn metrics(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    for u in &gw.upstreams {
        let _ = u.breaker_state();
    }
    let admin = key_from_headers(&headers)
        .and_then(|k| gw.keyring.authenticate(Some(&k)).ok())
        .is_some_and(|p| p.tenant.is_none());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        gw.metrics.render(admin),
    )
        .into_response()
}

/// Ready while at least one upstream's breaker is not open.
async fn ready(State(gw): State<Arc<Gateway>>) -> Response {
    if gw
        .upstreams
        .iter()
        .any(|u| u.breaker_state() != BreakerState::Open)
    {
        (StatusCode::OK, "Ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "every upstream's breaker is open\n",
        )
            .into_response()
    }
}

async fn landing() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><head><title>LLM gateway</title></head><body><h1>LLM gateway</h1>\
         <p>REST under <code>/api/v1/</code>, MCP at <code>/mcp</code>, \
         <a href=\"/metrics\">metrics</a>.</p></body></html>\n",
    )
        .into_response()
}
