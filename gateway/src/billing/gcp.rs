//! Google Cloud Billing export: which columns of the standard (or detailed) usage cost table
//! and of the FOCUS export hold what, and which rows are LLM usage of which model.
//!
//! Sources: "Structure of Standard data export"
//! (https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage:
//! `service` and `sku` are RECORDs with a `description`, `project.id` is the project ID,
//! `labels` is a REPEATED RECORD of `key`/`value`, `credits` a REPEATED RECORD whose `amount`
//! is negative, `cost_type` is `regular`, `tax`, `adjustment` or `rounding error`); the detailed
//! table (`gcp_billing_export_resource_v1_*`) holds the same fields plus resource ones; "Structure
//! of FOCUS data export"
//! (https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/focus-export).
//! SKU descriptions of Vertex AI (Vertex AI pricing and the Cloud Billing SKU catalog):
//! `Gemini 2.5 Pro Text Input - Predictions`, `Gemini 2.5 Pro Text Input (Long) - Predictions`,
//! `Gemini 2.5 Flash Input Text Caching`, `Model as a Service Llama 4 Scout Input Token`.

use super::ledger::{Fields, Mapped, UNMAPPED};
use super::read::Shape;

/// The standard and the detailed usage cost tables, nested as `EXPORT DATA` writes them:
/// dotted names are a RECORD's field.
pub const STANDARD: Shape = Shape {
    start: "usage_start_time",
    account: "project.id",
    cost: "cost",
    currency: "currency",
    service: "service.description",
    usage_type: "sku.description",
    service_code: None,
    product: None,
    resource: None,
    charge: Some("cost_type"),
    tags: Some("labels"),
    mapper: map,
};

/// The FOCUS export: FOCUS columns, the project ID in `x_Project.id` (else the
/// `SubAccountId`), the SKU's description in `x_SkuDescription` when the export has it, else
/// in `ChargeDescription` (the reading itself is `gcp_read`'s).
pub const FOCUS: Shape = Shape {
    start: "ChargePeriodStart",
    account: "x_Project.id",
    cost: "BilledCost",
    currency: "BillingCurrency",
    service: "ServiceName",
    usage_type: "ChargeDescription",
    service_code: None,
    product: None,
    resource: None,
    charge: Some("ChargeCategory"),
    tags: Some("Tags"),
    mapper: map,
};

/// Services whose every row is LLM usage (or, unmapped, named by its SKU). Gemini through
/// the Gemini Developer API bills under "Gemini API" (formerly "Generative Language API").
const LLM_SERVICES: &[&str] = &["Vertex AI", "Gemini API", "Generative Language API"];

/// Model families a SKU description names: the model starts at the family's name.
const FAMILIES: &[&str] = &[
    "Gemini",
    "Gemma",
    "Imagen",
    "Veo",
    "Chirp",
    "Claude",
    "Llama",
    "Mistral",
    "Mixtral",
    "Codestral",
    "Jamba",
    "DeepSeek",
    "Qwen",
    "gpt-oss",
];

/// Partner model families. Partner models on Vertex AI bill under Vertex AI or as Google
/// Cloud Marketplace services named after the model (Claude is sold through Marketplace);
/// a service named after one of these counts. Google's own families do not: services such as
/// "Gemini Code Assist" are subscriptions, not model usage, and Google's models bill under
/// Vertex AI or the Gemini API.
const PARTNER_FAMILIES: &[&str] = &[
    "Claude",
    "Anthropic",
    "Llama",
    "Mistral",
    "Mixtral",
    "Codestral",
    "Jamba",
    "DeepSeek",
    "Qwen",
    "gpt-oss",
];

/// Words that say what a SKU counts, never which model: the model ends before the first.
const KIND_WORDS: &[&str] = &[
    "text",
    "input",
    "output",
    "image",
    "images",
    "audio",
    "video",
    "caching",
    "cached",
    "cache",
    "context",
    "predictions",
    "prediction",
    "token",
    "tokens",
    "character",
    "characters",
    "batch",
    "long",
    "short",
    "thinking",
    "reasoning",
    "grounding",
    "priority",
    "flex",
    "provisioned",
    "storage",
    "tuning",
    "request",
    "requests",
    "generation",
    "for",
    "with",
    "in",
    "-",
];

/// SKU names of models as a service whose Vertex AI model ID (the exporter's `model` label,
/// `model_user_id`) carries more than the SKU says (Vertex AI Model Garden model cards).
const ALIASES: &[(&str, &str)] = &[
    ("Llama 4 Scout", "llama-4-scout-17b-16e-instruct-maas"),
    (
        "Llama 4 Maverick",
        "llama-4-maverick-17b-128e-instruct-maas",
    ),
    ("Llama 3.3 70B", "llama-3.3-70b-instruct-maas"),
    ("Llama 3.1 405B", "llama-3.1-405b-instruct-maas"),
];

/// Called for every row of every service: no allocation.
fn names_a_partner_family(s: &str) -> bool {
    PARTNER_FAMILIES.iter().any(|f| {
        s.as_bytes()
            .windows(f.len())
            .any(|w| w.eq_ignore_ascii_case(f.as_bytes()))
    })
}

/// The model of a Vertex AI (or Gemini API, or partner model) row; None for other services
/// and for tax.
pub fn map(f: &Fields) -> Option<Mapped> {
    let service = f.service.trim();
    let own = LLM_SERVICES.iter().any(|s| s.eq_ignore_ascii_case(service));
    let llm = own || names_a_partner_family(service);
    if !llm || f.charge.eq_ignore_ascii_case("tax") {
        return None;
    }
    let sku = f.usage_type.trim();
    // A partner model's own service is named after the model.
    let model = model_of_sku(sku).or_else(|| (!own).then(|| model_of_sku(service)).flatten());
    let billed_as = if sku.is_empty() {
        service.to_string()
    } else {
        sku.to_string()
    };
    Some(Mapped {
        model: model.unwrap_or_else(|| UNMAPPED.to_string()),
        billed_as,
    })
}

/// `Gemini 2.5 Pro Text Input - Predictions` -> `Gemini 2.5 Pro`;
/// `Model as a Service Llama 4 Scout Input Token` -> `llama-4-scout-17b-16e-instruct-maas`;
/// None when no model family is named.
pub fn model_of_sku(sku: &str) -> Option<String> {
    let words: Vec<&str> = sku.split_whitespace().collect();
    let start = words.iter().position(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        FAMILIES
            .iter()
            .any(|f| w.get(..f.len()).is_some_and(|p| p.eq_ignore_ascii_case(f)))
    })?;
    let mut model = Vec::new();
    for w in &words[start..] {
        let bare = w.trim_matches(|c: char| c == '(' || c == ')' || c == ',');
        if w.starts_with('(') || KIND_WORDS.contains(&bare.to_ascii_lowercase().as_str()) {
            break;
        }
        model.push(bare);
    }
    let name = model.join(" ");
    if let Some((_, id)) = ALIASES.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
        return Some(id.to_string());
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::model_key::model_key;
    use std::borrow::Cow;

    fn fields<'a>(service: &'a str, sku: &'a str) -> Fields<'a> {
        Fields {
            service,
            usage_type: sku,
            product: Cow::Borrowed(""),
            charge: "regular",
            ..Default::default()
        }
    }

    #[test]
    fn vertex_skus_meet_the_exporters_model_ids() {
        for (sku, id) in [
            ("Gemini 2.5 Pro Text Input - Predictions", "gemini-2.5-pro"),
            (
                "Gemini 2.5 Pro Text Input (Long) - Predictions",
                "gemini-2.5-pro",
            ),
            ("Gemini 2.5 Flash Input Text Caching", "gemini-2.5-flash"),
            (
                "Gemini 2.0 Flash Lite Text Output - Predictions",
                "gemini-2.0-flash-lite",
            ),
            (
                "Gemini 2.5 Flash Lite Batch Text Input",
                "gemini-2.5-flash-lite",
            ),
            (
                "Gemini 3 Pro Preview Text Input - Predictions",
                "gemini-3-pro-preview",
            ),
            ("Claude Haiku 4.5 Input Tokens", "claude-haiku-4-5"),
            (
                "Model as a Service Llama 4 Scout Input Token",
                "llama-4-scout-17b-16e-instruct-maas",
            ),
            (
                "Cloud Vertex AI Model Garden Model as a Service Llama 3.3 70B Output Token",
                "llama-3.3-70b-instruct-maas",
            ),
        ] {
            let m = map(&fields("Vertex AI", sku)).unwrap();
            assert_eq!(model_key(&m.model), model_key(id), "{sku}: {}", m.model);
            assert_eq!(m.billed_as, sku);
        }
        assert_ne!(
            model_key(&model_of_sku("Gemini 2.5 Flash Lite Text Input").unwrap()),
            model_key("gemini-2.5-flash")
        );
    }

    #[test]
    fn unmapped_vertex_rows_name_their_sku_and_other_services_never_count() {
        let m = map(&fields(
            "Vertex AI",
            "Vertex AI Online Prediction: n1-standard-4",
        ))
        .unwrap();
        assert_eq!(m.model, UNMAPPED);
        assert_eq!(m.billed_as, "Vertex AI Online Prediction: n1-standard-4");
        let m = map(&fields("Gemini API", "Grounding with Google Search")).unwrap();
        assert_eq!(m.model, UNMAPPED);
        assert_eq!(
            map(&fields("Compute Engine", "N1 Predefined Instance Core")),
            None
        );
        assert_eq!(map(&fields("BigQuery", "Analysis")), None);
        assert_eq!(
            map(&fields("Gemini Code Assist", "Gemini Code Assist Standard")),
            None,
            "a subscription, not model usage"
        );
        let mut tax = fields("Vertex AI", "Gemini 2.5 Pro Text Input - Predictions");
        tax.charge = "tax";
        assert_eq!(map(&tax), None);
        tax.charge = "Tax";
        assert_eq!(map(&tax), None, "FOCUS ChargeCategory");
    }

    #[test]
    fn partner_services_named_after_a_model_count() {
        let m = map(&fields(
            "Claude Sonnet 4.5",
            "Claude Sonnet 4.5 Output Tokens",
        ))
        .unwrap();
        assert_eq!(model_key(&m.model), model_key("claude-sonnet-4-5"));
        let m = map(&fields("Claude Opus 4.1", "Usage")).unwrap();
        assert_eq!(model_key(&m.model), model_key("claude-opus-4-1"));
    }

    #[test]
    fn gcp_exports_pass_check_config() {
        let up = "upstreams: [{cloud: gcp, url: 'http://p:9090'}]\n";
        let c = crate::config::Config::parse(&format!(
            "{up}billing:\n  - {{cloud: gcp, format: gcp-standard, url: 'gs://bkt/gcp-standard/', tenant_tag: team}}\n  - {{cloud: gcp, format: gcp-focus, url: 'file:///var/lib/gcp-focus/'}}\n"
        ))
        .unwrap();
        assert_eq!(c.billing[0].name(), "gcp-gcp-standard");
        let err = crate::config::Config::parse(&format!(
            "{up}billing: [{{cloud: gcp, format: gcp-focus, url: 's3://bkt/x/'}}]\n"
        ))
        .unwrap_err();
        assert!(
            err.contains("`billing[0].url`") && err.contains("gs://"),
            "{err}"
        );
    }
}
