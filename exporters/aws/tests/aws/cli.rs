//! The binary's edges: flags, bad input, and the demo source, as a user meets them.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// Runs the exporter to completion: (exit code, stderr).
fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_llm-exporter-aws"))
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn bad_input_exits_non_zero_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run(&["--no-such-flag"]);
    assert_eq!(code, 2);
    assert!(err.contains("--no-such-flag"), "{err}");

    let (code, err) = run(&["--log.level", "loud"]);
    assert_eq!(code, 2);
    assert!(err.contains("loud"), "{err}");

    let cases = [
        ("aws:\n  regons: [us-east-1]\n", "field `aws.regons`"),
        ("aws:\n  regions: [US East]\n", "field `aws.regions[0]`"),
        (
            "aws:\n  latency_stats: [median]\n",
            "field `aws.latency_stats[0]`",
        ),
        (
            "aws:\n  accounts: [{role_arn: 'arn:aws:iam::1:role/x'}]\n",
            "field `aws.accounts[0].role_arn`",
        ),
        ("poll_interval: often\n", "field `poll_interval`"),
        (
            "tenants:\n  - {name: a, match: {model: '('}}\n",
            "field `tenants[0].match.model`",
        ),
    ];
    for (text, expected) in cases {
        let path = write(&dir, "bad.yaml", text);
        let (code, err) = run(&["--config.file", &path, "--demo"]);
        assert_eq!(code, 1, "{text}: {err}");
        assert!(
            err.contains(expected) && err.contains("bad.yaml"),
            "{text}: expected {expected:?} in {err:?}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }

    let (code, err) = run(&["--config.file", "/nonexistent/config.yaml"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/config.yaml"), "{err}");

    let prices = write(
        &dir,
        "prices.yaml",
        "models:\n  aws:\n    my.model: {input: -3}\n",
    );
    let config = write(&dir, "c.yaml", &format!("pricing_file: {prices}\n"));
    let (code, err) = run(&["--config.file", &config, "--demo"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("models.aws.my.model.input") && err.contains("prices.yaml"),
        "{err}"
    );

    let state = write(&dir, "aws.state", "{truncated");
    let config = write(&dir, "c2.yaml", &format!("state_file: {state}\n"));
    let (code, err) = run(&["--config.file", &config, "--demo"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("aws.state") && err.contains("not a valid state file"),
        "{err}"
    );

    let not_pem = write(&dir, "ca.pem", "hello");
    let config = write(
        &dir,
        "c3.yaml",
        &format!("extra_ca_file: {not_pem}\naws: {{regions: [us-east-1]}}\n"),
    );
    let (code, err) = run(&["--config.file", &config]);
    assert_eq!(code, 1);
    assert!(
        err.contains("extra_ca_file")
            && err.contains("ca.pem")
            && err.contains("no PEM certificate"),
        "{err}"
    );

    let (code, err) = run(&["--demo", "--web.listen-address", "localhost"]);
    assert_eq!(code, 1);
    assert!(err.contains("--web.listen-address"), "{err}");

    let (code, err) = run(&["--demo", "--web.telemetry-path", "metrics"]);
    assert_eq!(code, 1);
    assert!(err.contains("--web.telemetry-path"), "{err}");
}

#[test]
fn demo_serves_the_contract_on_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir, "c.yaml", "poll_interval: 1s\ntenants:\n  - {name: support, match: {deployment: support-bot}, monthly_budget_usd: 2500, alert_ratio: 0.9}\n");
    let exporter = start_exporter(
        &[
            "--demo",
            "--config.file",
            &config,
            "--web.telemetry-path",
            "/custom",
        ],
        &[],
    );
    let (status, body) = exporter.get("/custom");
    assert_eq!(status, 200);
    for name in [
        "llm_tokens_total",
        "llm_invocations_total",
        "llm_invocation_errors_total",
        "llm_estimated_cost_usd_total",
        "llm_invocation_latency_seconds",
        "llm_time_to_first_token_seconds",
        "llm_model_price_usd_per_token",
        "llm_pricing_catalog_info",
        "llm_budget_usd",
        "llm_budget_alert_ratio",
        "llm_exporter_build_info",
        "llm_exporter_up",
        "llm_exporter_last_success_timestamp_seconds",
        "llm_exporter_poll_duration_seconds_bucket",
        "llm_exporter_series",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(name)),
            "{name} missing from the demo's /metrics"
        );
    }
    let s = Scrape::parse(&body);
    assert_eq!(
        s.value(
            "llm_budget_usd",
            &[("tenant", "support"), ("period", "monthly")]
        ),
        Some(2500.0)
    );
    assert_eq!(
        s.value("llm_budget_alert_ratio", &[("tenant", "support")]),
        Some(0.9)
    );
    assert!(
        s.matching(
            "llm_tokens_total",
            &[("deployment", "support-bot"), ("tenant", "support")]
        )
        .len()
            >= 2
    );
    assert!(
        s.matching("llm_tokens_total", &[("deployment", ""), ("tenant", "")])
            .len()
            >= 2
    );
    // The demo keeps counting: values grow between polls.
    let total = |s: &Scrape| {
        s.matching("llm_tokens_total", &[])
            .iter()
            .map(|x| x.2)
            .sum::<f64>()
    };
    let first = total(&s);
    exporter.wait_for("demo counters to grow", Duration::from_secs(20), |s| {
        total(s) > first
    });

    // Every family really exposed is in the contract list docs/metrics.md is checked against.
    assert_families_known(&body, common::metrics::names::ALL);

    let (code, lint) = promtool_check_metrics(&body);
    assert_eq!((code, lint.as_str()), (0, ""));
    assert_eq!(exporter.get("/-/healthy").0, 200);
    assert_eq!(exporter.get("/-/ready").0, 200);
    let (status, landing) = exporter.get("/");
    assert_eq!(status, 200);
    assert!(landing.contains("href=\"/custom\""));
    assert_eq!(
        exporter.get("/metrics").0,
        404,
        "only the configured telemetry path serves metrics"
    );
    // Without --web.enable-lifecycle, as Prometheus answers: 403 and the reason.
    let (_, status, body) = curl(&["-X", "POST", &format!("http://{}/-/reload", exporter.addr)]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--web.enable-lifecycle"), "{body}");
    // build_info carries the revision `--version` prints.
    let version = Command::new(env!("CARGO_BIN_EXE_llm-exporter-aws"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let revision = version
        .split_once("(revision ")
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(r, _)| r.to_string())
        .unwrap_or_else(|| panic!("no revision in --version: {version}"));
    assert!(
        revision == "unknown"
            || (revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())),
        "{revision}"
    );
    assert_eq!(
        s.value(
            "llm_exporter_build_info",
            &[("exporter", "aws"), ("revision", &revision)]
        ),
        Some(1.0),
        "{version}"
    );
}

#[test]
fn config_check_reads_the_ca_file_knows_the_regions_and_is_no_demo() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let config = write(&dir, "c.yaml", text);
        run(&["--config.file", &config, "--config.check"])
    };
    let (code, err) = check("aws: {regions: [us-east-1]}\n");
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("demo"),
        "--config.check is not a demo run: {err}"
    );

    let (code, err) = check("extra_ca_file: missing-ca.pem\naws: {regions: [us-east-1]}\n");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("extra_ca_file")
            && err.contains("missing-ca.pem")
            && err.contains("cannot read"),
        "{err}"
    );

    // A made-up AWS region, and an Azure one.
    for region in ["us-east-9", "eastus"] {
        let (code, err) = check(&format!("aws: {{regions: [{region}]}}\n"));
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("field `aws.regions[0]`")
                && err.contains(&format!("{region:?} is not an AWS region")),
            "{err}"
        );
    }

    // Paths are quoted short: 10 MB, and 4,000 bytes (under the bound) in a missing folder.
    let ten_mb = "d".repeat(10 * 1024 * 1024);
    let (code, err) = check(&format!("state_file: /{ten_mb}\n"));
    assert_eq!(code, 1);
    assert!(
        err.len() < 2048 && err.contains("field `state_file`"),
        "{} bytes: {err:.300}",
        err.len()
    );
    let long = format!("/missing/{}", "d".repeat(4000));
    for key in ["state_file", "pricing_file", "extra_ca_file"] {
        let (code, err) = check(&format!("{key}: {long}\naws: {{regions: [us-east-1]}}\n"));
        assert_eq!(code, 1, "{key}");
        assert!(
            err.len() < 2048 && err.contains(key),
            "{key}: {} bytes: {err:.300}",
            err.len()
        );
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let exporter = start_exporter(&["--demo", "--log.format", "json"], &[]);
    let _ = exporter.get("/-/ready");
    // The harness waits for a logfmt line; in JSON the listening message must parse as JSON.
    let log = exporter.proc.log();
    let line = log
        .lines()
        .find(|l| l.contains("listening"))
        .expect("listening line");
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(v["level"], "INFO");
}

/// curl against the exporter: (exit code, HTTP status or 0, body).
fn curl(args: &[&str]) -> (i32, u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

#[test]
fn web_config_serves_tls_and_requires_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_test_ca(dir.path());
    let hash = bcrypt::hash("scrape-s3cret", 4).unwrap();
    let web = write(&dir, "web.yml", &format!("tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: '{hash}'\n", cert.display(), key.display()));
    let exporter = start_exporter(&["--demo", "--web.config.file", &web], &[]);
    let url = format!("https://{}/metrics", exporter.addr);
    let ca = ca.to_str().unwrap();

    let (code, status, _) = curl(&["--cacert", ca, &url]);
    assert_eq!((code, status), (0, 401), "no credentials");
    let (_, status, _) = curl(&["--cacert", ca, "-u", "prometheus:wrong", &url]);
    assert_eq!(status, 401, "wrong password");
    let (code, status, body) = curl(&["--cacert", ca, "-u", "prometheus:scrape-s3cret", &url]);
    assert_eq!((code, status), (0, 200));
    assert!(body.contains("llm_tokens_total"));
    let (_, status, _) = curl(&[
        "--cacert",
        ca,
        &format!("https://{}/-/healthy", exporter.addr),
    ]);
    assert_eq!(status, 401, "every endpoint is protected");
    // Plain HTTP and an untrusted client both fail at the TLS layer.
    let (code, _, _) = curl(&[&format!("http://{}/metrics", exporter.addr)]);
    assert_ne!(code, 0, "plain HTTP is refused");
    let (code, _, _) = curl(&[&url]);
    assert_ne!(code, 0, "the test CA is not in the system roots");
    assert!(
        !exporter.proc.log().contains("scrape-s3cret"),
        "a password reached the log"
    );

    // A bad web config is a clear start-up error.
    let bad = write(
        &dir,
        "bad-web.yml",
        "basic_auth_users:\n  prometheus: plaintext\n",
    );
    let (code, err) = run(&["--demo", "--web.config.file", &bad]);
    assert_eq!(code, 1);
    assert!(
        err.contains("basic_auth_users.prometheus") && err.contains("bad-web.yml"),
        "{err}"
    );
}
