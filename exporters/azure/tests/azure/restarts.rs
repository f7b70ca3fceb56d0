//! Restarts with a state file, against the real binary and the fake Azure while usage keeps
//! arriving: kill -9 and SIGTERM at random moments never show a scraper a counter
//! going backwards, and the totals end exact; an account created while the exporter is down
//! counts from its first minute.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use testkit::drill;

const SUB: &str = "aaaaaaaa-1111-2222-3333-444444444444";
const GPT4O_GLOBAL_IN: f64 = 2.50e-6;
const INPUT: [(&str, &str); 2] = [
    ("deployment", "oai-east/chat-prod"),
    ("token_type", "input"),
];

fn account() -> FakeAccount {
    FakeAccount {
        subscription: SUB.into(),
        name: "oai-east".into(),
        location: "eastus".into(),
        deployments: vec![deployment(
            "chat-prod",
            "gpt-4o",
            "2024-08-06",
            "OpenAI",
            "GlobalStandard",
        )],
    }
}

/// Restarts `times` times by `stop` while 7 tokens arrive every 100 ms and a scraper checks
/// every 20 ms that no counter goes down; then the totals must equal the truth exactly.
fn restart_drill(what: &str, times: usize, stop: fn(Exporter)) {
    let started = Instant::now();
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
    // Usage before start-up is the baseline.
    let m = now_minute() - 120;
    t.fake
        .add(&east, "ProcessedPromptTokens", "chat-prod", "", m, 1_000.0);
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let truth = Arc::new(AtomicI64::new(0));
    let ticker = {
        let (fake, truth) = (t.fake.clone(), truth.clone());
        drill::Ticker::start(Duration::from_millis(100), move || {
            fake.add(
                &east,
                "ProcessedPromptTokens",
                "chat-prod",
                "",
                now_minute(),
                7.0,
            );
            truth.fetch_add(7, Ordering::AcqRel);
        })
    };
    let (exporter, scraper) = drill::restart_loop(exporter, times, stop, || {
        start_exporter(&["--config.file", &cfg])
    });
    ticker.stop();
    // Decreases first: a restart that lost counts shows here before the totals do.
    scraper.figures().assert_clean();
    let truth = truth.load(Ordering::Acquire) as f64;
    let s = exporter.wait_for(
        "exact totals after the last restart",
        Duration::from_secs(60),
        |s| sum(s, "llm_tokens_total", &INPUT) == truth,
    );
    let cost = sum(&s, "llm_estimated_cost_usd_total", &INPUT);
    assert!((cost - truth * GPT4O_GLOBAL_IN).abs() < 1e-9, "cost {cost}");
    let figures = scraper.stop();
    eprintln!(
        "DRILL azure {what} loop: {times} restarts, {}; total {truth} = truth {truth}; {:.1?} wall",
        figures.line(),
        started.elapsed()
    );
    figures.assert_clean();
}

#[test]
fn kill_9_at_random_moments_never_shows_a_decrease_and_totals_end_exact() {
    restart_drill("kill -9", 8, drill::kill_9);
}

#[test]
fn sigterm_restarts_never_show_a_decrease_and_totals_end_exact() {
    restart_drill("SIGTERM", 8, drill::sigterm);
}

/// A deployment refused by `max_series` counts in full once room appears: after a restart
/// with a larger `max_series`, its minutes before the restored horizon are fetched again (from
/// when counting started) and counted, while the admitted deployment's are not counted twice.
/// Fetching every account from its horizon only would lose the refused minutes (1,000 of
/// 2,000 tokens counted).
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
/// its first minutes count; as a baseline, its first poll would count 0 of 5,000.
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
