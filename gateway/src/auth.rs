//! API keys and tenants: who is calling, which tenant's series they may see, which clouds.
//!
//! Keys are stored as SHA-256 hex, not bcrypt/argon2: API keys here are long random strings
//! (`llm-gateway hash-key --generate` makes 32 random bytes), so a fast hash is as hard to
//! reverse as a slow one, and a slow hash would add tens of milliseconds to every request. A
//! lookup by hash also means no key is ever compared byte by byte against the input.

use std::collections::HashMap;

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::{Cloud, Config, QueryLimits, QueryLimitsConfig};

/// SHA-256 of a key, lowercase hex: what the config stores.
pub fn hash_key(key: &str) -> String {
    Sha256::digest(key.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 32 random bytes as hex: a new API key.
pub fn generate_key() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// None: the admin key.
    pub tenant: Option<String>,
    pub clouds: Vec<Cloud>,
    pub requests_per_minute: u32,
    /// What this caller's queries may cost.
    pub limits: QueryLimits,
}

impl Principal {
    /// The name used in the gateway's own metrics and in rate-limit keys.
    pub fn label(&self) -> &str {
        self.tenant.as_deref().unwrap_or("admin")
    }
}

/// Whose series a request may see: one tenant, or (admin without `tenant_id`) everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub tenant: Option<String>,
    pub clouds: Vec<Cloud>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")]
    Missing,
    #[error("unknown API key")]
    Unknown,
    #[error("this key may only see tenant {own:?}, not {asked:?}")]
    OtherTenant { own: String, asked: String },
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// Something only the admin key may do.
    #[error("{0}")]
    AdminOnly(String),
}

pub struct Keyring {
    by_hash: HashMap<String, Principal>,
    tenants: HashMap<String, Vec<Cloud>>,
}

impl Keyring {
    pub fn new(config: &Config) -> Keyring {
        let default_rpm = config.rate_limit.requests_per_minute;
        let mut by_hash = HashMap::new();
        let mut tenants = HashMap::new();
        for t in &config.tenants {
            let clouds = t.clouds.clone().unwrap_or_else(|| Cloud::ALL.to_vec());
            tenants.insert(t.name.clone(), clouds.clone());
            by_hash.insert(
                t.api_key_sha256.to_ascii_lowercase(),
                Principal {
                    tenant: Some(t.name.clone()),
                    clouds,
                    requests_per_minute: t.requests_per_minute.unwrap_or(default_rpm),
                    limits: t.query_limits.resolve(&config.query_limits),
                },
            );
        }
        if let Some(a) = &config.admin {
            by_hash.insert(
                a.api_key_sha256.to_ascii_lowercase(),
                Principal {
                    tenant: None,
                    clouds: Cloud::ALL.to_vec(),
                    requests_per_minute: a.requests_per_minute.unwrap_or(default_rpm),
                    limits: QueryLimitsConfig::default().resolve(&config.query_limits),
                },
            );
        }
        Keyring { by_hash, tenants }
    }

    pub fn authenticate(&self, key: Option<&str>) -> Result<Principal, AuthError> {
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::Missing)?;
        self.by_hash
            .get(&hash_key(key))
            .cloned()
            .ok_or(AuthError::Unknown)
    }

    /// The scope of a request: a tenant key sees its own tenant (naming another is refused);
    /// the admin key sees the named tenant, or every tenant.
    pub fn scope(&self, who: &Principal, tenant_id: Option<&str>) -> Result<Scope, AuthError> {
        let tenant_id = tenant_id.filter(|t| !t.is_empty());
        match (&who.tenant, tenant_id) {
            (Some(own), Some(asked)) if own != asked => Err(AuthError::OtherTenant {
                own: own.clone(),
                asked: asked.into(),
            }),
            (Some(own), _) => Ok(Scope {
                tenant: Some(own.clone()),
                clouds: who.clouds.clone(),
            }),
            (None, Some(asked)) => {
                let clouds = self
                    .tenants
                    .get(asked)
                    .ok_or_else(|| AuthError::UnknownTenant(asked.into()))?;
                Ok(Scope {
                    tenant: Some(asked.into()),
                    clouds: clouds.clone(),
                })
            }
            (None, None) => Ok(Scope {
                tenant: None,
                clouds: who.clouds.clone(),
            }),
        }
    }
}

/// The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`.
pub fn key_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim().to_string());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        let yaml = format!(
            "upstreams: [{{cloud: aws, url: 'http://a'}}]\ntenants:\n  - {{name: support, api_key_sha256: {}, clouds: [aws], requests_per_minute: 7}}\nadmin: {{api_key_sha256: {}}}\n",
            hash_key("key-a"),
            hash_key("key-admin")
        );
        Keyring::new(&Config::parse(&yaml).unwrap())
    }

    #[test]
    fn sha256_hex_of_the_key() {
        assert_eq!(
            hash_key("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        assert_eq!(generate_key().len(), 64);
    }

    #[test]
    fn tenants_see_only_themselves_admin_sees_all() {
        let r = ring();
        assert_eq!(r.authenticate(None), Err(AuthError::Missing));
        assert_eq!(r.authenticate(Some("nope")), Err(AuthError::Unknown));
        let a = r.authenticate(Some("key-a")).unwrap();
        assert_eq!(a.requests_per_minute, 7);
        assert_eq!(
            r.scope(&a, None).unwrap().tenant.as_deref(),
            Some("support")
        );
        assert!(matches!(
            r.scope(&a, Some("research")),
            Err(AuthError::OtherTenant { .. })
        ));
        let admin = r.authenticate(Some(" key-admin ")).unwrap();
        assert_eq!(r.scope(&admin, None).unwrap().tenant, None);
        let s = r.scope(&admin, Some("support")).unwrap();
        assert_eq!(
            (s.tenant.as_deref(), s.clouds),
            (Some("support"), vec![Cloud::Aws])
        );
        assert!(r.scope(&admin, Some("ghost")).is_err());
    }

    #[test]
    fn keys_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(key_from_headers(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "xyz".parse().unwrap());
        assert_eq!(key_from_headers(&h).as_deref(), Some("xyz"));
        assert_eq!(key_from_headers(&HeaderMap::new()), None);
    }
}
