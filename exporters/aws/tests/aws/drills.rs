//! The fault drills (`testkit::drills::fault_drills`) against LocalStack's CloudWatch, the
//! real binary and the real AWS SDK: faults between them never show a decrease, the totals end
//! exact, and a breaker whose half-open trial meets a fault opens again. One LocalStack serves
//! both drills, each with a model of its own.

use crate::support::drill_cloud::AwsCloud;

#[test]
fn drill_faults_between_the_exporter_and_cloudwatch_never_show_a_decrease_and_end_exact() {
    testkit::drills::fault_drills::<AwsCloud>();
}
