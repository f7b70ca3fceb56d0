//! One-hour and five-minute cache writes, which Azure reports apart for Anthropic deployments
//! (`ephemeral1hInputTokens`, `ephemeral5mInputTokens`), are each priced at their own rate.
//! The real binary against the fake Azure.

use std::time::Duration;

use crate::support::*;

const SUB: &str = "aaaaaaaa-1111-2222-3333-444444444444";
// azure_ai/claude-haiku-4-5 in the bundled catalog: cache_write is the five-minute rate.
const HAIKU_CACHE_WRITE_5M: f64 = 1.25e-6;
// Its one-hour cache write (the catalog's cache_write_1h): twice the input rate.
const HAIKU_CACHE_WRITE_1H: f64 = 2.0e-6;

#[test]
fn one_hour_and_five_minute_cache_writes_are_priced_at_their_own_rates() {
    let foundry = FakeAccount {
        subscription: SUB.into(),
        name: "foundry-se".into(),
        location: "swedencentral".into(),
        deployments: vec![deployment(
            "claude",
            "claude-haiku-4-5",
            "1",
            "Anthropic",
            "GlobalStandard",
        )],
    };
    let t = setup(vec![foundry.clone()]);
    let cfg = config_with(&t, &[SUB], "", "");
    let exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute() - 120;
    t.fake
        .add(&foundry, "ephemeral5mInputTokens", "claude", "", m, 1_000.0);
    t.fake
        .add(&foundry, "ephemeral1hInputTokens", "claude", "", m, 3_000.0);
    let write = [
        ("deployment", "foundry-se/claude"),
        ("token_type", "cache_write"),
    ];
    let s = exporter.wait_for("the cache writes", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &write) == Some(4_000.0)
    });
    assert!(
        close(
            s.value("llm_estimated_cost_usd_total", &write),
            1_000.0 * HAIKU_CACHE_WRITE_5M + 3_000.0 * HAIKU_CACHE_WRITE_1H
        ),
        "each tier at its own rate: {:?}",
        s.value("llm_estimated_cost_usd_total", &write)
    );
}
