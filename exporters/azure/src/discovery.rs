//! Azure Resource Manager discovery: the Cognitive Services accounts of a subscription and the
//! deployments of each account (which model a `ModelDeploymentName` serves, and under which
//! SKU). Both are cached with a TTL; every call goes through the guard. A deployment that
//! reports metrics before the cached listing knows it makes that account's listing refresh at
//! once (at most once a minute per account), so its model and price are right from its first
//! minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cache::TtlCache;
use common::error::SourceError;
use common::guard::{Guard, GuardError};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::http::AzClient;
use common::base::lock;

/// The first GA version whose deployments carry `properties.serviceTier` (Azure/bicep-types-az
/// `generated/cognitiveservices/microsoft.cognitiveservices/2025-12-01/types.md`).
const ACCOUNTS_API: &str = "2025-12-01";

#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "nextLink")]
    next_link: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: String,
    pub location: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    pub name: String,
    #[serde(default)]
    pub sku: Option<Sku>,
    #[serde(default)]
    pub properties: Option<DeploymentProperties>,
    #[serde(rename = "systemData", default)]
    pub system_data: Option<SystemData>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Sku {
    pub name: String,
    /// Deployed PTUs for provisioned SKUs (thousands of tokens per minute for standard ones).
    #[serde(default)]
    pub capacity: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentProperties {
    #[serde(default)]
    pub model: Option<DeployedModel>,
    /// `Default` or `Priority` (priority processing for the whole deployment).
    #[serde(rename = "serviceTier", alias = "service_tier", default)]
    pub service_tier: Option<String>,
}

/// ARM's creation and modification metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct SystemData {
    /// RFC 3339.
    #[serde(rename = "createdAt", default)]
    pub created_at: Option<String>,
}

impl Deployment {
    /// The SKU name (`Standard` when ARM gives none).
    pub fn sku_name(&self) -> &str {
        self.sku.as_ref().map_or("Standard", |s| s.name.as_str())
    }

    /// Unix seconds of the deployment's creation, when ARM says.
    pub fn created(&self) -> Option<i64> {
        let at = self.system_data.as_ref()?.created_at.as_deref()?;
        let t = humantime::parse_rfc3339_weak(at.trim_end_matches('Z').split('.').next()?).ok()?;
        Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeployedModel {
    #[serde(default)]
    pub format: Option<String>,
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// The shortest time between two forced refreshes of one account's deployments: a deployment
/// that never appears in the listing (deleted, still reporting) costs one ARM call a minute.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);

/// A listing fetched ahead of the cache's TTL.
struct Refreshed {
    at: Instant,
    list: Option<Arc<Vec<Deployment>>>,
}

pub struct Arm {
    pub client: Arc<AzClient>,
    pub guard: Arc<Guard>,
    pub base: String,
    pub scope: String,
    pub accounts: TtlCache<String, Arc<Vec<Account>>>,
    pub deployments: TtlCache<String, Arc<Vec<Deployment>>>,
    /// The caches' TTL (`azure.discovery_ttl`).
    pub ttl: Duration,
    refreshed: Mutex<HashMap<String, Refreshed>>,
}

impl Arm {
    pub fn new(
        client: Arc<AzClient>,
        guard: Arc<Guard>,
        base: String,
        scope: String,
        ttl: Duration,
        metrics: Arc<common::metrics::SelfMetrics>,
    ) -> Self {
        Arm {
            client,
            guard,
            base,
            scope,
            accounts: TtlCache::new("accounts", ttl, 1000, metrics.clone()),
            deployments: TtlCache::new("deployments", ttl, 10_000, metrics),
            ttl,
            refreshed: Mutex::new(HashMap::new()),
        }
    }

    /// The subscription's Cognitive Services accounts (Azure OpenAI and AI Foundry).
    pub async fn accounts(
        &self,
        subscription: &str,
    ) -> Result<Arc<Vec<Account>>, Arc<GuardError<SourceError>>> {
        let url = format!("{}/subscriptions/{subscription}/providers/Microsoft.CognitiveServices/accounts?api-version={ACCOUNTS_API}", self.base);
        self.accounts
            .get_or_try_insert(subscription.to_string(), async {
                self.list(url).await.map(Arc::new)
            })
            .await
    }

    /// The deployments of one account (by its resource id): a forced refresh younger than
    /// the TTL, else the cached listing.
    pub async fn deployments(
        &self,
        account_id: &str,
    ) -> Result<Arc<Vec<Deployment>>, Arc<GuardError<SourceError>>> {
        if let Some(list) = self
            .refreshed()
            .get(account_id)
            .filter(|r| r.at.elapsed() < self.ttl)
            .and_then(|r| r.list.clone())
        {
            return Ok(list);
        }
        let url = self.deployments_url(account_id);
        self.deployments
            .get_or_try_insert(account_id.to_string(), async {
                self.list(url).await.map(Arc::new)
            })
            .await
    }

    /// Lists the deployments of `account_id` again, ahead of the TTL, unless that was done
    /// less than [`MIN_REFRESH`] ago (then None: keep what is known).
    pub async fn refresh_deployments(
        &self,
        account_id: &str,
    ) -> Option<Result<Arc<Vec<Deployment>>, GuardError<SourceError>>> {
        {
            let mut refreshed = self.refreshed();
            if refreshed
                .get(account_id)
                .is_some_and(|r| r.at.elapsed() < MIN_REFRESH)
            {
                return None;
            }
            // Marked before the call: a failing listing is not retried every poll either.
            refreshed.insert(
                account_id.to_string(),
                Refreshed {
                    at: Instant::now(),
                    list: None,
                },
            );
        }
        let result = self
            .list(self.deployments_url(account_id))
            .await
            .map(Arc::new);
        if let Ok(list) = &result {
            self.refreshed().insert(
                account_id.to_string(),
                Refreshed {
                    at: Instant::now(),
                    list: Some(list.clone()),
                },
            );
        }
        Some(result)
    }

    fn refreshed(&self) -> std::sync::MutexGuard<'_, HashMap<String, Refreshed>> {
        lock(&self.refreshed)
    }

    fn deployments_url(&self, account_id: &str) -> String {
        format!(
            "{}{account_id}/deployments?api-version={ACCOUNTS_API}",
            self.base
        )
    }

    /// Every page, following `nextLink`.
    async fn list<T: DeserializeOwned>(
        &self,
        first: String,
    ) -> Result<Vec<T>, GuardError<SourceError>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next {
            let page: Page<T> = self
                .guard
                .call(|| self.client.get(&url, &self.scope))
                .await?;
            out.extend(page.value);
            next = page.next_link.filter(|l| !l.is_empty());
        }
        Ok(out)
    }
}

/// The scope of an account: `<subscription>/<resource group>/<account>`, lower-case (ARM
/// names are case-insensitive; an account name is unique only within its resource group).
pub fn account_scope(subscription: &str, account_id: &str) -> String {
    let parts: Vec<&str> = account_id.split('/').filter(|p| !p.is_empty()).collect();
    let rg = parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| parts.get(i + 1));
    match (rg, parts.last()) {
        (Some(rg), Some(name)) => format!("{subscription}/{rg}/{name}"),
        _ => format!("{subscription}/{account_id}"),
    }
    .to_ascii_lowercase()
}
