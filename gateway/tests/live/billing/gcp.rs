//! The Google Cloud Billing export as a BigQuery scheduled query writes it to Cloud Storage
//! with `EXPORT DATA` (nested Parquet, one folder per invoice month and run, a manifest after
//! the data), written by pyarrow, read by the real gateway from a fake of the Cloud Storage
//! XML API (`gs://`) and from `file://`, beside estimates in a real Prometheus.

#[path = "gcp/gcs_fake.rs"]
mod gcs_fake;

use chrono::{Duration as Days, NaiveDate, Utc};
use serde_json::{json, Value};

use super::{f, generate, hash, prometheus_with, rows, wait_read};
use crate::support::Gw;
use gcs_fake::FakeGcs;
use testkit::*;

const KEY_ADMIN: &str = "gcp-billing-admin-0123456789";
const KEY_SUPPORT: &str = "gcp-billing-support-0123456789";
const PRO: &str = "Gemini 2.5 Pro Text Input - Predictions";

fn row(day: NaiveDate, project: &str, service: &str, sku: &str, cost: f64, team: &str) -> Value {
    json!({"start": format!("{day}T05:00:00Z"), "project": project, "service": service,
           "sku": sku, "cost": cost, "labels": {"team": team}})
}

fn vertex(day: NaiveDate, sku: &str, cost: f64, team: &str) -> Value {
    row(day, "proj-a", "Vertex AI", sku, cost, team)
}

fn start(config: &std::path::Path, gcs: &FakeGcs) -> Exporter {
    // object_store's documented emulator settings: a service-account key naming the base URL
    // and turning OAuth off (no key is used, no token endpoint is called).
    let key = json!({"private_key": "unused", "private_key_id": "unused",
        "client_email": "billing-reader@example.iam.gserviceaccount.com",
        "gcs_base_url": gcs.url, "disable_oauth": true})
    .to_string();
    Exporter::start(
        crate::support::gateway_bin(),
        &["--config.file", config.to_str().unwrap()],
        &[
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_SERVICE_ACCOUNT",
            "GOOGLE_SERVICE_ACCOUNT_PATH",
            "GOOGLE_BUCKET",
        ],
        &[("GOOGLE_SERVICE_ACCOUNT_KEY", key.as_str())],
    )
}

#[test]
fn billing_reconciles_gcp_exports_from_cloud_storage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let today = Utc::now().date_naive();
    let (d1, d2, d3) = (
        today - Days::days(3),
        today - Days::days(2),
        today - Days::days(1),
    );

    // The detailed usage cost table, Parquet in the bucket: an older complete run and a newer
    // incomplete one (no manifest) that must not count, and the newest complete run.
    let bucket = d.join("gcs/billing-bucket");
    let mut tax = vertex(d1, PRO, 5.0, "support");
    tax["cost_type"] = json!("tax");
    let mut eur = vertex(d2, PRO, 9.0, "support");
    eur["currency"] = json!("EUR");
    let mut with_credit = vertex(d1, PRO, 3.0, "support");
    with_credit["credits"] = json!([-1.0]);
    let newest = json!([
        [
            with_credit,
            vertex(
                d1,
                "Gemini 2.5 Pro Text Output (Long) - Predictions",
                1.0,
                "support"
            ),
            vertex(d1, "Gemini 2.5 Pro Input Text Caching", 0.5, "support"),
            vertex(d1, "Custom Model Training n1-standard-4", 0.7, "support"),
            row(
                d1,
                "proj-a",
                "Compute Engine",
                "N1 Predefined Instance Core",
                100.0,
                "support"
            ),
            row(
                d1,
                "proj-a",
                "Claude Haiku 4.5",
                "Claude Haiku 4.5 Input Tokens",
                1.2,
                "research"
            ),
            vertex(
                d1,
                "Model as a Service Llama 4 Scout Input Token",
                0.4,
                "research"
            ),
            tax
        ],
        [
            vertex(d2, PRO, 2.5, "support"),
            eur,
            vertex(d3, PRO, 1.0, "support")
        ],
        [vertex(d2, PRO, 40.0, "support")],
        [vertex(d2, PRO, 50.0, "support")]
    ]);
    generate(
        d,
        json!({"cloud": "gcp", "dir": bucket, "prefix": "exports/gcp", "layout": "detailed",
               "runs": [
                   {"run": "20260101T060000Z", "files": [[vertex(d1, PRO, 100.0, "support")]]},
                   {"run": "20260102T060000Z", "files": newest, "corrupt": [2],
                    "drop_columns": {"3": ["credits"]}},
                   {"run": "20260103T060000Z", "complete": false,
                    "files": [[vertex(d1, PRO, 1000.0, "support")]]}]}),
    );
    // The FOCUS export on the local disk (project proj-c): credits are rows of their own.
    let local = d.join("local");
    let mut flash = row(
        d1,
        "proj-c",
        "Vertex AI",
        "Gemini 2.5 Flash Text Output - Predictions",
        2.0,
        "x",
    );
    flash["credits"] = json!([-0.5]);
    let mut focus_tax = row(
        d2,
        "proj-c",
        "Vertex AI",
        "Gemini 2.5 Flash Text Input - Predictions",
        3.0,
        "x",
    );
    focus_tax["cost_type"] = json!("tax");
    generate(
        d,
        json!({"cloud": "gcp", "dir": local, "prefix": "focus", "layout": "focus",
               "runs": [{"run": "20260102T070000Z", "files": [[
                   flash,
                   row(d2, "proj-c", "Vertex AI", "Gemini 2.5 Flash Text Input - Predictions", 1.0, "x"),
                   row(d3, "proj-c", "Vertex AI", "Gemini 2.5 Flash Text Input - Predictions", 0.25, "x"),
                   focus_tax,
                   row(d2, "proj-c", "BigQuery", "Analysis", 7.0, "x")]]}]}),
    );

    let gcs = FakeGcs::start(&d.join("gcs"), 3);
    let labels = |account: &str, model: &str, tenant: &str| {
        format!("cloud=\"gcp\",account=\"{account}\",region=\"us-central1\",model=\"{model}\",deployment=\"\",token_type=\"input\",tenant=\"{tenant}\"")
    };
    let l1 = labels("proj-a", "gemini-2.5-pro", "support");
    let (_prom, prom) = prometheus_with(d, &[(&l1, 2.5)], d1, d3);
    let config = d.join("gateway.yaml");
    std::fs::write(&config, format!(
        "upstreams: [{{cloud: gcp, url: 'http://{prom}', timeout: 5s}}]\ntenants: [{{name: support, api_key_sha256: {}}}]\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\nbilling:\n  - {{cloud: gcp, format: gcp-standard, url: 'gs://billing-bucket/exports/gcp/', tenant_tag: team}}\n  - {{cloud: gcp, format: gcp-focus, url: 'file://{}/focus/'}}\n",
        hash(KEY_SUPPORT), hash(KEY_ADMIN), d.join("gw.state.json").display(), local.display()
    )).unwrap();
    let g = start(&config, &gcs);
    let gw = Gw { g: &g };
    let path = format!("/api/v1/costs/reconciliation?from={d1}&to={d3}&cloud=gcp");
    let v = wait_read(&gw, KEY_ADMIN, &path, 2);
    let r = rows(&v);
    let at = |day: NaiveDate, account: &str, model: &str| {
        r.get(&(day.to_string(), account.to_string(), model.to_string()))
            .unwrap_or_else(|| panic!("no row {day} {account} {model} in {v:#}"))
            .clone()
    };
    // Gemini 2.5 Pro: input 3 less a 1 credit, long-context output 1, caching 0.5, against an
    // estimate of 2.5; only the newest complete run counts.
    let p1 = at(d1, "proj-a", "gemini-2.5-pro");
    assert!(close(Some(f(&p1["billed_usd"])), 3.5), "{p1}");
    assert!(close(Some(f(&p1["estimated_usd"])), 2.5), "{p1}");
    assert!(close(Some(f(&p1["drift_ratio"])), 1.4), "{p1}");
    assert_eq!(p1["billed_as"].as_array().map(Vec::len), Some(3), "{p1}");
    let u1 = at(d1, "proj-a", "(unmapped)");
    assert!(close(Some(f(&u1["billed_usd"])), 0.7), "{u1}");
    assert_eq!(
        u1["billed_as"],
        json!(["Custom Model Training n1-standard-4"])
    );
    assert!(close(
        Some(f(&at(d1, "proj-a", "Claude Haiku 4.5")["billed_usd"])),
        1.2
    ));
    let llama = at(d1, "proj-a", "llama-4-scout-17b-16e-instruct-maas");
    assert!(close(Some(f(&llama["billed_usd"])), 0.4), "{llama}");
    assert!(close(
        Some(f(&at(d2, "proj-a", "gemini-2.5-pro")["billed_usd"])),
        2.5
    ));
    // FOCUS: BilledCost (credits included), the project from x_Project.
    let c1 = at(d1, "proj-c", "Gemini 2.5 Flash");
    assert!(close(Some(f(&c1["billed_usd"])), 1.5), "{c1}");
    // Other services, tax, older and unfinished runs never count; bad files count nothing.
    let billed: f64 = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["billed_usd"].as_f64())
        .sum();
    assert!(
        close(
            Some(billed),
            3.5 + 0.7 + 1.2 + 0.4 + 2.5 + 1.0 + 1.5 + 1.0 + 0.25
        ),
        "{billed}: {v:#}"
    );
    let errors = v["billing"][0]["errors"].to_string();
    for (file, why) in [
        ("part-000000000001.parquet", "EUR"),
        ("part-000000000002.parquet", "not a readable Parquet file"),
        (
            "part-000000000003.parquet",
            "column credits.amount is missing",
        ),
    ] {
        assert!(
            errors.contains(file) && errors.contains(why),
            "{file} {why}: {errors}"
        );
    }
    assert!(errors.contains("column currency"), "{errors}");
    assert_eq!(v["billing"][1]["errors"], json!([]), "{v:#}");
    assert_eq!(v["billed_through"]["gcp"], json!(d2.to_string()));

    // A tenant sees the rows its label names, and is told about the unlabelled export.
    let t = gw.ok(KEY_SUPPORT, &path);
    let tr = rows(&t);
    let tp = &tr[&(
        d1.to_string(),
        "proj-a".to_string(),
        "gemini-2.5-pro".to_string(),
    )];
    assert!(close(Some(f(&tp["billed_usd"])), 3.5), "{tp}");
    assert!(
        !tr.keys()
            .any(|(_, acc, m)| acc == "proj-c" || m.starts_with("Claude")),
        "research's and proj-c's rows are not support's: {t:#}"
    );
    assert!(t["notes"].to_string().contains("gcp-gcp-focus"), "{t}");

    // Listed page by page, Parquet read by byte ranges (never a whole-object download).
    use std::sync::atomic::Ordering::Relaxed;
    assert!(gcs.counts.list_pages.load(Relaxed) >= 2);
    assert!(gcs.counts.ranged_gets.load(Relaxed) > 0);
    assert_eq!(gcs.counts.whole_gets.load(Relaxed), 0);
    drop(g);
}
