//! Restarts with a state file, against the real binary and the fake Azure: kill -9 and SIGTERM
//! at random moments while usage keeps arriving (`testkit::drills::restart_drills`) never show
//! a scraper a counter going backwards, and the totals end exact; a deployment refused by
//! `max_series` counts in full after a restart with room; an account created while the
//! exporter is down counts from its first minute.

use std::time::Duration;

use crate::support::drill_cloud::{account, AzureCloud, SUB};
use crate::support::*;
use testkit::drill;

const GPT4O_GLOBAL_IN: f64 = 2.50e-6;
const INPUT: [(&str, &str); 2] = [
    ("deployment", "oai-east/chat-prod"),
    ("token_type", "input"),
];

#[test]
fn kill_9_and_sigterm_restarts_never_show_a_decrease_and_totals_end_exact() {
    testkit::drills::restart_drills::<AzureCloud>();
}

/// A deployment refused by `max_series` counts in full once room appears: after a restart
/// with a larger `max_series`, its minutes before the restored horizon are fetched again (from
/// when counting started) and counted, while the admitted deployment's are not counted twice.
/// Before: Azure fetched every account from its horizon only, so the refused minutes were
/// lost (1,000 of 2,000 tokens counted).
#[test]
fn a_deployment_refused_by_max_series_counts_in_full_after_a_restart_with_room() {
    let mut east = account();
    east.deployments.push(deployment(
        "chat-b",
        "gpt-4o",
        "2024-08-06",
        "OpenAI",
        "GlobalStandard",
    ));
    let t = setup(vec![east.clone()]);
    let state = t.dir.path().join("azure.state");
    let cfg = |max_series: usize| {
        config(
            t.dir.path(),
            &t.public,
            &t.ca,
            &[SUB],
            &format!(
                "state_file: {}\nlookback: 1m\nmax_series: {max_series}\n",
                state.display()
            ),
        )
    };
    // Room for one deployment's token series.
    let small = cfg(1);
    let mut exporter = start_exporter(&["--config.file", &small]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 60;
    for d in ["chat-prod", "chat-b"] {
        t.fake
            .add(&east, "ProcessedPromptTokens", d, "", m, 1_000.0);
    }
    let tokens = |s: &Scrape| sum(s, "llm_tokens_total", &[("token_type", "input")]);
    exporter.wait_for("one admitted, one refused", Duration::from_secs(60), |s| {
        tokens(s) == 1_000.0
            && s.value("llm_exporter_series_dropped_total", &[])
                .is_some_and(|v| v >= 1.0)
    });
    // Minute `m` leaves the lookback (final from then on), then the exporter stops.
    wait_until("minute m to be final", Duration::from_secs(150), || {
        (now_minute() >= m + 120).then_some(())
    });
    let polls = |s: &Scrape| s.value("llm_exporter_polls_total", &[("outcome", "success")]);
    let before = polls(&exporter.scrape()).unwrap_or(0.0);
    exporter.wait_for("two polls after that", Duration::from_secs(30), |s| {
        polls(s).is_some_and(|p| p >= before + 2.0)
    });
    assert_eq!(tokens(&exporter.scrape()), 1_000.0);
    exporter.proc.stop();

    let exporter = start_exporter(&["--config.file", &cfg(100)]);
    let s = exporter.wait_for("the refused minute counted", Duration::from_secs(60), |s| {
        tokens(s) == 2_000.0
    });
    for d in ["oai-east/chat-prod", "oai-east/chat-b"] {
        assert_eq!(
            s.value(
                "llm_tokens_total",
                &[("deployment", d), ("token_type", "input")]
            ),
            Some(1_000.0),
            "{d}"
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tokens(&exporter.scrape()), 2_000.0, "each minute once");
}

/// An account created and used while the exporter is stopped is new to the restored state:
/// its first minutes count. Before: its first poll was a baseline (0 of 5,000 counted).
#[test]
fn an_account_created_during_a_restart_counts_from_its_first_minute() {
    let east = account();
    let t = setup(vec![east.clone()]);
    let state = t.dir.path().join("azure.state");
    let cfg = config(
        t.dir.path(),
        &t.public,
        &t.ca,
        &[SUB],
        &format!("state_file: {}\n", state.display()),
    );
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    t.fake.add(
        &east,
        "ProcessedPromptTokens",
        "chat-prod",
        "",
        now_minute(),
        100.0,
    );
    exporter.wait_for("east counted", Duration::from_secs(60), |s| {
        sum(s, "llm_tokens_total", &INPUT) == 100.0
    });
    drill::sigterm(exporter);

    let west = FakeAccount {
        name: "oai-west".into(),
        deployments: vec![deployment(
            "chat-west",
            "gpt-4o",
            "2024-08-06",
            "OpenAI",
            "GlobalStandard",
        )],
        ..account()
    };
    t.fake.state().accounts.push(west.clone());
    t.fake.add(
        &west,
        "ProcessedPromptTokens",
        "chat-west",
        "",
        now_minute(),
        5_000.0,
    );
    let exporter = start_exporter(&["--config.file", &cfg]);
    let west_input = [
        ("deployment", "oai-west/chat-west"),
        ("token_type", "input"),
    ];
    let s = exporter.wait_for("west counted", Duration::from_secs(30), |s| {
        sum(s, "llm_tokens_total", &west_input) == 5_000.0
    });
    assert_eq!(sum(&s, "llm_tokens_total", &INPUT), 100.0, "east unchanged");
    let cost = sum(&s, "llm_estimated_cost_usd_total", &west_input);
    assert!(
        (cost - 5_000.0 * GPT4O_GLOBAL_IN).abs() < 1e-9,
        "cost {cost}"
    );
}
