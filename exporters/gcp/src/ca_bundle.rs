//! `extra_ca_file` for Google's HTTPS stacks: a CA bundle of the system roots plus the file,
//! named by `SSL_CERT_FILE` for the life of the process.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Both HTTPS stacks (ours for Cloud Monitoring, google-cloud-auth's own for token endpoints,
/// which takes no client of ours) read their roots through rustls-native-certs, which takes
/// `SSL_CERT_FILE` when set: point it at the system bundle plus `extra_ca_file`. Done before
/// any thread exists, because the environment is process-wide.
pub fn trust_extra_ca(path: &Path) -> anyhow::Result<CaBundle> {
    let extra = common::tls::read_ca_file(path).map_err(anyhow::Error::msg)?;
    let candidates: Vec<PathBuf> = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        )
        .collect();
    let mut bundle = candidates
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .unwrap_or_default();
    bundle.push(b'\n');
    bundle.extend_from_slice(&extra);
    let (path, keep) = bundle_path(&bundle)?;
    std::env::set_var("SSL_CERT_FILE", &path);
    Ok(keep)
}

/// A path to `bundle` that leaves nothing behind, even after kill -9: on Linux an unnamed
/// temporary file (O_TMPFILE) held open for the life of the process and named through
/// `/proc/self/fd`; elsewhere a named temporary file removed at exit.
#[cfg(target_os = "linux")]
fn bundle_path(bundle: &[u8]) -> anyhow::Result<(PathBuf, CaBundle)> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let mut file = tempfile::tempfile().context("cannot create the CA bundle file")?;
    file.write_all(bundle)
        .context("cannot write the CA bundle file")?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    // The client reads the bundle whenever it builds an HTTPS stack: the caller keeps the
    // file open for the life of the process.
    Ok((path, file))
}

#[cfg(not(target_os = "linux"))]
fn bundle_path(bundle: &[u8]) -> anyhow::Result<(PathBuf, CaBundle)> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("llm-exporter-gcp-ca-")
        .suffix(".pem")
        .tempfile()
        .context("cannot create the CA bundle file")?;
    file.write_all(bundle)
        .context("cannot write the CA bundle file")?;
    // Removed when the caller drops it, at exit.
    let path = file.into_temp_path();
    Ok((path.to_path_buf(), path))
}

/// What keeps the CA bundle readable until the process ends.
#[cfg(target_os = "linux")]
pub type CaBundle = std::fs::File;
#[cfg(not(target_os = "linux"))]
pub type CaBundle = tempfile::TempPath;
