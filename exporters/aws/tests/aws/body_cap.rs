//! `max_response_bytes` bounds what is read from an AWS response
//! (`testkit::drills::body_cap_drill`): the real binary against LocalStack behind a proxy that
//! makes GetMetricData answers large, once with Content-Length and once streamed without it;
//! under the default cap the same large answers are read.

use std::time::Duration;

use crate::support::drill_cloud::AwsCloud;
use crate::support::*;
use testkit::cloud::{FakeCloud, Oversize};

/// Beside it on the same LocalStack, the same 1 MiB answers (the real answer, padded) under
/// the default cap (64 MiB) are read: the first poll is the baseline, then new usage counts.
#[test]
fn an_answer_over_max_response_bytes_fails_the_call_and_the_process_stays_healthy() {
    let host = AwsCloud::host();
    testkit::drills::side_by_side(
        || testkit::drills::body_cap_drill_on::<AwsCloud>(&host, 0),
        || a_megabyte_is_read_under_the_default_cap(&host),
    );
}

fn a_megabyte_is_read_under_the_default_cap(host: &LocalStack) {
    let cloud = AwsCloud::start(host, 1);
    cloud.set_oversize(Some(Oversize::Sized(1 << 20)));
    cloud.add_baseline();
    let exporter = cloud.start_exporter(&cloud.config("", None));
    let success = |s: &Scrape| {
        s.value(
            "llm_exporter_api_requests_total",
            &[("api", "GetMetricData"), ("outcome", "success")],
        )
        .unwrap_or(0.0)
    };
    exporter.wait_for("a successful poll", Duration::from_secs(60), |s| {
        success(s) >= 1.0 && cloud.baseline_seen(s)
    });
    cloud.feed()(100);
    exporter.wait_for("the new usage", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &cloud.input_labels()) == Some(100.0)
    });
}
