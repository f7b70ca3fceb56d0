//! Azure Cost Management exports: the columns of the FOCUS and the actual/amortized cost
//! details datasets, and which rows are Azure OpenAI / Foundry model usage and of which model.
//!
//! Columns (Cost Management dataset schema, MicrosoftDocs/azure-docs
//! `articles/cost-management-billing/dataset-schema/cost-usage-details-focus.md`,
//! `cost-usage-details-ea.md`, `cost-usage-details-mca.md`): FOCUS 1.0 and 1.0r2 name the meter
//! `x_SkuMeterName`, 1.2-preview `SkuMeter` (keeping `x_SkuMeterName`, deprecated); the
//! actual and amortized datasets write PascalCase for EA (`CostInBillingCurrency`,
//! `BillingCurrencyCode`, `MeterName`) and camelCase for MCA (`costInBillingCurrency`,
//! `billingCurrency`, `meterName`), so columns are found without regard to case. The
//! legacy-to-FOCUS mapping (microsoft/finops-toolkit `docs-mslearn/focus/convert.md`):
//! MeterName -> SkuMeter, MeterCategory -> x_SkuMeterCategory, ProductName ->
//! ChargeDescription, SubscriptionId -> SubAccountId, and Tags "wrapped in `{` and `}` if
//! needed" (the actual dataset writes tags as `"k": "v","k2": "v2"`).
//!
//! Meters: Azure OpenAI and Foundry models bill on the Cognitive Services account under meter
//! category "Foundry Models" (formerly "Cognitive Services", subcategory "Azure OpenAI" or
//! "Azure <family> Models"), model, version, tier and direction in the meter name:
//! `gpt 4o 0513 Input global Tokens`, `gpt 4o mini 0718 cached Inp glbl Tokens`,
//! `o1 1217 Batch Outp DZone Tokens`, unit 1K or 1M (the Retail Prices API lists them); the
//! cost column is read, never the quantity, so the unit does not matter. Provisioned
//! throughput bills hourly on `Provisioned Managed Global|Data Zone|Regional` meters that
//! name no model. Partner models sold through Marketplace bill as SaaS resources
//! (`microsoft.saas/resources`) on meters `paygo-inference-input-tokens`,
//! `paygo-inference-output-tokens`, `paygo-finetuned-model-inference-*` (Azure AI Foundry
//! docs, "Monitor costs for models offered through the Azure Marketplace"), the offer, and so
//! the model, first in the product name: `Claude Sonnet 4.6 - msft-sonnet-4-6-flat-100 -
//! paygo-inference-input-tokens`.

use super::config::Format;
use super::ledger::{Fields, Mapped, UNMAPPED};
use super::read::Shape;

/// Where the reader finds what in one Azure layout: for each field, the column names it may
/// have, first match wins, compared without regard to case.
pub struct Layout {
    pub day: &'static [&'static str],
    pub account: &'static [&'static str],
    pub cost: &'static [&'static str],
    pub currency: &'static [&'static str],
    pub meter: &'static [&'static str],
    pub category: &'static [&'static str],
    pub subcategory: &'static [&'static str],
    /// The product (actual) or charge description (FOCUS): a Marketplace offer's name.
    pub product: &'static [&'static str],
    pub resource: &'static [&'static str],
    pub charge: &'static [&'static str],
    pub tags: &'static [&'static str],
    /// `exportConfig.type` in the run's manifest.
    pub dataset: &'static str,
}

pub const FOCUS_LAYOUT: Layout = Layout {
    day: &["ChargePeriodStart"],
    account: &["SubAccountId"],
    cost: &["BilledCost"],
    currency: &["BillingCurrency"],
    meter: &["SkuMeter", "x_SkuMeterName"],
    category: &["x_SkuMeterCategory"],
    subcategory: &["x_SkuMeterSubcategory"],
    product: &["ChargeDescription", "x_SkuDescription"],
    resource: &["ResourceId"],
    charge: &["ChargeCategory"],
    tags: &["Tags"],
    dataset: "FocusCost",
};

const ACTUAL_COLUMNS: Layout = Layout {
    day: &["Date", "UsageDate"],
    account: &["SubscriptionId", "SubscriptionGuid"],
    cost: &["CostInBillingCurrency", "Cost", "PreTaxCost"],
    currency: &["BillingCurrencyCode", "BillingCurrency", "Currency"],
    meter: &["MeterName"],
    category: &["MeterCategory"],
    subcategory: &["MeterSubCategory"],
    product: &["ProductName", "Product"],
    resource: &["ResourceId", "InstanceId"],
    charge: &["ChargeType"],
    tags: &["Tags"],
    dataset: "ActualCost",
};

pub const ACTUAL_LAYOUT: Layout = ACTUAL_COLUMNS;

pub const AMORTIZED_LAYOUT: Layout = Layout {
    dataset: "AmortizedCost",
    ..ACTUAL_COLUMNS
};

/// The columns an error names and the mapper, for the gateway's common bookkeeping.
pub const FOCUS: Shape = Shape {
    start: "ChargePeriodStart",
    account: "SubAccountId",
    cost: "BilledCost",
    currency: "BillingCurrency",
    service: "x_SkuMeterCategory",
    usage_type: "x_SkuMeterName",
    service_code: Some("x_SkuMeterSubcategory"),
    product: Some(("ChargeDescription", None)),
    resource: Some("ResourceId"),
    charge: Some("ChargeCategory"),
    tags: Some("Tags"),
    mapper: map,
};

pub const ACTUAL: Shape = Shape {
    start: "Date",
    account: "SubscriptionId",
    cost: "CostInBillingCurrency",
    currency: "BillingCurrencyCode (EA) or billingCurrency (MCA)",
    service: "MeterCategory",
    usage_type: "MeterName",
    service_code: Some("MeterSubCategory"),
    product: Some(("ProductName", None)),
    resource: Some("ResourceId"),
    charge: Some("ChargeType"),
    tags: Some("Tags"),
    mapper: map,
};

pub fn layout(format: Format) -> &'static Layout {
    match format {
        Format::Actual => &ACTUAL_LAYOUT,
        Format::Amortized => &AMORTIZED_LAYOUT,
        _ => &FOCUS_LAYOUT,
    }
}

/// A subscription as the Azure exporter's `account` label writes it: the GUID, lowercase
/// (FOCUS may write `SubAccountId` as the resource id `/subscriptions/<guid>`).
pub fn account_of(s: &str) -> String {
    let s = s.trim();
    let s = s
        .get(..15)
        .filter(|p| p.eq_ignore_ascii_case("/subscriptions/"))
        .map_or(s, |_| &s[15..]);
    s.trim_end_matches('/').to_ascii_lowercase()
}

/// Meters of partner models sold through Marketplace.
const MARKETPLACE_METERS: &[&str] = &[
    "paygo-inference",
    "paygo-finetuned-model-inference",
    "consumption-units",
];

fn is_marketplace_llm(f: &Fields) -> bool {
    let meter = f.usage_type.to_ascii_lowercase();
    MARKETPLACE_METERS.iter().any(|m| meter.contains(m))
}

/// First-party model meters: category "Foundry Models" or "Azure OpenAI (Service)", or an
/// "Azure OpenAI" / "Azure <x> Models" subcategory (of "Cognitive Services" or any category). Speech, Vision, Translator
/// and the other Cognitive Services never count.
fn is_first_party_llm(f: &Fields) -> bool {
    let category = f.service.trim().to_ascii_lowercase();
    let sub = f.service_code.trim().to_ascii_lowercase();
    category == "foundry models"
        || category.contains("openai")
        || sub.contains("openai")
        || (sub.starts_with("azure ") && sub.ends_with(" models"))
}

/// The model of an Azure row; None for rows of other services and for tax.
pub fn map(f: &Fields) -> Option<Mapped> {
    if f.charge.eq_ignore_ascii_case("Tax") {
        return None;
    }
    let meter = f.usage_type.trim();
    if is_marketplace_llm(f) {
        // `<offer> - <plan> - <meter>` in the meter or the product name; a pooled
        // consumption-units meter (Claude CCU) names the plan, never the model.
        let pooled = meter.to_ascii_lowercase().contains("consumption-units");
        let offer = [meter, f.product.trim()]
            .into_iter()
            .find(|s| s.contains(" - "))
            .and_then(|s| s.split(" - ").next())
            .map(str::trim)
            .filter(|o| !o.is_empty() && !pooled);
        let billed_as = if f.product.trim().is_empty() || meter.contains(" - ") {
            meter.to_string()
        } else {
            format!("{} {meter}", f.product.trim())
        };
        return Some(Mapped {
            model: offer.map_or_else(|| UNMAPPED.to_string(), str::to_string),
            billed_as,
        });
    }
    if !is_first_party_llm(f) {
        return None;
    }
    Some(Mapped {
        model: model_of_meter(meter).unwrap_or_else(|| UNMAPPED.to_string()),
        billed_as: if meter.is_empty() {
            f.product.trim().to_string()
        } else {
            meter.to_string()
        },
    })
}

/// Words of a meter name that say direction, cache, tier, batch, unit or provisioning:
/// never the model.
const KIND_WORDS: &[&str] = &[
    "input", "inp", "output", "outp", "outpt", "opt", "cached", "cchd", "cache", "cd", "tokens",
    "token", "global", "glbl", "gl", "regional", "regnl", "rgnl", "dzone", "datazone", "dz",
    "batch", "1k", "1m", "unit", "units", "hour", "hours",
];

/// Words that make a meter a token meter (the only meters whose name carries the model as
/// the exporter counts it; hosting hours, training and images are not).
const TOKEN_WORDS: &[&str] = &[
    "input", "inp", "output", "outp", "outpt", "opt", "cached", "cchd", "tokens", "token",
];

/// `gpt 4o 0513 Input global Tokens` -> `gpt-4o`; `gpt 4o mini 0718 cached Inp glbl Tokens`
/// -> `gpt-4o-mini`. The 4-digit version (MMDD) goes: the exporter's `model` label is the
/// model name, its version a label of its own. None for provisioned-throughput meters (they
/// name no model), for meters that count no tokens, and for meters with nothing left.
pub fn model_of_meter(meter: &str) -> Option<String> {
    let lower = meter.to_ascii_lowercase();
    if lower.contains("provisioned") || lower.starts_with("ptu") {
        return None;
    }
    let all: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|w| !w.is_empty())
        .collect();
    if !all.iter().any(|w| TOKEN_WORDS.contains(w)) {
        return None;
    }
    let words: Vec<&str> = all
        .into_iter()
        .filter(|w| !KIND_WORDS.contains(w))
        .filter(|w| !(w.len() == 4 && w.chars().all(|c| c.is_ascii_digit())))
        .collect();
    (!words.is_empty()).then(|| words.join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::model_key::model_key;
    use std::borrow::Cow;

    fn fields<'a>(category: &'a str, sub: &'a str, meter: &'a str, product: &'a str) -> Fields<'a> {
        Fields {
            service: category,
            service_code: sub,
            usage_type: meter,
            product: Cow::Borrowed(product),
            charge: "Usage",
            ..Default::default()
        }
    }

    #[test]
    fn meter_names_give_the_exporters_model_names() {
        for (meter, model) in [
            ("gpt 4o 0513 Input global Tokens", "gpt-4o"),
            ("gpt 4o 0513 Output global Tokens", "gpt-4o"),
            ("gpt 4o mini 0718 cached Inp glbl Tokens", "gpt-4o-mini"),
            ("gpt 4o 0806 Batch Inp glbl 1M Tokens", "gpt-4o"),
            ("o1 1217 Outp DZone Tokens", "o1"),
            ("gpt 4.1 Inp regnl 1M Tokens", "gpt-4.1"),
            ("gpt-35-turbo-0125-Inp-regnl", "gpt-35-turbo"),
        ] {
            let got = model_of_meter(meter);
            assert_eq!(got.as_deref(), Some(model), "{meter}");
            assert_eq!(model_key(&got.unwrap()), model_key(model), "{meter}");
        }
        assert_eq!(model_of_meter("Provisioned Managed Global Unit"), None);
        assert_eq!(
            model_of_meter("gpt 4o mini 0718 FTuned Hosting Hours"),
            None
        );
        assert_eq!(
            model_of_meter("text embedding 3 large Tokens").as_deref(),
            Some("text-embedding-3-large")
        );
        assert_eq!(model_of_meter("Input global Tokens"), None);
        assert_eq!(model_key("gpt-4o-mini"), model_key("gpt-4o-mini"));
        assert_ne!(model_key("gpt-4o"), model_key("gpt-4o-mini"));
    }

    #[test]
    fn llm_rows_are_mapped_and_others_never_count() {
        let m = map(&fields(
            "Foundry Models",
            "Azure OpenAI",
            "gpt 4o 0513 Input global Tokens",
            "",
        ))
        .unwrap();
        assert_eq!(
            (m.model.as_str(), m.billed_as.as_str()),
            ("gpt-4o", "gpt 4o 0513 Input global Tokens")
        );
        let m = map(&fields(
            "Cognitive Services",
            "Azure OpenAI",
            "Provisioned Managed Global Unit",
            "",
        ))
        .unwrap();
        assert_eq!(
            (m.model.as_str(), m.billed_as.as_str()),
            (UNMAPPED, "Provisioned Managed Global Unit")
        );
        let m = map(&fields(
            "SaaS",
            "",
            "paygo-inference-input-tokens",
            "Llama 3.3 70B Instruct - meta-llama-3-3-70b-plan - paygo-inference-input-tokens",
        ))
        .unwrap();
        assert_eq!(m.model, "Llama 3.3 70B Instruct");
        let m = map(&fields(
            "",
            "",
            "Claude Sonnet 4.6 - msft-sonnet-4-6-flat-100 - paygo-inference-output-tokens",
            "",
        ))
        .unwrap();
        assert_eq!(m.model, "Claude Sonnet 4.6");
        let m = map(&fields("SaaS", "", "paygo-inference-input-tokens", "")).unwrap();
        assert_eq!(
            (m.model.as_str(), m.billed_as.as_str()),
            (UNMAPPED, "paygo-inference-input-tokens")
        );
        let m = map(&fields(
            "SaaS",
            "",
            "Claude in Microsoft Foundry (Azure hosted) - claude-ccu-plan - claude-consumption-units",
            "",
        ))
        .unwrap();
        assert_eq!(m.model, UNMAPPED, "a CCU meter names no model");
        let m = map(&fields(
            "Azure OpenAI Service",
            "",
            "gpt 4o 0513 Output global Tokens",
            "",
        ))
        .unwrap();
        assert_eq!(m.model, "gpt-4o");
        for (c, s, meter) in [
            ("Cognitive Services", "Speech", "S1 Speech To Text"),
            ("Foundry Tools", "Speech", "S1 Speech To Text"),
            ("Virtual Machines", "Dv3 Series", "D2 v3"),
            ("Storage", "Blob", "Hot LRS Data Stored"),
        ] {
            assert_eq!(map(&fields(c, s, meter, "")), None, "{meter}");
        }
        let mut tax = fields("Foundry Models", "Azure OpenAI", "gpt 4o Input", "");
        tax.charge = "Tax";
        assert_eq!(map(&tax), None);
    }

    #[test]
    fn subscriptions_as_the_exporter_labels_them() {
        assert_eq!(
            account_of("/subscriptions/AAAA0000-0000-0000-0000-000000000001"),
            "aaaa0000-0000-0000-0000-000000000001"
        );
        assert_eq!(account_of("bbbb"), "bbbb");
    }
}
