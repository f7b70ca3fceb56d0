//! AWS Data Exports: the columns of CUR 2.0 and of "FOCUS 1.0 with AWS columns", and which
//! rows are Bedrock model usage and of which model.
//!
//! Sources: CUR 2.0 table dictionary
//! (https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html: `product` and
//! `resource_tags` are `map<string,string>` columns; the product name is the `product_name`
//! key of `product`); FOCUS 1.0 with AWS columns
//! (https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-focus-1-0-aws.html:
//! `x_ServiceCode`, `x_UsageType`); Bedrock usage types (Bedrock user guide, "Understanding
//! your CUR data": `USE1-NovaPro-input-tokens`, `*-cache-read-input-token-count`,
//! `*-cache-write-input-token-count`, `*-mantle-input-tokens-*`); third-party models sold
//! through AWS Marketplace under product names ending in "(Amazon Bedrock Edition)", service
//! code `AmazonBedrockFoundationModels`, usage types like `USE1-MP:USE1_InputTokenCount-Units`
//! (AWS Price List; the CUDOS dashboard's Bedrock view,
//! aws-samples/aws-cudos-framework-deployment, maps them the same way).

use std::borrow::Cow;

use super::ledger::{Fields, Mapped, UNMAPPED};
use super::read::Shape;

pub const CUR2: Shape = Shape {
    start: "line_item_usage_start_date",
    account: "line_item_usage_account_id",
    cost: "line_item_unblended_cost",
    currency: "line_item_currency_code",
    service: "line_item_product_code",
    usage_type: "line_item_usage_type",
    service_code: Some("product_servicecode"),
    product: Some(("product", Some("product_name"))),
    resource: Some("line_item_resource_id"),
    charge: Some("line_item_line_item_type"),
    tags: Some("resource_tags"),
    mapper: map,
};

pub const FOCUS: Shape = Shape {
    start: "ChargePeriodStart",
    account: "SubAccountId",
    cost: "BilledCost",
    currency: "BillingCurrency",
    service: "x_ServiceCode",
    usage_type: "x_UsageType",
    service_code: None,
    product: Some(("ServiceName", None)),
    resource: Some("ResourceId"),
    charge: Some("ChargeCategory"),
    tags: Some("Tags"),
    mapper: map,
};

const MARKETPLACE_SUFFIX: &str = "(Amazon Bedrock Edition)";

/// Bedrock's own rows and the Marketplace rows of models sold through Bedrock.
fn is_bedrock(f: &Fields) -> bool {
    [f.service, f.service_code]
        .iter()
        .any(|c| c.starts_with("AmazonBedrock"))
        || f.product.trim_end().ends_with(MARKETPLACE_SUFFIX)
}

/// The model of a Bedrock row; None for rows of other services and for tax.
pub fn map(f: &Fields) -> Option<Mapped> {
    if !is_bedrock(f) || f.charge.eq_ignore_ascii_case("Tax") {
        return None;
    }
    let product = f.product.trim();
    if let Some(name) = product.strip_suffix(MARKETPLACE_SUFFIX) {
        return Some(Mapped {
            model: name.trim().to_string(),
            billed_as: format!("{product} {}", f.usage_type),
        });
    }
    let model = model_of_usage_type(f.usage_type)
        .map(Cow::Borrowed)
        .or_else(|| provisioned_model(f).map(Cow::Owned));
    Some(Mapped {
        model: model
            .map(|m| m.into_owned())
            .unwrap_or_else(|| UNMAPPED.to_string()),
        billed_as: if f.usage_type.is_empty() {
            product.to_string()
        } else {
            f.usage_type.to_string()
        },
    })
}

/// `USE1`, `EUC1`, `APN1`, `USW2`: the region code AWS puts before a usage type; eu-west-1's
/// is `EU` (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-region-billing-codes.html).
fn is_region_code(p: &str) -> bool {
    p == "EU"
        || ((3..=5).contains(&p.len())
            && p.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && p.chars().any(|c| c.is_ascii_digit()))
}

/// Words that say what a usage type counts, never which model.
const KIND_WORDS: &[&str] = &[
    "mantle", "input", "output", "tokens", "token", "count", "cache", "read", "write", "batch",
    "units", "unit",
];

/// Where the model part of a first-party usage type ends.
const MARKERS: &[&str] = &[
    "-input",
    "-output",
    "-cache-",
    "-batch-",
    "-mantle-",
    "-provisioned",
    "-modelunit",
    "-model-unit",
    "-flex-",
    "-priority-",
];

/// `USE1-NovaPro-input-tokens` -> `NovaPro`; `USE1-mantle-input-tokens-gpt-oss-120b` ->
/// `gpt-oss-120b`; None for Marketplace (`MP:`) and unrecognised usage types.
pub fn model_of_usage_type(u: &str) -> Option<&str> {
    let rest = match u.split_once('-') {
        Some((p, r)) if is_region_code(p) => r,
        _ => u,
    };
    if rest.contains("MP:") || rest.is_empty() {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    let first_word = lower.split('-').next().unwrap_or("");
    if KIND_WORDS.contains(&first_word) {
        // The model comes after the kind words: `mantle-input-tokens-<model>`.
        let mut tail = rest;
        while let Some((w, r)) = tail.split_once('-') {
            if !KIND_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
                break;
            }
            tail = r;
        }
        let is_kind = KIND_WORDS.contains(&tail.to_ascii_lowercase().as_str());
        return (!tail.is_empty() && !is_kind).then_some(tail);
    }
    let end = MARKERS.iter().filter_map(|m| lower.find(m)).min()?;
    (end > 0).then(|| &rest[..end])
}

/// Provisioned Throughput (model units): the model is the second `/` part of the resource
/// id when that part is a model id (as the CUDOS Bedrock view reads it).
fn provisioned_model(f: &Fields) -> Option<String> {
    let lower = f.usage_type.to_ascii_lowercase();
    if !lower.contains("modelunit") && !lower.contains("provisioned") {
        return None;
    }
    let part = f.resource.split('/').nth(1)?;
    part.contains('.').then(|| part.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(service: &'a str, product: &'a str, usage: &'a str) -> Fields<'a> {
        Fields {
            service,
            product: Cow::Borrowed(product),
            usage_type: usage,
            charge: "Usage",
            ..Default::default()
        }
    }

    #[test]
    fn first_party_usage_types_name_the_model() {
        for (u, m) in [
            ("USE1-NovaPro-input-tokens", Some("NovaPro")),
            ("USW2-NovaPro-output-tokens", Some("NovaPro")),
            ("USE1-Claude4.6Sonnet-input-tokens", Some("Claude4.6Sonnet")),
            ("USE1-NovaPro-cache-read-input-token-count", Some("NovaPro")),
            (
                "EUC1-NovaLite-cache-write-input-token-count",
                Some("NovaLite"),
            ),
            ("USE1-NovaPro-batch-input-tokens", Some("NovaPro")),
            ("EU-NovaLite-output-tokens", Some("NovaLite")),
            (
                "USE1-mantle-input-tokens-gpt-oss-120b",
                Some("gpt-oss-120b"),
            ),
            (
                "USE1-gpt-oss-120b-mantle-output-tokens",
                Some("gpt-oss-120b"),
            ),
            ("USE1-MP:USE1_InputTokenCount-Units", None),
            ("USE1-input-tokens", None),
            ("DataTransfer-Out-Bytes", None),
        ] {
            assert_eq!(model_of_usage_type(u), m, "{u}");
        }
    }

    #[test]
    fn bedrock_rows_are_mapped_and_others_never_count() {
        let m = map(&fields(
            "AmazonBedrock",
            "Amazon Bedrock",
            "USE1-NovaPro-input-tokens",
        ))
        .unwrap();
        assert_eq!(m.model, "NovaPro");
        let m = map(&fields(
            "prod-abc123",
            "Claude Haiku 4.5 (Amazon Bedrock Edition)",
            "USE1-MP:USE1_InputTokenCount-Units",
        ))
        .unwrap();
        assert_eq!(m.model, "Claude Haiku 4.5");
        assert!(m.billed_as.contains("USE1-MP:USE1_InputTokenCount-Units"));
        let mut f = fields(
            "AmazonBedrockFoundationModels",
            "",
            "USE1-MP:USE1_InputTokenCount_Global-Units",
        );
        let m = map(&f).unwrap();
        assert_eq!(
            m.model, UNMAPPED,
            "a Marketplace row without its product name"
        );
        assert_eq!(m.billed_as, "USE1-MP:USE1_InputTokenCount_Global-Units");
        f.charge = "Tax";
        assert_eq!(map(&f), None);
        let m = map(&fields(
            "AmazonBedrock",
            "Amazon Bedrock",
            "USE1-Guardrail-ContentPolicyUnits",
        ))
        .unwrap();
        assert_eq!(
            (m.model.as_str(), m.billed_as.as_str()),
            (UNMAPPED, "USE1-Guardrail-ContentPolicyUnits")
        );
        assert_eq!(
            map(&fields(
                "AmazonEC2",
                "Amazon Elastic Compute Cloud",
                "USE1-BoxUsage:m5.large"
            )),
            None
        );
        assert_eq!(
            map(&fields(
                "AmazonS3",
                "Amazon Bedrock notes",
                "USE1-input-tokens"
            )),
            None
        );
    }

    #[test]
    fn provisioned_throughput_names_the_model_in_its_resource() {
        let mut f = fields("AmazonBedrock", "Amazon Bedrock", "USE1-ModelUnits-1Month");
        f.resource =
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/anthropic.claude-v2/abc";
        assert_eq!(map(&f).unwrap().model, "anthropic.claude-v2");
        f.resource = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc";
        assert_eq!(map(&f).unwrap().model, UNMAPPED);
    }
}
