//! The fault drills (`testkit::drills::fault_drills`) against the fake Azure (over TLS) and
//! the real binary: faults between them on every call (token, ARM, `metrics:getBatch`) never
//! show a decrease, the totals and cost end exact, and a breaker whose half-open trial meets a
//! fault opens again.

use crate::support::drill_cloud::AzureCloud;

#[test]
fn drill_faults_between_the_exporter_and_azure_monitor_never_show_a_decrease_and_end_exact() {
    testkit::drills::fault_drills::<AzureCloud>();
}
