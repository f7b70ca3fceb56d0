//! A minute given twice in one Azure answer: repeats of the same metric and
//! dimension values are dropped, distinct dimension values (status codes) are summed.

use std::time::Duration;

use crate::support::*;

const SUB: &str = "dddddddd-1111-2222-3333-444444444444";

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

/// Every time series answered twice: each minute is counted once, and the 200 and 429 slices
/// of a minute still add up; summing the repeated series would count 2,000 tokens for 1,000.
#[test]
fn a_series_given_twice_is_counted_once_and_status_slices_still_add_up() {
    let t = setup(vec![account()]);
    let a = account();
    t.fake.state().repeat_series = true;
    let cfg = config(t.dir.path(), &t.public, &t.ca, &[SUB], "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 180;
    t.fake
        .add(&a, "ProcessedPromptTokens", "chat", "", m, 1_000.0);
    t.fake.add(&a, "AzureOpenAIRequests", "chat", "200", m, 3.0);
    t.fake.add(&a, "AzureOpenAIRequests", "chat", "500", m, 1.0);
    t.fake.add(&a, "AzureOpenAIRequests", "chat", "429", m, 2.0);
    let polls = t.fake.calls(BATCH);
    exporter.wait_for("the minute counted", Duration::from_secs(60), |s| {
        s.value(
            "llm_tokens_total",
            &[("deployment", "oai-east/chat"), ("token_type", "input")],
        )
        .is_some()
    });
    wait_until("three more polls", Duration::from_secs(30), || {
        (t.fake.calls(BATCH) >= polls + 9).then_some(())
    });
    let s = exporter.scrape();
    assert_eq!(
        s.value(
            "llm_tokens_total",
            &[("deployment", "oai-east/chat"), ("token_type", "input")]
        ),
        Some(1_000.0)
    );
    assert_eq!(
        sum(
            &s,
            "llm_invocations_total",
            &[("deployment", "oai-east/chat")]
        ),
        4.0,
        "200 and 500 slices summed, each once"
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &[("deployment", "oai-east/chat"), ("error_type", "throttled")]
        ),
        Some(2.0)
    );
    assert_eq!(
        s.value(
            "llm_invocation_errors_total",
            &[("deployment", "oai-east/chat"), ("error_type", "server")]
        ),
        Some(1.0)
    );
    assert!(
        s.value(
            "llm_exporter_samples_rejected_total",
            &[("reason", "duplicate")]
        )
        .is_some_and(|n| n >= 1.0),
        "the dropped repeats are counted: {}",
        s.text
    );
    let log = exporter.proc.log();
    assert!(
        log.contains("the repeats were dropped, not summed"),
        "{log}"
    );
    assert!(
        log.matches("the repeats were dropped").count() <= 2,
        "logged at most once a minute"
    );
}
