//! Upstream health and breakers; enabling and disabling a cloud for a tenant.

use serde::Serialize;

use crate::config::Cloud;
use crate::gateway::{Ctx, Gateway, GatewayError};

#[derive(Debug, Serialize)]
pub struct UpstreamHealth {
    pub name: String,
    pub clouds: Vec<Cloud>,
    pub healthy: bool,
    /// `closed`, `half_open` or `open`.
    pub breaker: String,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: String,
    pub upstreams: Vec<UpstreamHealth>,
}

/// Probes each upstream (`/-/ready`, through its breaker) and reports the breaker state.
pub async fn health(gw: &Gateway, ctx: &Ctx) -> Result<Health, GatewayError> {
    let clouds: Vec<Cloud> = gw.upstreams.iter().flat_map(|u| u.clouds.clone()).collect();
    gw.limits
        .check(
            ctx.principal.label(),
            &clouds,
            ctx.principal.requests_per_minute,
        )
        .map_err(GatewayError::RateLimited)?;
    let probes = gw.upstreams.iter().map(|u| async move {
        let r = u.probe().await;
        UpstreamHealth {
            name: u.name.clone(),
            clouds: u.clouds.clone(),
            healthy: r.is_ok(),
            breaker: u.breaker_state().as_str().to_string(),
            error: r.err().map(|e| e.to_string()),
        }
    });
    let upstreams: Vec<UpstreamHealth> = futures::future::join_all(probes).await;
    let up = upstreams.iter().filter(|u| u.healthy).count();
    Ok(Health {
        status: if up == upstreams.len() {
            "ok"
        } else if up == 0 {
            "down"
        } else {
            "degraded"
        }
        .into(),
        upstreams,
    })
}

#[derive(Debug, Serialize)]
pub struct CloudSwitch {
    pub tenant: String,
    pub cloud: Cloud,
    pub enabled: bool,
    pub disabled_clouds: Vec<Cloud>,
}

pub fn set_cloud(
    gw: &Gateway,
    ctx: &Ctx,
    cloud: &str,
    enabled: bool,
) -> Result<CloudSwitch, GatewayError> {
    let cloud = Cloud::parse(cloud).ok_or_else(|| {
        GatewayError::BadRequest(format!("unknown cloud {cloud:?}: aws, azure or gcp"))
    })?;
    let tenant = ctx.scope.tenant.clone().ok_or_else(|| {
        GatewayError::BadRequest("tenant_id is required with the admin key".into())
    })?;
    if !ctx.scope.clouds.contains(&cloud) {
        return Err(GatewayError::BadRequest(format!(
            "tenant {tenant:?} may not see {cloud} at all"
        )));
    }
    gw.store
        .set(&tenant, cloud, enabled)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(CloudSwitch {
        disabled_clouds: gw.store.disabled(&tenant).into_iter().collect(),
        tenant,
        cloud,
        enabled,
    })
}
