//! What CloudWatch's `AWS/Bedrock` metrics mean in the contract, and how a `ModelId`
//! dimension value becomes the `model` label (metrics and dimensions:
//! https://docs.aws.amazon.com/bedrock/latest/userguide/monitoring-runtime-metrics.html).

use common::source::{ErrorType, LatencyKind, SampleKind, TokenType};

pub const NAMESPACE: &str = "AWS/Bedrock";
pub const MODEL_DIMENSION: &str = "ModelId";

/// Traffic of the OpenAI-compatible `bedrock-mantle` endpoint (Responses, Chat Completions,
/// Anthropic Messages APIs) is published here, not in `AWS/Bedrock` (Bedrock user guide,
/// "Monitor bedrock-mantle inference using CloudWatch metrics").
pub const MANTLE_NAMESPACE: &str = "AWS/BedrockMantle";
pub const MANTLE_MODEL_DIMENSION: &str = "Model";
pub const MANTLE_PROJECT_DIMENSION: &str = "Project";
/// The project a bedrock-mantle request is billed to when the caller names none (Bedrock API
/// reference: projectId "If you don't specify a value, the service uses the default project").
pub const MANTLE_DEFAULT_PROJECT: &str = "default";

/// A counter metric of `AWS/Bedrock`, polled with `Sum`.
pub struct CounterMetric {
    pub name: &'static str,
    pub kind: SampleKind,
}

/// Counter metrics, in order of preference: where a model has the cache metrics under both
/// spellings seen in AWS's sources, the first listed is used and the other ignored, so cache
/// tokens are never counted twice.
pub const COUNTERS: &[CounterMetric] = &[
    CounterMetric {
        name: "Invocations",
        kind: SampleKind::Invocations,
    },
    CounterMetric {
        name: "InvocationClientErrors",
        kind: SampleKind::Errors(ErrorType::Client),
    },
    CounterMetric {
        name: "InvocationServerErrors",
        kind: SampleKind::Errors(ErrorType::Server),
    },
    CounterMetric {
        name: "InvocationThrottles",
        kind: SampleKind::Errors(ErrorType::Throttled),
    },
    CounterMetric {
        name: "InputTokenCount",
        kind: SampleKind::Tokens(TokenType::Input),
    },
    CounterMetric {
        name: "OutputTokenCount",
        kind: SampleKind::Tokens(TokenType::Output),
    },
    CounterMetric {
        name: "CacheReadInputTokenCount",
        kind: SampleKind::Tokens(TokenType::CacheRead),
    },
    CounterMetric {
        name: "CacheReadInputTokens",
        kind: SampleKind::Tokens(TokenType::CacheRead),
    },
    CounterMetric {
        name: "CacheWriteInputTokenCount",
        kind: SampleKind::Tokens(TokenType::CacheWrite),
    },
    CounterMetric {
        name: "CacheWriteInputTokens",
        kind: SampleKind::Tokens(TokenType::CacheWrite),
    },
];

/// Counter metrics of `AWS/BedrockMantle`, read at the Project+Model level only, polled with
/// `Sum`. "A single inference contributes to all four levels [Account, Project, Model,
/// Project+Model] when both the project and the model can be resolved": summing two levels
/// would count it twice. Project+Model is the page's "primary level for cost analysis", covers
/// every request (one that names no project is billed to `default`) and has both the request
/// counts and the billable tokens: `TotalInputTokens`/`TotalOutputTokens` are published at
/// Account, Project and Model levels only, while `InputTokens`/`OutputTokens` ("per-inference
/// billable input tokens. Each completed inference emits one datum") are published at
/// Project+Model only, so their per-minute `Sum` is the project's share of the model's total.
/// The page documents no server-error, throttle or cache metric, and says latency metrics
/// "are not yet published".
pub const MANTLE_COUNTERS: &[CounterMetric] = &[
    CounterMetric {
        name: "Inferences",
        kind: SampleKind::Invocations,
    },
    CounterMetric {
        name: "InferenceClientErrors",
        kind: SampleKind::Errors(ErrorType::Client),
    },
    CounterMetric {
        name: "InputTokens",
        kind: SampleKind::Tokens(TokenType::Input),
    },
    CounterMetric {
        name: "OutputTokens",
        kind: SampleKind::Tokens(TokenType::Output),
    },
];

/// The `deployment` label of bedrock-mantle traffic: `mantle` for the default project,
/// `mantle:<project id>` otherwise. `AWS/Bedrock` series never carry a `mantle` deployment
/// (theirs is empty or an application inference profile's name), so
/// `deployment=~"mantle(:.*)?"` selects exactly the bedrock-mantle endpoint.
pub fn mantle_deployment(project: &str) -> String {
    if project == MANTLE_DEFAULT_PROJECT {
        "mantle".to_string()
    } else {
        format!("mantle:{project}")
    }
}

/// The catalog keys a bedrock-mantle `Model` value (e.g. `anthropic.claude-opus-4-7`) may be
/// priced under, in order: the endpoint may name a model without the `-1:0`/`-v1:0`/`-v1`
/// version suffix its Bedrock runtime id carries (`openai.gpt-oss-120b` vs
/// `openai.gpt-oss-120b-1:0`). The pricing uses the first key the catalog has at the time
/// (so a price added by a reload is used from the next poll); with none, the model is counted
/// unpriced and named in `llm_unpriced_model_info`. No geo prefix: bedrock-mantle "is
/// in-region only".
pub fn mantle_price_keys(model: &str) -> Vec<String> {
    let base = match classify(model) {
        ModelRef::Model(m) => m,
        ModelRef::ApplicationProfile(p) | ModelRef::Provisioned(p) => p,
    };
    vec![
        base.clone(),
        format!("{base}-1:0"),
        format!("{base}-v1:0"),
        format!("{base}-v1"),
    ]
}

/// Latency metrics (milliseconds in CloudWatch, seconds in the contract).
pub const LATENCIES: &[(&str, LatencyKind)] = &[
    ("InvocationLatency", LatencyKind::Invocation),
    ("TimeToFirstToken", LatencyKind::FirstToken),
];

#[cfg(test)]
pub fn counter(name: &str) -> Option<&'static CounterMetric> {
    COUNTERS.iter().find(|m| m.name == name)
}

pub fn mantle_counter(name: &str) -> Option<&'static CounterMetric> {
    MANTLE_COUNTERS.iter().find(|m| m.name == name)
}

pub fn latency(name: &str) -> Option<LatencyKind> {
    LATENCIES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// What a `ModelId` dimension value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A base model or a cross-Region (system) inference profile, as priced: `us.anthropic...`.
    Model(String),
    /// An application inference profile (id or ARN), resolved through Bedrock.
    ApplicationProfile(String),
    /// A Provisioned Throughput's ARN (`...:provisioned-model/<id>`): its tokens are billed by
    /// the hour (provisioned.rs), never per token.
    Provisioned(String),
}

/// Normalizes a `ModelId` value: foundation-model and system inference-profile ARNs lose
/// their ARN prefix; geo prefixes (`us.`, `eu.`, `global.`...) are kept because they are
/// priced differently; application inference profiles are marked for resolution.
pub fn classify(model_id: &str) -> ModelRef {
    if let Some(rest) = model_id.strip_prefix("arn:") {
        // arn:PARTITION:bedrock:REGION:ACCOUNT:RESOURCE-TYPE/ID
        let resource = rest.splitn(5, ':').nth(4).unwrap_or("");
        return match resource.split_once('/') {
            Some(("foundation-model", id)) | Some(("inference-profile", id)) => {
                ModelRef::Model(id.to_string())
            }
            Some(("application-inference-profile", _)) => {
                ModelRef::ApplicationProfile(model_id.to_string())
            }
            Some(("provisioned-model", _)) => ModelRef::Provisioned(model_id.to_string()),
            _ => ModelRef::Model(model_id.to_string()),
        };
    }
    // Application inference profile ids are 12 lowercase letters and digits; model ids
    // always contain a dot (provider.model).
    if model_id.len() == 12
        && model_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return ModelRef::ApplicationProfile(model_id.to_string());
    }
    ModelRef::Model(model_id.to_string())
}

/// Whether a model id (as priced) is served from a regional endpoint: in-Region (a plain model
/// id) or a geographic cross-Region profile (`us.`, `eu.`, `jp.`, `au.`, `apac.`...). Only a
/// `global.` profile is global. Anthropic: "Starting with Claude Sonnet 4.5 and all future
/// models, Amazon Bedrock offers two endpoint types: Global endpoints ... Regional endpoints
/// ... Regional endpoints include a 10% pricing premium over global endpoints"
/// (platform.claude.com, "Claude on Amazon Bedrock", "Global vs regional endpoints"). The
/// catalog's geo entries already carry that premium in their own rates; a catalog entry's
/// `regional_uplift` applies where the price falls back to the foundation model's entry.
pub fn is_regional(model: &str) -> bool {
    !model.starts_with("global.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_normalized_as_the_reference_says() {
        let m = |s: &str| ModelRef::Model(s.to_string());
        assert_eq!(
            classify("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            m("anthropic.claude-3-5-sonnet-20240620-v1:0")
        );
        assert_eq!(
            classify("us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            m("us.anthropic.claude-3-7-sonnet-20250219-v1:0")
        );
        assert_eq!(
            classify("arn:aws:bedrock:us-west-2::foundation-model/amazon.titan-embed-text-v1"),
            m("amazon.titan-embed-text-v1")
        );
        assert_eq!(classify("arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0"), m("global.anthropic.claude-sonnet-4-5-20250929-v1:0"));
        let arn =
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";
        assert_eq!(classify(arn), ModelRef::ApplicationProfile(arn.into()));
        assert_eq!(
            classify("a1b2c3d4e5f6"),
            ModelRef::ApplicationProfile("a1b2c3d4e5f6".into())
        );
        assert_eq!(classify("amazon.nova-pro-v1:0"), m("amazon.nova-pro-v1:0"));
        let pt = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcd1234efgh";
        assert_eq!(classify(pt), ModelRef::Provisioned(pt.into()));
    }

    #[test]
    fn only_global_profiles_are_global() {
        assert!(is_regional("anthropic.claude-sonnet-4-5-20250929-v1:0"));
        assert!(is_regional("us.anthropic.claude-sonnet-4-5-20250929-v1:0"));
        assert!(is_regional("eu.anthropic.claude-sonnet-4-5-20250929-v1:0"));
        assert!(!is_regional(
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
        ));
    }

    #[test]
    fn mantle_models_map_to_the_catalog_and_projects_to_a_deployment() {
        let keys = mantle_price_keys("openai.gpt-oss-120b");
        assert_eq!(keys[0], "openai.gpt-oss-120b");
        assert!(keys.contains(&"openai.gpt-oss-120b-1:0".to_string()));
        assert!(mantle_price_keys("anthropic.claude-opus-4-6")
            .contains(&"anthropic.claude-opus-4-6-v1".to_string()));
        assert_eq!(mantle_deployment("default"), "mantle");
        assert_eq!(mantle_deployment("proj_abc123"), "mantle:proj_abc123");
        assert!(
            mantle_counter("TotalInputTokens").is_none(),
            "not at Project+Model"
        );
        assert!(mantle_counter("InputTokens").is_some());
    }

    #[test]
    fn cache_metrics_accept_both_spellings() {
        for name in ["CacheReadInputTokenCount", "CacheReadInputTokens"] {
            assert_eq!(
                counter(name).unwrap().kind,
                SampleKind::Tokens(TokenType::CacheRead)
            );
        }
        for name in ["CacheWriteInputTokenCount", "CacheWriteInputTokens"] {
            assert_eq!(
                counter(name).unwrap().kind,
                SampleKind::Tokens(TokenType::CacheWrite)
            );
        }
        assert!(counter("LegacyModelInvocations").is_none());
    }
}
