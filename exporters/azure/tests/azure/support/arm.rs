//! The fake's ARM listings: a subscription's Cognitive Services accounts and an account's
//! deployments, in pages joined by `nextLink` (`$skiptoken`), as ARM list operations return them.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{error, FakeAzure, ARM};

fn skip_token(q: &Option<String>) -> usize {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    pairs
        .iter()
        .find(|(k, _)| k == "$skiptoken")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// One ARM page of `items`, with a `nextLink` back to `path` when more remain.
fn arm_page(fake: &FakeAzure, path: &str, items: Vec<Value>, skip: usize) -> Response {
    let (size, public) = {
        let s = fake.state();
        (s.page_size, s.public.clone())
    };
    let size = if size == 0 { items.len().max(1) } else { size };
    let page: Vec<Value> = items.iter().skip(skip).take(size).cloned().collect();
    let mut body = json!({"value": page});
    if skip + size < items.len() {
        body["nextLink"] = json!(format!(
            "{public}{path}?api-version=2024-10-01&$skiptoken={}",
            skip + size
        ));
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub async fn accounts(
    State(fake): State<FakeAzure>,
    Path(sub): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fake.admit(ARM, &headers).await {
        return r;
    }
    let items: Vec<Value> = fake
        .state()
        .accounts
        .iter()
        .filter(|a| a.subscription == sub)
        .map(|a| json!({"id": a.id(), "name": a.name, "type": "Microsoft.CognitiveServices/accounts", "location": a.location, "kind": "AIServices", "sku": {"name": "S0"}, "properties": {"provisioningState": "Succeeded"}}))
        .collect();
    arm_page(
        &fake,
        &format!("/subscriptions/{sub}/providers/Microsoft.CognitiveServices/accounts"),
        items,
        skip_token(&q),
    )
}

pub async fn deployments(
    State(fake): State<FakeAzure>,
    Path((sub, rg, name)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fake.admit(ARM, &headers).await {
        return r;
    }
    let Some(account) = fake
        .state()
        .accounts
        .iter()
        .find(|a| a.subscription == sub && a.name == name)
        .cloned()
    else {
        return error(404, "ResourceNotFound", "no such account");
    };
    let items: Vec<Value> = account
        .deployments
        .iter()
        .map(|d| {
            let mut v = json!({"id": format!("{}/deployments/{}", account.id(), d.name), "name": d.name, "type": "Microsoft.CognitiveServices/accounts/deployments", "sku": {"name": d.sku, "capacity": d.capacity}, "properties": {"model": {"format": d.format, "name": d.model, "version": d.version}, "provisioningState": "Succeeded"}});
            if let Some(tier) = &d.service_tier {
                v["properties"]["serviceTier"] = json!(tier);
            }
            if let Some(at) = d.created_at {
                v["systemData"] = json!({"createdAt": super::rfc3339(at), "createdByType": "User"});
            }
            v
        })
        .collect();
    arm_page(&fake, &format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}/deployments"), items, skip_token(&q))
}
