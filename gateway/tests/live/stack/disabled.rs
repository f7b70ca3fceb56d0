//! A cloud a tenant disabled is never queried for it, and stays disabled across a restart;
//! only the admin enables a cloud for another tenant. On a gateway and proxies of the test's
//! own, so that the proxy counts only this test's queries.

use serde_json::json;

use crate::stack::{stack, KEY_ADMIN, KEY_RESEARCH, KEY_SUPPORT};
use crate::support::{start_gateway, Gw};

#[test]
fn a_disabled_cloud_is_never_queried_and_stays_disabled_after_a_restart() {
    let s = stack();
    let dir = tempfile::tempdir().unwrap();
    let proxies = s.own_proxies();
    let (mut gateway, config) = s.own_gateway(dir.path(), &proxies);
    let gw = Gw { g: &gateway };
    let today = &s.today;
    let (status, body) = gw.post(KEY_SUPPORT, "/api/v1/clouds/azure/disable");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled_clouds"], json!(["azure"]));
    let azure = &proxies[1];
    let before = azure.queries();
    let body = gw.ok(KEY_SUPPORT, "/api/v1/costs/summary?window=4m");
    assert_eq!(body["clouds_disabled"], json!(["azure"]), "{body}");
    assert!(!body["clouds_queried"]
        .as_array()
        .unwrap()
        .contains(&json!("azure")));
    assert!(body["by_cloud"].get("azure").is_none(), "{body}");
    assert_eq!(
        azure.queries(),
        before,
        "support's disabled azure was queried"
    );
    gw.ok(KEY_RESEARCH, "/api/v1/costs/summary?window=4m");
    assert_eq!(
        azure.queries(),
        before + 1,
        "research still queries azure (and the proxy counts)"
    );
    gateway.proc.stop();
    let gateway = start_gateway(&config);
    let gw = Gw { g: &gateway };
    let before = azure.queries();
    let body = gw.ok(KEY_SUPPORT, "/api/v1/costs/summary?window=3m");
    assert_eq!(
        body["clouds_disabled"],
        json!(["azure"]),
        "after a restart: {body}"
    );
    let body = gw.ok(
        KEY_SUPPORT,
        &format!("/api/v1/costs/daily?start_date={today}&end_date={today}"),
    );
    assert!(body["days"][0]["by_cloud"].get("azure").is_none(), "{body}");
    assert_eq!(azure.queries(), before);
    assert_eq!(
        gw.post(KEY_RESEARCH, "/api/v1/clouds/gcp/enable?tenant_id=support")
            .0,
        403
    );
    assert_eq!(
        gw.post(KEY_ADMIN, "/api/v1/clouds/azure/enable?tenant_id=support")
            .0,
        200
    );
    let body = gw.ok(KEY_SUPPORT, "/api/v1/costs/summary?window=3m");
    assert_eq!(body["clouds_disabled"], json!([]), "{body}");
    assert_eq!(azure.queries(), before + 1);

    for p in &proxies {
        p.assert_read_only();
    }
}
