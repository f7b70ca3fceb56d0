//! The REST API against the live stack: every endpoint, for each tenant, equals the same
//! PromQL asked of Prometheus directly.

use serde_json::json;

use crate::stack::expect::{check, rest_paths};
use crate::stack::{stack, KEY_RESEARCH, KEY_SUPPORT};

#[test]
fn every_rest_answer_equals_prometheus_for_each_tenant() {
    let s = stack();
    let gw = s.gw();
    for (tenant, key) in [("support", KEY_SUPPORT), ("research", KEY_RESEARCH)] {
        let e = s.expect(tenant);
        for (what, path) in rest_paths(&s) {
            let body = gw.ok(key, &path);
            assert_eq!(body["clouds_failed"], json!([]), "{what}: {body}");
            check(&s, &e, what, &body);
        }
    }
    s.assert_read_only();
}
