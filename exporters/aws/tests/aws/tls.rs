//! `extra_ca_file`: CloudWatch behind a TLS endpoint whose certificate only a private CA
//! vouches for (a corporate TLS-intercepting proxy, a private endpoint).

use std::time::Duration;

use crate::support::*;

#[test]
fn extra_ca_file_is_trusted_for_cloud_calls_and_nothing_else_is() {
    let ls = start_localstack();
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
