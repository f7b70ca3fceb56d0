//! Azure Resource Manager discovery: the Cognitive Services accounts of a subscription and the
//! deployments of each account (which model a `ModelDeploymentName` serves, and under which
//! SKU). Both are cached with a TTL; every call goes through the guard.

use std::sync::Arc;

use common::cache::TtlCache;
use common::guard::{Guard, GuardError};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::http::{AzClient, AzError};

const ACCOUNTS_API: &str = "2024-10-01";

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
}

#[derive(Debug, Clone, Deserialize)]
pub struct Sku {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentProperties {
    #[serde(default)]
    pub model: Option<DeployedModel>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeployedModel {
    #[serde(default)]
    pub format: Option<String>,
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

pub struct Arm {
    pub client: Arc<AzClient>,
    pub guard: Arc<Guard>,
    pub base: String,
    pub scope: String,
    pub accounts: TtlCache<String, Arc<Vec<Account>>>,
    pub deployments: TtlCache<String, Arc<Vec<Deployment>>>,
}

impl Arm {
    /// The subscription's Cognitive Services accounts (Azure OpenAI and AI Foundry).
    pub async fn accounts(
        &self,
        subscription: &str,
    ) -> Result<Arc<Vec<Account>>, Arc<GuardError<AzError>>> {
        let url = format!("{}/subscriptions/{subscription}/providers/Microsoft.CognitiveServices/accounts?api-version={ACCOUNTS_API}", self.base);
        self.accounts
            .get_or_try_insert(subscription.to_string(), async {
                self.list(url).await.map(Arc::new)
            })
            .await
    }

    /// The deployments of one account (by its resource id).
    pub async fn deployments(
        &self,
        account_id: &str,
    ) -> Result<Arc<Vec<Deployment>>, Arc<GuardError<AzError>>> {
        let url = format!(
            "{}{account_id}/deployments?api-version={ACCOUNTS_API}",
            self.base
        );
        self.deployments
            .get_or_try_insert(account_id.to_string(), async {
                self.list(url).await.map(Arc::new)
            })
            .await
    }

    /// Every page, following `nextLink`.
    async fn list<T: DeserializeOwned>(
        &self,
        first: String,
    ) -> Result<Vec<T>, GuardError<AzError>> {
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
