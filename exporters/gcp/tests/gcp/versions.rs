//! Model versions and token types: what a model's versions add up to, and every token
//! type Vertex reports counted and priced.

use std::time::Duration;

use crate::support::*;

fn version(v: &'static str) -> [(&'static str, &'static str); 4] {
    [
        ("model_user_id", "acme-model"),
        ("model_version_id", v),
        ("publisher", "acme"),
        ("location", "us-central1"),
    ]
}

fn latency(fake: &Fake, model: &[(&str, &str)], t: &str, m: i64, count: i64, mean: f64) {
    fake.add(
        "proj-a",
        "model_invocation_latencies",
        model,
        &[("latency_type", t)],
        m,
        PointValue::Dist { count, mean },
    );
}

#[test]
fn versions_are_weighted_by_requests_and_priced_by_their_own_entry() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    // Two versions of one model at different prices (a pricing file, so the figures are
    // exact whatever the bundled catalog says).
    let prices = dir.path().join("prices.yaml");
    std::fs::write(
        &prices,
        "models:\n  gcp:\n    acme-model@1: {input: 1.0e-6, output: 2.0e-6}\n    acme-model@2: {input: 3.0e-6, output: 4.0e-6}\n",
    )
    .unwrap();
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
    let m = now_minute() - 120;
    let (v1, v2) = (version("1"), version("2"));
    add_tokens(&fake, "proj-a", &v1, "input", m, 1_000);
    add_tokens(&fake, "proj-a", &v2, "input", m, 2_000);
    add_tokens(&fake, "proj-a", &v2, "output", m, 500);
    // v1: 30 requests at 0.8 s + 0.2 s; v2: 10 requests at 1.6 s + 0.4 s. Request-weighted:
    // (30 x 1.0 + 10 x 2.0) / 40 = 1.25 s (the sum of the four means would be 3.0 s).
    latency(&fake, &v1, "model", m, 30, 800.0);
    latency(&fake, &v1, "overhead", m, 30, 200.0);
    latency(&fake, &v2, "model", m, 10, 1_600.0);
    latency(&fake, &v2, "overhead", m, 10, 400.0);
    // Time to first token: 30 at 0.2 s, 10 at 0.6 s -> 0.3 s.
    for (v, count, mean) in [(&v1, 30, 200.0), (&v2, 10, 600.0)] {
        fake.add(
            "proj-a",
            "first_token_latencies",
            v,
            &[],
            m,
            PointValue::Dist { count, mean },
        );
    }

    let input = [("model", "acme-model"), ("token_type", "input")];
    let s = exporter.wait_for("both versions counted", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &input) == Some(3_000.0)
            && s.value("llm_invocation_latency_seconds", &[("stat", "avg")])
                .is_some()
    });
    assert!(
        close(
            s.value("llm_estimated_cost_usd_total", &input),
            1_000.0 * 1.0e-6 + 2_000.0 * 3.0e-6
        ),
        "each version at its own price: {:?}",
        s.value("llm_estimated_cost_usd_total", &input)
    );
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &[("model", "acme-model"), ("token_type", "output")]
        ),
        500.0 * 4.0e-6
    ));
    let latency = s.value("llm_invocation_latency_seconds", &[("stat", "avg")]);
    assert!(
        close(latency, 1.25),
        "request-weighted mean, got {latency:?}"
    );
    let ttft = s.value("llm_time_to_first_token_seconds", &[("stat", "avg")]);
    assert!(close(ttft, 0.3), "request-weighted mean, got {ttft:?}");
}

#[test]
fn cache_and_unknown_token_types_are_counted_and_named() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let cfg = write_config(dir.path(), &server.url(), "proj-a", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    // The global endpoint: no regional uplift on these rates.
    let claude = [
        ("model_user_id", "claude-haiku-4-5"),
        ("model_version_id", "20251001"),
        ("publisher", "anthropic"),
        ("location", "global"),
    ];
    // Types observed for Claude on Vertex (2026), and one nobody has documented.
    add_tokens(&fake, "proj-a", &claude, "input", m, 1_000);
    add_tokens(&fake, "proj-a", &claude, "cache_read_input", m, 8_000);
    add_tokens(&fake, "proj-a", &claude, "cache_write_5m_input", m, 300);
    add_tokens(&fake, "proj-a", &claude, "cache_write_1h_input", m, 200);
    add_tokens(&fake, "proj-a", &claude, "audio_input", m, 50);

    let t = |token_type| [("model", "claude-haiku-4-5"), ("token_type", token_type)];
    let s = exporter.wait_for("every type counted", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &t("cache_read")) == Some(8_000.0)
            && s.value("llm_tokens_total", &t("input")) == Some(1_050.0)
    });
    assert_eq!(s.value("llm_tokens_total", &t("cache_write")), Some(500.0));
    // claude-haiku-4-5@20251001 in the bundled catalog: input 1e-6, cache read 1e-7, cache
    // write 1.25e-6 (five-minute) and 2e-6 (one-hour): each tier at its own rate.
    assert!(close(
        s.value("llm_estimated_cost_usd_total", &t("cache_read")),
        8_000.0 * 1.0e-7
    ));
    assert!(close(
        s.value("llm_estimated_cost_usd_total", &t("cache_write")),
        300.0 * 1.25e-6 + 200.0 * 2.0e-6
    ));
    assert!(
        close(
            s.value("llm_estimated_cost_usd_total", &t("input")),
            1_050.0 * 1.0e-6
        ),
        "the unknown type is priced as input"
    );
    assert_eq!(
        s.value(
            "llm_exporter_gcp_unknown_token_type_info",
            &[("type", "audio_input")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.matching("llm_exporter_gcp_unknown_token_type_info", &[])
            .len(),
        1,
        "documented types are not unknown"
    );
    let log = exporter.proc.log();
    assert_eq!(
        log.matches("unknown token_count type").count(),
        1,
        "one warning per type: {log}"
    );
    assert!(log.contains("audio_input"));
}

#[test]
fn time_to_first_token_p99_is_computed_by_the_cloud_across_versions() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let cfg = write_config(dir.path(), &server.url(), "proj-a", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    // 100 requests, 1..=100 ms, split over two versions: the p99 of the model is 99 ms,
    // which neither version's own p99 (v1: 1..=50 -> 50 ms; v2 -> 100 ms) nor their mean
    // gives.
    let values = |r: std::ops::RangeInclusive<i32>| r.map(f64::from).collect::<Vec<_>>();
    for (v, r) in [(version("1"), 1..=50), (version("2"), 51..=100)] {
        fake.add(
            "proj-a",
            "first_token_latencies",
            &v,
            &[],
            m,
            PointValue::Samples(values(r)),
        );
        // Latencies are of invocations: a window without invocations is not asked for them.
        fake.add(
            "proj-a",
            "model_invocation_count",
            &v,
            &[("response_code", "200")],
            m,
            PointValue::Int(50),
        );
    }
    let s = exporter.wait_for("the p99", Duration::from_secs(60), |s| {
        s.value("llm_time_to_first_token_seconds", &[("stat", "p99")])
            .is_some()
    });
    let p99 = s.value("llm_time_to_first_token_seconds", &[("stat", "p99")]);
    assert!(close(p99, 0.099), "got {p99:?}");
    assert!(close(
        s.value("llm_time_to_first_token_seconds", &[("stat", "avg")]),
        0.0505
    ));
    assert_eq!(
        s.matching("llm_time_to_first_token_seconds", &[("stat", "p99")])
            .len(),
        1,
        "one p99 per model, not per version"
    );
}
