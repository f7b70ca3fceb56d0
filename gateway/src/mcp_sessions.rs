//! In front of the Streamable HTTP transport at /mcp, after authentication: every MCP session
//! belongs to the key that created it (another key's requests with its `Mcp-Session-Id`,
//! `DELETE` included, get the same 404 as an unknown session), and a body that is not JSON
//! gets JSON-RPC's parse error rather than the transport's HTTP 415.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moka::future::Cache;

use crate::auth::Principal;

/// The transport's own cap on a request body (rmcp's default).
const MAX_BODY: usize = 4 << 20;

const SESSION_HEADER: &str = "mcp-session-id";

/// Session id -> the principal (tenant name, or `admin`) that created it.
pub struct Sessions {
    owners: Cache<String, String>,
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions {
            // An abandoned session is forgotten after a day without requests; its transport
            // state goes with the transport's own keep-alive.
            owners: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(86400))
                .build(),
        }
    }
}

/// A JSON-RPC error answer without an id (the request's could not be read), HTTP 400.
fn jsonrpc_error(status: StatusCode, code: i64, message: String) -> Response {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": null,
                                  "error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// Reads a JSON POST body: JSON-RPC -32700 when it is not JSON, -32600 when it is JSON but
/// not a JSON-RPC message; otherwise the request, rebuilt, for the transport.
async fn check_body(req: Request) -> Result<Request, Response> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        });
    if req.method() != Method::POST || !json {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        jsonrpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            -32600,
            format!("Invalid Request: the body is larger than {MAX_BODY} bytes"),
        )
    })?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| jsonrpc_error(StatusCode::BAD_REQUEST, -32700, format!("Parse error: {e}")))?;
    if let Err(e) = serde_json::from_value::<rmcp::model::ClientJsonRpcMessage>(value) {
        return Err(jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            format!("Invalid Request: not a JSON-RPC message an MCP client sends: {e}"),
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

pub async fn guard(State(sessions): State<Arc<Sessions>>, req: Request, next: Next) -> Response {
    let who = req
        .extensions()
        .get::<Principal>()
        .map(|p| p.label().to_string())
        .unwrap_or_default();
    let req = match check_body(req).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    match session {
        Some(id) => {
            if sessions.owners.get(&id).await.as_deref() != Some(who.as_str()) {
                // Another key's session looks exactly like one that does not exist.
                return jsonrpc_error(StatusCode::NOT_FOUND, -32001, "Session not found".into());
            }
            let delete = req.method() == Method::DELETE;
            let response = next.run(req).await;
            if delete && response.status().is_success() {
                sessions.owners.invalidate(&id).await;
            }
            response
        }
        None => {
            let response = next.run(req).await;
            if let Some(id) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                sessions.owners.insert(id.to_string(), who).await;
            }
            response
        }
    }
}
