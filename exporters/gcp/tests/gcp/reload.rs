//! Reloading the config without a restart: SIGHUP and
//! `POST /-/reload` apply tenants and prices, keep the running config when the new one is
//! invalid, and say so in `llm_exporter_config_last_reload_successful`. SIGHUP reloads rather
//! than ending the process (its default action, rc 129). The real binary on its demo source.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use testkit::{wait_until, Exporter};

fn post(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, raw)
}

fn tenant_of_flash(e: &Exporter) -> Option<String> {
    let s = e.scrape();
    s.text
        .lines()
        .find(|l| l.starts_with("llm_tokens_total{") && l.contains("model=\"gemini-2.5-flash\""))
        .and_then(|l| l.split("tenant=\"").nth(1))
        .map(|rest| rest.split('"').next().unwrap_or("").to_string())
}

fn flash_input_price(e: &Exporter) -> Option<f64> {
    // One price per token series (one per location), all the same.
    let scrape = e.scrape();
    let prices = scrape.matching(
        "llm_model_price_usd_per_token",
        &[("model", "gemini-2.5-flash"), ("token_type", "input")],
    );
    prices.first().map(|p| p.2)
}

#[test]
fn sighup_and_post_reload_apply_tenants_and_prices_and_keep_the_config_when_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let prices = dir.path().join("prices.yaml");
    std::fs::write(
        &prices,
        "models:\n  gcp:\n    gemini-2.5-flash: {input: 1.0e-6, output: 2.0e-6}\n",
    )
    .unwrap();
    let write = |tenant: &str| {
        std::fs::write(
            &cfg,
            format!("poll_interval: 1s\npricing_file: prices.yaml\ntenants:\n  - {{name: {tenant}, match: {{model: 'gemini.*'}}}}\n"),
        )
        .unwrap()
    };
    write("alpha");
    let c = cfg.to_str().unwrap();
    let e = Exporter::start(
        env!("CARGO_BIN_EXE_llm-exporter-gcp"),
        &["--demo", "--config.file", c, "--web.enable-lifecycle"],
        &[],
        &[],
    );
    let pid = e.proc.child.as_ref().unwrap().id().to_string();
    wait_until("tenant alpha", Duration::from_secs(60), || {
        (tenant_of_flash(&e).as_deref() == Some("alpha")).then_some(())
    });
    assert_eq!(flash_input_price(&e), Some(1.0e-6));

    // SIGHUP: the new tenant and the new price, without a restart.
    write("beta");
    std::fs::write(
        &prices,
        "models:\n  gcp:\n    gemini-2.5-flash: {input: 3.0e-6, output: 2.0e-6}\n",
    )
    .unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    wait_until("tenant beta after SIGHUP", Duration::from_secs(30), || {
        (tenant_of_flash(&e).as_deref() == Some("beta")).then_some(())
    });
    wait_until("the new price", Duration::from_secs(30), || {
        (flash_input_price(&e) == Some(3.0e-6)).then_some(())
    });
    assert_eq!(
        e.scrape()
            .value("llm_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // An invalid config: the running one is kept, the gauge says so, POST answers 500.
    std::fs::write(&cfg, "poll_interval: soon\n").unwrap();
    let (status, body) = post(&e.addr, "/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("poll_interval"), "{body}");
    assert_eq!(
        e.scrape()
            .value("llm_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(tenant_of_flash(&e).as_deref(), Some("beta"));

    // Fixed again through POST /-/reload; a restart-only key is reported, not applied.
    std::fs::write(&cfg, "poll_interval: 5s\npricing_file: prices.yaml\ntenants:\n  - {name: gamma, match: {model: 'gemini.*'}}\n").unwrap();
    let (status, body) = post(&e.addr, "/-/reload");
    assert_eq!(status, 200, "{body}");
    wait_until("tenant gamma", Duration::from_secs(30), || {
        (tenant_of_flash(&e).as_deref() == Some("gamma")).then_some(())
    });
    // The warning reaches the captured log through a pipe, possibly after the answer.
    wait_until("the restart-only warning", Duration::from_secs(10), || {
        e.proc
            .log()
            .contains("take effect only after a restart")
            .then_some(())
    });
    let mut e = e;
    let child = e.proc.child.as_mut().unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP never stops the exporter"
    );
}

/// As Prometheus answers without its lifecycle flag: 403 and the reason, nothing reloaded.
#[test]
fn reload_is_forbidden_with_the_reason_without_the_lifecycle_flag() {
    let e = Exporter::start(
        env!("CARGO_BIN_EXE_llm-exporter-gcp"),
        &["--demo"],
        &[],
        &[],
    );
    let (status, body) = post(&e.addr, "/-/reload");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("Lifecycle API is not enabled") && body.contains("--web.enable-lifecycle"),
        "{body}"
    );
}
