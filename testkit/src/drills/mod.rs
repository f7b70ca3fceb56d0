//! The reliability drills, written once for every exporter: each takes a [`FakeCloud`] and
//! drives the real exporter binary against it. Built from the pieces in [`crate::drill`].
//!
//! - [`fault_drills`]: faults between the exporter and the cloud, and a breaker whose
//!   half-open trial meets a fault;
//! - [`restart_drills`]: kill -9 and SIGTERM at random moments with a state file;
//! - [`body_cap_drill`]: answers past `max_response_bytes`.

mod body_cap;
mod faults;
mod restarts;

pub use body_cap::{body_cap_drill, body_cap_drill_on, BODY_CAP};
pub use faults::fault_drills;
pub use restarts::restart_drills;

use crate::cloud::FakeCloud;
use crate::Scrape;

/// The input tokens of the fake's model the exporter publishes.
fn tokens<C: FakeCloud>(cloud: &C, s: &Scrape) -> Option<f64> {
    s.total("llm_tokens_total", &cloud.input_labels())
}

/// Asserts the published cost of `tokens` input tokens, where the cloud has a price.
fn assert_cost<C: FakeCloud>(cloud: &C, s: &Scrape, tokens: f64) {
    if let Some(price) = C::INPUT_PRICE {
        let cost = s
            .total("llm_estimated_cost_usd_total", &cloud.input_labels())
            .unwrap_or(0.0);
        assert!((cost - tokens * price).abs() < 1e-9, "cost {cost}");
    }
}

/// The breaker series of the calls the proxy faults, by state (0 closed, 2 open).
fn circuits<C: FakeCloud>(s: &Scrape) -> Vec<f64> {
    s.matching("llm_exporter_circuit_state", C::CIRCUIT)
        .iter()
        .map(|x| x.2)
        .collect()
}

/// Runs `a` and `b` in threads of their own and waits for both; a panic in either is
/// re-raised after both ended.
pub fn side_by_side(a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = s.spawn(b);
        let (a, b) = (a.join(), b.join());
        if let Err(e) = a.and(b) {
            std::panic::resume_unwind(e);
        }
    });
}
