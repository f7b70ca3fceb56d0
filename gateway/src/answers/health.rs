//! Upstream health and breakers; enabling and disabling a cloud for a tenant.

use serde::Serialize;

use crate::auth::AuthError;
use crate::config::Cloud;
use crate::gateway::{Ctx, Gateway, GatewayError};
use crate::state::SetError;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UpstreamHealth {
    pub name: String,
    pub clouds: Vec<Cloud>,
    pub healthy: bool,
    /// `closed`, `half_open` or `open`.
    pub breaker: String,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    pub status: String,
    pub upstreams: Vec<UpstreamHealth>,
}

/// Probes each upstream (`/-/ready`, through its breaker) and reports the breaker state.
pub async fn health(gw: &Gateway, ctx: &Ctx) -> Result<Health, GatewayError> {
    let probes: Vec<(Cloud, usize)> = gw
        .upstreams
        .iter()
        .filter_map(|u| u.clouds.first().map(|c| (*c, 1)))
        .collect();
    gw.limits
        .check(
            ctx.principal.label(),
            &probes,
            ctx.principal.requests_per_minute,
        )
        .map_err(|e| match e {
            crate::ratelimit::Refused::Wait(w) => GatewayError::RateLimited(w),
            crate::ratelimit::Refused::TooMuch { .. } => {
                GatewayError::RateLimited(std::time::Duration::from_secs(60))
            }
        })?;
    let admin = ctx.principal.tenant.is_none();
    let probes = gw.upstreams.iter().map(|u| async move {
        let r = u.probe().await;
        UpstreamHealth {
            name: u.name.clone(),
            clouds: u.clouds.clone(),
            healthy: r.is_ok(),
            breaker: u.breaker_state().as_str().to_string(),
            // The upstream's own message (addresses) for the admin; the kind for tenants.
            error: r
                .err()
                .map(|e| if admin { e.to_string() } else { e.public() }),
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

#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    let admin = ctx.principal.tenant.is_none();
    gw.store
        .set(&tenant, cloud, enabled, admin)
        .map_err(|e| match e {
            SetError::AdminDisabled(_) => GatewayError::Auth(AuthError::AdminOnly(e.to_string())),
            SetError::State(e) => GatewayError::Internal(e.to_string()),
        })?;
    Ok(CloudSwitch {
        disabled_clouds: gw.store.disabled(&tenant).into_iter().collect(),
        tenant,
        cloud,
        enabled,
    })
}
