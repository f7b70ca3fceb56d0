//! Every minute Azure reports is counted once, whatever happens to the deployment listing or to
//! one of the subscription's accounts. The real binary
//! against the fake Azure.

use std::time::Duration;

use crate::support::*;

const SUB: &str = "aaaaaaaa-1111-2222-3333-444444444444";
// USD per token, from the bundled catalog (LiteLLM 1.109.1).
const GPT4O_GLOBAL_IN: f64 = 2.50e-6;
// A Standard deployment in eastus: the US Data Zone rate (`us/gpt-4.1-2025-04-14`).
const GPT41_IN: f64 = 2.20e-6;

fn account(name: &str, location: &str) -> FakeAccount {
    FakeAccount {
        subscription: SUB.into(),
        name: name.into(),
        location: location.into(),
        deployments: vec![deployment(
            "chat-prod",
            "gpt-4o",
            "2024-08-06",
            "OpenAI",
            "GlobalStandard",
        )],
    }
}

/// `llm_exporter_target_up` and friends name an account as `<subscription>/<rg>/<account>`.
fn scope(a: &FakeAccount) -> String {
    format!("{SUB}/rg-llm/{}", a.name)
}

fn input(deployment: &'static str) -> [(&'static str, &'static str); 2] {
    [("deployment", deployment), ("token_type", "input")]
}

#[test]
fn a_deployment_unknown_to_the_cached_listing_is_counted_once_with_its_model_from_its_first_minute()
{
    let east = account("oai-east", "eastus");
    let t = setup(vec![east.clone()]);
    let cfg = config_with(&t, &[SUB], "", "discovery_ttl: 4s");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    // Created after the listing was cached, used at once.
    t.fake.state().accounts[0].deployments.push(deployment(
        "fresh",
        "gpt-4.1",
        "2025-04-14",
        "OpenAI",
        "Standard",
    ));
    let m = now_minute() - 120;
    t.fake
        .add(&east, "ProcessedPromptTokens", "fresh", "", m, 10_000.0);
    let s = exporter.wait_for(
        "the new deployment's tokens",
        Duration::from_secs(60),
        |s| sum(s, "llm_tokens_total", &input("oai-east/fresh")) >= 10_000.0,
    );
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[
                ("deployment", "oai-east/fresh"),
                ("model", "gpt-4.1"),
                ("token_type", "input")
            ]
        ),
        Some(10_000.0),
        "labelled with its model from the first minute (the listing was refreshed at once)"
    );
    assert!(
        close(
            s.value("llm_estimated_cost_usd_total", &input("oai-east/fresh")),
            10_000.0 * GPT41_IN
        ),
        "and priced"
    );

    // The cached listing expires (discovery_ttl 4 s) and is read again: nothing moves.
    let arm_calls = t.fake.calls(ARM);
    wait_until(
        "the listing to be read again",
        Duration::from_secs(30),
        || (t.fake.calls(ARM) > arm_calls).then_some(()),
    );
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(
        sum(&s, "llm_tokens_total", &input("oai-east/fresh")),
        10_000.0,
        "10,000 tokens reported, 10,000 counted: {:?}",
        s.matching("llm_tokens_total", &input("oai-east/fresh"))
    );
}

#[test]
fn a_deployment_reporting_under_a_name_arm_never_lists_costs_one_listing_a_minute() {
    let east = account("oai-east", "eastus");
    let t = setup(vec![east.clone()]);
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    // A deleted deployment whose last minutes still report.
    t.fake
        .add(&east, "ProcessedPromptTokens", "deleted", "", m, 700.0);
    let before = t.fake.calls(ARM);
    let s = exporter.wait_for("the tokens", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &input("oai-east/deleted")) == Some(700.0)
    });
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[("deployment", "oai-east/deleted"), ("model", "deleted")]
        ),
        Some(700.0),
        "unknown to ARM: labelled by the deployment name"
    );
    let polls = s
        .value("llm_exporter_polls_total", &[("outcome", "success")])
        .unwrap();
    exporter.wait_for("five more polls", Duration::from_secs(30), |s| {
        s.value("llm_exporter_polls_total", &[("outcome", "success")]) >= Some(polls + 5.0)
    });
    assert_eq!(
        t.fake.calls(ARM) - before,
        1,
        "one forced listing, then none for a minute"
    );
}

#[test]
fn a_model_changed_under_the_same_deployment_name_keeps_what_was_counted() {
    let east = account("oai-east", "eastus");
    let t = setup(vec![east.clone()]);
    let cfg = config_with(&t, &[SUB], "", "discovery_ttl: 3s");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 180;
    t.fake
        .add(&east, "ProcessedPromptTokens", "chat-prod", "", m, 10_000.0);
    let old = [
        ("deployment", "oai-east/chat-prod"),
        ("model", "gpt-4o"),
        ("token_type", "input"),
    ];
    let new = [
        ("deployment", "oai-east/chat-prod"),
        ("model", "gpt-4.1"),
        ("token_type", "input"),
    ];
    exporter.wait_for("the first minute", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &old) == Some(10_000.0)
    });

    // The deployment now serves another model; its minute `m` is still open for revision.
    {
        let mut s = t.fake.state();
        let d = &mut s.accounts[0].deployments[0];
        d.model = "gpt-4.1".into();
        d.version = "2025-04-14".into();
    }
    let arm_calls = t.fake.calls(ARM);
    wait_until(
        "the listing to be read again",
        Duration::from_secs(30),
        || (t.fake.calls(ARM) > arm_calls).then_some(()),
    );
    t.fake.add(
        &east,
        "ProcessedPromptTokens",
        "chat-prod",
        "",
        m + 60,
        5_000.0,
    );
    let s = exporter.wait_for("growth under the new model", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &new) == Some(5_000.0)
    });
    std::thread::sleep(Duration::from_secs(2));
    let s2 = exporter.scrape();
    assert_eq!(s2.value("llm_tokens_total", &old), Some(10_000.0));
    assert_eq!(s2.value("llm_tokens_total", &new), Some(5_000.0));
    assert_eq!(
        sum(&s2, "llm_tokens_total", &input("oai-east/chat-prod")),
        15_000.0,
        "each minute once: {:?}",
        s.matching("llm_tokens_total", &input("oai-east/chat-prod"))
    );
    assert!(close(
        s2.value(
            "llm_estimated_cost_usd_total",
            &[("model", "gpt-4o"), ("token_type", "input")]
        ),
        10_000.0 * GPT4O_GLOBAL_IN
    ));
}

#[test]
fn one_failing_account_never_holds_back_the_others() {
    let (a, b, c) = (
        account("oai-east", "eastus"),
        account("oai-east2", "eastus"),
        account("foundry-se", "swedencentral"),
    );
    let t = setup(vec![a.clone(), b.clone(), c.clone()]);
    // Metrics_List (getBatch refused): one call per account, so one account can fail alone.
    t.fake
        .state()
        .sticky
        .insert(BATCH.into(), Fault::Status(403));
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    t.fake.state().resource_faults.insert(
        a.name.clone(),
        ("InternalServerError".into(), "injected".into()),
    );
    let m = now_minute() - 120;
    for (acct, n) in [(&a, 1_000.0), (&b, 2_000.0), (&c, 3_000.0)] {
        t.fake
            .add(acct, "ProcessedPromptTokens", "chat-prod", "", m, n);
    }
    let up = |s: &Scrape, x: &FakeAccount| {
        s.value("llm_exporter_target_up", &[("target", scope(x).as_str())])
    };
    let tokens = |s: &Scrape, x: &FakeAccount| {
        s.value(
            "llm_tokens_total",
            &[("region", x.location.as_str()), ("token_type", "input")],
        )
    };
    let s = exporter.wait_for(
        "the failing account's breaker to open while the others count",
        Duration::from_secs(90),
        |s| {
            s.value(
                "llm_exporter_circuit_state",
                &[("api", "Metrics_List"), ("target", scope(&a).as_str())],
            ) == Some(2.0)
                && sum(s, "llm_tokens_total", &[("token_type", "input")]) == 5_000.0
        },
    );
    assert_eq!(up(&s, &a), Some(0.0), "the failing account is named");
    assert_eq!(up(&s, &b), Some(1.0));
    assert_eq!(up(&s, &c), Some(1.0));
    assert_eq!(
        s.value(
            "llm_exporter_circuit_state",
            &[("api", "Metrics_List"), ("target", scope(&b).as_str())]
        ),
        Some(0.0),
        "the same region's healthy account keeps its own breaker closed"
    );
    assert_eq!(tokens(&s, &c), Some(3_000.0));
    assert!(
        exporter.proc.log().contains(&scope(&a)),
        "the log names the failing scope"
    );
    // The healthy account in the failing one's region goes on counting.
    t.fake
        .add(&b, "ProcessedPromptTokens", "chat-prod", "", m + 60, 500.0);
    exporter.wait_for(
        "more from the healthy account",
        Duration::from_secs(30),
        |s| sum(s, "llm_tokens_total", &[("token_type", "input")]) == 5_500.0,
    );

    // The fault clears: the failing account's window is fetched again, nothing is lost.
    t.fake.state().resource_faults.clear();
    let s = exporter.wait_for(
        "the failing account to recover",
        Duration::from_secs(90),
        |s| {
            up(s, &a) == Some(1.0)
                && sum(s, "llm_tokens_total", &[("token_type", "input")]) == 6_500.0
        },
    );
    assert_eq!(s.value("llm_exporter_up", &[]), Some(1.0));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        sum(
            &exporter.scrape(),
            "llm_tokens_total",
            &[("token_type", "input")]
        ),
        6_500.0,
        "every minute once"
    );
}

#[test]
fn one_account_failing_inside_its_regions_batch_holds_back_no_other() {
    // getBatch serves both accounts of eastus in one call; Azure fails one of them per metric
    // inside the 200 answer.
    let (a, b) = (
        account("oai-east", "eastus"),
        account("oai-east2", "eastus"),
    );
    let t = setup(vec![a.clone(), b.clone()]);
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    t.fake.state().resource_faults.insert(
        a.name.clone(),
        (
            "ResourceNotAvailable".into(),
            "The metrics of this resource are unavailable".into(),
        ),
    );
    let m = now_minute() - 120;
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat-prod", "", m, 1_000.0);
    t.fake
        .add(&b, "ProcessedPromptTokens", "chat-prod", "", m, 2_000.0);
    let (ta, tb) = (scope(&a), scope(&b));
    let s = exporter.wait_for(
        "the healthy account to count",
        Duration::from_secs(60),
        |s| {
            sum(s, "llm_tokens_total", &[("token_type", "input")]) == 2_000.0
                && s.value("llm_exporter_target_up", &[("target", ta.as_str())]) == Some(0.0)
        },
    );
    assert_eq!(
        s.value("llm_exporter_target_up", &[("target", tb.as_str())]),
        Some(1.0)
    );
    assert_eq!(
        s.value(
            "llm_exporter_circuit_state",
            &[
                ("api", "metrics:getBatch"),
                ("target", format!("{SUB}/eastus").as_str())
            ]
        ),
        Some(0.0),
        "the region's calls succeed: its breaker stays closed"
    );
    assert!(exporter
        .proc
        .log()
        .contains("The metrics of this resource are unavailable"));
    t.fake.state().resource_faults.clear();
    exporter.wait_for(
        "the failing account to recover",
        Duration::from_secs(60),
        |s| sum(s, "llm_tokens_total", &[("token_type", "input")]) == 3_000.0,
    );
}

#[test]
fn an_error_inside_a_successful_answer_fails_the_account_until_it_clears() {
    let east = account("oai-east", "eastus");
    let t = setup(vec![east.clone()]);
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let message = "Metric query failed on the back end";
    t.fake.state().metric_errors.insert(
        "ProcessedPromptTokens".into(),
        ("InternalServerError".into(), message.into()),
    );
    let m = now_minute() - 120;
    t.fake
        .add(&east, "ProcessedPromptTokens", "chat-prod", "", m, 10_000.0);
    t.fake
        .add(&east, "GeneratedTokens", "chat-prod", "", m, 2_000.0);
    let target = scope(&east);
    let s = exporter.wait_for("the account's poll to fail", Duration::from_secs(60), |s| {
        s.value("llm_exporter_target_up", &[("target", target.as_str())]) == Some(0.0)
    });
    assert_eq!(
        sum(
            &s,
            "llm_tokens_total",
            &[("deployment", "oai-east/chat-prod")]
        ),
        0.0,
        "nothing of the failed window is counted"
    );
    let log = exporter.proc.log();
    assert!(
        log.contains("ProcessedPromptTokens") && log.contains(message),
        "the log names the metric and Azure's message"
    );

    t.fake.state().metric_errors.clear();
    exporter.wait_for("the window fetched again", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &input("oai-east/chat-prod")) == Some(10_000.0)
            && s.value(
                "llm_tokens_total",
                &[
                    ("deployment", "oai-east/chat-prod"),
                    ("token_type", "output"),
                ],
            ) == Some(2_000.0)
    });
}

#[test]
fn an_account_created_after_start_up_is_counted_from_when_it_is_first_listed() {
    let east = account("oai-east", "eastus");
    let t = setup(vec![east.clone()]);
    let cfg = config_with(&t, &[SUB], "", "discovery_ttl: 3s");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    // Created and used before the cached listing knows it.
    let late = account("oai-late", "eastus");
    let m = now_minute() - 120;
    t.fake
        .add(&late, "ProcessedPromptTokens", "chat-prod", "", m, 4_000.0);
    t.fake.state().accounts.push(late.clone());
    let target = scope(&late);
    let s = exporter.wait_for("its tokens", Duration::from_secs(60), |s| {
        sum(s, "llm_tokens_total", &[("token_type", "input")]) == 4_000.0
    });
    assert_eq!(
        s.value("llm_exporter_target_up", &[("target", target.as_str())]),
        Some(1.0)
    );
}

#[test]
fn a_failing_account_listing_fails_every_account_and_clears_when_it_recovers() {
    let east = account("oai-east", "eastus");
    let t = setup(vec![east.clone()]);
    t.fake.state().sticky.insert(ARM.into(), Fault::Status(500));
    let cfg = config_with(&t, &[SUB], "", "discovery_ttl: 3s");
    let exporter = start_exporter(&["--config.file", &cfg]);
    let (sub, acct) = (SUB.to_string(), scope(&east));
    let up = |s: &Scrape, target: &str| s.value("llm_exporter_target_up", &[("target", target)]);
    let s = exporter.wait_for("the subscription to fail", Duration::from_secs(60), |s| {
        up(s, &sub) == Some(0.0)
    });
    assert_eq!(s.value("llm_exporter_up", &[]), Some(0.0));

    t.fake.state().sticky.clear();
    exporter.wait_for("recovery", Duration::from_secs(90), |s| {
        up(s, &sub) == Some(1.0) && up(s, &acct) == Some(1.0)
    });
    // Known accounts fail with the listing (its cache expires after 2 s).
    t.fake.state().sticky.insert(ARM.into(), Fault::Status(500));
    exporter.wait_for(
        "the account to fail with the listing",
        Duration::from_secs(60),
        |s| up(s, &sub) == Some(0.0) && up(s, &acct) == Some(0.0),
    );
    t.fake.state().sticky.clear();
    let m = now_minute() - 120;
    t.fake
        .add(&east, "ProcessedPromptTokens", "chat-prod", "", m, 800.0);
    exporter.wait_for("both up and counting", Duration::from_secs(90), |s| {
        up(s, &sub) == Some(1.0)
            && up(s, &acct) == Some(1.0)
            && s.value("llm_tokens_total", &input("oai-east/chat-prod")) == Some(800.0)
    });
}

/// Two accounts of one subscription and region, each with a deployment named `chat-prod` (one
/// Global, one Data Zone): two series, each with its own tokens and its own price, never one
/// series `deployment="chat-prod"` holding both (3,000 tokens) at one of the two prices.
#[test]
fn same_name_deployments_of_two_accounts_are_two_series_with_their_own_price() {
    let a = account("oai-east", "eastus");
    let mut b = account("oai-east2", "eastus");
    b.deployments[0].sku = "DataZoneStandard".into();
    let t = setup(vec![a.clone(), b.clone()]);
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat-prod", "", m, 1_000.0);
    t.fake
        .add(&b, "ProcessedPromptTokens", "chat-prod", "", m, 2_000.0);
    let s = exporter.wait_for("both minutes", Duration::from_secs(60), |s| {
        sum(s, "llm_tokens_total", &[("token_type", "input")]) == 3_000.0
    });
    assert_eq!(
        s.value("llm_tokens_total", &input("oai-east/chat-prod")),
        Some(1_000.0)
    );
    assert_eq!(
        s.value("llm_tokens_total", &input("oai-east2/chat-prod")),
        Some(2_000.0)
    );
    let cost = |d| s.value("llm_estimated_cost_usd_total", &input(d));
    assert!(close(cost("oai-east/chat-prod"), 1_000.0 * GPT4O_GLOBAL_IN));
    // The US Data Zone rate of gpt-4o-2024-08-06 (`us/...`), 10 % above Global.
    assert!(close(cost("oai-east2/chat-prod"), 2_000.0 * 2.75e-6));
}

/// A deployment re-created under the same name with another SKU (pay-as-you-go to PTU, and
/// back) while its minutes are still open keeps what it counted: its billing mode is a label,
/// not its identity. Were the mode its identity, the open minute would count again under the
/// new mode (10,000 tokens reported, 20,000 counted; and 1,000,000 tokens counted as
/// provisioned would become $2.50 of new pay-as-you-go cost when the deployment goes back to
/// Global Standard).
#[test]
fn a_deployment_recreated_with_another_sku_counts_its_open_minutes_once() {
    let east = account("oai-east", "eastus");
    let t = setup(vec![east.clone()]);
    let cfg = config_with(&t, &[SUB], "", "discovery_ttl: 3s");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let tokens = |s: &Scrape| sum(s, "llm_tokens_total", &input("oai-east/chat-prod"));
    let token_cost = |s: &Scrape| {
        sum(
            s,
            "llm_estimated_cost_usd_total",
            &input("oai-east/chat-prod"),
        )
    };
    let set_sku = |sku: &str| {
        t.fake.state().accounts[0].deployments[0].sku = sku.into();
        let calls = t.fake.calls(ARM);
        wait_until("the listing read again", Duration::from_secs(30), || {
            (t.fake.calls(ARM) >= calls + 2).then_some(())
        });
    };

    // Pay-as-you-go, then re-created as provisioned while minute `m` is open.
    let m = now_minute() - 120;
    t.fake
        .add(&east, "ProcessedPromptTokens", "chat-prod", "", m, 10_000.0);
    exporter.wait_for("the standard minute", Duration::from_secs(60), |s| {
        tokens(s) == 10_000.0
    });
    set_sku("GlobalProvisionedManaged");
    let s = exporter.wait_for("provisioned labels", Duration::from_secs(30), |s| {
        !s.matching(
            "llm_provisioned_unit_seconds_total",
            &[("deployment", "oai-east/chat-prod")],
        )
        .is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    let s2 = exporter.scrape();
    assert_eq!(tokens(&s2), 10_000.0, "counted once: {:?}", s.text);
    assert!(
        (token_cost(&s2) - 10_000.0 * GPT4O_GLOBAL_IN).abs() < 1e-12,
        "the standard minute keeps its cost"
    );

    // Provisioned: a new minute counted, not priced per token; then back to Global Standard
    // while that minute is open.
    t.fake.add(
        &east,
        "ProcessedPromptTokens",
        "chat-prod",
        "",
        m + 60,
        1_000_000.0,
    );
    exporter.wait_for("the provisioned minute", Duration::from_secs(60), |s| {
        tokens(s) == 1_010_000.0
    });
    assert_eq!(
        exporter.scrape().value(
            "llm_tokens_total",
            &[
                ("deployment", "oai-east/chat-prod"),
                ("token_type", "input"),
                ("billing_mode", "provisioned")
            ]
        ),
        Some(1_000_000.0)
    );
    set_sku("GlobalStandard");
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(tokens(&s), 1_010_000.0, "counted once");
    assert!(
        (token_cost(&s) - 10_000.0 * GPT4O_GLOBAL_IN).abs() < 1e-12,
        "no $2.50 invented for the provisioned minute: {}",
        token_cost(&s)
    );
}
