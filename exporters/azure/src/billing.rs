//! How Azure bills a deployment's traffic, from what ARM and Azure Monitor say about it.
//!
//! - The deployment's SKU (ARM `sku.name`) fixes the billing mode of its tokens:
//!   `GlobalBatch` / `DataZoneBatch` are batch ("50% less cost than global standard",
//!   learn.microsoft.com/azure/ai-foundry/openai/how-to/batch); `ProvisionedManaged`,
//!   `GlobalProvisionedManaged` and `DataZoneProvisionedManaged` are provisioned, billed per
//!   deployed PTU and hour, prorated by the minute (how-to/provisioned-throughput-onboarding,
//!   "Hourly usage"); the rest are per token (deployment-types).
//! - Priority processing is a deployment setting (ARM `properties.serviceTier`: `Default` or
//!   `Priority`) that a request can override; Azure Monitor shows the tier that served a
//!   request only on the request metrics (`ServiceTierResponse`), never on the token metrics
//!   ("Supported metrics for Microsoft.CognitiveServices/accounts"). Tokens are therefore
//!   priced at the deployment's tier, requests are counted per served tier.
//! - The Anthropic cache metrics carry `ContextLength` (same page); no other token metric does.

use common::source::{Billing, BillingMode};

use crate::discovery::Deployment;

/// Where a deployment's requests are processed, which sets its price (deployment-types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentType {
    Global,
    DataZone,
    /// "Standard" and "Provisioned" without a prefix: the deployment's own region.
    Regional,
}

impl DeploymentType {
    fn as_str(self) -> &'static str {
        match self {
            DeploymentType::Global => "global",
            DeploymentType::DataZone => "datazone",
            DeploymentType::Regional => "regional",
        }
    }
}

/// The deployment type and billing mode of an ARM SKU name (case-insensitive).
pub fn sku(name: &str) -> (DeploymentType, BillingMode) {
    let s = name.to_ascii_lowercase();
    let kind = if s.starts_with("global") {
        DeploymentType::Global
    } else if s.starts_with("datazone") {
        DeploymentType::DataZone
    } else {
        DeploymentType::Regional
    };
    let mode = if s.contains("provisioned") {
        BillingMode::Provisioned
    } else if s.contains("batch") {
        BillingMode::Batch
    } else {
        BillingMode::Standard
    };
    (kind, mode)
}

/// How the tokens of `deployment` are billed (None: not listed, billed per token at the
/// standard rate). `regional` marks Standard (regional) deployments, priced with a catalog
/// entry's regional uplift where it has one.
pub fn of_tokens(deployment: Option<&Deployment>) -> Billing {
    let Some(d) = deployment else {
        return Billing::default();
    };
    let (kind, mut mode) = sku(d.sku_name());
    let tier = d
        .properties
        .as_ref()
        .and_then(|p| p.service_tier.as_deref())
        .unwrap_or("");
    if mode == BillingMode::Standard && tier.eq_ignore_ascii_case("priority") {
        mode = BillingMode::Priority;
    }
    Billing {
        mode,
        long_context: false,
        regional: kind == DeploymentType::Regional && mode.per_token(),
    }
}

/// The mode of requests served by tier `served` (`ServiceTierResponse`) on a deployment whose
/// tokens are billed as `deployment`: priority and flex as named; a standard answer
/// (`default`, or no value) is the deployment's own mode, except on a priority deployment,
/// where it was downgraded to standard.
pub fn of_requests(served: &str, deployment: BillingMode) -> BillingMode {
    let s = served.trim().to_ascii_lowercase();
    if s.contains("priority") {
        BillingMode::Priority
    } else if s.contains("flex") {
        BillingMode::Flex
    } else if deployment == BillingMode::Priority && !s.is_empty() {
        BillingMode::Standard
    } else {
        deployment
    }
}

/// True when a `ContextLength` value names requests above 200k input tokens. Microsoft lists
/// the dimension but not its values, so any spelling that says "more than N" with N of at
/// least 200k (`>200K`, `200K+`, `above_200k`, `gt200000`) or "long" counts; anything else is
/// standard context.
pub fn long_context(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    if v.contains("long") {
        return true;
    }
    let more = v.contains('>')
        || v.contains('+')
        || v.contains("above")
        || v.contains("over")
        || v.contains("gt")
        || v.contains("greater")
        || v.contains("more");
    more && threshold(&v).is_some_and(|n| n >= 200_000)
}

/// The first number in `v`, with a `k` or `m` suffix applied.
fn threshold(v: &str) -> Option<u64> {
    let start = v.find(|c: char| c.is_ascii_digit())?;
    let digits: String = v[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let n: u64 = digits.parse().ok()?;
    let rest = &v[start + digits.len()..];
    Some(match rest.chars().next() {
        Some('k') => n.saturating_mul(1_000),
        Some('m') => n.saturating_mul(1_000_000),
        _ => n,
    })
}

/// Catalog keys of the hourly PTU rate of a provisioned deployment in `region`, most specific
/// first: `provisioned/<type>/<region>`, then `provisioned/<type>` (global, datazone,
/// regional). The bundled rates are in `exporters/azure/pricing/capacity-azure.yaml`; a pricing file
/// entry of either key with `provisioned_usd_per_unit_hour` replaces them (reservations).
pub fn capacity_keys(kind: DeploymentType, region: &str) -> Vec<String> {
    let kind = kind.as_str();
    vec![
        format!("provisioned/{kind}/{}", region.to_ascii_lowercase()),
        format!("provisioned/{kind}"),
    ]
}

/// Deployed PTUs of a provisioned deployment (None for other SKUs or no capacity).
pub fn deployed_units(d: &Deployment) -> Option<(DeploymentType, f64)> {
    let (kind, mode) = sku(d.sku_name());
    let units = d.sku.as_ref()?.capacity?;
    (mode == BillingMode::Provisioned && units.is_finite() && units > 0.0).then_some((kind, units))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{DeploymentProperties, Sku};

    fn deployment(sku: &str, tier: Option<&str>) -> Deployment {
        Deployment {
            name: "d".into(),
            sku: Some(Sku {
                name: sku.into(),
                capacity: Some(100.0),
            }),
            properties: Some(DeploymentProperties {
                model: None,
                service_tier: tier.map(String::from),
            }),
            system_data: None,
        }
    }

    #[test]
    fn skus_fix_type_and_mode() {
        use BillingMode::*;
        use DeploymentType::*;
        for (name, want) in [
            ("GlobalStandard", (Global, Standard)),
            ("GlobalBatch", (Global, Batch)),
            ("DataZoneBatch", (DataZone, Batch)),
            ("DataZoneStandard", (DataZone, Standard)),
            ("Standard", (Regional, Standard)),
            ("ProvisionedManaged", (Regional, Provisioned)),
            ("GlobalProvisionedManaged", (Global, Provisioned)),
            ("DataZoneProvisionedManaged", (DataZone, Provisioned)),
            ("globalbatch", (Global, Batch)),
        ] {
            assert_eq!(sku(name), want, "{name}");
        }
    }

    #[test]
    fn tokens_follow_the_sku_and_the_deployments_tier() {
        let b = |sku: &str, tier| of_tokens(Some(&deployment(sku, tier)));
        assert_eq!(b("GlobalBatch", None).mode, BillingMode::Batch);
        assert_eq!(b("DataZoneBatch", None).mode, BillingMode::Batch);
        assert_eq!(
            b("GlobalProvisionedManaged", None).mode,
            BillingMode::Provisioned
        );
        assert_eq!(
            b("GlobalStandard", Some("Priority")).mode,
            BillingMode::Priority
        );
        assert_eq!(
            b("GlobalStandard", Some("Default")).mode,
            BillingMode::Standard
        );
        assert!(b("Standard", None).regional, "regional Standard");
        assert!(!b("GlobalStandard", None).regional);
        assert!(!b("DataZoneStandard", None).regional);
        assert!(!b("ProvisionedManaged", None).regional, "not per token");
        assert_eq!(of_tokens(None), Billing::default());
    }

    #[test]
    fn requests_are_billed_at_the_tier_that_served_them() {
        use BillingMode::*;
        assert_eq!(of_requests("priority", Standard), Priority);
        assert_eq!(of_requests("Priority", Standard), Priority);
        assert_eq!(of_requests("flex", Standard), Flex);
        assert_eq!(of_requests("default", Priority), Standard, "downgraded");
        assert_eq!(of_requests("", Priority), Priority, "no value: as deployed");
        assert_eq!(of_requests("default", Batch), Batch);
        assert_eq!(of_requests("default", Provisioned), Provisioned);
    }

    #[test]
    fn context_lengths_above_200k_are_long() {
        for long in [
            ">200K",
            "> 200k",
            "200K+",
            "above_200k",
            "Above200K",
            "gt200000",
            "LongContext",
            ">1M",
        ] {
            assert!(long_context(long), "{long}");
        }
        for standard in [
            "", "<=200K", "0-200K", "200K", "Standard", "<200k", ">128k", "default",
        ] {
            assert!(!long_context(standard), "{standard}");
        }
    }

    #[test]
    fn capacity_is_priced_per_type_and_region() {
        assert_eq!(
            capacity_keys(DeploymentType::Regional, "WestEurope"),
            vec!["provisioned/regional/westeurope", "provisioned/regional"]
        );
        let d = deployment("DataZoneProvisionedManaged", None);
        assert_eq!(deployed_units(&d), Some((DeploymentType::DataZone, 100.0)));
        assert_eq!(deployed_units(&deployment("GlobalStandard", None)), None);
    }
}
