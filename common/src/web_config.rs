//! `--web.config.file`: TLS and basic authentication in the Prometheus exporter-toolkit
//! format, so the same file works for these exporters and the Go ones beside them:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12                             # optional: TLS12 | TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...                         # bcrypt hashes (htpasswd -nBC 10)
//! ```
//!
//! Written here because no crate serves this format; TLS is rustls (already compiled for the
//! clouds' clients), served by [`crate::edge`]; basic auth is [`crate::basic_auth`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

pub use crate::basic_auth::{require_basic_auth, BasicAuth};
use crate::config::{parse_yaml, ConfigError};
use crate::metrics::SelfMetrics;

/// The largest bcrypt cost accepted: 16 already takes seconds per check on one core.
const MAX_BCRYPT_COST: u32 = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    #[serde(default)]
    tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<String>,
}

/// What the web config file turns into: a TLS set-up and the users allowed in.
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub users: Arc<BasicAuth>,
}

/// Says what is configured, never a hash.
impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("basic_auth_users", &self.users.len())
            .finish()
    }
}

impl WebConfig {
    /// Loads the file; failed logins are counted in `metrics`.
    pub fn load(path: &Path, metrics: Arc<SelfMetrics>) -> Result<WebConfig, ConfigError> {
        let origin = format!("--web.config.file {}", crate::config::shown(path));
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadFile {
            key: "--web.config.file",
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let file: WebConfigFile = if text.trim().is_empty() {
            WebConfigFile {
                tls_server_config: None,
                basic_auth_users: BTreeMap::new(),
            }
        } else {
            parse_yaml(&text, &origin, "")?
        };
        let field = |f: &str, m: String| ConfigError::field(&origin, f, m);
        for (user, hash) in &file.basic_auth_users {
            // The cost is checked before any hashing: a cost of 31 would take hours per check
            // (2^31 rounds), and every login runs one.
            let cost = hash.get(4..6).and_then(|c| c.parse::<u32>().ok());
            if let Some(cost) = cost.filter(|c| *c > MAX_BCRYPT_COST) {
                return Err(field(
                    &format!("basic_auth_users.{user}"),
                    format!("bcrypt cost {cost} is above {MAX_BCRYPT_COST}: every login would take seconds to hours; hash again with e.g. `htpasswd -nBC 10 USER`"),
                ));
            }
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$"))
                || bcrypt::verify("", hash).is_err()
            {
                return Err(field(
                    &format!("basic_auth_users.{user}"),
                    "must be a bcrypt hash (e.g. from `htpasswd -nBC 10 USER`)".into(),
                ));
            }
        }
        let tls = match &file.tls_server_config {
            None => None,
            Some(t) => {
                Some(Arc::new(server_config(t).map_err(|(f, m)| {
                    field(&format!("tls_server_config.{f}"), m)
                })?))
            }
        };
        Ok(WebConfig {
            tls,
            users: Arc::new(BasicAuth::new(file.basic_auth_users, metrics)),
        })
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", crate::config::shown(path)))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", crate::config::shown(path)))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate in it",
            crate::config::shown(path)
        ));
    }
    Ok(certs)
}

fn server_config(t: &TlsServerConfig) -> Result<rustls::ServerConfig, (&'static str, String)> {
    let certs = read_certs(&t.cert_file).map_err(|m| ("cert_file", m))?;
    let key = PrivateKeyDer::from_pem_file(&t.key_file).map_err(|e| {
        (
            "key_file",
            format!("{}: {e}", crate::config::shown(&t.key_file)),
        )
    })?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match t.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(other) => return Err(("min_version", format!("{other:?} is not TLS12 or TLS13"))),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| ("min_version", e.to_string()))?;
    let builder = match t.client_auth_type.as_deref() {
        None | Some("NoClientCert") => builder.with_no_client_auth(),
        Some("RequireAndVerifyClientCert") => {
            let Some(ca) = &t.client_ca_file else {
                return Err((
                    "client_ca_file",
                    "is required with client_auth_type RequireAndVerifyClientCert".into(),
                ));
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca).map_err(|m| ("client_ca_file", m))? {
                roots
                    .add(cert)
                    .map_err(|e| ("client_ca_file", e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| ("client_ca_file", e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        Some(other) => {
            return Err((
                "client_auth_type",
                format!("{other:?} is not supported (NoClientCert, RequireAndVerifyClientCert)"),
            ))
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ("key_file", format!("does not match cert_file: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WebConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(&p, text).unwrap();
        WebConfig::load(&p, Arc::new(SelfMetrics::new("test", "0"))).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_web_configs_name_the_field() {
        assert!(load(
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"
        )
        .unwrap_err()
        .contains("tls_server_config.cert_file"));
        assert!(load("basic_auth_users:\n  alice: plaintext\n")
            .unwrap_err()
            .contains("basic_auth_users.alice"));
        assert!(load("http_server_config:\n  http2: false\n")
            .unwrap_err()
            .contains("http_server_config"));
        assert!(load("").unwrap().tls.is_none());
    }

    /// Found by fuzzing: a cost of 31 made the load run 2^31 bcrypt rounds (hours) with no
    /// word. It is refused before any hashing, so this returns at once.
    #[test]
    fn a_bcrypt_cost_that_would_hang_every_login_is_refused_at_once() {
        let hash = format!("$2y$31${}", "a".repeat(53));
        let started = std::time::Instant::now();
        let e = load(&format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap_err();
        assert!(
            e.contains("basic_auth_users.alice") && e.contains("cost 31"),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
}
