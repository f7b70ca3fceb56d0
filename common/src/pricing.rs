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
use crate::source::TokenType;

const BUNDLED: &str = include_str!("../pricing/catalog.json");

/// One model's prices in USD per token. A missing field means "no price known".
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
}

impl ModelPrice {
    pub fn get(&self, token_type: TokenType) -> Option<f64> {
        match token_type {
            TokenType::Input => self.input,
            TokenType::Output => self.output,
            TokenType::CacheRead => self.cache_read,
            TokenType::CacheWrite => self.cache_write,
            TokenType::CacheWrite1h => self.cache_write_1h,
        }
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

/// The clouds a pricing file may name.
pub const CLOUDS: [&str; 3] = ["aws", "azure", "gcp"];

/// A price above this many USD per token is almost certainly meant per million tokens.
const SUSPICIOUS_USD_PER_TOKEN: f64 = 0.001;

fn rfc3339(s: &str) -> Option<i64> {
    humantime::parse_rfc3339_weak(s)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
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
        if let Some(path) = pricing_file {
            pricing.apply_file(path)?;
        }
        Ok(pricing)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let origin = format!("pricing_file {}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadFile {
            key: "pricing_file",
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let file: CatalogFile = parse_yaml(&text, &origin, "")?;
        for (cloud, models) in &file.models {
            if !CLOUDS.contains(&cloud.as_str()) {
                return Err(ConfigError::field(
                    &origin,
                    format!("models.{cloud}"),
                    format!("unknown cloud; expected one of {CLOUDS:?}"),
                ));
            }
            for (key, price) in models {
                for t in TokenType::PRICED {
                    let Some(p) = price.get(t) else { continue };
                    let field = format!("models.{cloud}.{key}.{}", t.as_str());
                    if !p.is_finite() || p < 0.0 {
                        return Err(ConfigError::field(
                            &origin,
                            field,
                            format!(
                                "price must be a non-negative number of USD per token, got {p}"
                            ),
                        ));
                    }
                    if p > SUSPICIOUS_USD_PER_TOKEN {
                        tracing::warn!(file = %path.display(), field, usd_per_token = p, "a price above $0.001 per token ($1,000 per million): prices are USD per token, not per million");
                    }
                }
            }
        }
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

    /// USD per token, or `None` when the catalog has no price for this key and token type.
    pub fn price(&self, key: &str, token_type: TokenType) -> Option<f64> {
        self.models.get(key).and_then(|m| m.get(token_type))
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
        // shared/reference/cloud-apis.md §4.2 (LiteLLM 1.109.1).
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
    fn file_without_version_is_identified_by_hash() {
        let f = file("models: {}\n");
        let p = Pricing::load("aws", Some(f.path())).unwrap();
        assert_eq!(p.sources()[1].source, "file");
        assert_eq!(p.sources()[1].version.len(), 12);
    }
}
