//! The same answers as MCP tools (rmcp): over Streamable HTTP at /mcp, where the caller's key
//! comes with each HTTP request, and over stdio, where it is fixed at start.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, ErrorCode, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::answers;
use crate::auth::{key_from_headers, Principal};
use crate::config::Cloud;
use crate::gateway::{retry_after_seconds, Coverage, Ctx, Gateway, GatewayError};
use crate::rest::outcome_of;

/// What a spend summary may be grouped by.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Cloud,
    Model,
    Region,
    Tenant,
    Account,
    Deployment,
}

impl GroupBy {
    fn label(self) -> &'static str {
        match self {
            GroupBy::Cloud => "cloud",
            GroupBy::Model => "model",
            GroupBy::Region => "region",
            GroupBy::Tenant => "tenant",
            GroupBy::Account => "account",
            GroupBy::Deployment => "deployment",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SpendSummaryArgs {
    /// Look-back window as a Prometheus duration (15m, 1h, 24h, 7d). Default 1d.
    pub window: Option<String>,
    /// Labels to group by. Default [cloud].
    pub group_by: Option<Vec<GroupBy>>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TopModelsArgs {
    /// Look-back window (Prometheus duration). Default 1d.
    pub window: Option<String>,
    /// How many models. Default 5.
    pub limit: Option<u32>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TokenUsageArgs {
    /// Look-back window (Prometheus duration). Default 1h.
    pub window: Option<String>,
    /// Model name or regular expression (RE2, anchored), e.g. "gemini.*".
    pub model: Option<String>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DailyCostsArgs {
    /// First day, YYYY-MM-DD (UTC).
    pub start_date: String,
    /// Last day, YYYY-MM-DD (UTC). Default: start_date.
    pub end_date: Option<String>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReconcileCostsArgs {
    /// First day, YYYY-MM-DD (UTC).
    pub from: String,
    /// Last day, YYYY-MM-DD (UTC). Default: from.
    pub to: Option<String>,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct BudgetStatusArgs {
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExporterHealthArgs {
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PromqlQueryArgs {
    /// A PromQL instant query. It only ever sees your tenant's series.
    pub query: String,
    /// Only this cloud.
    pub cloud: Option<Cloud>,
    /// Admin key only: the tenant to report on (default: every tenant).
    pub tenant_id: Option<String>,
    /// Evaluate as of this time (Unix seconds or RFC 3339). Default now.
    pub time: Option<String>,
}

/// What a tool call asks about, besides its own arguments.
struct Ask<'a> {
    tenant_id: Option<&'a str>,
    cloud: Option<Cloud>,
    time: Option<&'a str>,
}

#[derive(Clone)]
pub struct GatewayMcp {
    gw: Arc<Gateway>,
    /// stdio: the principal of the key given at start. HTTP: None (per request).
    fixed: Option<Principal>,
    tool_router: ToolRouter<Self>,
}

/// JSON-RPC error code for "rate limited" (implementation-defined server error range).
pub const RATE_LIMITED: ErrorCode = ErrorCode(-32029);

fn to_error(e: &GatewayError) -> ErrorData {
    match e {
        GatewayError::RateLimited(wait) => ErrorData::new(
            RATE_LIMITED,
            e.to_string(),
            Some(serde_json::json!({"retry_after_seconds": retry_after_seconds(*wait)})),
        ),
        GatewayError::Auth(_) | GatewayError::BadRequest(_) => {
            ErrorData::invalid_params(e.to_string(), None)
        }
        GatewayError::Internal(_) => ErrorData::internal_error(e.to_string(), None),
    }
}

/// The JSON schema of a tool's `structuredContent` (the REST answer of the same question).
fn output_schema<T: JsonSchema + std::any::Any>() -> Arc<rmcp::model::JsonObject> {
    rmcp::handler::server::common::schema_for_output::<T>()
}

/// What a projection rests on, for the one-line answer.
fn basis_text(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s >= 86400.0 => " at the last day's pace".into(),
        Some(s) if s >= 3600.0 => " at the last hour's pace (less than a day of data)".into(),
        Some(s) => format!(
            " at the last {:.0} minutes' pace (less than an hour of data)",
            s / 60.0
        ),
        None => String::new(),
    }
}

fn usd(v: f64) -> String {
    format!("${v:.2}")
}

fn coverage_text(c: &Coverage) -> String {
    let mut s = match &c.tenant {
        Some(t) => format!("tenant {t}"),
        None => "all tenants".to_string(),
    };
    if !c.clouds_failed.is_empty() {
        let f: Vec<String> = c
            .clouds_failed
            .iter()
            .map(|f| format!("{} ({})", f.cloud, f.error))
            .collect();
        s.push_str(&format!("; PARTIAL, failed: {}", f.join(", ")));
    }
    if !c.clouds_disabled.is_empty() {
        let d: Vec<&str> = c.clouds_disabled.iter().map(|c| c.as_str()).collect();
        s.push_str(&format!("; disabled: {}", d.join(", ")));
    }
    s
}

fn ok<T: Serialize>(text: String, v: &T) -> Result<CallToolResult, ErrorData> {
    let value =
        serde_json::to_value(v).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let mut r = CallToolResult::structured(value);
    r.content = vec![ContentBlock::text(text)];
    Ok(r)
}

#[tool_router]
impl GatewayMcp {
    pub fn new(gw: Arc<Gateway>, fixed: Option<Principal>) -> GatewayMcp {
        GatewayMcp {
            gw,
            fixed,
            tool_router: Self::tool_router(),
        }
    }

    fn principal(&self, rc: &RequestContext<RoleServer>) -> Result<Principal, GatewayError> {
        if let Some(p) = &self.fixed {
            return Ok(p.clone());
        }
        rc.extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>().cloned())
            .ok_or(GatewayError::Auth(crate::auth::AuthError::Missing))
    }

    /// Scopes the call, runs it, counts it; tool errors become MCP errors.
    async fn run<T, F, Fut>(
        &self,
        tool: &'static str,
        rc: &RequestContext<RoleServer>,
        ask: Ask<'_>,
        f: F,
        text: impl FnOnce(&T) -> String,
    ) -> Result<CallToolResult, ErrorData>
    where
        T: Serialize,
        F: FnOnce(Arc<Gateway>, Ctx) -> Fut,
        Fut: std::future::Future<Output = Result<T, GatewayError>>,
    {
        let start = Instant::now();
        let route = format!("mcp:{tool}");
        let principal = self.principal(rc);
        let tenant = principal
            .as_ref()
            .map(|p| p.label().to_string())
            .unwrap_or_else(|_| "-".into());
        let result = match principal {
            Ok(p) => {
                match self
                    .gw
                    .context_for(p, ask.tenant_id, ask.cloud.map(Cloud::as_str), ask.time)
                {
                    Ok(ctx) => f(self.gw.clone(), ctx).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let (outcome, out) = match result {
            Ok(v) => {
                let partial = serde_json::to_value(&v)
                    .ok()
                    .and_then(|b| b["clouds_failed"].as_array().map(|a| !a.is_empty()))
                    .unwrap_or(false);
                (if partial { "partial" } else { "ok" }, ok(text(&v), &v))
            }
            Err(e) => (outcome_of(&e), Err(to_error(&e))),
        };
        self.gw.metrics.request(&route, &tenant, outcome);
        self.gw
            .metrics
            .request_duration
            .with_label_values(&[&route])
            .observe(start.elapsed().as_secs_f64());
        out
    }

    #[tool(
        description = "Spend (estimated USD, list prices) over a window, grouped by cloud, model, region, tenant, account or deployment. Scoped to your tenant.",
        output_schema = output_schema::<answers::SpendSummary>()
    )]
    async fn spend_summary(
        &self,
        Parameters(a): Parameters<SpendSummaryArgs>,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let window = a.window.clone().unwrap_or_else(|| "1d".into());
        let groups: Vec<String> = a
            .group_by
            .clone()
            .unwrap_or_else(|| vec![GroupBy::Cloud])
            .iter()
            .map(|g| g.label().to_string())
            .collect();
        self.run(
            "spend_summary",
            &rc,
            Ask {
                tenant_id: a.tenant_id.as_deref(),
                cloud: a.cloud,
                time: a.time.as_deref(),
            },
            |gw, ctx| async move { answers::spend_summary(&gw, &ctx, &window, &groups).await },
            |s: &answers::SpendSummary| {
                let top: Vec<String> = s
                    .rows
                    .iter()
                    .take(5)
                    .map(|r| {
                        let l: Vec<&str> = r.labels.values().map(String::as_str).collect();
                        format!("{} {}", l.join("/"), usd(r.cost_usd))
                    })
                    .collect();
                format!(
                    "Spend over {} ({}): {} in total. Largest: {}.",
                    s.window,
                    coverage_text(&s.coverage),
                    usd(s.total_usd),
                    if top.is_empty() {
                        "none".into()
                    } else {
                        top.join(", ")
                    }
                )
            },
        )
        .await
    }

    #[tool(
        description = "The models with the highest spend over a window, per cloud. Scoped to your tenant.",
        output_schema = output_schema::<answers::ModelCosts>()
    )]
    async fn top_models(
        &self,
        Parameters(a): Parameters<TopModelsArgs>,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let window = a.window.clone().unwrap_or_else(|| "1d".into());
        let limit = a.limit.unwrap_or(5).clamp(1, 1000) as usize;
        self.run(
            "top_models",
            &rc,
            Ask {
                tenant_id: a.tenant_id.as_deref(),
                cloud: a.cloud,
                time: a.time.as_deref(),
            },
            |gw, ctx| async move {
                answers::costs_by_model(&gw, &ctx, &window, None, Some(limit)).await
            },
            |m: &answers::ModelCosts| {
                let list: Vec<String> = m
                    .models
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        format!("{}. {} ({}) {}", i + 1, x.model, x.cloud, usd(x.cost_usd))
                    })
                    .collect();
                format!(
                    "Top models by spend over {} ({}): {}.",
                    m.window,
                    coverage_text(&m.coverage),
                    if list.is_empty() {
                        "none".into()
                    } else {
                        list.join("; ")
                    }
                )
            },
        )
        .await
    }

    #[tool(
        description = "Token usage by model and token type (input, output, cache_read, cache_write): total over a window and the live rate (tokens/s over 5m). Optional model regex, e.g. \"gemini.*\". Scoped to your tenant.",
        output_schema = output_schema::<answers::TokenUsage>()
    )]
    async fn token_usage(
        &self,
        Parameters(a): Parameters<TokenUsageArgs>,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let window = a.window.clone().unwrap_or_else(|| "1h".into());
        let model = a.model.clone();
        self.run(
            "token_usage",
            &rc,
            Ask { tenant_id: a.tenant_id.as_deref(), cloud: a.cloud, time: a.time.as_deref() },
            |gw, ctx| async move {
                answers::token_usage(&gw, &ctx, &window, model.as_deref()).await
            },
            |t: &answers::TokenUsage| {
                let totals: Vec<String> = t
                    .totals
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.0}"))
                    .collect();
                let rate: f64 = t.rows.iter().map(|r| r.tokens_per_second).sum();
                // Never "-0.0 tokens/s": a sum of rates is not negative.
                let rate = if rate > 0.0 { rate } else { 0.0 };
                format!(
                    "Tokens over {} ({}): {}; now {:.1} tokens/s across {} series.",
                    t.window,
                    coverage_text(&t.coverage),
                    if totals.is_empty() { "none".into() } else { totals.join(", ") },
                    rate,
                    t.rows.len()
                )
            },
        )
        .await
    }

    #[tool(
        description = "Spend per day (UTC) for a date range, per cloud and in total. Scoped to your tenant.",
        output_schema = output_schema::<answers::DailyCosts>()
    )]
    async fn daily_costs(
        &self,
        Parameters(a): Parameters<DailyCostsArgs>,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let start = a.start_date.clone();
        let end = a.end_date.clone().unwrap_or_else(|| a.start_date.clone());
        self.run(
            "daily_costs",
            &rc,
            Ask {
                tenant_id: a.tenant_id.as_deref(),
                cloud: a.cloud,
                time: a.time.as_deref(),
            },
            |gw, ctx| async move { answers::daily_costs(&gw, &ctx, &start, &end).await },
            |d: &answers::DailyCosts| {
                let days: Vec<String> = d
                    .days
                    .iter()
                    .map(|x| {
                        format!(
                            "{} {}{}",
                            x.date,
                            usd(x.total_usd),
                            if x.complete { "" } else { " (so far)" }
                        )
                    })
                    .collect();
                format!(
                    "Daily spend {}..{} ({}): {} in total. {}.",
                    d.start_date,
                    d.end_date,
                    coverage_text(&d.coverage),
                    usd(d.total_usd),
                    days.join(", ")
                )
            },
        )
        .await
    }

    #[tool(
        description = "The estimate beside the bill: per UTC day, cloud, account and model, estimated USD (from the exporters, list prices) and billed USD (from the clouds' billing exports), with drift_ratio = billed / estimated and how far each cloud's billing data reaches. Scoped to your tenant (the bill only through a cost-allocation tag).",
        output_schema = output_schema::<answers::Reconciliation>()
    )]
    async fn reconcile_costs(
        &self,
        Parameters(a): Parameters<ReconcileCostsArgs>,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let from = a.from.clone();
        let to = a.to.clone().unwrap_or_else(|| a.from.clone());
        self.run(
            "reconcile_costs",
            &rc,
            Ask {
                tenant_id: a.tenant_id.as_deref(),
                cloud: a.cloud,
                time: a.time.as_deref(),
            },
            |gw, ctx| async move { answers::reconciliation(&gw, &ctx, &from, &to).await },
            |r: &answers::Reconciliation| {
                let sum = |f: fn(&answers::ReconRow) -> Option<f64>| -> f64 {
                    r.days.iter().filter_map(f).sum()
                };
                let reach: Vec<String> = r
                    .billed_through
                    .iter()
                    .map(|(c, d)| format!("{c} {}", d.as_deref().unwrap_or("no data")))
                    .collect();
                format!(
                    "Estimate vs bill {}..{} ({}): estimated {}, billed {} over {} rows; bill complete through: {}.{}",
                    r.from,
                    r.to,
                    coverage_text(&r.coverage),
                    usd(sum(|x| x.estimated_usd)),
                    usd(sum(|x| x.billed_usd)),
                    r.days.len(),
                    if reach.is_empty() { "no billing export".into() } else { reach.join(", ") },
                    if r.notes.is_empty() { String::new() } else { format!(" Notes: {}", r.notes.join("; ")) }
                )
            },
        )
        .await
    }

    #[tool(
        description = "Budget status this month: month-to-date spend, projected month end, monthly budget, alert ratio and whether a tenant is over budget or past its alert threshold.",
        output_schema = output_schema::<answers::BudgetStatus>()
    )]
    async fn budget_status(
        &self,
        Parameters(a): Parameters<BudgetStatusArgs>,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(
            "budget_status",
            &rc,
            Ask {
                tenant_id: a.tenant_id.as_deref(),
                cloud: None,
                time: a.time.as_deref(),
            },
            |gw, ctx| async move { answers::budget_status(&gw, &ctx).await },
            |b: &answers::BudgetStatus| {
                let t: Vec<String> = b
                    .tenants
                    .iter()
                    .map(|t| {
                        format!(
                            "{}: {} so far, projected {}{}, budget {} -> {}{}",
                            t.tenant,
                            usd(t.month_to_date_usd),
                            usd(t.projected_month_end_usd),
                            basis_text(t.projection_basis_seconds),
                            t.budget_usd.map(usd).unwrap_or_else(|| "none".into()),
                            t.status,
                            if t.projected_over_budget {
                                " (projected over budget)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect();
                format!(
                    "Budgets {} ({}): {}.",
                    b.month,
                    coverage_text(&b.coverage),
                    if t.is_empty() {
                        "no tenant data".into()
                    } else {
                        t.join("; ")
                    }
                )
            },
        )
        .await
    }

    #[tool(
        description = "Health of the exporters behind the data: scraped, polling their cloud, data age.",
        output_schema = output_schema::<answers::ExportersHealth>()
    )]
    async fn exporter_health(
        &self,
        Parameters(a): Parameters<ExporterHealthArgs>,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(
            "exporter_health",
            &rc,
            Ask {
                tenant_id: None,
                cloud: a.cloud,
                time: a.time.as_deref(),
            },
            |gw, ctx| async move { answers::exporter_health(&gw, &ctx).await },
            |h: &answers::ExportersHealth| {
                let e: Vec<String> = h
                    .exporters
                    .iter()
                    .map(|e| {
                        format!(
                            "{} {}: {}{}",
                            e.cloud,
                            e.instance,
                            if e.healthy { "healthy" } else { "UNHEALTHY" },
                            e.data_age_seconds
                                .map(|a| format!(", data {a:.0}s old"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                format!(
                    "Exporters {}: {}.",
                    if h.healthy {
                        "healthy"
                    } else {
                        "NOT all healthy"
                    },
                    if e.is_empty() {
                        "none found".into()
                    } else {
                        e.join("; ")
                    }
                )
            },
        )
        .await
    }

    #[tool(
        description = "Run a read-only PromQL instant query over the LLM usage metrics (llm_tokens_total, llm_estimated_cost_usd_total, llm_invocations_total, llm:* recording rules, ...). Every selector is restricted to your tenant's series.",
        output_schema = output_schema::<answers::QueryAnswer>()
    )]
    async fn promql_query(
        &self,
        Parameters(a): Parameters<PromqlQueryArgs>,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let query = a.query.clone();
        self.run(
            "promql_query",
            &rc,
            Ask {
                tenant_id: a.tenant_id.as_deref(),
                cloud: a.cloud,
                time: a.time.as_deref(),
            },
            |gw, ctx| async move { answers::promql(&gw, &ctx, &query).await },
            |q: &answers::QueryAnswer| {
                let n: usize = q
                    .results
                    .iter()
                    .map(|r| r.result.as_array().map_or(1, |a| a.len()))
                    .sum();
                format!(
                    "{n} series from {} cloud(s) ({}).",
                    q.results.len(),
                    coverage_text(&q.coverage)
                )
            },
        )
        .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for GatewayMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("llm-gateway", env!("CARGO_PKG_VERSION")))
            .with_instructions(
            "LLM usage and spend across AWS Bedrock, Azure OpenAI and Vertex AI, from Prometheus, \
             scoped to the caller's tenant. Costs are estimates at list prices (USD).",
        )
    }
}

/// The Streamable HTTP service at /mcp (requests without a valid key never reach it) and a
/// function that ends its sessions, for shutdown: open event streams would otherwise keep
/// the server from stopping.
pub fn http_service(
    gw: Arc<Gateway>,
    allowed_hosts: Vec<String>,
) -> (
    StreamableHttpService<GatewayMcp, LocalSessionManager>,
    impl FnOnce() + Send + 'static,
) {
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts);
    let token = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(GatewayMcp::new(gw.clone(), None)),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    (service, move || token.cancel())
}

/// Middleware for /mcp: 401 without a valid key; the principal travels to the tools in the
/// request's extensions.
pub async fn authenticate(
    State(gw): State<Arc<Gateway>>,
    mut req: Request,
    next: Next,
) -> Response {
    let key = key_from_headers(req.headers());
    match gw.keyring.authenticate(key.as_deref()) {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => {
            gw.metrics.request("/mcp", "-", "unauthorized");
            let body = serde_json::json!({"status": "error", "error": e.to_string()});
            (
                axum::http::StatusCode::UNAUTHORIZED,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(body),
            )
                .into_response()
        }
    }
}
