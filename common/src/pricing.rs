//! The price catalog: USD per token, per cloud and catalog key, for each token type.
//!
//! A catalog generated from a pinned LiteLLM release is compiled in
//! (`scripts/gen-pricing-catalog.py`); a user's `pricing_file` in the same format replaces
//! or adds whole model entries. Tokens of a model (or token type) with no price are counted,
//! but no cost is invented for them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::{parse_yaml, ConfigError};
use crate::source::{Billing, BillingMode, TokenType};

const BUNDLED: &str = include_str!("../pricing/catalog.json");

/// One set of per-token rates in USD. A missing field means "no price known".
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    /// One-hour cache writes (Anthropic's 1h TTL), where they are priced apart.
    #[serde(default)]
    pub cache_write_1h: Option<f64>,
    /// The rates for tokens of requests above 200k input tokens, where they differ.
    #[serde(default)]
    pub above_200k: Option<Box<Rates>>,
}

impl Rates {
    pub fn get(&self, token_type: TokenType) -> Option<f64> {
        match token_type {
            TokenType::Input => self.input,
            TokenType::Output => self.output,
            TokenType::CacheRead => self.cache_read,
            TokenType::CacheWrite => self.cache_write,
            TokenType::CacheWrite1h => self.cache_write_1h,
        }
    }

    /// The long-context rate of `token_type`, where one is given.
    fn long(&self, token_type: TokenType) -> Option<f64> {
        self.above_200k.as_ref()?.get(token_type)
    }

    /// Every rate with the field path it was read from, for validation.
    fn each(&self, path: &str, out: &mut Vec<(String, f64)>) {
        for t in TokenType::PRICED {
            if let Some(p) = self.get(t) {
                out.push((format!("{path}.{}", t.as_str()), p));
            }
        }
        if let Some(long) = &self.above_200k {
            long.each(&format!("{path}.above_200k"), out);
        }
    }
}

/// What a mode costs next to the standard rate, for input and output tokens, when the catalog
/// has no rate of its own for it.
/// Batch: "50% less cost than global standard" (Azure OpenAI, how-to/batch), half the
/// on-demand price on Bedrock and Vertex. Flex: half (Bedrock and Vertex Flex). Priority: the
/// premium Bedrock and Vertex publish (about 75 % above standard).
fn default_multiplier(mode: BillingMode) -> f64 {
    match mode {
        BillingMode::Batch | BillingMode::Flex => 0.5,
        BillingMode::Priority => 1.75,
        _ => 1.0,
    }
}

/// One model's prices: standard rates, the rates of other billing modes, the regional
/// surcharge and the hourly rate of provisioned capacity.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    /// One-hour cache writes (Anthropic's 1h TTL), where they are priced apart.
    #[serde(default)]
    pub cache_write_1h: Option<f64>,
    /// Standard rates for tokens of requests above 200k input tokens (LiteLLM
    /// `*_above_200k_tokens`).
    #[serde(default)]
    pub above_200k: Option<Box<Rates>>,
    /// Batch rates (LiteLLM `*_batches`).
    #[serde(default)]
    pub batch: Option<Rates>,
    /// Flex tier rates (LiteLLM `*_flex`).
    #[serde(default)]
    pub flex: Option<Rates>,
    /// Priority tier rates (LiteLLM `*_priority`).
    #[serde(default)]
    pub priority: Option<Rates>,
    /// Multiplier for requests served by a regional endpoint (LiteLLM
    /// `regional_endpoint_uplift_multiplier`; 1.1 for Claude Sonnet 4.5 and later).
    #[serde(default)]
    pub regional_uplift: Option<f64>,
    /// USD per hour of one unit of provisioned capacity (an Azure PTU, a Bedrock model unit,
    /// a Vertex GSU).
    #[serde(default)]
    pub provisioned_usd_per_unit_hour: Option<f64>,
}

impl ModelPrice {
    /// The standard rates.
    pub fn standard(&self) -> Rates {
        Rates {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
            cache_write_1h: self.cache_write_1h,
            above_200k: self.above_200k.clone(),
        }
    }

    /// The standard rate of `token_type`.
    pub fn get(&self, token_type: TokenType) -> Option<f64> {
        match token_type {
            TokenType::Input => self.input,
            TokenType::Output => self.output,
            TokenType::CacheRead => self.cache_read,
            TokenType::CacheWrite => self.cache_write,
            TokenType::CacheWrite1h => self.cache_write_1h,
        }
    }

    /// USD per token of `token_type` billed as `billing`, or `None` when it has no per-token
    /// price (provisioned and reserved capacity, or no rate known). The mode's own rate where
    /// the entry has one, else the standard rate times the mode's documented multiplier; the
    /// long-context rate where the request was long and one is known; times the regional
    /// surcharge where the request was served regionally.
    pub fn rate(&self, token_type: TokenType, billing: Billing) -> Option<f64> {
        if !billing.mode.per_token() {
            return None;
        }
        let tier = match billing.mode {
            BillingMode::Batch => self.batch.as_ref(),
            BillingMode::Flex => self.flex.as_ref(),
            BillingMode::Priority => self.priority.as_ref(),
            _ => None,
        };
        // The multiplier is the mode's discount or premium on input and output. Cached tokens
        // keep their cache rate where the mode has none of its own: on Vertex "the 75%
        // cache-hit discount takes precedence over the batch discount" (batch-prediction-gemini).
        let multiplier = match token_type {
            TokenType::Input | TokenType::Output => default_multiplier(billing.mode),
            _ => 1.0,
        };
        let scaled = |v: f64| v * multiplier;
        let long = billing.long_context;
        let rate = tier
            .filter(|_| long)
            .and_then(|r| r.long(token_type))
            .or_else(|| {
                let standard_long = self.above_200k.as_ref()?.get(token_type);
                standard_long.filter(|_| long).map(scaled)
            })
            .or_else(|| tier.and_then(|r| r.get(token_type)))
            .or_else(|| self.get(token_type).map(scaled))?;
        match self.regional_uplift {
            Some(m) if billing.regional => Some(rate * m),
            _ => Some(rate),
        }
    }

    /// Every rate with the field path it was read from, for validation.
    fn each(&self, path: &str) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        self.standard().each(path, &mut out);
        for (name, r) in [
            ("batch", &self.batch),
            ("flex", &self.flex),
            ("priority", &self.priority),
        ] {
            if let Some(r) = r {
                r.each(&format!("{path}.{name}"), &mut out);
            }
        }
        out
    }
}

/// The file format of both the bundled catalog and a user's pricing file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    version: Option<String>,
    /// When the prices were published (RFC 3339), e.g. the LiteLLM release's date.
    #[serde(default)]
    built: Option<String>,
    /// cloud -> catalog key -> prices
    models: BTreeMap<String, BTreeMap<String, ModelPrice>>,
}

/// Where a loaded price list came from, for `llm_pricing_catalog_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogSource {
    pub source: String,
    pub version: String,
    /// Unix seconds when the prices were published (the bundled catalog's release date; a
    /// pricing file's `built`, else its modification time).
    pub built_at: Option<i64>,
}

/// A price above this many USD per token is almost certainly meant per million tokens.
const SUSPICIOUS_USD_PER_TOKEN: f64 = 0.001;

fn rfc3339(s: &str) -> Option<i64> {
    humantime::parse_rfc3339_weak(s)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// Checks every cloud name and rate of a catalog file; errors name the field.
fn validate(file: &CatalogFile, origin: &str, path: Option<&Path>) -> Result<(), ConfigError> {
    // A pricing file names the clouds of the config's sections: one file serves every exporter.
    let clouds = crate::sections::known();
    for (cloud, models) in &file.models {
        if !clouds.contains_key(cloud) {
            let expected: Vec<&String> = clouds.keys().collect();
            return Err(ConfigError::field(
                origin,
                format!("models.{cloud}"),
                format!("unknown cloud; expected one of {expected:?}"),
            ));
        }
        for (key, price) in models {
            let field = |name: &str| format!("models.{cloud}.{key}.{name}");
            for (name, p) in price.each("") {
                let name = &name[1..];
                if !p.is_finite() || p < 0.0 {
                    return Err(ConfigError::field(
                        origin,
                        field(name),
                        format!("price must be a non-negative number of USD per token, got {p}"),
                    ));
                }
                if p > SUSPICIOUS_USD_PER_TOKEN {
                    let file = path.map(crate::config::shown).unwrap_or_default();
                    tracing::warn!(file, field = field(name), usd_per_token = p, "a price above $0.001 per token ($1,000 per million): prices are USD per token, not per million");
                }
            }
            if let Some(m) = price.regional_uplift {
                if !m.is_finite() || !(1.0..=10.0).contains(&m) {
                    return Err(ConfigError::field(
                        origin,
                        field("regional_uplift"),
                        format!("must be a multiplier between 1 and 10 (1.1 is a 10 % surcharge), got {m}"),
                    ));
                }
            }
            if let Some(h) = price.provisioned_usd_per_unit_hour {
                if !h.is_finite() || h < 0.0 {
                    return Err(ConfigError::field(
                        origin,
                        field("provisioned_usd_per_unit_hour"),
                        format!("must be a non-negative number of USD per unit and hour, got {h}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The prices of one cloud, bundled catalog plus overrides.
#[derive(Debug, Clone)]
pub struct Pricing {
    cloud: String,
    models: BTreeMap<String, ModelPrice>,
    sources: Vec<CatalogSource>,
}

impl Pricing {
    /// The bundled catalog for `cloud`, with `pricing_file`'s entries replacing or adding
    /// whole models.
    pub fn load(cloud: &str, pricing_file: Option<&Path>) -> Result<Pricing, ConfigError> {
        Pricing::load_with_capacity(cloud, "", pricing_file)
    }

    /// [`Pricing::load`], with the exporter's bundled `capacity` rates applied before the
    /// pricing file: rates kept by hand where LiteLLM has none, in the pricing file format
    /// (`provisioned_usd_per_unit_hour` and `regional_uplift` are taken, other fields
    /// ignored); empty for none.
    pub fn load_with_capacity(
        cloud: &str,
        capacity: &str,
        pricing_file: Option<&Path>,
    ) -> Result<Pricing, ConfigError> {
        let bundled: CatalogFile = parse_yaml(BUNDLED, "<bundled catalog>", "")?;
        let mut pricing = Pricing {
            cloud: cloud.to_string(),
            models: bundled.models.get(cloud).cloned().unwrap_or_default(),
            sources: vec![CatalogSource {
                source: bundled.source.unwrap_or_else(|| "bundled".into()),
                version: bundled.version.unwrap_or_default(),
                built_at: bundled.built.as_deref().and_then(rfc3339),
            }],
        };
        if !capacity.trim().is_empty() {
            let origin = format!("<bundled capacity rates for {cloud}>");
            let file: CatalogFile = parse_yaml(capacity, &origin, "")?;
            validate(&file, &origin, None)?;
            for (key, price) in file.models.get(cloud).into_iter().flatten() {
                let entry = pricing.models.entry(key.clone()).or_default();
                if price.provisioned_usd_per_unit_hour.is_some() {
                    entry.provisioned_usd_per_unit_hour = price.provisioned_usd_per_unit_hour;
                }
                if price.regional_uplift.is_some() {
                    entry.regional_uplift = price.regional_uplift;
                }
            }
        }
        if let Some(path) = pricing_file {
            pricing.apply_file(path)?;
        }
        Ok(pricing)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let origin = format!("pricing_file {}", crate::config::shown(path));
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadFile {
            key: "pricing_file",
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let file: CatalogFile = parse_yaml(&text, &origin, "")?;
        validate(&file, &origin, Some(path))?;
        if let Some(models) = file.models.get(&self.cloud) {
            for (key, price) in models {
                self.models.insert(key.clone(), price.clone());
            }
        }
        // Without a version in the file, its content hash tells which file is loaded.
        let version = file.version.unwrap_or_else(|| {
            let digest = Sha256::digest(text.as_bytes());
            digest[..6].iter().map(|b| format!("{b:02x}")).collect()
        });
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        self.sources.push(CatalogSource {
            source: file.source.unwrap_or_else(|| "file".into()),
            version,
            built_at: file.built.as_deref().and_then(rfc3339).or(modified),
        });
        Ok(())
    }

    /// The first of `keys` the catalog has an entry for.
    pub fn resolve<'a>(&self, keys: &'a [String]) -> Option<&'a str> {
        keys.iter()
            .find(|k| self.models.contains_key(k.as_str()))
            .map(String::as_str)
    }

    /// The standard USD per token of `key`, or `None` when the catalog has no such price.
    pub fn price(&self, key: &str, token_type: TokenType) -> Option<f64> {
        self.models.get(key).and_then(|m| m.get(token_type))
    }

    /// USD per token of `token_type` billed as `billing`, priced under the first of `keys`
    /// the catalog has ([`ModelPrice::rate`]).
    pub fn rate(&self, keys: &[String], token_type: TokenType, billing: Billing) -> Option<f64> {
        self.model(self.resolve(keys)?)?.rate(token_type, billing)
    }

    /// USD per unit-hour of provisioned capacity, from the first of `keys` that has a rate.
    pub fn capacity_rate(&self, keys: &[String]) -> Option<f64> {
        keys.iter()
            .find_map(|k| self.models.get(k.as_str())?.provisioned_usd_per_unit_hour)
    }

    pub fn model(&self, key: &str) -> Option<&ModelPrice> {
        self.models.get(key)
    }

    pub fn sources(&self) -> &[CatalogSource] {
        &self.sources
    }

    pub fn cloud(&self) -> &str {
        &self.cloud
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bundled_catalog_has_reference_prices() {
        let p = Pricing::load("aws", None).unwrap();
        // LiteLLM 1.109.1's model_prices_and_context_window.json (BerriAI/litellm).
        let sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0";
        assert_eq!(p.price(sonnet, TokenType::Input), Some(3.0e-6));
        assert_eq!(p.price(sonnet, TokenType::Output), Some(15.0e-6));
        assert_eq!(p.price(sonnet, TokenType::CacheRead), Some(0.3e-6));
        assert_eq!(p.price(sonnet, TokenType::CacheWrite), Some(3.75e-6));
        let us_haiku = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
        assert_eq!(p.price(us_haiku, TokenType::Input), Some(1.1e-6));
        assert_eq!(p.price("amazon.nova-pro-v1:0", TokenType::CacheWrite), None);
        assert_eq!(p.sources()[0].source, "litellm");
        // The one-hour cache-write tier has its own rate (LiteLLM's
        // cache_creation_input_token_cost_above_1hr), and the release date is known.
        let sonnet45 = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(p.price(sonnet45, TokenType::CacheWrite), Some(3.75e-6));
        assert_eq!(p.price(sonnet45, TokenType::CacheWrite1h), Some(6.0e-6));
        assert!(p.sources()[0].built_at.is_some_and(|t| t > 1_750_000_000));
        assert!(p.len() > 100);
        assert!(
            Pricing::load("azure", None)
                .unwrap()
                .price("gpt-4o", TokenType::Input)
                == Some(2.5e-6)
        );
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn a_pricing_file_replaces_and_adds_models() {
        let f = file(
            "version: corp-2026-11\nmodels:\n  aws:\n    amazon.nova-pro-v1:0: {input: 1.0e-6, output: 2.0e-6}\n    my.custom-model: {input: 5.0e-7}\n  gcp:\n    gemini-2.5-flash: {input: 1.0}\n",
        );
        let p = Pricing::load("aws", Some(f.path())).unwrap();
        assert_eq!(
            p.price("amazon.nova-pro-v1:0", TokenType::Input),
            Some(1.0e-6)
        );
        // The whole entry is replaced: the bundled cache_read price is gone.
        assert_eq!(p.price("amazon.nova-pro-v1:0", TokenType::CacheRead), None);
        assert_eq!(p.price("my.custom-model", TokenType::Input), Some(5.0e-7));
        assert_eq!(p.price("my.custom-model", TokenType::Output), None);
        assert_eq!(p.sources()[1].version, "corp-2026-11");
    }

    #[test]
    fn bad_pricing_files_name_what_is_wrong() {
        let err = |t: &str| {
            Pricing::load("aws", Some(file(t).path()))
                .unwrap_err()
                .to_string()
        };
        assert!(err("models:\n  aws:\n    m: {input: -1}\n").contains("models.aws.m.input"));
        assert!(err("models:\n  aws:\n    m: {inptu: 1}\n").contains("models.aws.m"));
        assert!(err("models:\n  aws:\n    m: {input: cheap}\n").contains("models.aws.m.input"));
        assert!(err("models:\n  amazon:\n    m: {input: 1.0e-6}\n")
            .contains("models.amazon`: unknown cloud"));
        assert!(err("nothing: here\n").contains("pricing_file"));
        let missing =
            Pricing::load("aws", Some(Path::new("/nonexistent/prices.yaml"))).unwrap_err();
        let text = format!("{:#}", anyhow::Error::from(missing));
        assert_eq!(
            text,
            "pricing_file /nonexistent/prices.yaml: cannot read it: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn bundled_catalog_keeps_the_rates_of_every_billing_mode() {
        let p = Pricing::load("gcp", None).unwrap();
        let pro = p.model("gemini-2.5-pro").unwrap();
        let b = |mode| Billing::mode(mode);
        let long = |mode| Billing {
            long_context: true,
            ..Billing::mode(mode)
        };
        // LiteLLM 1.109.1: input 1.25/M, batch 0.625/M, priority 2.25/M, flex 0.625/M,
        // above 200k 2.5/M (batch 1.25/M, priority 4.5/M).
        assert_eq!(
            pro.rate(TokenType::Input, b(BillingMode::Standard)),
            Some(1.25e-6)
        );
        assert_eq!(
            pro.rate(TokenType::Input, b(BillingMode::Batch)),
            Some(6.25e-7)
        );
        assert_eq!(
            pro.rate(TokenType::Input, b(BillingMode::Priority)),
            Some(2.25e-6)
        );
        assert_eq!(
            pro.rate(TokenType::Input, b(BillingMode::Flex)),
            Some(6.25e-7)
        );
        assert_eq!(
            pro.rate(TokenType::Input, long(BillingMode::Standard)),
            Some(2.5e-6)
        );
        assert_eq!(
            pro.rate(TokenType::Output, long(BillingMode::Batch)),
            Some(7.5e-6)
        );
        assert_eq!(
            pro.rate(TokenType::Input, long(BillingMode::Priority)),
            Some(4.5e-6)
        );
        assert_eq!(
            pro.rate(TokenType::Input, b(BillingMode::Provisioned)),
            None
        );
        assert_eq!(pro.rate(TokenType::Input, b(BillingMode::Reserved)), None);
        let haiku = p.model("claude-haiku-4-5").unwrap();
        assert_eq!(haiku.regional_uplift, Some(1.1));
        let regional = Billing {
            regional: true,
            ..Billing::default()
        };
        let base = haiku.rate(TokenType::Input, Billing::default()).unwrap();
        let uplifted = haiku.rate(TokenType::Input, regional).unwrap();
        assert!((uplifted - base * 1.1).abs() < 1e-15);
    }

    #[test]
    fn a_mode_without_its_own_rate_uses_the_documented_multiplier() {
        let m = ModelPrice {
            input: Some(1.0e-6),
            above_200k: Some(Box::new(Rates {
                input: Some(2.0e-6),
                ..Rates::default()
            })),
            ..ModelPrice::default()
        };
        let rate = |mode, long_context| {
            m.rate(
                TokenType::Input,
                Billing {
                    mode,
                    long_context,
                    regional: false,
                },
            )
            .unwrap()
        };
        assert_eq!(rate(BillingMode::Batch, false), 0.5e-6);
        assert_eq!(rate(BillingMode::Flex, false), 0.5e-6);
        assert_eq!(rate(BillingMode::Priority, false), 1.75e-6);
        // Long and batch, with only the standard long rate known: half of it.
        assert_eq!(rate(BillingMode::Batch, true), 1.0e-6);
        // No regional surcharge without a multiplier in the entry.
        let regional = Billing {
            regional: true,
            ..Billing::default()
        };
        assert_eq!(m.rate(TokenType::Input, regional), Some(1.0e-6));
        assert_eq!(m.rate(TokenType::Output, Billing::default()), None);
        // Cached tokens keep their cache rate in a mode without one of its own.
        let cached = ModelPrice {
            cache_read: Some(1.0e-7),
            ..m.clone()
        };
        let batch = Billing::mode(BillingMode::Batch);
        assert_eq!(cached.rate(TokenType::CacheRead, batch), Some(1.0e-7));
    }

    #[test]
    fn a_pricing_file_sets_every_mode_and_names_bad_rates() {
        let f = file("models:\n  aws:\n    m:\n      input: 1.0e-6\n      batch: {input: 3.0e-7, above_200k: {input: 6.0e-7}}\n      provisioned_usd_per_unit_hour: 21.18\n");
        let p = Pricing::load("aws", Some(f.path())).unwrap();
        let keys = ["us.m".to_string(), "m".to_string()];
        let batch_long = Billing {
            long_context: true,
            ..Billing::mode(BillingMode::Batch)
        };
        assert_eq!(p.resolve(&keys), Some("m"));
        assert_eq!(p.rate(&keys, TokenType::Input, batch_long), Some(6.0e-7));
        assert_eq!(p.capacity_rate(&keys), Some(21.18));
        let err = |t: &str| {
            Pricing::load("aws", Some(file(t).path()))
                .unwrap_err()
                .to_string()
        };
        assert!(err("models:\n  aws:\n    m: {batch: {input: -1}}\n")
            .contains("models.aws.m.batch.input"));
        assert!(
            err("models:\n  aws:\n    m: {priority: {above_200k: {output: .nan}}}\n")
                .contains("models.aws.m.priority.above_200k.output")
        );
        assert!(err("models:\n  aws:\n    m: {regional_uplift: 0.9}\n")
            .contains("models.aws.m.regional_uplift"));
        assert!(
            err("models:\n  aws:\n    m: {provisioned_usd_per_unit_hour: -3}\n")
                .contains("models.aws.m.provisioned_usd_per_unit_hour")
        );
        assert!(
            err("models:\n  aws:\n    m: {batches: {input: 1.0e-7}}\n").contains("models.aws.m")
        );
    }

    #[test]
    fn file_without_version_is_identified_by_hash() {
        let f = file("models: {}\n");
        let p = Pricing::load("aws", Some(f.path())).unwrap();
        assert_eq!(p.sources()[1].source, "file");
        assert_eq!(p.sources()[1].version.len(), 12);
    }
}
