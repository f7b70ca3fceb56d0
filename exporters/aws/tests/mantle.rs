//! Bedrock's OpenAI-compatible endpoint (`bedrock-mantle`), whose traffic CloudWatch publishes
//! under `AWS/BedrockMantle` at four levels at once (Account, Project, Model, Project+Model;
//! Bedrock user guide, "Monitor bedrock-mantle inference using CloudWatch metrics"): the real
//! binary against LocalStack's CloudWatch, every level filled as the cloud fills them.

mod support;

use std::time::Duration;

use support::*;

/// One model served by both endpoints: `bedrock-runtime` reports the versioned id, the
/// bedrock-mantle endpoint the name without the version.
const GPT_RUNTIME: &str = "openai.gpt-oss-120b-1:0";
const GPT_MANTLE: &str = "openai.gpt-oss-120b";
const UNPRICED: &str = "vendor.mantle-only";
const PROJECT: &str = "proj_a1B2c3";
/// From common/pricing/catalog.json (LiteLLM 1.109.1, `openai.gpt-oss-120b-1:0`).
const GPT_IN: f64 = 0.15e-6;
const GPT_OUT: f64 = 0.60e-6;

fn config_file(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "poll_interval: 1s\nlookback: 10m\naws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n  list_metrics_usd_per_request: 0.00001\n",
    )
    .unwrap();
    path.display().to_string()
}

/// The one series of `name` with exactly these `model`/`deployment` labels (plus `extra`).
fn one(s: &Scrape, name: &str, model: &str, deployment: &str, extra: &[(&str, &str)]) -> f64 {
    let mut labels = vec![("model", model)];
    labels.extend_from_slice(extra);
    let found: Vec<f64> = s
        .matching(name, &labels)
        .into_iter()
        .filter(|(_, l, _)| l.get("deployment").map(String::as_str).unwrap_or("") == deployment)
        .map(|(_, _, v)| *v)
        .collect();
    assert!(found.len() <= 1, "{name} {model} {deployment}: {found:?}");
    found.first().copied().unwrap_or(f64::NAN)
}

fn input(s: &Scrape, model: &str, deployment: &str) -> f64 {
    one(
        s,
        "llm_tokens_total",
        model,
        deployment,
        &[("token_type", "input")],
    )
}

#[test]
fn mantle_traffic_is_counted_once_priced_and_told_apart_from_bedrock_runtime() {
    let ls = LocalStack::start();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir);
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", ls.url.as_str())],
    );
    // Data present at start-up is the baseline: put it after the first poll.
    exporter.wait_for("the first poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    let m = now() / 60 * 60 - 120;
    // The truth, per project and model: default project 3 inferences of 1,000 + 500 input and
    // 200 + 100 output tokens (one datum per inference, as InputTokens/OutputTokens are
    // published), PROJECT 4 inferences (one a client error) of 2,000 input and 400 output.
    let pm = |p: &'static str, model: &'static str| (Some(p), Some(model));
    let (d, a) = (pm("default", GPT_MANTLE), pm(PROJECT, GPT_MANTLE));
    let mut points: Vec<MantlePoint> = vec![
        ("Inferences", d.0, d.1, m + 1, 3.0),
        ("InputTokens", d.0, d.1, m + 2, 1000.0),
        ("InputTokens", d.0, d.1, m + 3, 500.0),
        ("OutputTokens", d.0, d.1, m + 2, 200.0),
        ("OutputTokens", d.0, d.1, m + 3, 100.0),
        ("Inferences", a.0, a.1, m + 1, 4.0),
        ("InferenceClientErrors", a.0, a.1, m + 1, 1.0),
        ("InputTokens", a.0, a.1, m + 2, 2000.0),
        ("OutputTokens", a.0, a.1, m + 2, 400.0),
        ("Inferences", Some("default"), Some(UNPRICED), m + 1, 1.0),
        ("InputTokens", Some("default"), Some(UNPRICED), m + 1, 50.0),
    ];
    // The same traffic again at the Model, Project and Account levels, as CloudWatch publishes
    // it: an exporter reading any of these besides Project+Model counts it twice.
    points.extend([
        ("Inferences", None, Some(GPT_MANTLE), m + 1, 7.0),
        ("InferenceClientErrors", None, Some(GPT_MANTLE), m + 1, 1.0),
        ("TotalInputTokens", None, Some(GPT_MANTLE), m + 1, 3500.0),
        ("TotalOutputTokens", None, Some(GPT_MANTLE), m + 1, 700.0),
        ("TotalInputTokens", None, Some(UNPRICED), m + 1, 50.0),
        ("Inferences", Some("default"), None, m + 1, 4.0),
        ("Inferences", Some(PROJECT), None, m + 1, 4.0),
        ("TotalInputTokens", Some("default"), None, m + 1, 1550.0),
        ("TotalInputTokens", Some(PROJECT), None, m + 1, 2000.0),
        ("TotalOutputTokens", Some(PROJECT), None, m + 1, 400.0),
        ("Inferences", None, None, m + 1, 8.0),
        ("InferenceClientErrors", None, None, m + 1, 1.0),
        ("TotalInputTokens", None, None, m + 1, 3550.0),
        ("TotalOutputTokens", None, None, m + 1, 700.0),
    ]);
    put_mantle(&rt, &cw, &points);
    // And the same model through bedrock-runtime (AWS/Bedrock, ModelId).
    put(
        &rt,
        &cw,
        &[
            ("InputTokenCount", GPT_RUNTIME, m + 1, 7000.0),
            ("Invocations", GPT_RUNTIME, m + 1, 2.0),
        ],
    );

    let s = exporter.wait_for("the mantle minute", Duration::from_secs(60), |s| {
        s.matching("llm_tokens_total", &[("token_type", "output")])
            .len()
            == 2
            && input(s, GPT_RUNTIME, "mantle") == 1500.0
            && input(s, GPT_RUNTIME, &format!("mantle:{PROJECT}")) == 2000.0
            && input(s, GPT_RUNTIME, "") == 7000.0
            && input(s, UNPRICED, "mantle") == 50.0
    });
    let mantle_a = format!("mantle:{PROJECT}");
    // Once per level: the whole input of the account is the truth, not a sum of levels.
    let all_input: f64 = s
        .matching("llm_tokens_total", &[("token_type", "input")])
        .iter()
        .map(|x| x.2)
        .sum();
    assert_eq!(all_input, 1500.0 + 2000.0 + 50.0 + 7000.0, "{}", s.text);
    let output = |dep: &str| {
        one(
            &s,
            "llm_tokens_total",
            GPT_RUNTIME,
            dep,
            &[("token_type", "output")],
        )
    };
    assert_eq!((output("mantle"), output(&mantle_a)), (300.0, 400.0));
    let invocations = |model: &str, dep: &str| one(&s, "llm_invocations_total", model, dep, &[]);
    assert_eq!(invocations(GPT_RUNTIME, "mantle"), 3.0);
    assert_eq!(invocations(GPT_RUNTIME, &mantle_a), 4.0);
    assert_eq!(invocations(GPT_RUNTIME, ""), 2.0);
    assert_eq!(
        one(
            &s,
            "llm_invocation_errors_total",
            GPT_RUNTIME,
            &mantle_a,
            &[("error_type", "client")]
        ),
        1.0
    );
    let all_invocations: f64 = s
        .matching("llm_invocations_total", &[])
        .iter()
        .map(|x| x.2)
        .sum();
    assert_eq!(all_invocations, 3.0 + 4.0 + 1.0 + 2.0);

    // Priced with the same catalog, under the same model label on both endpoints.
    let cost = |dep: &str, t: &str| {
        one(
            &s,
            "llm_estimated_cost_usd_total",
            GPT_RUNTIME,
            dep,
            &[("token_type", t)],
        )
    };
    assert!(close(Some(cost("mantle", "input")), 1500.0 * GPT_IN));
    assert!(close(Some(cost("mantle", "output")), 300.0 * GPT_OUT));
    assert!(close(Some(cost(&mantle_a, "input")), 2000.0 * GPT_IN));
    assert!(close(Some(cost("", "input")), 7000.0 * GPT_IN));
    assert_eq!(
        s.value(
            "llm_unpriced_model_info",
            &[("model", UNPRICED), ("token_type", "input")]
        ),
        Some(1.0),
        "a mantle model the catalog does not know is counted, not priced"
    );
    // The price join: each priced token series of both endpoints has its price, with its
    // own labels (the default project, project A, and bedrock-runtime).
    for dep in ["mantle", mantle_a.as_str(), ""] {
        assert_eq!(
            one(
                &s,
                "llm_model_price_usd_per_token",
                GPT_RUNTIME,
                dep,
                &[("token_type", "input")]
            ),
            GPT_IN,
            "{dep}"
        );
    }

    // The exporter's own bill: ListMetrics requests (two namespaces per listing) at the
    // configured price, GetMetricData metrics at $0.00001 each.
    let units = |api: &str, unit: &str| {
        s.value(
            "llm_exporter_api_billable_units_total",
            &[("api", api), ("unit", unit)],
        )
        .unwrap_or(0.0)
    };
    let lists = units("ListMetrics", "requests");
    assert!(lists >= 2.0, "{lists}");
    let requested = units("GetMetricData", "metrics_requested");
    assert!(close(
        s.value("llm_exporter_api_cost_usd_total", &[]),
        (lists + requested) * 0.00001
    ));

    // More polls change nothing.
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(input(&s, GPT_RUNTIME, "mantle"), 1500.0);
    assert_eq!(input(&s, GPT_RUNTIME, &mantle_a), 2000.0);
    let (code, lint) = promtool_check_metrics(&exporter.get("/metrics").1);
    assert_eq!((code, lint.as_str()), (0, ""), "promtool check metrics");
}
