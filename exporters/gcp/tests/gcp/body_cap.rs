//! What is read from Cloud Monitoring is bounded by `max_response_bytes`
//! (`testkit::drills::body_cap_drill`): a body past the cap fails the call naming the key, the
//! exporter keeps serving, memory stays bounded even when the body never ends, and polling
//! recovers when answers are sane again.

use crate::support::drill_cloud::GcpCloud;

#[test]
fn bodies_past_max_response_bytes_fail_the_call_and_memory_stays_bounded() {
    testkit::drills::body_cap_drill::<GcpCloud>();
}
