//! The metrics data plane: back to getBatch after a refusal, every getBatch call billed, and
//! a getBatch slower than the poll interval.

use std::time::{Duration, Instant};

use crate::support::*;

const SUB: &str = "bbbbbbbb-1111-2222-3333-444444444444";

fn account() -> FakeAccount {
    FakeAccount {
        subscription: SUB.into(),
        name: "oai-east".into(),
        location: "eastus".into(),
        deployments: vec![deployment(
            "chat",
            "gpt-4o",
            "2024-08-06",
            "OpenAI",
            "GlobalStandard",
        )],
    }
}

fn input(s: &Scrape) -> Option<f64> {
    s.value(
        "llm_tokens_total",
        &[("deployment", "oai-east/chat"), ("token_type", "input")],
    )
}

fn serving(s: &Scrape, api: &str) -> Option<f64> {
    s.value(
        "llm_exporter_azure_metrics_api",
        &[("subscription", SUB), ("region", "eastus"), ("api", api)],
    )
}

/// getBatch answers 401 for a while: the exporter counts through Metrics - List, then goes
/// back to getBatch within `getbatch_retry` once it works, and again to Metrics - List when
/// it is refused again. Every minute is counted once across the switches, and one refusal
/// never stops getBatch for good.
#[test]
fn get_batch_is_tried_again_after_a_refusal_and_totals_stay_exact() {
    let t = setup(vec![account()]);
    let a = account();
    t.fake
        .state()
        .sticky
        .insert(BATCH.into(), Fault::Status(401));
    let cfg = config_with(&t, &[SUB], "", "getbatch_retry: 3s");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 180;
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat", "", m, 1_000.0);
    let s = exporter.wait_for(
        "counting through Metrics_List",
        Duration::from_secs(60),
        |s| input(s) == Some(1_000.0),
    );
    assert_eq!(serving(&s, "Metrics_List"), Some(1.0));
    assert_eq!(serving(&s, "metrics:getBatch"), Some(0.0));
    let refusals = t.fake.calls(BATCH);
    assert!(t.fake.calls(LIST) >= 2);

    // getBatch works again: a minute already counted grows, a new one arrives.
    t.fake.state().sticky.remove(BATCH);
    let healed = Instant::now();
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat", "", m, 200.0);
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat", "", m + 60, 500.0);
    let s = exporter.wait_for("back on getBatch", Duration::from_secs(30), |s| {
        serving(s, "metrics:getBatch") == Some(1.0) && input(s) == Some(1_700.0)
    });
    assert!(
        healed.elapsed() < Duration::from_secs(3 + 10),
        "getBatch resumed within getbatch_retry plus a few polls ({:?})",
        healed.elapsed()
    );
    assert_eq!(serving(&s, "Metrics_List"), Some(0.0));
    assert!(exporter.proc.log().contains("metrics:getBatch works again"));
    // A few more polls on getBatch alone: nothing counted twice.
    let lists = t.fake.calls(LIST);
    let batches = t.fake.calls(BATCH);
    wait_until("three more getBatch polls", Duration::from_secs(30), || {
        (t.fake.calls(BATCH) >= batches + 9).then_some(())
    });
    assert!(batches > refusals);
    assert_eq!(
        t.fake.calls(LIST),
        lists,
        "no Metrics - List call once getBatch works"
    );
    assert_eq!(input(&exporter.scrape()), Some(1_700.0));

    // Refused again: Metrics - List again, still exact.
    t.fake
        .state()
        .sticky
        .insert(BATCH.into(), Fault::Status(403));
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat", "", m + 60, 100.0);
    exporter.wait_for("on Metrics_List again", Duration::from_secs(30), |s| {
        serving(s, "Metrics_List") == Some(1.0) && input(s) == Some(1_800.0)
    });
    let lists = t.fake.calls(LIST);
    wait_until("three more polls", Duration::from_secs(30), || {
        (t.fake.calls(LIST) >= lists + 9).then_some(())
    });
    assert_eq!(input(&exporter.scrape()), Some(1_800.0));
}

/// Every getBatch call Azure answered is billed at `getbatch_usd_per_1000_calls`, retried ones
/// too; Metrics - List calls are not.
#[test]
fn every_get_batch_call_is_billed_at_the_configured_price() {
    let t = setup(vec![account()]);
    // One 500: the guard retries it, and Azure answered both calls.
    t.fake
        .state()
        .faults
        .entry(BATCH.into())
        .or_default()
        .push_back(Fault::Status(500));
    let cfg = config_with(&t, &[SUB], "", "getbatch_usd_per_1000_calls: 0.02");
    let exporter = start_exporter(&["--config.file", &cfg]);
    let (calls, s) = wait_until("ten polls billed", Duration::from_secs(60), || {
        let before = t.fake.calls(BATCH);
        let s = exporter.scrape();
        let after = t.fake.calls(BATCH);
        let units = s.value(
            "llm_exporter_api_billable_units_total",
            &[("api", "getBatch"), ("unit", "calls")],
        );
        (before == after && before >= 30 && units == Some(before as f64)).then_some((before, s))
    });
    let cost = s.value("llm_exporter_api_cost_usd_total", &[]).unwrap();
    assert!(
        (cost - calls as f64 * 0.00002).abs() < 1e-12,
        "{cost} for {calls} calls"
    );
    assert_eq!(t.fake.calls(LIST), 0);
    assert!(s
        .matching(
            "llm_exporter_api_billable_units_total",
            &[("api", "Metrics_List")]
        )
        .is_empty());
}

/// Azure has answered points dated `0001-01-01T00:00:00Z`: they are counted in
/// `llm_exporter_samples_rejected_total{reason="before_window"}` and logged, while the rest of
/// the answer counts: none is dropped silently.
#[test]
fn points_dated_year_one_are_counted_as_rejected_and_logged() {
    let t = setup(vec![account()]);
    let a = account();
    t.fake.state().ancient_point = Some(5.0);
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    t.fake.add(
        &a,
        "ProcessedPromptTokens",
        "chat",
        "",
        now_minute() - 120,
        1_000.0,
    );
    let s = exporter.wait_for(
        "the minute and the rejections",
        Duration::from_secs(60),
        |s| {
            input(s) == Some(1_000.0)
                && s.value(
                    "llm_exporter_samples_rejected_total",
                    &[("reason", "before_window")],
                )
                .is_some_and(|v| v >= 1.0)
        },
    );
    assert_eq!(input(&s), Some(1_000.0), "the year-one point adds nothing");
    assert!(
        exporter.proc.log().contains("dated before 1970"),
        "{}",
        exporter.proc.log()
    );
}

/// getBatch answers in 1.5 s and polls run every 1 s: a deployment's first tokens still show
/// at 0 in a published exposition before their value, so Prometheus' `increase()` counts
/// them. Held from the slow poll's start, the zero would have run out when it published, and
/// the counter would appear at its full value (500, never 0).
#[test]
fn a_get_batch_slower_than_the_poll_interval_still_shows_a_new_counter_at_zero_first() {
    let t = setup(vec![account()]);
    let a = account();
    t.fake
        .state()
        .sticky
        .insert(BATCH.into(), Fault::Hang(Duration::from_millis(1500)));
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    assert_eq!(input(&exporter.scrape()), None, "no usage yet");
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat", "", now_minute(), 500.0);
    // Every value the counter shows, in order, scraped every 50 ms.
    let mut shown: Vec<f64> = Vec::new();
    let end = Instant::now() + Duration::from_secs(60);
    while shown.last() != Some(&500.0) {
        assert!(Instant::now() < end, "timed out; shown so far: {shown:?}");
        if let Some(v) = input(&exporter.scrape()) {
            if shown.last() != Some(&v) {
                shown.push(v);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        shown,
        [0.0, 500.0],
        "published at 0 first\n{}",
        exporter.proc.log()
    );
}

/// An account without traffic is watched with two getBatch calls (requests, tokens) once per
/// `idle_poll_interval` instead of four calls every poll, and the requests and tokens of its
/// first minute of traffic are counted in full, at once. Four calls every poll would make
/// more than 40 in the 12 s below.
#[test]
fn an_idle_account_is_watched_with_two_calls_per_interval_and_its_first_traffic_counts_in_full() {
    let east = account();
    let t = setup(vec![east.clone()]);
    let cfg = config_with(&t, &[SUB], "", "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace(IDLE_WATCH, "idle_poll_interval: 6s")).unwrap();
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    // Idle: 8 s of 1 s polls make at most two watches (every 6 s, 2 s early at most), three
    // if the first falls at once.
    let (calls, started) = (t.fake.calls(BATCH), Instant::now());
    while started.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let idle_calls = t.fake.calls(BATCH) - calls;
    assert!(
        idle_calls <= 6,
        "{idle_calls} getBatch calls in 8 s for an idle account (3 watches of 2 calls at most)"
    );

    // Traffic starts while the account is idle, in a minute still open for revision.
    let m = now_minute() - 120;
    t.fake
        .add(&east, "ProcessedPromptTokens", "chat", "", m, 4_321.0);
    t.fake
        .add(&east, "AzureOpenAIRequests", "chat", "200", m, 7.0);
    t.fake
        .add(&east, "AzureOpenAIRequests", "chat", "429", m, 2.0);
    let s = exporter.wait_for("the first traffic", Duration::from_secs(30), |s| {
        input(s) == Some(4_321.0)
    });
    let invocations = s.value("llm_invocations_total", &[("deployment", "oai-east/chat")]);
    assert_eq!(invocations, Some(7.0), "requests counted in full too");
    // In use: every poll asks every query the account needs again (requests, tokens,
    // latencies; no Anthropic cache query for an account with only OpenAI deployments).
    let (calls, polls) = (
        t.fake.calls(BATCH),
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
    let busy_calls = (t.fake.calls(BATCH) - calls) as f64;
    assert!(
        busy_calls >= 3.0 * (polled - 1.0) && busy_calls <= 3.0 * (polled + 1.0),
        "{busy_calls} calls in {polled} polls of an account in use: 3 per poll"
    );
    assert_eq!(input(&s), Some(4_321.0), "and nothing counted twice");
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &[("deployment", "oai-east/chat"), ("error_type", "throttled")]
        ),
        Some(2.0)
    );
}
