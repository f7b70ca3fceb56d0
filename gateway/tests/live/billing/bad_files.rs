//! Bad AWS export files are named with their reason; the rest of the export is still read.

use super::*;

/// Bad files are named with their reason; the rest of the export is still read.
#[test]
fn billing_bad_files_are_named_and_the_rest_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = NaiveDate::from_ymd_opt(2026, 10, 14).unwrap();
    let good = json!([bedrock(day, 1, A, 2.5, "USE1-NovaPro-input-tokens", "t")]);
    // FOCUS Parquet: a corrupt file, a file without BilledCost, a good file, a missing one.
    generate(
        d,
        json!({"dir": d, "bucket": "b", "prefix": "focus", "export": "f",
        "layout": "focus", "file_format": "parquet",
        "periods": [{"period": "2026-10", "files": [good, good, good], "corrupt": [0],
                     "missing_files": ["f-00009.snappy.parquet"]}]}),
    );
    // CUR 2.0 gzip CSV: one period good, another without its usage type column.
    generate(
        d,
        json!({"dir": d, "bucket": "b", "prefix": "cur", "export": "c",
        "layout": "cur2", "file_format": "csv.gz",
        "periods": [{"period": "2026-10", "files": [good]}]}),
    );
    let bad_period = json!({"dir": d.join("cur2"), "bucket": "b", "prefix": "cur", "export": "c",
        "layout": "cur2", "file_format": "csv.gz",
        "periods": [{"period": "2026-09", "files": [[bedrock(NaiveDate::from_ymd_opt(2026, 9, 3).unwrap(), 1, A, 9.0, "USE1-NovaPro-input-tokens", "t")]],
                     "drop_columns": ["line_item_usage_type"]}]});
    generate(d, bad_period);
    copy_dir(&d.join("cur2/cur/c"), &d.join("cur/c"));
    // The second FOCUS file loses BilledCost: rewrite it without that column.
    let focus_data = d.join("focus/f/data/BILLING_PERIOD=2026-10");
    generate(
        d,
        json!({"dir": d.join("nocost"), "bucket": "b", "prefix": "focus", "export": "f",
        "layout": "focus", "file_format": "parquet",
        "periods": [{"period": "2026-10", "files": [good], "drop_columns": ["BilledCost"]}]}),
    );
    std::fs::copy(
        d.join("nocost/focus/f/data/BILLING_PERIOD=2026-10/f-00001.snappy.parquet"),
        focus_data.join("f-00002.snappy.parquet"),
    )
    .unwrap();

    let config = d.join("gateway.yaml");
    std::fs::write(&config, format!(
        "upstreams: [{{cloud: aws, url: 'http://127.0.0.1:1', timeout: 1s}}]\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\nbilling:\n  - {{cloud: aws, format: focus, url: 'file://{}/focus/f/'}}\n  - {{cloud: aws, format: cur2, url: 'file://{}/cur/c/'}}\n",
        hash(KEY_ADMIN), d.join("s.json").display(), d.display(), d.display()
    )).unwrap();
    let g = start(&config, &[]);
    let gw = Gw { g: &g };
    let v = wait_read(
        &gw,
        KEY_ADMIN,
        "/api/v1/costs/reconciliation?from=2026-09-01&to=2026-10-31",
        2,
    );
    let focus_errors = v["billing"][0]["errors"].to_string();
    assert!(
        focus_errors.contains("f-00001.snappy.parquet")
            && focus_errors.contains("not a readable Parquet file"),
        "{focus_errors}"
    );
    assert!(
        focus_errors.contains("f-00002.snappy.parquet")
            && focus_errors.contains("column BilledCost is missing"),
        "{focus_errors}"
    );
    assert!(
        focus_errors.contains("f-00009.snappy.parquet"),
        "{focus_errors}"
    );
    let cur_errors = v["billing"][1]["errors"].to_string();
    assert!(
        cur_errors.contains("c-00001.csv.gz")
            && cur_errors.contains("column line_item_usage_type is missing"),
        "{cur_errors}"
    );
    // Only the good files count: FOCUS file 3 and the CUR 2.0 October file, 2.5 each.
    let billed: f64 = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["billed_usd"].as_f64())
        .sum();
    assert!(close(Some(billed), 5.0), "{v:#}");
    assert!(
        !v["days"].to_string().contains("2026-09-03"),
        "nothing invented for the bad period"
    );
    let s = g.scrape();
    assert_eq!(
        s.value("llm_billing_export_errors", &[("export", "aws-focus")]),
        Some(3.0)
    );
}
