//! The fault drills (`testkit::drills::fault_drills`) against the fake Cloud Monitoring and
//! the real binary: faults between them never show a decrease, never open the breaker while
//! every other request passes, the totals and cost end exact, and a breaker whose half-open
//! trial meets a fault opens again.

use crate::support::drill_cloud::GcpCloud;

#[test]
fn drill_faults_between_the_exporter_and_cloud_monitoring_never_show_a_decrease_and_end_exact() {
    testkit::drills::fault_drills::<GcpCloud>();
}
