//! The real exporter binary, with the official azure_identity client-secret credential over
//! TLS, against the fake Azure.

use std::time::Duration;

use crate::support::*;

const SUB: &str = "aaaaaaaa-1111-2222-3333-444444444444";

// List prices in USD per token, from LiteLLM 1.109.1's model_prices_and_context_window.json.
const GPT4O_GLOBAL_IN: f64 = 2.50e-6;
const GPT4O_GLOBAL_OUT: f64 = 10.00e-6;
const MINI_US_IN: f64 = 0.165e-6;
// Standard (regional) in an EU region: the EU Data Zone rate (`eu/gpt-4.1`), the catalog
// having no Regional entries; the plain key would be the Global $2.00 / $8.00.
const GPT41_IN: f64 = 2.20e-6;
const GPT41_OUT: f64 = 8.80e-6;
const HAIKU_IN: f64 = 1.00e-6;
const HAIKU_CACHE_READ: f64 = 0.10e-6;

fn east() -> FakeAccount {
    FakeAccount {
        subscription: SUB.into(),
        name: "oai-east".into(),
        location: "eastus".into(),
        deployments: vec![
            deployment(
                "chat-prod",
                "gpt-4o",
                "2024-08-06",
                "OpenAI",
                "GlobalStandard",
            ),
            deployment(
                "mini",
                "gpt-4o-mini",
                "2024-07-18",
                "OpenAI",
                "DataZoneStandard",
            ),
            deployment(
                "ptu",
                "gpt-4o",
                "2024-08-06",
                "OpenAI",
                "ProvisionedManaged",
            ),
        ],
    }
}

fn sweden() -> FakeAccount {
    FakeAccount {
        subscription: SUB.into(),
        name: "foundry-se".into(),
        location: "swedencentral".into(),
        deployments: vec![
            deployment("gpt41", "gpt-4.1", "2025-04-14", "OpenAI", "Standard"),
            deployment(
                "claude",
                "claude-haiku-4-5",
                "1",
                "Anthropic",
                "GlobalStandard",
            ),
        ],
    }
}

#[test]
fn counts_exact_usage_and_cost_across_deployments_and_regions() {
    let t = setup(vec![east(), sweden()]);
    t.fake.state().page_size = 1; // ARM listings page
    let (e, s) = (east(), sweden());
    let m = now_minute() - 180;
    t.fake.add(
        &e,
        "ProcessedPromptTokens",
        "chat-prod",
        "",
        m - 60,
        99_999.0,
    ); // baseline
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    t.fake
        .add(&e, "ProcessedPromptTokens", "chat-prod", "", m, 10_000.0);
    t.fake
        .add(&e, "GeneratedTokens", "chat-prod", "", m, 2_000.0);
    // A Foundry account also reports the Models category for OpenAI deployments: not counted twice.
    t.fake.add(&e, "InputTokens", "chat-prod", "", m, 10_000.0);
    t.fake
        .add(&e, "ProcessedPromptTokens", "mini", "", m, 50_000.0);
    t.fake
        .add(&e, "ProcessedPromptTokens", "ptu", "", m, 7_000.0);
    for (code, n) in [("200", 40.0), ("400", 2.0), ("429", 5.0), ("500", 1.0)] {
        t.fake
            .add(&e, "AzureOpenAIRequests", "chat-prod", code, m, n);
    }
    t.fake
        .average(&e, "AzureOpenAITimeToResponse", "chat-prod", m, 1_500.0);
    t.fake
        .add(&s, "ProcessedPromptTokens", "gpt41", "", m, 3_000.0);
    t.fake.add(&s, "GeneratedTokens", "gpt41", "", m, 1_000.0);
    t.fake.add(&s, "InputTokens", "claude", "", m, 4_000.0);
    t.fake
        .add(&s, "cacheReadInputTokens", "claude", "", m, 2_000.0);
    t.fake.add(&s, "ModelRequests", "claude", "200", m, 9.0);

    let dep = |d: &'static str, k: &'static str, v: &'static str| [("deployment", d), (k, v)];
    let s = exporter.wait_for("the minute to be counted", Duration::from_secs(60), |s| {
        s.value(
            "llm_tokens_total",
            &dep("foundry-se/claude", "token_type", "cache_read"),
        ) == Some(2_000.0)
            && s.value(
                "llm_tokens_total",
                &dep("oai-east/chat-prod", "token_type", "input"),
            ) == Some(10_000.0)
    });
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[
                ("deployment", "oai-east/chat-prod"),
                ("model", "gpt-4o"),
                ("region", "eastus"),
                ("account", SUB),
                ("token_type", "input")
            ]
        ),
        Some(10_000.0),
        "the model comes from the deployment"
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &dep("oai-east/chat-prod", "token_type", "output")
        ),
        Some(2_000.0)
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &dep("oai-east/mini", "token_type", "input")
        ),
        Some(50_000.0)
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &dep("oai-east/ptu", "token_type", "input")
        ),
        Some(7_000.0)
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[
                ("deployment", "foundry-se/gpt41"),
                ("region", "swedencentral"),
                ("token_type", "input")
            ]
        ),
        Some(3_000.0)
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &dep("foundry-se/claude", "token_type", "input")
        ),
        Some(4_000.0)
    );
    assert!(
        close(
            s.value(
                "llm_estimated_cost_usd_total",
                &dep("oai-east/chat-prod", "token_type", "input")
            ),
            10_000.0 * GPT4O_GLOBAL_IN
        ),
        "Global Standard price"
    );
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &dep("oai-east/chat-prod", "token_type", "output")
        ),
        2_000.0 * GPT4O_GLOBAL_OUT
    ));
    assert!(
        close(
            s.value(
                "llm_estimated_cost_usd_total",
                &dep("oai-east/mini", "token_type", "input")
            ),
            50_000.0 * MINI_US_IN
        ),
        "Data Zone (US) price"
    );
    assert_eq!(
        s.value(
            "llm_estimated_cost_usd_total",
            &dep("oai-east/ptu", "token_type", "input")
        ),
        None,
        "provisioned tokens get no per-token cost"
    );
    assert!(
        close(
            s.value(
                "llm_estimated_cost_usd_total",
                &dep("foundry-se/gpt41", "token_type", "input")
            ),
            3_000.0 * GPT41_IN
        ),
        "Standard (regional) price"
    );
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &dep("foundry-se/gpt41", "token_type", "output")
        ),
        1_000.0 * GPT41_OUT
    ));
    assert!(
        close(
            s.value(
                "llm_estimated_cost_usd_total",
                &dep("foundry-se/claude", "token_type", "input")
            ),
            4_000.0 * HAIKU_IN
        ),
        "Foundry partner model price"
    );
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &dep("foundry-se/claude", "token_type", "cache_read")
        ),
        2_000.0 * HAIKU_CACHE_READ
    ));
    assert_eq!(
        s.value(
            "llm_invocations_total",
            &[("deployment", "oai-east/chat-prod")]
        ),
        Some(43.0),
        "429s are not invocations"
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &dep("oai-east/chat-prod", "error_type", "client")
        ),
        Some(2.0)
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &dep("oai-east/chat-prod", "error_type", "throttled")
        ),
        Some(5.0)
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &dep("oai-east/chat-prod", "error_type", "server")
        ),
        Some(1.0)
    );
    assert_eq!(
        s.value(
            "llm_invocations_total",
            &[("deployment", "foundry-se/claude")]
        ),
        Some(9.0)
    );
    assert!(close(
        s.value(
            "llm_invocation_latency_seconds",
            &dep("oai-east/chat-prod", "stat", "avg")
        ),
        1.5
    ));

    // Late data for the same minute.
    t.fake
        .add(&e, "ProcessedPromptTokens", "chat-prod", "", m, 500.0);
    let s = exporter.wait_for("the late tokens", Duration::from_secs(30), |s| {
        s.value(
            "llm_tokens_total",
            &dep("oai-east/chat-prod", "token_type", "input"),
        ) == Some(10_500.0)
    });
    assert!(close(
        s.value(
            "llm_estimated_cost_usd_total",
            &dep("oai-east/chat-prod", "token_type", "input")
        ),
        10_500.0 * GPT4O_GLOBAL_IN
    ));

    let body = exporter.get("/metrics").1;
    let (code, lint) = promtool_check_metrics(&body);
    assert_eq!((code, lint.as_str()), (0, ""), "promtool check metrics");
    assert!(
        !exporter.proc.log().contains(CLIENT_SECRET) && !body.contains(CLIENT_SECRET),
        "the client secret leaked"
    );
    assert!(
        !exporter.proc.log().contains("fake-token:"),
        "a bearer token leaked"
    );
    let scopes = t.fake.state().scopes_issued.clone();
    assert!(
        !scopes.is_empty() && scopes.len() <= 4,
        "tokens are cached, not fetched per call: {scopes:?}"
    );
}

#[test]
fn sixty_resources_in_one_region_take_two_batches_per_query() {
    let accounts: Vec<FakeAccount> = (0..60)
        .map(|i| FakeAccount {
            subscription: SUB.into(),
            name: format!("acct-{i:02}"),
            location: "eastus".into(),
            deployments: vec![deployment(
                "d",
                "gpt-4o",
                "2024-08-06",
                "OpenAI",
                "GlobalStandard",
            )],
        })
        .collect();
    let t = setup(accounts.clone());
    let m = now_minute() - 120;
    for (i, a) in accounts.iter().enumerate() {
        t.fake
            .add(a, "ProcessedPromptTokens", &format!("d-{i:02}"), "", m, 1.0);
    }
    let path = t.dir.path().join("slow.yaml");
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    std::fs::write(
        &path,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("poll_interval: 1s", "poll_interval: 60s"),
    )
    .unwrap();
    let exporter = start_exporter(&["--config.file", path.to_str().unwrap()]);
    // One poll of 60 accounts: 60 scopes, each a successful poll of its own.
    let s = exporter.wait_for("the first poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "success")]) == Some(60.0)
            && s.matching("llm_tokens_total", &[("token_type", "input")])
                .len()
                == 60
    });
    assert_eq!(
        s.matching("llm_tokens_total", &[("token_type", "input")])
            .len(),
        60
    );
    // 60 resources -> batches of 50 and 10, for each of the four metric queries (tokens:
    // Total; Anthropic cache tokens split by context length: Total; latency: Average;
    // requests split by status code and served tier: Total).
    assert_eq!(
        t.fake.calls(BATCH),
        8,
        "ceil(60 / 50) = 2 batches x 4 queries"
    );
    assert_eq!(t.fake.state().largest_batch, 50);
    assert_eq!(t.fake.calls(LIST), 0);
}

#[test]
fn faults_open_the_breaker_and_totals_recover_exactly() {
    let t = setup(vec![east()]);
    let e = east();
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    let input = [
        ("deployment", "oai-east/chat-prod"),
        ("token_type", "input"),
    ];
    let api = |o: &'static str| [("api", "metrics:getBatch"), ("outcome", o)];

    // Single faults: 429 with Retry-After and 529 (retried), a malformed body, a hung call.
    t.fake.state().faults.insert(
        BATCH.into(),
        [
            Fault::Status(429),
            Fault::Status(529),
            Fault::Malformed,
            Fault::Hang(Duration::from_secs(6)),
        ]
        .into(),
    );
    t.fake
        .add(&e, "ProcessedPromptTokens", "chat-prod", "", m, 1_000.0);
    let s = exporter.wait_for(
        "counting through single faults",
        Duration::from_secs(90),
        |s| {
            s.value("llm_tokens_total", &input) == Some(1_000.0)
                && s.value("llm_exporter_api_requests_total", &api("timeout"))
                    .is_some()
        },
    );
    assert!(
        s.value("llm_exporter_api_requests_total", &api("throttled"))
            .unwrap()
            >= 2.0,
        "429 and 529 count as throttled"
    );
    assert!(
        s.value("llm_exporter_api_requests_total", &api("error"))
            .unwrap()
            >= 1.0
    );

    // An outage of the metrics API: the circuit opens, /metrics keeps answering.
    t.fake
        .state()
        .sticky
        .insert(BATCH.into(), Fault::Status(500));
    let s = exporter.wait_for("the circuit to open", Duration::from_secs(90), |s| {
        s.value("llm_exporter_circuit_state", &[("api", "metrics:getBatch")]) == Some(2.0)
    });
    assert_eq!(s.value("llm_exporter_up", &[]), Some(0.0));
    assert_eq!(s.value("llm_tokens_total", &input), Some(1_000.0));
    t.fake
        .add(&e, "ProcessedPromptTokens", "chat-prod", "", m, 250.0);
    t.fake.add(
        &e,
        "ProcessedPromptTokens",
        "chat-prod",
        "",
        m + 60,
        2_000.0,
    );
    t.fake.state().sticky.clear();
    let s = exporter.wait_for("recovery", Duration::from_secs(90), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
            && s.value("llm_tokens_total", &input) == Some(3_250.0)
    });
    assert!(close(
        s.value("llm_estimated_cost_usd_total", &input),
        3_250.0 * GPT4O_GLOBAL_IN
    ));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        exporter.scrape().value("llm_tokens_total", &input),
        Some(3_250.0),
        "nothing counted twice"
    );
}

/// The reason `llm_exporter_target_failure_reason` gives for the subscription's own target
/// (its account listing), at most one.
fn failure_reasons(s: &Scrape) -> Vec<String> {
    s.matching("llm_exporter_target_failure_reason", &[("target", SUB)])
        .iter()
        .filter(|(_, _, v)| *v == 1.0)
        .map(|(_, l, _)| l["reason"].clone())
        .collect()
}

/// Without a role on the subscription (ARM 403 `AuthorizationFailed`) its target is down as
/// denied, and while ARM throttles (429 with Retry-After) as throttled; the landing page says
/// so, and the reason goes once ARM answers.
#[test]
fn a_failing_subscription_says_whether_it_is_denied_or_throttled() {
    let t = setup(vec![east()]);
    t.fake.state().sticky.insert(ARM.into(), Fault::Status(403));
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    let s = exporter.wait_for("denied", Duration::from_secs(60), |s| {
        failure_reasons(s) == ["denied"]
    });
    assert_eq!(
        s.value("llm_exporter_target_up", &[("target", SUB)]),
        Some(0.0)
    );
    let (_, page) = exporter.get("/");
    assert!(page.contains("<td>denied</td>"), "{page}");
    t.fake.state().sticky.insert(ARM.into(), Fault::Status(429));
    exporter.wait_for("throttled", Duration::from_secs(60), |s| {
        failure_reasons(s) == ["throttled"]
    });
    t.fake.state().sticky.clear();
    exporter.wait_for("the reason to go", Duration::from_secs(60), |s| {
        s.value("llm_exporter_target_up", &[("target", SUB)]) == Some(1.0)
            && failure_reasons(s).is_empty()
    });
}

#[test]
fn falls_back_to_metrics_list_where_get_batch_is_refused() {
    let t = setup(vec![east()]);
    t.fake
        .state()
        .sticky
        .insert(BATCH.into(), Fault::Status(403));
    let e = east();
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    t.fake
        .add(&e, "ProcessedPromptTokens", "chat-prod", "", m, 1_234.0);
    t.fake
        .add(&e, "AzureOpenAIRequests", "chat-prod", "429", m, 3.0);
    let s = exporter.wait_for(
        "counting through Metrics_List",
        Duration::from_secs(60),
        |s| {
            s.value(
                "llm_tokens_total",
                &[
                    ("deployment", "oai-east/chat-prod"),
                    ("token_type", "input"),
                ],
            ) == Some(1_234.0)
        },
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &[
                ("deployment", "oai-east/chat-prod"),
                ("error_type", "throttled")
            ]
        ),
        Some(3.0)
    );
    assert_eq!(t.fake.calls(BATCH), 1, "refused once, then not asked again");
    assert!(t.fake.calls(LIST) >= 2);
}

#[test]
fn without_extra_ca_file_the_private_ca_is_not_trusted() {
    let t = setup(vec![east()]);
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let no_ca: String = text
        .lines()
        .filter(|l| !l.starts_with("extra_ca_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cfg, no_ca).unwrap();
    let exporter = start_exporter(&["--config.file", &cfg]);
    let s = exporter.wait_for("a failed poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "error")])
            .is_some()
    });
    assert_eq!(
        s.value("llm_exporter_polls_total", &[("outcome", "success")]),
        None
    );
    assert_eq!(
        t.fake.state().scopes_issued.len(),
        0,
        "no token was issued over an untrusted connection"
    );
    assert_eq!(exporter.get("/-/ready").0, 503);
}

/// Each Azure billing mode is labelled and priced as Azure bills it:
/// - a Global Batch deployment at the catalog's batch rate (LiteLLM
///   `input_cost_per_token_batches` of gpt-4o-2024-08-06: $1.25/M, half the $2.50 of Global
///   Standard; how-to/batch: "50% less cost than global standard");
/// - a provisioned deployment's tokens counted, not priced per token, and its 100 deployed PTUs
///   priced per hour (100 x 60 s / 3600 = 1.6667 PTU-hours a minute at the Global rate, $1.00
///   per PTU-hour, or a reservation's rate from the pricing file);
/// - a deployment set to priority processing (ARM `properties.serviceTier`) at the priority
///   rate (gpt-4.1: $3.50/M instead of $2.00/M), its requests per served tier
///   (`ServiceTierResponse`);
/// - Anthropic cache reads of requests above 200k (`ContextLength`) labelled `context="long"`.
///
/// Priced at the standard rate, batch would cost $2.50/M and priority $2.00/M, and PTUs
/// would cost nothing, with no series saying how it is billed.
#[test]
fn billing_modes_are_labelled_and_priced_as_azure_bills_them() {
    let mut acct = east();
    let mut ptu = deployment(
        "ptu-global",
        "gpt-4o",
        "2024-08-06",
        "OpenAI",
        "GlobalProvisionedManaged",
    );
    ptu.capacity = 100;
    let mut fast = deployment("fast", "gpt-4.1", "2025-04-14", "OpenAI", "GlobalStandard");
    fast.service_tier = Some("Priority".into());
    acct.deployments = vec![
        deployment("batch", "gpt-4o", "2024-08-06", "OpenAI", "GlobalBatch"),
        fast,
        deployment(
            "claude",
            "claude-haiku-4-5",
            "1",
            "Anthropic",
            "GlobalStandard",
        ),
    ];
    let t = setup(vec![acct.clone()]);
    // A reservation: the Global PTU rate of this customer.
    let prices = t.dir.path().join("prices.yaml");
    std::fs::write(
        &prices,
        "models:\n  azure:\n    provisioned/global: {provisioned_usd_per_unit_hour: 0.6}\n",
    )
    .unwrap();
    let cfg = config(
        t.dir.path(),
        &t.public,
        &t.ca,
        &[SUB],
        &format!("pricing_file: {}\n", prices.display()),
    );
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    // Created a minute before `m` (ARM `systemData.createdAt`), listed after the baseline.
    ptu.created_at = Some(m - 60);
    t.fake.state().accounts[0].deployments.push(ptu);
    let a = &acct;
    t.fake
        .add(a, "ProcessedPromptTokens", "batch", "", m, 1_000_000.0);
    t.fake
        .add(a, "ProcessedPromptTokens", "ptu-global", "", m, 1_000_000.0);
    t.fake
        .add(a, "ProcessedPromptTokens", "fast", "", m, 1_000_000.0);
    for (tier, n) in [("priority", 7.0), ("default", 3.0)] {
        t.fake.add_with(
            a,
            "AzureOpenAIRequests",
            "fast",
            &[("StatusCode", "200"), ("ServiceTierResponse", tier)],
            m,
            n,
        );
    }
    for (context, n) in [(">200K", 5_000.0), ("<=200K", 2_000.0)] {
        t.fake.add_with(
            a,
            "cacheReadInputTokens",
            "claude",
            &[("ContextLength", context)],
            m,
            n,
        );
    }
    let input = |d: &'static str| [("deployment", d), ("token_type", "input")];
    let s = exporter.wait_for("every mode counted", Duration::from_secs(60), |s| {
        sum(s, "llm_provisioned_unit_seconds_total", &[]) > 0.0
            && sum(s, "llm_tokens_total", &[("token_type", "input")]) == 3_000_000.0
            && sum(s, "llm_tokens_total", &[("token_type", "cache_read")]) == 7_000.0
            && sum(
                s,
                "llm_invocations_total",
                &[("deployment", "oai-east/fast")],
            ) == 10.0
    });
    let mode = |d: &'static str| {
        s.matching("llm_tokens_total", &input(d))
            .iter()
            .map(|x| x.1.get("billing_mode").cloned().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(mode("oai-east/batch"), ["batch"]);
    assert_eq!(mode("oai-east/ptu-global"), ["provisioned"]);
    assert_eq!(mode("oai-east/fast"), ["priority"]);
    let cost = |d: &'static str| s.value("llm_estimated_cost_usd_total", &input(d));
    assert!(
        close(cost("oai-east/batch"), 1.25),
        "{:?}",
        cost("oai-east/batch")
    );
    assert!(
        close(cost("oai-east/fast"), 3.50),
        "{:?}",
        cost("oai-east/fast")
    );
    assert_eq!(
        cost("oai-east/ptu-global"),
        None,
        "PTU tokens: no per-token cost"
    );

    // The PTUs: 100 for each minute since the deployment was created (m - 60 to the
    // current minute: 4, or 5 once another minute began), at the reservation's $0.60.
    let hours = sum(
        &s,
        "llm_provisioned_unit_seconds_total",
        &[("deployment", "oai-east/ptu-global")],
    ) / 3600.0;
    let minutes = hours / (100.0 / 60.0);
    assert!(
        (minutes - minutes.round()).abs() < 1e-9 && (4.0..=5.0).contains(&minutes.round()),
        "{hours} PTU-hours: {minutes} minutes"
    );
    let ptu_cost = s.value(
        "llm_estimated_cost_usd_total",
        &[
            ("deployment", "oai-east/ptu-global"),
            ("token_type", "provisioned"),
        ],
    );
    assert!(close(ptu_cost, hours * 0.6), "{ptu_cost:?} for {hours}");

    // Requests per served tier.
    let served = |mode: &'static str| {
        s.value(
            "llm_invocations_total",
            &[("deployment", "oai-east/fast"), ("billing_mode", mode)],
        )
    };
    assert_eq!(served("priority"), Some(7.0));
    assert_eq!(served("standard"), Some(3.0), "downgraded to standard");

    // Long context: the cache reads of requests above 200k apart.
    let reads = |context: &'static str| {
        s.value(
            "llm_tokens_total",
            &[
                ("deployment", "oai-east/claude"),
                ("token_type", "cache_read"),
                ("context", context),
            ],
        )
    };
    assert_eq!(reads("long"), Some(5_000.0));
    assert_eq!(reads("standard"), Some(2_000.0));
}
