//! Traffic CloudWatch publishes at several levels at once, counted once: Bedrock's
//! OpenAI-compatible endpoint (`bedrock-mantle`) under `AWS/BedrockMantle` at four levels
//! (Account, Project, Model, Project+Model; Bedrock user guide, "Monitor bedrock-mantle
//! inference using CloudWatch metrics"), and `AWS/Bedrock` per service tier beside the
//! model-only set ("Service tiers for optimizing performance and cost"). The real binary
//! against LocalStack's CloudWatch, every level filled as the cloud fills them.

use std::time::Duration;

use crate::support::*;

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
    config_with(dir, "", "  list_metrics_usd_per_request: 0.00001\n")
}

/// A 1 s poll and listing, with `top` and `aws` lines added to the shared and `aws:` keys.
fn config_with(dir: &tempfile::TempDir, top: &str, aws: &str) -> String {
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!("poll_interval: 1s\nlookback: 10m\n{top}aws:\n  latency_stats: [avg]\n  discovery_ttl: 1s\n{aws}"),
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
    let ls = start_localstack();
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

// Service tiers. USD per token from the catalog (LiteLLM 1.109.1): Amazon Nova Pro's
// standard, priority and flex rates, and gpt-oss-120b's.
const NOVA: &str = "amazon.nova-pro-v1:0";
const NOVA_IN: f64 = 0.8e-6;
const NOVA_IN_PRIORITY: f64 = 1.4e-6;
const NOVA_IN_FLEX: f64 = 0.4e-6;
const NOVA_OUT: f64 = 3.2e-6;
const NOVA_OUT_PRIORITY: f64 = 5.6e-6;
const GPT_IN_PRIORITY: f64 = 0.2625e-6;
const GPT_IN_FLEX: f64 = 0.075e-6;

/// `llm_tokens_total` of `model` and `token_type` per `billing_mode`.
fn by_mode(s: &Scrape, name: &str, model: &str, token_type: &str) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = s
        .matching(name, &[("model", model), ("token_type", token_type)])
        .into_iter()
        .map(|(_, l, v)| (l.get("billing_mode").cloned().unwrap_or_default(), *v))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn total(s: &Scrape, model: &str, token_type: &str) -> f64 {
    by_mode(s, "llm_tokens_total", model, token_type)
        .iter()
        .map(|x| x.1)
        .sum()
}

fn mode_value(v: &[(String, f64)], mode: &str) -> f64 {
    v.iter().find(|x| x.0 == mode).map(|x| x.1).unwrap_or(0.0)
}

/// One AWS/Bedrock datapoint under `ModelId` alone: (metric, ModelId, Unix seconds, value).
type ModelPoint<'a> = (&'a str, &'a str, i64, f64);

/// One minute of Nova Pro: 10,000 input tokens in all, 1,000 priority, 2,000 flex, 3,000
/// served by reserved capacity, 500 asked as reserved but served at Standard (overflow) and
/// 3,500 standard; 1,000 output tokens, 100 of them priority.
///
/// CloudWatch answers a query for a dimension set with that exact set's data only; LocalStack
/// answers it with the sum of every set that contains it (an SQL `LIKE` match in its
/// `cloudwatch_database_helper.py`). So the model-only set is put as what the tier sets do
/// not cover (here nothing: a datapoint of 0 makes ListMetrics list it), and LocalStack's
/// answer for it is the model's total, as CloudWatch publishes it.
fn nova_minute(m: i64) -> (Vec<ModelPoint<'static>>, Vec<TierPoint<'static>>) {
    let model = vec![
        ("InputTokenCount", NOVA, m + 1, 0.0),
        ("OutputTokenCount", NOVA, m + 1, 0.0),
        ("Invocations", NOVA, m + 1, 0.0),
    ];
    let tiers = vec![
        (
            "InputTokenCount",
            NOVA,
            Some("priority"),
            Some("priority"),
            m + 1,
            1_000.0,
        ),
        (
            "InputTokenCount",
            NOVA,
            Some("flex"),
            Some("flex"),
            m + 1,
            2_000.0,
        ),
        (
            "InputTokenCount",
            NOVA,
            Some("reserved"),
            Some("reserved"),
            m + 1,
            3_000.0,
        ),
        (
            "InputTokenCount",
            NOVA,
            Some("reserved"),
            Some("default"),
            m + 1,
            500.0,
        ),
        (
            "InputTokenCount",
            NOVA,
            Some("default"),
            Some("default"),
            m + 1,
            3_500.0,
        ),
        (
            "OutputTokenCount",
            NOVA,
            Some("priority"),
            Some("priority"),
            m + 1,
            100.0,
        ),
        (
            "OutputTokenCount",
            NOVA,
            Some("default"),
            Some("default"),
            m + 1,
            900.0,
        ),
        (
            "Invocations",
            NOVA,
            Some("priority"),
            Some("priority"),
            m + 1,
            1.0,
        ),
        (
            "Invocations",
            NOVA,
            Some("default"),
            Some("default"),
            m + 1,
            9.0,
        ),
    ];
    (model, tiers)
}

#[test]
fn tier_traffic_is_counted_once_and_priced_at_the_tier_that_served_it() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir);
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", ls.url.as_str())],
    );
    exporter.wait_for("the first poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now() / 60 * 60 - 120;
    let (model, tiers) = nova_minute(m);
    // Tiers first: a listing between the two puts then already reads the minute per tier.
    put_tiers(&rt, &cw, &tiers);
    put(&rt, &cw, &model);
    // gpt-oss-120b as the earlier documentation revision described tier metrics: only the
    // tier asked for ("model-id+priority", "model-id+flex"), and no Standard set. Of 5,000
    // input tokens, 1,000 priority and 1,500 flex: the other 2,500 are Standard (put as the
    // model-only set's own 2,500; see nova_minute).
    put_tiers(
        &rt,
        &cw,
        &[
            (
                "InputTokenCount",
                GPT_RUNTIME,
                Some("priority"),
                None,
                m + 1,
                1_000.0,
            ),
            (
                "InputTokenCount",
                GPT_RUNTIME,
                Some("flex"),
                None,
                m + 1,
                1_500.0,
            ),
        ],
    );
    put(
        &rt,
        &cw,
        &[("InputTokenCount", GPT_RUNTIME, m + 1, 2_500.0)],
    );

    // The Standard remainder (GPT's 2,500) counts once the split is final, up to
    // aws.tier_split_delay (2 minutes) after the minute ends.
    let s = exporter.wait_for("the tier minute", Duration::from_secs(150), |s| {
        mode_value(&by_mode(s, "llm_tokens_total", NOVA, "input"), "priority") == 1_000.0
            && mode_value(
                &by_mode(s, "llm_tokens_total", GPT_RUNTIME, "input"),
                "flex",
            ) == 1_500.0
            && total(s, GPT_RUNTIME, "input") >= 5_000.0
            && total(s, NOVA, "input") >= 10_000.0
    });
    // Once: the model's total, not the model-only set plus the tier sets.
    assert_eq!(total(&s, NOVA, "input"), 10_000.0, "{}", s.text);
    assert_eq!(total(&s, NOVA, "output"), 1_000.0);
    assert_eq!(total(&s, GPT_RUNTIME, "input"), 5_000.0);
    let invocations: f64 = s
        .matching("llm_invocations_total", &[("model", NOVA)])
        .iter()
        .map(|x| x.2)
        .sum();
    assert_eq!(invocations, 10.0);

    // Grouped by the tier that served the tokens.
    let input = by_mode(&s, "llm_tokens_total", NOVA, "input");
    assert_eq!(
        input,
        vec![
            ("flex".to_string(), 2_000.0),
            ("priority".to_string(), 1_000.0),
            ("reserved".to_string(), 3_000.0),
            ("standard".to_string(), 4_000.0),
        ]
    );
    let gpt = by_mode(&s, "llm_tokens_total", GPT_RUNTIME, "input");
    assert_eq!(
        gpt,
        vec![
            ("flex".to_string(), 1_500.0),
            ("priority".to_string(), 1_000.0),
            ("standard".to_string(), 2_500.0),
        ]
    );

    // Each at its tier's rate; reserved capacity is prepaid: counted, not priced per token.
    let cost = by_mode(&s, "llm_estimated_cost_usd_total", NOVA, "input");
    assert!(
        close(
            Some(mode_value(&cost, "priority")),
            1_000.0 * NOVA_IN_PRIORITY
        ),
        "{cost:?}"
    );
    assert!(
        close(Some(mode_value(&cost, "flex")), 2_000.0 * NOVA_IN_FLEX),
        "{cost:?}"
    );
    assert!(
        close(Some(mode_value(&cost, "standard")), 4_000.0 * NOVA_IN),
        "{cost:?}"
    );
    assert_eq!(mode_value(&cost, "reserved"), 0.0, "{cost:?}");
    let out = by_mode(&s, "llm_estimated_cost_usd_total", NOVA, "output");
    assert!(
        close(
            Some(mode_value(&out, "priority")),
            100.0 * NOVA_OUT_PRIORITY
        ),
        "{out:?}"
    );
    assert!(
        close(Some(mode_value(&out, "standard")), 900.0 * NOVA_OUT),
        "{out:?}"
    );
    let gpt_cost = by_mode(&s, "llm_estimated_cost_usd_total", GPT_RUNTIME, "input");
    assert!(close(
        Some(mode_value(&gpt_cost, "priority")),
        1_000.0 * GPT_IN_PRIORITY
    ));
    assert!(close(
        Some(mode_value(&gpt_cost, "flex")),
        1_500.0 * GPT_IN_FLEX
    ));
    assert!(close(
        Some(mode_value(&gpt_cost, "standard")),
        2_500.0 * GPT_IN
    ));

    // More polls change nothing.
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(total(&s, NOVA, "input"), 10_000.0);
    let (code, lint) = promtool_check_metrics(&exporter.get("/metrics").1);
    assert_eq!((code, lint.as_str()), (0, ""), "promtool check metrics");
}

/// A minute's model-only total and its tier shares are separate series, and ListMetrics can
/// list a tier's metric after the total already holds its traffic. While the minute's split
/// is open (aws.tier_split_delay after it ends) a tier listed late is still priced at its
/// tier and the Standard remainder waits; a tier listed after that stays in the remainder.
/// Either way the minute counts once.
#[test]
fn a_tier_listed_late_is_priced_at_its_tier_while_the_split_is_open_and_counted_once() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let rules = std::sync::Arc::new(proxy::Rules::default());
    let proxy = proxy::start(ls.url.clone(), rules.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(&dir, "", "  tier_split_delay: 45s\n");
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", &proxy.url())],
    );
    exporter.wait_for("the first poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    // The minute is the current one: its split stays open until 105 s after it starts. Its
    // total holds every tier's traffic, but the reserved tier sets (3,000 reserved, 500
    // overflowed to Standard) and 700 tokens asked as priority and served at Standard are
    // not listed yet.
    rules.hide("reserved");
    rules.hide("priority|default");
    let m = now() / 60 * 60;
    let (model, mut tiers) = nova_minute(m);
    tiers.push((
        "InputTokenCount",
        NOVA,
        Some("priority"),
        Some("default"),
        m + 1,
        700.0,
    ));
    // Tiers first: a listing between the two puts then already reads the minute per tier.
    put_tiers(&rt, &cw, &tiers);
    put(&rt, &cw, &model);
    let s = exporter.wait_for("the listed tiers", Duration::from_secs(60), |s| {
        mode_value(&by_mode(s, "llm_tokens_total", NOVA, "input"), "flex") == 2_000.0
    });
    assert!(now() < m + 105, "the split is still open");
    assert_eq!(
        by_mode(&s, "llm_tokens_total", NOVA, "input"),
        vec![
            ("flex".to_string(), 2_000.0),
            ("priority".to_string(), 1_000.0),
            ("standard".to_string(), 3_500.0),
        ],
        "the 4,200 no listed tier covers waits: it may be a tier's share"
    );

    // Listed while the split is open: priced at its tier.
    rules.unhide("reserved");
    let s = exporter.wait_for("the late tier", Duration::from_secs(60), |s| {
        mode_value(&by_mode(s, "llm_tokens_total", NOVA, "input"), "reserved") == 3_000.0
    });
    assert!(now() < m + 105, "the split is still open");
    assert_eq!(total(&s, NOVA, "input"), 10_000.0, "{}", s.text);

    // Final: the 700 no listed tier covers count at Standard.
    let s = exporter.wait_for("the final split", Duration::from_secs(120), |s| {
        total(s, NOVA, "input") >= 10_700.0
    });
    let split = vec![
        ("flex".to_string(), 2_000.0),
        ("priority".to_string(), 1_000.0),
        ("reserved".to_string(), 3_000.0),
        ("standard".to_string(), 4_700.0),
    ];
    assert_eq!(by_mode(&s, "llm_tokens_total", NOVA, "input"), split);

    // Listed after the split is final: the minute is not counted again.
    let (lists, fetches) = (
        rules.calls("us-east-1", "ListMetrics"),
        rules.calls("us-east-1", "GetMetricData"),
    );
    rules.unhide("priority|default");
    wait_until("two more polls", Duration::from_secs(20), || {
        (rules.calls("us-east-1", "ListMetrics") >= lists + 4
            && rules.calls("us-east-1", "GetMetricData") >= fetches + 2)
            .then_some(())
    });
    let s = exporter.scrape();
    assert_eq!(
        by_mode(&s, "llm_tokens_total", NOVA, "input"),
        split,
        "{}",
        s.text
    );
}

/// ListMetrics lists a model's tier metrics late (up to 15 minutes after its model-only
/// metrics): the open minute already counted from the model-only set is not counted again
/// from the tier sets, and no minute is lost; minutes after the switch are split by tier.
#[test]
fn tier_metrics_listed_late_never_count_an_open_minute_twice() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    let rules = std::sync::Arc::new(proxy::Rules::default());
    let proxy = proxy::start(ls.url.clone(), rules.clone());
    // Every tier dimension set is hidden from ListMetrics (GetMetricData still has the data).
    for tier in ["priority", "flex", "reserved", "default"] {
        rules.hide(tier);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir);
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", &proxy.url())],
    );
    exporter.wait_for("the first poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now() / 60 * 60 - 120;
    let (model, tiers) = nova_minute(m);
    put(&rt, &cw, &model);
    put_tiers(&rt, &cw, &tiers);
    let s = exporter.wait_for("the model-only minute", Duration::from_secs(60), |s| {
        total(s, NOVA, "input") == 10_000.0
    });
    assert_eq!(
        by_mode(&s, "llm_tokens_total", NOVA, "input"),
        vec![("standard".to_string(), 10_000.0)],
        "no tier known yet: all at Standard"
    );

    // The tier sets are listed now, early enough in a minute that the next poll's window
    // ends with the next minute: that minute is the first one read per tier.
    wait_until(
        "the first 30 s of a minute",
        Duration::from_secs(65),
        || (now() % 60 < 30).then_some(()),
    );
    for tier in ["priority", "flex", "reserved", "default"] {
        rules.unhide(tier);
    }
    // Two listings (two namespaces each) and two fetches later the tier sets are known and
    // read: minute m, still open, is not counted again from them.
    let (lists, fetches) = (
        rules.calls("us-east-1", "ListMetrics"),
        rules.calls("us-east-1", "GetMetricData"),
    );
    wait_until("two more polls", Duration::from_secs(20), || {
        (rules.calls("us-east-1", "ListMetrics") >= lists + 4
            && rules.calls("us-east-1", "GetMetricData") >= fetches + 2)
            .then_some(())
    });
    assert_eq!(
        by_mode(&exporter.scrape(), "llm_tokens_total", NOVA, "input"),
        vec![("standard".to_string(), 10_000.0)],
        "the open minute read from the model-only set is not read again per tier"
    );
    let next = now() / 60 * 60 + 60;
    let (model, tiers) = nova_minute(next - 1);
    put(&rt, &cw, &model);
    put_tiers(&rt, &cw, &tiers);
    let s = exporter.wait_for(
        "the minute after the switch",
        Duration::from_secs(120),
        |s| total(s, NOVA, "input") >= 20_000.0,
    );
    // Minute m stays counted once, at Standard; the new minute is split by tier.
    assert_eq!(total(&s, NOVA, "input"), 20_000.0, "{}", s.text);
    assert_eq!(
        by_mode(&s, "llm_tokens_total", NOVA, "input"),
        vec![
            ("flex".to_string(), 2_000.0),
            ("priority".to_string(), 1_000.0),
            ("reserved".to_string(), 3_000.0),
            ("standard".to_string(), 14_000.0),
        ]
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(total(&exporter.scrape(), NOVA, "input"), 20_000.0);
}

/// Idle models cost a probe each per `aws.idle_probe_interval`, not every metric every poll:
/// with one model in ten in use, GetMetricData bills at most a quarter of what asking every
/// listed metric every poll bills. Traffic that starts on an idle model between two probes is
/// counted in full from its first minute, once. The exporter's projected API bill and its
/// budget are exported.
#[test]
fn idle_models_are_probed_and_counted_in_full_from_their_first_minute() {
    let ls = start_localstack();
    let rt = runtime();
    let cw = cloudwatch(&ls.url);
    // Ten models used half an hour ago: listed, nothing in the open window. Four metrics each
    // (latency at one statistic): 40 metrics a poll if every one were asked every poll.
    let models: Vec<String> = (0..10)
        .map(|i| format!("vendor.idle-model-{i}-v1:0"))
        .collect();
    let old = now() - 1800;
    let metrics = [
        "Invocations",
        "InputTokenCount",
        "OutputTokenCount",
        "InvocationLatency",
    ];
    let points: Vec<(&str, &str, i64, f64)> = models
        .iter()
        .flat_map(|m| {
            metrics
                .iter()
                .map(move |metric| (*metric, m.as_str(), old, 1.0))
        })
        .collect();
    put(&rt, &cw, &points);
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        &dir,
        "api_budget_usd_per_month: 1000\n",
        "  idle_probe_interval: 5s\n",
    );
    let exporter = start_exporter(
        &["--config.file", &config],
        &[("AWS_ENDPOINT_URL", ls.url.as_str())],
    );
    exporter.wait_for("the first poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let units = |s: &Scrape| {
        s.value(
            "llm_exporter_api_billable_units_total",
            &[("api", "GetMetricData"), ("unit", "metrics_requested")],
        )
        .unwrap_or(0.0)
    };
    let polls = |s: &Scrape| {
        s.value("llm_exporter_polls_total", &[("outcome", "success")])
            .unwrap_or(0.0)
    };
    let counter = |s: &Scrape, name: &str, model: &str, extra: &[(&str, &str)]| {
        one(s, name, model, "", extra)
    };

    // All idle: a probe (Invocations) per model per 5 s.
    let a = exporter.scrape();
    std::thread::sleep(Duration::from_secs(5));
    let b = exporter.scrape();
    let idle = (units(&b) - units(&a)) / (polls(&b) - polls(&a));

    // Traffic starts on model 0 after its first probe: counted in full from that minute.
    let t = now();
    put(
        &rt,
        &cw,
        &[
            ("Invocations", &models[0], t, 3.0),
            ("InputTokenCount", &models[0], t, 300.0),
            ("OutputTokenCount", &models[0], t, 30.0),
            ("InvocationLatency", &models[0], t, 800.0),
        ],
    );
    let s = exporter.wait_for("model 0 counted", Duration::from_secs(30), |s| {
        counter(
            s,
            "llm_tokens_total",
            &models[0],
            &[("token_type", "input")],
        ) == 300.0
    });
    let one_in_use = |s: &Scrape| {
        (
            counter(
                s,
                "llm_tokens_total",
                &models[0],
                &[("token_type", "input")],
            ),
            counter(
                s,
                "llm_tokens_total",
                &models[0],
                &[("token_type", "output")],
            ),
            counter(s, "llm_invocations_total", &models[0], &[]),
        )
    };
    assert_eq!(one_in_use(&s), (300.0, 30.0, 3.0));

    // One model in ten in use: measured over at least two probe intervals.
    let a = exporter.scrape();
    std::thread::sleep(Duration::from_secs(7));
    let b = exporter.scrape();
    let busy = (units(&b) - units(&a)) / (polls(&b) - polls(&a));
    let every_metric = (models.len() * metrics.len()) as f64;
    eprintln!("GetMetricData metrics per poll: all idle {idle:.2}, one in ten in use {busy:.2}, every metric every poll {every_metric}");
    assert!(idle <= models.len() as f64 / 4.0, "{idle}");
    assert!(
        busy <= every_metric / 4.0,
        "{busy} > a quarter of {every_metric}"
    );
    assert!(
        busy >= metrics.len() as f64,
        "the model in use is fetched in full: {busy}"
    );
    assert_eq!(one_in_use(&b), (300.0, 30.0, 3.0), "counted once");

    // Traffic on another idle model, between two of its probes.
    let t = now();
    put(
        &rt,
        &cw,
        &[
            ("Invocations", &models[7], t, 2.0),
            ("InputTokenCount", &models[7], t, 222.0),
        ],
    );
    let s = exporter.wait_for("model 7 counted", Duration::from_secs(30), |s| {
        counter(s, "llm_invocations_total", &models[7], &[]) == 2.0
    });
    assert_eq!(
        counter(
            &s,
            "llm_tokens_total",
            &models[7],
            &[("token_type", "input")]
        ),
        222.0
    );

    // The exporter's own bill: projected from what it spent, beside the budget.
    assert_eq!(
        s.value("llm_exporter_api_budget_usd_per_month", &[]),
        Some(1000.0)
    );
    let projected = s
        .value("llm_exporter_api_cost_projected_usd_per_month", &[])
        .unwrap();
    assert!(projected > 0.0 && projected < 1000.0, "{projected}");
    assert_eq!(
        s.value("llm_exporter_api_poll_slowdown_factor", &[]),
        Some(1.0)
    );
}
