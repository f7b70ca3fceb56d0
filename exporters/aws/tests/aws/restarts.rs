//! Restarts with a state file (`testkit::drills::restart_drills`) against the real binary and
//! LocalStack while usage keeps arriving: kill -9 and SIGTERM at random moments never show a
//! scraper a counter going backwards, and the totals end exact. One LocalStack serves both
//! loops, each with a model of its own.

use crate::support::drill_cloud::AwsCloud;

#[test]
fn kill_9_and_sigterm_restarts_never_show_a_decrease_and_totals_end_exact() {
    testkit::drills::restart_drills::<AwsCloud>();
}
