//! `token_count`'s `type` label in the contract's four token types, and what happens to a
//! type nobody has documented yet.
//!
//! Google's metric list names `type` without enumerating its values. Observed values (2026):
//! `input`, `output`, and for Claude on Vertex `cache_read_input`, `cache_write_5m_input` and
//! `cache_write_1h_input`. An unknown type is never dropped: its tokens are counted (and
//! priced) as `input`, the type is named once in a warning and in
//! `llm_exporter_gcp_unknown_token_type_info{type}`, so a new billing line shows up in the
//! totals at once and is easy to find.

use std::collections::HashSet;
use std::sync::Mutex;

use common::base::lock;
use common::source::TokenType;
use prometheus::{IntGaugeVec, Opts, Registry};

pub const UNKNOWN_INFO: &str = "llm_exporter_gcp_unknown_token_type_info";

/// A known `type` value's token type; `None` for a value not (yet) known.
pub fn known(label: &str) -> Option<TokenType> {
    match label {
        "input" => Some(TokenType::Input),
        "output" => Some(TokenType::Output),
        "cache_read_input" => Some(TokenType::CacheRead),
        // Both cache-write tiers count as cache_write; each is priced at its own rate.
        "cache_write_5m_input" | "cache_write_input" => Some(TokenType::CacheWrite),
        "cache_write_1h_input" => Some(TokenType::CacheWrite1h),
        _ => None,
    }
}

/// Remembers the unknown types seen, for the info metric and a warning once per type.
pub struct UnknownTypes {
    info: IntGaugeVec,
    seen: Mutex<HashSet<String>>,
}

impl UnknownTypes {
    pub fn register(registry: &Registry) -> UnknownTypes {
        let info = IntGaugeVec::new(
            Opts::new(
                UNKNOWN_INFO,
                "1 for each token_count type Vertex AI reported that the exporter does not know; its tokens are counted as input.",
            ),
            &["type"],
        )
        .expect("valid metric");
        // Only fails on a duplicate name; the exporter registers this once.
        registry
            .register(Box::new(info.clone()))
            .expect("unknown token type metric registered once");
        UnknownTypes {
            info,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// The token type to count `label` under: known types as themselves, others as input.
    pub fn classify(&self, label: &str, metric: &str) -> TokenType {
        if let Some(t) = known(label) {
            return t;
        }
        let mut seen = lock(&self.seen);
        // A bounded set: a cloud sending endless new types must not grow memory or labels.
        if seen.len() < 100 && seen.insert(label.to_string()) {
            let shown: String = label.chars().take(64).collect();
            tracing::warn!(metric, r#type = %shown, "unknown token_count type: its tokens are counted and priced as input tokens");
            self.info.with_label_values(&[&shown]).set(1);
        }
        TokenType::Input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_types_map_and_unknown_types_count_as_input() {
        assert_eq!(known("cache_read_input"), Some(TokenType::CacheRead));
        assert_eq!(known("cache_write_1h_input"), Some(TokenType::CacheWrite1h));
        assert_eq!(known("cache_write_5m_input"), Some(TokenType::CacheWrite));
        let registry = Registry::new();
        let u = UnknownTypes::register(&registry);
        assert_eq!(u.classify("audio_input", "m"), TokenType::Input);
        assert_eq!(u.classify("audio_input", "m"), TokenType::Input);
        let families = registry.gather();
        assert_eq!(families[0].get_metric().len(), 1);
    }
}
