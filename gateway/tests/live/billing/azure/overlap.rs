//! Exports of overlapping scopes in one Azurite folder (a billing account's and a
//! subscription's, both holding the subscription's charges): each subscription is billed
//! once; an export of another subscription still counts.

use super::*;

#[test]
fn billing_azure_overlapping_exports_bill_a_subscription_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = |m: u32, dd: u32| NaiveDate::from_ymd_opt(2026, m, dd).unwrap();
    let gpt = |dt: NaiveDate, sub: &str, cost: f64| {
        openai(dt, sub, cost, "gpt 4o 0513 Input global Tokens", "t")
    };
    let blob_dir = d.join("blob");
    let account = "/providers/Microsoft.Billing/billingAccounts/1234567";
    let export = |name: &str, scope: &str, runs: Value| {
        generate(
            d,
            json!({"cloud": "azure", "dir": blob_dir, "container": "exports", "root": "costs",
                   "export": name, "scope": scope, "layout": "focus", "file_format": "csv",
                   "runs": runs}),
        );
    };
    // The billing account's month-to-date export, run on October 9th: S1's 3rd and 4th.
    export(
        "all",
        account,
        runs(
            &[gpt(day(10, 3), S1, 5.0), gpt(day(10, 4), S1, 7.0)],
            "run-all",
            "2026-10-09T06:00:00Z",
        ),
    );
    // S1's own export: October run on the 8th (the 3rd only), and September, which the
    // billing account's export does not hold.
    let s1_scope = format!("/subscriptions/{S1}");
    export(
        "sub1",
        &s1_scope,
        runs(
            &[gpt(day(10, 3), S1, 5.0)],
            "run-s1-oct",
            "2026-10-08T06:00:00Z",
        ),
    );
    export(
        "sub1",
        &s1_scope,
        runs(
            &[gpt(day(9, 15), S1, 2.0)],
            "run-s1-sep",
            "2026-10-01T06:00:00Z",
        ),
    );
    // S2's export, run last: a subscription no other export holds.
    export(
        "sub2",
        &format!("/subscriptions/{S2}"),
        runs(
            &[gpt(day(10, 3), S2, 3.0)],
            "run-s2",
            "2026-10-10T06:00:00Z",
        ),
    );
    let azurite = Azurite::start();
    azurite.upload("exports", &blob_dir);

    let config = d.join("gateway.yaml");
    std::fs::write(&config, format!(
        "upstreams: [{{cloud: azure, url: 'http://127.0.0.1:1', timeout: 1s}}]\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\nbilling:\n  - {{cloud: azure, format: focus, url: 'az://exports/costs/'}}\n",
        hash(KEY_ADMIN), d.join("s.json").display()
    )).unwrap();
    let g = start(&config, &azurite.env());
    let gw = Gw { g: &g };
    let v = wait_read(
        &gw,
        KEY_ADMIN,
        "/api/v1/costs/reconciliation?from=2026-09-01&to=2026-10-31&cloud=azure",
        1,
    );
    let r = rows(&v);
    let billed = |dt: NaiveDate, sub: &str| {
        r.get(&(dt.to_string(), sub.to_string(), "gpt-4o".to_string()))
            .map(|c| f(&c["billed_usd"]))
            .unwrap_or_else(|| panic!("no row {dt} {sub}: {v:#}"))
    };
    // S1's October once, from the billing account's later run; its September from its own.
    assert!(close(Some(billed(day(10, 3), S1)), 5.0), "{v:#}");
    assert!(close(Some(billed(day(10, 4), S1)), 7.0), "{v:#}");
    assert!(close(Some(billed(day(9, 15), S1)), 2.0), "{v:#}");
    assert!(close(Some(billed(day(10, 3), S2)), 3.0), "{v:#}");
    let total: f64 = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["billed_usd"].as_f64())
        .sum();
    assert!(close(Some(total), 5.0 + 7.0 + 2.0 + 3.0), "{total}: {v:#}");
    // The answer names both exports and the subscription, and only that overlap.
    let errors = v["billing"][0]["errors"].to_string();
    assert!(
        errors.contains(&format!(
            "{account}/providers/Microsoft.CostManagement/exports/all"
        )) && errors.contains(&format!(
            "{s1_scope}/providers/Microsoft.CostManagement/exports/sub1"
        )) && errors.contains(&format!("subscription {S1}"))
            && errors.contains("2026-10"),
        "{errors}"
    );
    assert!(
        !errors.contains("exports/sub2") && !errors.contains("2026-09"),
        "{errors}"
    );
}
