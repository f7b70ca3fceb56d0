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
}

impl ModelPrice {
    pub fn get(&self, token_type: TokenType) -> Option<f64> {
        match token_type {
            TokenType::Input => self.input,
            TokenType::Output => self.output,
            TokenType::CacheRead => self.cache_read,
            TokenType::CacheWrite => self.cache_write,
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
    /// cloud -> catalog key -> prices
    models: BTreeMap<String, BTreeMap<String, ModelPrice>>,
}

/// Where a loaded price list came from, for `llm_pricing_catalog_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogSource {
    pub source: String,
    pub version: String,
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
            for (key, price) in models {
                for t in TokenType::ALL {
                    if let Some(p) = price.get(t) {
                        if !p.is_finite() || p < 0.0 {
                            return Err(ConfigError::Field {
                                path: origin,
                                field: format!("models.{cloud}.{key}.{}", t.as_str()),
                                message: format!(
                                    "price must be a non-negative number of USD per token, got {p}"
                                ),
                            });
                        }
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
        self.sources.push(CatalogSource {
            source: file.source.unwrap_or_else(|| "file".into()),
            version,
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
