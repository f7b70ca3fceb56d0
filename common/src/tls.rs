//! `extra_ca_file`: read and validated once for every exporter, so a bad file is a clear
//! start-up error instead of a panic deep inside a cloud SDK's TLS set-up (the AWS SDK
//! `expect()`s on certificates it cannot parse).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The file's PEM text, after checking it holds at least one usable certificate.
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>, String> {
    let shown = crate::config::shown(path);
    let pem =
        std::fs::read(path).map_err(|e| format!("extra_ca_file {shown}: cannot read: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("extra_ca_file {shown}: not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("extra_ca_file {shown}: no PEM certificate in it"));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("extra_ca_file {shown}: unusable certificate: {e}"))?;
    }
    Ok(pem)
}

/// Installs the process-wide rustls crypto provider (aws-lc-rs, already compiled for the
/// SDKs). Clients built without a provider of their own need one; a second call is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "hello").unwrap();
        assert!(read_ca_file(&p).unwrap_err().contains("no PEM certificate"));
        std::fs::write(
            &p,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(read_ca_file(&p)
            .unwrap_err()
            .contains("unusable certificate"));
        assert!(read_ca_file(Path::new("/nonexistent/ca.pem"))
            .unwrap_err()
            .contains("/nonexistent/ca.pem"));
    }
}
