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
use serde::Serialize;

use crate::answers;
use crate::auth::{key_from_headers, Principal};
use crate::config::Cloud;
use crate::gateway::{retry_after_seconds, Ctx, Gateway, GatewayError};
use crate::mcp_args::{
    BudgetStatusArgs, DailyCostsArgs, ExporterHealthArgs, GroupBy, PromqlQueryArgs,
    ReconcileCostsArgs, SpendSummaryArgs, TokenUsageArgs, TopModelsArgs,
};
use crate::mcp_text;
use crate::rest::outcome_of;

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
            mcp_text::spend_summary,
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
            mcp_text::model_costs,
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
            mcp_text::token_usage,
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
            mcp_text::daily_costs,
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
            mcp_text::reconciliation,
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
            mcp_text::budget_status,
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
            mcp_text::exporters_health,
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
            mcp_text::query_answer,
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
