//! How Vertex AI bills the tokens of one raw `token_count` series, read from its labels, and
//! the part of a model's series they are revised under.
//!
//! Sources (Google's metric list, https://docs.cloud.google.com/monitoring/api/metrics_gcp_a_b
//! #gcp-aiplatform, and the pages named at each label):
//! - `request_type`: `dedicated` is served by Provisioned Throughput (billed per GSU and hour,
//!   not per token); `spillover` (over the Provisioned Throughput quota) and `shared` are
//!   pay-as-you-go ("Use Provisioned Throughput", Monitor Provisioned Throughput: dimensions).
//! - `source`: "For global endpoint, this is 'global'; otherwise, this is the region where a
//!   request is served. The label can also have prefix, such as 'batch_', to indicate product
//!   breakdown." Batch prediction is billed at half the online rate ("Batch prediction for
//!   Gemini": "a 50% discounted rate compared to real-time inference").
//! - `max_token_size`: "The bucketized max size of number of tokens in the prediction
//!   request/response". Google does not publish the bucket values; see [`long_context`].
//! - `shared_request_type`: not in Google's metric list, but on live `token_count`
//!   descriptors (a third-party read of the descriptor, 2026-08). Its values are taken to be
//!   the `X-Vertex-AI-LLM-Shared-Request-Type` header's: `priority` (Priority PayGo, billed
//!   higher) and `flex` (Flex PayGo, "a 50% discount compared to Standard PayGo").
//! - Regional endpoints of Claude Sonnet 4.5 and later cost 10 % more than the global one
//!   (Anthropic, "Claude on Vertex AI": global and regional endpoints); the catalog entry's
//!   `regional_uplift` says which models, this module only says where a token was served.

use std::collections::HashSet;
use std::sync::Mutex;

use common::base::lock;
use common::source::{Billing, BillingMode, PROVISIONED_PART};

/// Requests above this many tokens are priced at the catalog's `above_200k` rates.
pub const LONG_CONTEXT_TOKENS: u64 = 200_000;

/// The billing of a raw series and the suffix of the series id its part is revised under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub billing: Billing,
    /// Appended to the model's series id; empty for standard, short, regional-or-global
    /// tokens as served where the resource says (the id every earlier version used).
    pub suffix: String,
}

/// The labels of one raw `token_count` series that decide its billing.
pub struct Labels<'a> {
    pub request_type: &'a str,
    pub source: &'a str,
    pub max_token_size: &'a str,
    pub shared_request_type: &'a str,
    /// The resource's `location`.
    pub location: &'a str,
}

/// What a label value that cannot be read means for the estimate, for a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// A `max_token_size` bucket whose lower bound is not written: priced as 200k or less.
    TokenSize,
    /// A `source` prefix other than `batch_`: priced as online traffic.
    SourcePrefix,
}

/// Names each label value that could not be read once in a warning, with what it means for
/// the estimate (at most 100 values: a cloud sending endless new ones must not grow memory).
#[derive(Default)]
pub struct WarnOnce(Mutex<HashSet<String>>);

impl WarnOnce {
    pub fn note(&self, what: Unread, source: &str, max_token_size: &str) {
        let (label, value, meaning) = match what {
            Unread::TokenSize => (
                "max_token_size",
                max_token_size,
                "its tokens are priced as requests of 200k tokens or less",
            ),
            Unread::SourcePrefix => (
                "source",
                source,
                "its tokens are priced as online (not batch) traffic",
            ),
        };
        let shown: String = value.chars().take(64).collect();
        let mut seen = lock(&self.0);
        if seen.len() < 100 && seen.insert(format!("{label}={shown}")) {
            tracing::warn!(label, value = %shown, "a token_count label value the exporter cannot read: {meaning}");
        }
    }
}

/// The part `labels` belong to, and which label (if any) could not be read.
pub fn part(labels: &Labels) -> (Part, Option<Unread>) {
    let (prefix, served) = split_source(labels.source);
    let mut unread = None;
    if !prefix.is_empty() && prefix != "batch" {
        unread = Some(Unread::SourcePrefix);
    }
    let endpoint = if served.is_empty() {
        labels.location
    } else {
        served
    };
    let regional = !endpoint.is_empty() && endpoint != "global";
    if labels.request_type == "dedicated" {
        // Not priced per token: the long-context and regional marks would only split the
        // part (its id is the one state files of earlier versions are migrated to).
        return (
            Part {
                billing: Billing {
                    mode: BillingMode::Provisioned,
                    long_context: false,
                    regional,
                },
                suffix: PROVISIONED_PART.to_string(),
            },
            unread,
        );
    }
    let mode = if prefix == "batch" {
        BillingMode::Batch
    } else {
        match labels.shared_request_type {
            "priority" => BillingMode::Priority,
            "flex" => BillingMode::Flex,
            _ => BillingMode::Standard,
        }
    };
    let long = match long_context(labels.max_token_size) {
        Some(long) => long,
        None => {
            unread = unread.or(Some(Unread::TokenSize));
            false
        }
    };
    let mut suffix = String::new();
    if mode != BillingMode::Standard {
        suffix.push('#');
        suffix.push_str(mode.as_str());
    }
    if long {
        suffix.push_str("#long");
    }
    // Global-endpoint tokens reported under a regional resource are revised apart from the
    // resource's regional ones (they are priced differently where a model has an uplift).
    if !regional && labels.location != "global" && !labels.location.is_empty() {
        suffix.push_str("#global");
    }
    (
        Part {
            billing: Billing {
                mode,
                long_context: long,
                regional,
            },
            suffix,
        },
        unread,
    )
}

/// `source` as (prefix without its `_`, serving place): `batch_us-central1` is
/// (`batch`, `us-central1`). Region names and `global` have no `_`.
fn split_source(source: &str) -> (&str, &str) {
    match source.rfind('_') {
        Some(i) => (&source[..i], &source[i + 1..]),
        None => ("", source),
    }
}

/// Whether a `max_token_size` bucket lies wholly above 200k tokens; `None` when its lower
/// bound cannot be read. Google publishes no bucket values, so the common spellings are read:
/// a range `A-B` (lower bound A), `>A`, `>=A` and `A+` (lower bound A), with optional `k`/`K`
/// (thousand) or `m`/`M` (million) suffixes. An upper bound alone (`<=A`, `A`) says nothing
/// about where the bucket starts. The label is the larger of the request's and the response's
/// size; outputs stay far below 200k tokens, so a bucket above 200k is a long prompt.
pub fn long_context(bucket: &str) -> Option<bool> {
    let b = bucket.trim();
    if b.is_empty() {
        // No bucket (a series written without the label): nothing says the request was long.
        return Some(false);
    }
    let lower = if let Some(rest) = b.strip_prefix(">=").or_else(|| b.strip_prefix('>')) {
        number(rest)?
    } else if let Some(rest) = b.strip_suffix('+') {
        number(rest)?
    } else if let Some((low, _high)) = b.split_once('-') {
        number(low)?
    } else {
        return None;
    };
    Some(lower >= LONG_CONTEXT_TOKENS)
}

/// `128K`, `1M`, `200000`, `1.5k`: a token count.
fn number(s: &str) -> Option<u64> {
    let s = s.trim().trim_start_matches('=').trim();
    let (digits, scale) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1_000.0),
        (i, 'm' | 'M') => (&s[..i], 1_000_000.0),
        _ => (s, 1.0),
    };
    let v: f64 = digits.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels<'a>(request_type: &'a str, source: &'a str, size: &'a str) -> Labels<'a> {
        Labels {
            request_type,
            source,
            max_token_size: size,
            shared_request_type: "",
            location: "us-central1",
        }
    }

    #[test]
    fn buckets_above_200k_are_long_context_and_unreadable_ones_are_named() {
        for (bucket, long) in [
            ("200K-1M", Some(true)),
            ("256k-512k", Some(true)),
            (">200000", Some(true)),
            ("1M+", Some(true)),
            (">=1.5M", Some(true)),
            ("0-8K", Some(false)),
            ("128K-256K", Some(false)),
            ("", Some(false)),
            ("<=128K", None),
            ("262144", None),
            ("large", None),
        ] {
            assert_eq!(long_context(bucket), long, "{bucket:?}");
        }
    }

    #[test]
    fn batch_provisioned_and_tiers_are_read_from_the_documented_labels() {
        let (p, unread) = part(&labels("shared", "batch_us-central1", "0-8K"));
        assert_eq!(p.billing.mode, BillingMode::Batch);
        assert!(p.billing.regional);
        assert_eq!((p.suffix.as_str(), unread), ("#batch", None));

        let (p, _) = part(&labels("dedicated", "us-central1", "200K-1M"));
        assert_eq!(p.billing.mode, BillingMode::Provisioned);
        assert_eq!(p.suffix, PROVISIONED_PART);

        let (p, _) = part(&labels("spillover", "us-central1", "0-8K"));
        assert_eq!(
            (p.billing.mode, p.suffix.as_str()),
            (BillingMode::Standard, "")
        );

        let mut l = labels("shared", "global", "256K-512K");
        l.shared_request_type = "priority";
        l.location = "global";
        let (p, _) = part(&l);
        assert_eq!(p.billing.mode, BillingMode::Priority);
        assert!(p.billing.long_context && !p.billing.regional);
        assert_eq!(p.suffix, "#priority#long");

        l.shared_request_type = "flex";
        assert_eq!(part(&l).0.billing.mode, BillingMode::Flex);
    }

    #[test]
    fn the_endpoint_comes_from_source_and_global_tokens_of_a_regional_resource_are_apart() {
        let (p, _) = part(&labels("shared", "global", "0-8K"));
        assert!(!p.billing.regional);
        assert_eq!(p.suffix, "#global");
        // No source label: the resource's location.
        let (p, _) = part(&labels("shared", "", "0-8K"));
        assert!(p.billing.regional);
        assert_eq!(p.suffix, "");
        let mut l = labels("shared", "", "0-8K");
        l.location = "global";
        assert!(!part(&l).0.billing.regional);
    }

    #[test]
    fn unknown_prefixes_and_buckets_are_priced_as_online_short_and_named() {
        let (p, unread) = part(&labels("shared", "tuning_us-central1", "0-8K"));
        assert_eq!(p.billing.mode, BillingMode::Standard);
        assert_eq!(unread, Some(Unread::SourcePrefix));
        let (p, unread) = part(&labels("shared", "us-central1", "<=1M"));
        assert!(!p.billing.long_context);
        assert_eq!(unread, Some(Unread::TokenSize));
    }
}
