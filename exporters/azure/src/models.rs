//! What Azure Monitor's `Microsoft.CognitiveServices/accounts` metrics mean in the contract
//! (metrics: Azure Monitor's supported metrics for that resource type,
//! https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-cognitiveservices-accounts-metrics;
//! prices: LiteLLM's model_prices_and_context_window.json, BerriAI/litellm).
//!
//! OpenAI deployments report the "Azure OpenAI" category (`ProcessedPromptTokens`,
//! `GeneratedTokens`, `AzureOpenAIRequests`); other Foundry models report the "Models"
//! category (`InputTokens`, `OutputTokens`, cache tokens, `ModelRequests`). Each deployment is
//! read from its own category only, so no token is counted twice.

use common::source::{ErrorType, LatencyKind, TokenType};

use crate::discovery::Deployment;

pub const NAMESPACE: &str = "Microsoft.CognitiveServices/accounts";

/// One metrics query per batch of resources. A filter may only name dimensions every metric
/// in the query has, so metrics split by status code and served tier (the request metrics)
/// or by context length (the Anthropic cache metrics) are queried apart from the others; and
/// each query asks only for the aggregation its metrics support ("Supported metrics for
/// Microsoft.CognitiveServices/accounts": token and request counts are `Total (Sum)` only,
/// latencies `Minimum, Maximum, Average`). Azure answers an unsupported aggregation with a
/// per-metric error and no data, so mixing them in one query would lose a metric.
pub struct MetricQuery {
    pub names: &'static [&'static str],
    pub aggregation: &'static str,
    pub filter: &'static str,
}

pub const QUERIES: [MetricQuery; 4] = [
    MetricQuery {
        names: &[
            "ProcessedPromptTokens",
            "GeneratedTokens",
            "InputTokens",
            "OutputTokens",
        ],
        aggregation: "total",
        filter: "ModelDeploymentName eq '*'",
    },
    // The Anthropic cache metrics alone carry `ContextLength`: split by it, the cache tokens
    // of requests above 200k are priced at the long-context rate.
    MetricQuery {
        names: &[
            "cacheReadInputTokens",
            "ephemeral5mInputTokens",
            "ephemeral1hInputTokens",
        ],
        aggregation: "total",
        filter: "ModelDeploymentName eq '*' and ContextLength eq '*'",
    },
    MetricQuery {
        names: &[
            "AzureOpenAITimeToResponse",
            "AzureOpenAINormalizedTTFTInMS",
            "TimeToResponse",
            "NormalizedTimeToFirstToken",
        ],
        aggregation: "average",
        filter: "ModelDeploymentName eq '*'",
    },
    MetricQuery {
        names: &["AzureOpenAIRequests", "ModelRequests"],
        aggregation: "total",
        filter: "ModelDeploymentName eq '*' and StatusCode eq '*' and ServiceTierResponse eq '*'",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    Tokens(TokenType),
    Requests,
    Latency(LatencyKind),
}

/// What `metric` means for a deployment of the OpenAI format (`openai`) or another format.
pub fn meaning(metric: &str, openai: bool) -> Option<Meaning> {
    let m = metric.to_ascii_lowercase();
    let openai_category = match m.as_str() {
        "processedprompttokens" => Some(Meaning::Tokens(TokenType::Input)),
        "generatedtokens" => Some(Meaning::Tokens(TokenType::Output)),
        "azureopenairequests" => Some(Meaning::Requests),
        "azureopenaitimetoresponse" => Some(Meaning::Latency(LatencyKind::Invocation)),
        "azureopenainormalizedttftinms" => Some(Meaning::Latency(LatencyKind::FirstToken)),
        _ => None,
    };
    let models_category = match m.as_str() {
        "inputtokens" => Some(Meaning::Tokens(TokenType::Input)),
        "outputtokens" => Some(Meaning::Tokens(TokenType::Output)),
        "cachereadinputtokens" => Some(Meaning::Tokens(TokenType::CacheRead)),
        // One-hour cache writes cost more: their own rate, counted as cache_write.
        "ephemeral5minputtokens" => Some(Meaning::Tokens(TokenType::CacheWrite)),
        "ephemeral1hinputtokens" => Some(Meaning::Tokens(TokenType::CacheWrite1h)),
        "modelrequests" => Some(Meaning::Requests),
        "timetoresponse" => Some(Meaning::Latency(LatencyKind::Invocation)),
        "normalizedtimetofirsttoken" => Some(Meaning::Latency(LatencyKind::FirstToken)),
        _ => None,
    };
    if openai {
        openai_category
    } else {
        models_category
    }
}

/// True for deployments of OpenAI models (and for deployments ARM does not know, which on
/// Azure OpenAI resources are OpenAI models).
pub fn is_openai(deployment: Option<&Deployment>) -> bool {
    deployment
        .and_then(|d| d.properties.as_ref()?.model.as_ref()?.format.clone())
        .is_none_or(|f| f.eq_ignore_ascii_case("OpenAI"))
}

/// How a request ended, by its status code (None: success). 429 is throttling.
pub fn outcome(status_code: &str) -> Option<ErrorType> {
    match status_code.trim().parse::<u16>() {
        Ok(429) => Some(ErrorType::Throttled),
        Ok(400..=499) => Some(ErrorType::Client),
        Ok(500..=599) => Some(ErrorType::Server),
        _ => None,
    }
}

/// EU Data Zone regions (the rest of the Data Zone SKUs are priced as `us/`).
fn is_eu(region: &str) -> bool {
    let r = region.to_ascii_lowercase();
    [
        "europe",
        "uk",
        "france",
        "germany",
        "sweden",
        "switzerland",
        "norway",
        "poland",
        "italy",
        "spain",
    ]
    .iter()
    .any(|p| r.contains(p))
}

/// The Data Zone of a region: `eu` or `us` for regions in one, None elsewhere (Azure's Data
/// Zones are the EU and the US).
fn data_zone(region: &str) -> Option<&'static str> {
    let r = region.to_ascii_lowercase();
    let us = [
        "eastus",
        "westus",
        "centralus",
        "northcentralus",
        "southcentralus",
        "westcentralus",
    ];
    if is_eu(&r) {
        Some("eu")
    } else if us.iter().any(|p| r.starts_with(p)) {
        Some("us")
    } else {
        None
    }
}

/// The catalog keys of a deployment's tokens, most specific first; the accumulator prices with
/// the first one the catalog loaded now has. The SKU picks LiteLLM's variant: Global (Standard
/// and Batch) `global/...` then the plain name (the base rate), Data Zone `us/...` or
/// `eu/...` (no fallback to the cheaper Global rate: cost is never invented). Standard
/// (regional) deployments are billed at Azure's Regional rate, which is not the Global one the
/// plain name carries in LiteLLM's map: `regional/...` where the catalog (or a pricing file)
/// has it, else the Data Zone rate of the region's zone (the nearest catalogued rate), else the
/// plain name (the Global rate). The billing mode (batch, provisioned...) is the labels'
/// (see [`crate::billing`]).
pub fn price_keys(
    deployment: Option<&Deployment>,
    region: &str,
    fallback_model: &str,
) -> Vec<String> {
    let model = deployment.and_then(|d| d.properties.as_ref()?.model.clone());
    let sku = deployment
        .map_or("Standard", |d| d.sku_name())
        .to_ascii_lowercase();
    let (name, version, format) = match &model {
        Some(m) => (
            m.name.as_str(),
            m.version.clone().unwrap_or_default(),
            m.format.clone().unwrap_or_else(|| "OpenAI".into()),
        ),
        None => (fallback_model, String::new(), "OpenAI".into()),
    };
    let versioned = if version.is_empty() {
        None
    } else {
        Some(format!("{name}-{version}"))
    };
    let mut candidates: Vec<String> = Vec::new();
    let mut push = |prefix: &str| {
        if let Some(v) = &versioned {
            candidates.push(format!("{prefix}{v}"));
        }
        candidates.push(format!("{prefix}{name}"));
    };
    if !format.eq_ignore_ascii_case("OpenAI") {
        push("azure_ai/");
        push("");
    } else if sku.starts_with("global") {
        push("global/");
        push("");
    } else if sku.starts_with("datazone") {
        push(if is_eu(region) { "eu/" } else { "us/" });
    } else {
        push("regional/");
        if let Some(zone) = data_zone(region) {
            push(&format!("{zone}/"));
        }
        push("");
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{DeployedModel, DeploymentProperties, Sku};
    use common::pricing::Pricing;

    fn deployment(sku: &str, format: &str, name: &str, version: &str) -> Deployment {
        Deployment {
            name: "d".into(),
            sku: Some(Sku {
                name: sku.into(),
                capacity: None,
            }),
            properties: Some(DeploymentProperties {
                model: Some(DeployedModel {
                    format: Some(format.into()),
                    name: name.into(),
                    version: Some(version.into()),
                }),
                service_tier: None,
            }),
            system_data: None,
        }
    }

    #[test]
    fn each_deployment_reads_its_own_category() {
        assert_eq!(
            meaning("ProcessedPromptTokens", true),
            Some(Meaning::Tokens(TokenType::Input))
        );
        assert_eq!(
            meaning("InputTokens", true),
            None,
            "OpenAI tokens are not counted twice"
        );
        assert_eq!(
            meaning("InputTokens", false),
            Some(Meaning::Tokens(TokenType::Input))
        );
        assert_eq!(
            meaning("ephemeral1hInputTokens", false),
            Some(Meaning::Tokens(TokenType::CacheWrite1h))
        );
        assert_eq!(
            meaning("processedprompttokens", true),
            Some(Meaning::Tokens(TokenType::Input)),
            "names match case-insensitively"
        );
    }

    #[test]
    fn each_query_asks_only_for_what_its_metrics_support() {
        for q in &QUERIES {
            let latency = q.names.iter().all(|n| {
                matches!(
                    meaning(n, true).or(meaning(n, false)),
                    Some(Meaning::Latency(_))
                )
            });
            let counts = q.names.iter().all(|n| {
                !matches!(
                    meaning(n, true).or(meaning(n, false)),
                    Some(Meaning::Latency(_))
                )
            });
            assert!(
                latency || counts,
                "{:?} mixes latencies and counts",
                q.names
            );
            assert_eq!(q.aggregation, if latency { "average" } else { "total" });
        }
    }

    #[test]
    fn status_codes_map_to_the_contract() {
        assert_eq!(outcome("200"), None);
        assert_eq!(outcome("429"), Some(ErrorType::Throttled));
        assert_eq!(outcome("400"), Some(ErrorType::Client));
        assert_eq!(outcome("503"), Some(ErrorType::Server));
    }

    /// The key the accumulator prices with: the first candidate the catalog has.
    fn chosen(p: &Pricing, d: &Deployment, region: &str) -> String {
        let keys = price_keys(Some(d), region, "x");
        p.resolve(&keys).unwrap_or(&keys[0]).to_string()
    }

    #[test]
    fn skus_pick_the_price_variant() {
        let p = Pricing::load("azure", None).unwrap();
        let key = |d: &Deployment, region| chosen(&p, d, region);
        let gpt4o = |sku| deployment(sku, "OpenAI", "gpt-4o", "2024-08-06");
        assert_eq!(
            key(&gpt4o("GlobalStandard"), "eastus"),
            "global/gpt-4o-2024-08-06"
        );
        assert_eq!(
            key(&gpt4o("GlobalBatch"), "eastus"),
            "global/gpt-4o-2024-08-06",
            "Global Batch: the Global entry (its batch rate, or half the standard one)"
        );
        assert_eq!(
            key(&gpt4o("DataZoneStandard"), "eastus"),
            "us/gpt-4o-2024-08-06"
        );
        assert_eq!(
            key(&gpt4o("DataZoneBatch"), "eastus"),
            "us/gpt-4o-2024-08-06"
        );
        assert_eq!(
            key(&gpt4o("DataZoneStandard"), "swedencentral"),
            "eu/gpt-4o-2024-08-06"
        );
        // Standard (regional): LiteLLM has no Regional entries; the Data Zone rate of the
        // region's zone, not the plain (Global) one ("gpt-4.1-2025-04-14", $2.00).
        let gpt41 = deployment("Standard", "OpenAI", "gpt-4.1", "2025-04-14");
        assert_eq!(key(&gpt41, "eastus"), "us/gpt-4.1-2025-04-14");
        assert_eq!(
            p.rate(
                &price_keys(Some(&gpt41), "eastus", "x"),
                TokenType::Input,
                common::source::Billing::default()
            ),
            Some(2.2e-6)
        );
        assert_eq!(
            key(&gpt4o("Standard"), "westeurope"),
            "eu/gpt-4o-2024-08-06"
        );
        // Outside the Data Zones: the plain key (the Global rate; documented as such).
        assert_eq!(key(&gpt4o("Standard"), "japaneast"), "gpt-4o-2024-08-06");
        // No versioned Data Zone entry: the unversioned one.
        let future = deployment("Standard", "OpenAI", "gpt-4.1", "2099-01-01");
        assert_eq!(key(&future, "eastus"), "us/gpt-4.1");
        assert_eq!(
            key(&gpt4o("DataZoneStandard"), "australiaeast"),
            "us/gpt-4o-2024-08-06",
            "Data Zone SKUs outside the EU keep the us/ rate"
        );
        assert!(
            !price_keys(Some(&gpt4o("DataZoneStandard")), "eastus", "x")
                .iter()
                .any(|k| !k.starts_with("us/")),
            "Data Zone never falls back to the cheaper Global rate"
        );
    }

    /// A Regional rate given in a pricing file (`regional/<model>`) prices Standard
    /// deployments, ahead of the Data Zone estimate; other SKUs never use it.
    #[test]
    fn a_regional_entry_prices_standard_deployments() {
        let dir = tempfile_dir();
        let file = dir.join("prices.yaml");
        std::fs::write(
            &file,
            "models:\n  azure:\n    regional/gpt-4.1-2025-04-14: {input: 2.3e-6, output: 9.0e-6}\n",
        )
        .unwrap();
        let p = Pricing::load("azure", Some(&file)).unwrap();
        let key = |sku: &str| {
            chosen(
                &p,
                &deployment(sku, "OpenAI", "gpt-4.1", "2025-04-14"),
                "eastus",
            )
        };
        assert_eq!(key("Standard"), "regional/gpt-4.1-2025-04-14");
        assert_eq!(key("DataZoneStandard"), "us/gpt-4.1-2025-04-14");
        assert_eq!(key("GlobalStandard"), "gpt-4.1-2025-04-14");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "llm-exporter-azure-models-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
