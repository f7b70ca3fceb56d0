//! Bad Azure blobs, manifests and config entries are named with their reason; the rest of
//! the export still counts.

use super::*;

/// Bad blobs and manifests are named with their reason; the rest of the export still counts.
#[test]
fn billing_azure_bad_blobs_are_named_and_the_rest_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = |m: u32, dd: u32| NaiveDate::from_ymd_opt(2026, m, dd).unwrap();
    let good = |dt: NaiveDate| json!([openai(dt, S1, 2.5, "gpt 4o 0513 Input global Tokens", "t")]);
    let run = |period: &str, id: &str, files: Value| json!({"period": period, "run_id": id, "submitted": format!("{period}-20T06:00:00Z"), "files": files});
    // FOCUS 1.2-preview, Parquet: October a good blob, a corrupt one and one the manifest
    // names but that was never written; September without BilledCost; August a manifest of
    // the amortized dataset in this FOCUS export's folder.
    let mut oct = run(
        "2026-10",
        "oct",
        json!([good(day(10, 14)), good(day(10, 15))]),
    );
    oct["corrupt"] = json!([1]);
    oct["missing_files"] = json!(["part_9_0001.snappy.parquet"]);
    let mut sep = run("2026-09", "sep", json!([good(day(9, 3))]));
    sep["drop_columns"] = json!(["BilledCost"]);
    let mut aug = run("2026-08", "aug", json!([good(day(8, 3))]));
    aug["type"] = json!("AmortizedCost");
    generate(
        d,
        json!({"cloud": "azure", "dir": d.join("focus"), "container": "exports", "root": "costs",
               "export": "f", "layout": "focus-1.2", "file_format": "parquet",
               "runs": [oct, sep, aug]}),
    );
    // Actual, plain CSV, a legacy `_manifest.json` (its month from the folder), read from a
    // local copy of the container.
    let mut legacy = run("2026-10", "legacy", json!([good(day(10, 20))]));
    legacy["legacy"] = json!(true);
    generate(
        d,
        json!({"cloud": "azure", "dir": d.join("actual"), "container": "exports", "root": "costs",
               "export": "a", "layout": "actual", "file_format": "csv", "runs": [legacy]}),
    );

    // Amortized, MCA's camelCase columns, gzip CSV: counted like the rest.
    generate(
        d,
        json!({"cloud": "azure", "dir": d.join("amortized"), "container": "exports", "root": "costs",
               "export": "m", "layout": "amortized-mca", "file_format": "csv.gz",
               "runs": [run("2026-10", "mca", json!([good(day(10, 21))]))]}),
    );

    let config = d.join("gateway.yaml");
    std::fs::write(&config, format!(
        "upstreams: [{{cloud: azure, url: 'http://127.0.0.1:1', timeout: 1s}}]\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\nbilling:\n  - {{cloud: azure, format: focus, url: 'file://{}/focus/costs/f/'}}\n  - {{cloud: azure, format: actual, url: 'file://{}/actual/costs/a/'}}\n  - {{cloud: azure, format: amortized, url: 'file://{}/amortized/costs/m/'}}\n",
        hash(KEY_ADMIN), d.join("s.json").display(), d.display(), d.display(), d.display()
    )).unwrap();
    let g = start(&config, &[]);
    let gw = Gw { g: &g };
    let v = wait_read(
        &gw,
        KEY_ADMIN,
        "/api/v1/costs/reconciliation?from=2026-08-01&to=2026-10-31",
        3,
    );
    let focus_errors = v["billing"][0]["errors"].to_string();
    for (blob, reason) in [
        ("part_1_0001.snappy.parquet", "not a readable Parquet file"),
        ("part_9_0001.snappy.parquet", "not found"),
        ("part_0_0001.snappy.parquet", "column BilledCost is missing"),
        ("manifest.json", "AmortizedCost"),
    ] {
        assert!(
            focus_errors.contains(blob) && focus_errors.contains(reason),
            "{blob}: {reason}: {focus_errors}"
        );
    }
    for i in [1, 2] {
        assert!(
            v["billing"][i]["errors"].as_array().unwrap().is_empty(),
            "{v:#}"
        );
    }
    // Only the good blobs count: October's first FOCUS blob, the legacy actual blob and the
    // amortized one.
    let r = rows(&v);
    for day in ["2026-10-14", "2026-10-20", "2026-10-21"] {
        let cell = &r[&(day.to_string(), S1.to_string(), "gpt-4o".to_string())];
        assert!(close(Some(f(&cell["billed_usd"])), 2.5), "{day}: {v:#}");
    }
    assert_eq!(
        r.len(),
        3,
        "nothing invented for the bad blobs and months: {v:#}"
    );
    let s = g.scrape();
    assert_eq!(
        s.value("llm_billing_export_errors", &[("export", "azure-focus")]),
        Some(4.0)
    );
}

/// `check-config` names the field of a bad Azure entry.
#[test]
fn billing_azure_check_config_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (entry, field, says) in [
        ("{cloud: azure, format: focus, url: 's3://b/p/'}", "billing[0].url", "az://"),
        (
            "{cloud: azure, format: actual, url: 'https://acct.blob.core.windows.net/c/p/?sv=1&sig=secret'}",
            "billing[0].url",
            "SAS",
        ),
        ("{cloud: azure, format: cur2, url: 'az://c/p/'}", "billing[0].format", "cur2"),
    ] {
        let config = dir.path().join("g.yaml");
        std::fs::write(
            &config,
            format!("upstreams: [{{cloud: azure, url: 'http://127.0.0.1:1'}}]\nbilling: [{entry}]\n"),
        )
        .unwrap();
        let out = std::process::Command::new(gateway_bin())
            .args(["check-config", "--config.file", config.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{entry}: {text}");
        assert!(text.contains(field) && text.contains(says), "{entry}: {text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
