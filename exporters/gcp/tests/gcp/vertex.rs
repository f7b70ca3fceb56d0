//! The real exporter binary, with real application-default credentials (a service-account key
//! made at test time), against the fake Cloud Monitoring.

use std::time::Duration;

use crate::support::*;

// List prices in USD per token, from LiteLLM 1.109.1's model_prices_and_context_window.json.
// Claude Haiku 4.5 on a regional endpoint (us-east5) costs 10 % more (Anthropic, "Claude on
// Vertex AI").
const FLASH_IN: f64 = 0.30e-6;
const FLASH_OUT: f64 = 2.50e-6;
const HAIKU_IN: f64 = 1.00e-6;
const HAIKU_OUT: f64 = 5.00e-6;

const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];
const GEMINI_EU: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "europe-west4"),
];
const CLAUDE: [(&str, &str); 4] = [
    ("model_user_id", "claude-haiku-4-5"),
    ("model_version_id", "20251001"),
    ("publisher", "anthropic"),
    ("location", "us-east5"),
];

fn tokens(
    fake: &Fake,
    project: &str,
    model: &[(&str, &str)],
    t: &str,
    request_type: &str,
    period: i64,
    n: i64,
) {
    fake.add(
        project,
        "token_count",
        model,
        &[
            ("type", t),
            ("request_type", request_type),
            ("modality", "TEXT"),
        ],
        period,
        PointValue::Int(n),
    );
}

fn invocations(
    fake: &Fake,
    project: &str,
    model: &[(&str, &str)],
    code: &str,
    category: &str,
    period: i64,
    n: i64,
) {
    fake.add(
        project,
        "model_invocation_count",
        model,
        &[
            ("response_code", code),
            ("error_category", category),
            ("method", "RawPredict"),
        ],
        period,
        PointValue::Int(n),
    );
}

fn config(dir: &tempfile::TempDir, endpoint: &str, projects: &str, extra: &str) -> String {
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, format!("poll_interval: 1s\n{extra}gcp:\n  projects: [{projects}]\n  monitoring_endpoint: {endpoint}\n  timeout: 2s\n  idle_poll_interval: 2s\n")).unwrap();
    path.display().to_string()
}

#[test]
fn counts_exact_usage_and_cost_from_cloud_monitoring() {
    let fake = Fake::default();
    fake.state().page_size = 2; // every call pages
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let m = now_minute() - 180;
    // Present before start-up: the baseline, not counted.
    tokens(&fake, "proj-a", &GEMINI, "input", "shared", m - 60, 99_999);

    let cfg = config(&dir, &server.url(), "proj-a", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    tokens(&fake, "proj-a", &GEMINI, "input", "shared", m, 10_000);
    tokens(&fake, "proj-a", &GEMINI, "input", "spillover", m, 1_000);
    tokens(&fake, "proj-a", &GEMINI, "input", "dedicated", m, 5_000);
    tokens(&fake, "proj-a", &GEMINI, "output", "shared", m, 2_000);
    tokens(&fake, "proj-a", &GEMINI_EU, "input", "shared", m, 3_000);
    tokens(&fake, "proj-a", &CLAUDE, "input", "shared", m, 4_000);
    tokens(&fake, "proj-a", &CLAUDE, "output", "shared", m, 1_000);
    invocations(&fake, "proj-a", &GEMINI, "200", "", m, 50);
    invocations(&fake, "proj-a", &GEMINI, "400", "user", m, 3);
    invocations(&fake, "proj-a", &GEMINI, "429", "capacity", m, 4);
    invocations(&fake, "proj-a", &GEMINI, "500", "system", m, 2);
    fake.add(
        "proj-a",
        "model_invocation_latencies",
        &GEMINI,
        &[("latency_type", "model")],
        m,
        PointValue::Dist {
            count: 10,
            mean: 800.0,
        },
    );
    fake.add(
        "proj-a",
        "model_invocation_latencies",
        &GEMINI,
        &[("latency_type", "overhead")],
        m,
        PointValue::Dist {
            count: 10,
            mean: 200.0,
        },
    );
    fake.add(
        "proj-a",
        "first_token_latencies",
        &GEMINI,
        &[],
        m,
        PointValue::Dist {
            count: 10,
            mean: 350.0,
        },
    );

    let us = [
        ("model", "gemini-2.5-flash"),
        ("region", "us-central1"),
        ("billing_mode", "standard"),
    ];
    let with = |extra: (&'static str, &'static str)| [us[0], us[1], us[2], extra];
    let provisioned = [
        us[0],
        us[1],
        ("billing_mode", "provisioned"),
        ("token_type", "input"),
    ];
    let s = exporter.wait_for("the minute to be counted", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &with(("token_type", "input"))) == Some(11_000.0)
            && s.value("llm_tokens_total", &provisioned) == Some(5_000.0)
            && s.value(
                "llm_tokens_total",
                &[("model", "claude-haiku-4-5"), ("token_type", "output")],
            ) == Some(1_000.0)
    });
    assert_eq!(
        s.value("llm_tokens_total", &with(("token_type", "output"))),
        Some(2_000.0)
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[
                ("model", "gemini-2.5-flash"),
                ("region", "europe-west4"),
                ("token_type", "input")
            ]
        ),
        Some(3_000.0)
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[
                ("model", "claude-haiku-4-5"),
                ("region", "us-east5"),
                ("account", "proj-a"),
                ("token_type", "input")
            ]
        ),
        Some(4_000.0)
    );
    // Provisioned (dedicated) tokens are counted but not priced; spillover is pay-as-you-go.
    assert_eq!(s.value("llm_estimated_cost_usd_total", &provisioned), None);
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &with(("token_type", "input"))
        ),
        11_000.0 * FLASH_IN
    ));
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &with(("token_type", "output"))
        ),
        2_000.0 * FLASH_OUT
    ));
    assert!(
        close(
            s.value(
                "llm_estimated_cost_usd_total",
                &[("model", "claude-haiku-4-5"), ("token_type", "input")]
            ),
            4_000.0 * HAIKU_IN * 1.1
        ),
        "the partner model finds its Vertex price, with the regional endpoint's 10 %"
    );
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &[("model", "claude-haiku-4-5"), ("token_type", "output")]
        ),
        1_000.0 * HAIKU_OUT * 1.1
    ));
    assert_eq!(
        s.value("llm_invocations_total", &us),
        Some(55.0),
        "throttled requests are not invocations"
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &with(("error_type", "client"))
        ),
        Some(3.0)
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &with(("error_type", "throttled"))
        ),
        Some(4.0)
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &with(("error_type", "server"))
        ),
        Some(2.0)
    );
    assert!(
        close(
            s.value("llm_invocation_latency_seconds", &with(("stat", "avg"))),
            1.0
        ),
        "model 800 ms + overhead 200 ms"
    );
    assert!(close(
        s.value("llm_time_to_first_token_seconds", &with(("stat", "avg"))),
        0.35
    ));
    assert_eq!(
        fake.state().unauthenticated,
        0,
        "every call carried a bearer token"
    );

    // Late data: more tokens arrive for the same minute.
    tokens(&fake, "proj-a", &GEMINI, "input", "shared", m, 500);
    let s = exporter.wait_for("the late tokens", Duration::from_secs(30), |s| {
        s.value("llm_tokens_total", &with(("token_type", "input"))) == Some(11_500.0)
    });
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &with(("token_type", "input"))
        ),
        11_500.0 * FLASH_IN
    ));

    let body = exporter.get("/metrics").1;
    let (code, lint) = promtool_check_metrics(&body);
    assert_eq!((code, lint.as_str()), (0, ""), "promtool check metrics");
    let key_text = std::fs::read_to_string(dir.path().join("key.pem")).unwrap();
    let secret_line = key_text.lines().nth(1).unwrap();
    assert!(
        !exporter.proc.log().contains(secret_line) && !body.contains(secret_line),
        "the private key leaked"
    );
}

#[test]
fn one_list_call_per_metric_type_and_project_whatever_the_models() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let m = now_minute() - 120;
    for project in ["proj-a", "proj-b"] {
        for i in 0..25 {
            let model = format!("model-{i}");
            let labels = [
                ("model_user_id", model.as_str()),
                ("model_version_id", ""),
                ("publisher", "google"),
                ("location", "us-central1"),
            ];
            tokens(&fake, project, &labels, "input", "shared", m, 1);
            invocations(&fake, project, &labels, "200", "", m, 1);
        }
    }
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        format!(
            "poll_interval: 60s\ngcp:\n  projects: [proj-a, proj-b]\n  monitoring_endpoint: {}\n",
            server.url()
        ),
    )
    .unwrap();
    let exporter = start_exporter(&["--config.file", path.to_str().unwrap()], &key);
    let s = exporter.wait_for("one poll of each project", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "success")]) == Some(2.0)
    });
    assert_eq!(
        s.matching("llm_tokens_total", &[("token_type", "input")])
            .len(),
        50
    );
    let calls = fake.state().calls.clone();
    assert_eq!(
        calls.values().sum::<usize>(),
        12,
        "6 queries (5 metric types, one twice for its p99) x 2 projects: {calls:?}"
    );
    for (metric, n) in &calls {
        let expected = if metric.ends_with("first_token_latencies") {
            4
        } else {
            2
        };
        assert_eq!(*n, expected, "{calls:?}");
    }
}

#[test]
fn faults_are_survived_and_totals_recover_exactly() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let cfg = config(&dir, &server.url(), "proj-a", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    let input = [("model", "gemini-2.5-flash"), ("token_type", "input")];

    // Single faults: a 429 (retried within the call), a malformed body (that poll fails), a
    // hung call (timed out, then retried). None of them loses or double counts anything.
    fake.state().faults.extend([
        Fault::Status(429),
        Fault::Malformed,
        Fault::Hang(Duration::from_secs(5)),
    ]);
    tokens(&fake, "proj-a", &GEMINI, "input", "shared", m, 1_000);
    let s = exporter.wait_for(
        "counting through single faults",
        Duration::from_secs(60),
        |s| {
            s.value("llm_tokens_total", &input) == Some(1_000.0)
                && s.value(
                    "llm_exporter_api_requests_total",
                    &[("api", "timeSeries.list"), ("outcome", "timeout")],
                )
                .is_some()
        },
    );
    assert!(
        s.value(
            "llm_exporter_api_requests_total",
            &[("api", "timeSeries.list"), ("outcome", "throttled")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        s.value(
            "llm_exporter_api_requests_total",
            &[("api", "timeSeries.list"), ("outcome", "error")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        s.value("llm_exporter_polls_total", &[("outcome", "error")])
            .unwrap()
            >= 1.0,
        "the malformed body failed a poll"
    );

    // An outage: every call fails until the circuit opens; /metrics keeps answering.
    fake.state().sticky = Some(Fault::Status(500));
    let s = exporter.wait_for("the circuit to open", Duration::from_secs(60), |s| {
        s.value("llm_exporter_circuit_state", &[("api", "timeSeries.list")]) == Some(2.0)
    });
    assert_eq!(s.value("llm_exporter_up", &[]), Some(0.0));
    assert_eq!(
        s.value("llm_tokens_total", &input),
        Some(1_000.0),
        "counters are still served"
    );
    // Usage goes on during the outage, in the counted minute and the next.
    tokens(&fake, "proj-a", &GEMINI, "input", "shared", m, 250);
    tokens(&fake, "proj-a", &GEMINI, "input", "shared", m + 60, 2_000);
    fake.state().sticky = None;
    let s = exporter.wait_for("recovery", Duration::from_secs(90), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
            && s.value("llm_tokens_total", &input) == Some(3_250.0)
    });
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &[("model", "gemini-2.5-flash"), ("token_type", "input")]
        ),
        3_250.0 * FLASH_IN
    ));
    assert_eq!(
        s.value("llm_exporter_circuit_state", &[("api", "timeSeries.list")]),
        Some(0.0)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        exporter.scrape().value("llm_tokens_total", &input),
        Some(3_250.0),
        "nothing counted twice after recovery"
    );
}

#[test]
fn extra_ca_file_is_trusted_and_nothing_else_is() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let (ca, cert, tls_key) = make_test_ca(dir.path());
    let (addr, _stop) = tls_proxy(server.addr.clone(), &cert, &tls_key);
    let endpoint = format!("https://{addr}");

    let trusting = config(
        &dir,
        &endpoint,
        "proj-a",
        &format!("extra_ca_file: {}\n", ca.display()),
    );
    let exporter = start_exporter(&["--config.file", &trusting], &key);
    exporter.wait_for("a successful poll over TLS", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    drop(exporter);

    let plain = config(&dir, &endpoint, "proj-a", "");
    let exporter = start_exporter(&["--config.file", &plain], &key);
    let s = exporter.wait_for("a failed poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "error")])
            .is_some()
    });
    assert_eq!(
        s.value("llm_exporter_polls_total", &[("outcome", "success")]),
        None,
        "the system roots do not vouch for the test CA"
    );
}

/// Each billing mode Vertex's `token_count` labels show is priced as billed, counted once,
/// and grouped by `billing_mode`: batch (`source` prefixed `batch_`), Priority and Flex
/// PayGo (`shared_request_type`), long context (`max_token_size` above 200k), the regional
/// uplift (a `source` other than `global`) and Provisioned Throughput (`dedicated`).
#[test]
fn billing_modes_are_read_from_the_token_labels_and_priced_as_billed() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let prices = dir.path().join("prices.yaml");
    // Round rates, so every expected cost below is exact arithmetic.
    std::fs::write(
        &prices,
        "models:\n  gcp:\n    gemini-test:\n      input: 1.0e-6\n      output: 4.0e-6\n      above_200k: {input: 2.0e-6, output: 6.0e-6}\n      batch: {input: 0.5e-6, output: 2.0e-6}\n      priority: {input: 1.8e-6, output: 7.2e-6}\n      provisioned_usd_per_unit_hour: 6.0\n    claude-test:\n      input: 3.0e-6\n      output: 15.0e-6\n      regional_uplift: 1.1\n",
    )
    .unwrap();
    let gemini = [
        ("model_user_id", "gemini-test"),
        ("model_version_id", ""),
        ("publisher", "google"),
        ("location", "global"),
    ];
    let claude_regional = [
        ("model_user_id", "claude-test"),
        ("model_version_id", ""),
        ("publisher", "anthropic"),
        ("location", "us-east5"),
    ];
    let claude_global = [
        ("model_user_id", "claude-test"),
        ("model_version_id", ""),
        ("publisher", "anthropic"),
        ("location", "global"),
    ];
    let m = now_minute() - 60;
    let cfg = write_config(
        dir.path(),
        &server.url(),
        "proj-a",
        &format!("pricing_file: {}\n", prices.display()),
    );
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let online = TokenLabels::shared("input", "global");
    online.add(&fake, "proj-a", &gemini, m, 1_000);
    TokenLabels {
        source: "batch_us-central1",
        ..online
    }
    .add(&fake, "proj-a", &gemini, m, 2_000);
    TokenLabels {
        shared_request_type: Some("priority"),
        ..online
    }
    .add(&fake, "proj-a", &gemini, m, 3_000);
    TokenLabels {
        shared_request_type: Some("flex"),
        ..online
    }
    .add(&fake, "proj-a", &gemini, m, 4_000);
    TokenLabels {
        max_token_size: "200K-1M",
        ..online
    }
    .add(&fake, "proj-a", &gemini, m, 5_000);
    TokenLabels {
        request_type: "dedicated",
        ..online
    }
    .add(&fake, "proj-a", &gemini, m, 6_000);
    // A bucket whose lower bound is not written: priced as 200k or less, and named.
    TokenLabels {
        max_token_size: "<=1M",
        ..online
    }
    .add(&fake, "proj-a", &gemini, m, 500);
    TokenLabels {
        request_type: "spillover",
        ..online
    }
    .add(&fake, "proj-a", &gemini, m, 7_000);
    // 10 GSUs bought for the model: one minute of them is 10/60 GSU-hours.
    fake.add(
        "proj-a",
        "dedicated_gsu_limit",
        &gemini,
        &[],
        m,
        PointValue::Int(10),
    );
    TokenLabels::shared("input", "us-east5").add(&fake, "proj-a", &claude_regional, m, 1_000);
    TokenLabels::shared("input", "global").add(&fake, "proj-a", &claude_global, m, 1_000);

    fn gem(mode: &'static str, context: &'static str) -> [(&'static str, &'static str); 4] {
        [
            ("model", "gemini-test"),
            ("token_type", "input"),
            ("billing_mode", mode),
            ("context", context),
        ]
    }
    let s = exporter.wait_for("every part counted", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &gem("provisioned", "standard")) == Some(6_000.0)
            && s.value("llm_tokens_total", &gem("standard", "standard")) == Some(8_500.0)
            && s.matching("llm_tokens_total", &[("model", "claude-test")])
                .len()
                == 2
            && s.value(
                "llm_provisioned_unit_seconds_total",
                &[("model", "gemini-test")],
            )
            .is_some()
    });
    let tokens = |l: &[(&str, &str)]| s.value("llm_tokens_total", l);
    let cost = |l: &[(&str, &str)]| s.value("llm_estimated_cost_usd_total", l).unwrap_or(0.0);
    assert_eq!(tokens(&gem("batch", "standard")), Some(2_000.0));
    assert_eq!(tokens(&gem("priority", "standard")), Some(3_000.0));
    assert_eq!(tokens(&gem("flex", "standard")), Some(4_000.0));
    assert_eq!(tokens(&gem("standard", "long")), Some(5_000.0));
    // Online, spillover and the unreadable bucket are all priced as standard.
    let close = |got: f64, want: f64| assert!((got - want).abs() < 1e-12, "{got} != {want}");
    close(cost(&gem("standard", "standard")), 8_500.0 * 1.0e-6);
    let log = exporter.proc.log();
    assert_eq!(
        log.matches("cannot read").count(),
        1,
        "one warning for the unreadable bucket, whatever the polls: {log}"
    );
    assert!(log.contains("<=1M"));
    close(cost(&gem("batch", "standard")), 2_000.0 * 0.5e-6);
    close(cost(&gem("priority", "standard")), 3_000.0 * 1.8e-6);
    // No flex rate in the entry: half the standard one.
    close(cost(&gem("flex", "standard")), 4_000.0 * 0.5e-6);
    close(cost(&gem("standard", "long")), 5_000.0 * 2.0e-6);
    // Provisioned Throughput is billed per GSU, never per token.
    close(cost(&gem("provisioned", "standard")), 0.0);
    // The GSUs are billed by the hour: 10 GSU x 1 minute at $6 per GSU-hour.
    let unit_hours = s
        .value(
            "llm_provisioned_unit_seconds_total",
            &[("model", "gemini-test")],
        )
        .unwrap()
        / 3600.0;
    close(unit_hours, 10.0 / 60.0);
    close(
        cost(&[("model", "gemini-test"), ("token_type", "provisioned")]),
        10.0 / 60.0 * 6.0,
    );
    // Claude: the regional endpoint pays the uplift, the global one does not.
    fn claude(region: &'static str) -> [(&'static str, &'static str); 3] {
        [
            ("model", "claude-test"),
            ("token_type", "input"),
            ("region", region),
        ]
    }
    close(cost(&claude("us-east5")), 1_000.0 * 3.0e-6 * 1.1);
    close(cost(&claude("global")), 1_000.0 * 3.0e-6);
    // Every token counted once: the parts add up to what Vertex reported.
    let all: f64 = s
        .matching("llm_tokens_total", &[("model", "gemini-test")])
        .iter()
        .map(|m| m.2)
        .sum();
    assert_eq!(all, 28_500.0);
}

/// An idle project costs 3 read calls (tokens, invocations, GSUs; one series billed each) per
/// `idle_poll_interval` instead of 6 every poll, and the tokens and invocations of its first
/// minute of traffic are counted in full. Six calls every poll would make about 48 in the
/// 8 s below.
#[test]
fn an_idle_project_is_read_three_times_per_interval_and_its_first_traffic_counts_in_full() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let cfg = config(&dir, &server.url(), "proj-a", "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("idle_poll_interval: 2s", "idle_poll_interval: 6s"),
    )
    .unwrap();
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    let (calls, started) = (fake.calls(), std::time::Instant::now());
    while started.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let idle_calls = fake.calls() - calls;
    assert!(
        idle_calls <= 9,
        "{idle_calls} read calls in 8 s for an idle project (3 reads of 3 calls at most)"
    );
    let billed = exporter
        .scrape()
        .value(
            "llm_exporter_api_billable_units_total",
            &[("api", "timeSeries.list")],
        )
        .unwrap();
    assert_eq!(
        billed,
        fake.calls() as f64,
        "one series billed per empty read"
    );

    // Traffic starts while the project is idle, in a minute still open for revision.
    let m = now_minute() - 120;
    tokens(&fake, "proj-a", &GEMINI, "input", "shared", m, 5_432);
    invocations(&fake, "proj-a", &GEMINI, "200", "", m, 6);
    let s = exporter.wait_for("the first traffic", Duration::from_secs(30), |s| {
        s.value(
            "llm_tokens_total",
            &[("model", "gemini-2.5-flash"), ("token_type", "input")],
        ) == Some(5_432.0)
    });
    assert_eq!(
        s.value("llm_invocations_total", &[("model", "gemini-2.5-flash")]),
        Some(6.0)
    );
    // In use: all six reads every poll again.
    let (calls, polls) = (
        fake.calls(),
        s.value("llm_exporter_polls_total", &[("outcome", "success")])
            .unwrap(),
    );
    let s = exporter.wait_for("four more polls", Duration::from_secs(30), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "success")]) >= Some(polls + 4.0)
    });
    let polled = s
        .value("llm_exporter_polls_total", &[("outcome", "success")])
        .unwrap()
        - polls;
    let busy = (fake.calls() - calls) as f64;
    assert!(
        busy >= 6.0 * (polled - 1.0) && busy <= 6.0 * (polled + 1.0),
        "{busy} reads in {polled} polls of a project in use: 6 per poll"
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[("model", "gemini-2.5-flash"), ("token_type", "input")],
        ),
        Some(5_432.0),
        "nothing counted twice"
    );
}
