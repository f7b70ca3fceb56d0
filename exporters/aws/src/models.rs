//! What CloudWatch's `AWS/Bedrock` metrics mean in the contract, and how a `ModelId`
//! dimension value becomes the `model` label (shared/reference/cloud-apis.md §1.2, §1.3).

use common::source::{ErrorType, LatencyKind, SampleKind, TokenType};

pub const NAMESPACE: &str = "AWS/Bedrock";
pub const MODEL_DIMENSION: &str = "ModelId";

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

/// Latency metrics (milliseconds in CloudWatch, seconds in the contract).
pub const LATENCIES: &[(&str, LatencyKind)] = &[
    ("InvocationLatency", LatencyKind::Invocation),
    ("TimeToFirstToken", LatencyKind::FirstToken),
];

#[cfg(test)]
pub fn counter(name: &str) -> Option<&'static CounterMetric> {
    COUNTERS.iter().find(|m| m.name == name)
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
