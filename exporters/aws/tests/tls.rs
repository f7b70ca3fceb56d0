//! `extra_ca_file`: CloudWatch behind a TLS endpoint whose certificate only a private CA
//! vouches for (a corporate TLS-intercepting proxy, a private endpoint).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::*;

/// Terminates TLS on 127.0.0.1 and forwards the bytes to `upstream` (LocalStack, plain HTTP).
fn tls_proxy(
    upstream: String,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let acceptor = acceptor.clone();
                        let upstream = upstream.clone();
                        tokio::spawn(async move {
                            // A client that rejects our certificate just closes: fine.
                            let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                            let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else { return };
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                        });
                    }
                }
            }
        });
    });
    (
        addr_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        stop_tx,
    )
}

#[test]
fn extra_ca_file_is_trusted_for_cloud_calls_and_nothing_else_is() {
    let ls = LocalStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_test_ca(dir.path());
    let (addr, _stop) = tls_proxy(
        ls.url.trim_start_matches("http://").to_string(),
        &cert,
        &key,
    );
    let endpoint = format!("https://{addr}");
    let env = [("AWS_ENDPOINT_URL", endpoint.as_str())];
    let base =
        "poll_interval: 1s\naws:\n  accounts: [{account_id: '111122223333'}]\n  timeout: 5s\n";

    let trusting = dir.path().join("trusting.yaml");
    std::fs::write(
        &trusting,
        format!("extra_ca_file: {}\n{base}", ca.display()),
    )
    .unwrap();
    let exporter = start_exporter(&["--config.file", trusting.to_str().unwrap()], &env);
    exporter.wait_for("a successful poll over TLS", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    drop(exporter);

    // Without the CA the same endpoint is refused: the system roots do not vouch for it.
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, base).unwrap();
    let exporter = start_exporter(&["--config.file", plain.to_str().unwrap()], &env);
    exporter.wait_for("a failed poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "error")])
            .is_some()
    });
    let s = exporter.scrape();
    assert_eq!(s.value("llm_exporter_up", &[]), Some(0.0));
    assert_eq!(
        s.value("llm_exporter_polls_total", &[("outcome", "success")]),
        None
    );
}
