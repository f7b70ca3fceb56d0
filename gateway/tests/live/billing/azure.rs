//! Azure Cost Management exports written by pyarrow as Cost Management writes them (FOCUS
//! Parquet and actual-cost gzip CSV, keyed by `manifest.json`; FOCUS 1.2-preview and the
//! legacy `_manifest.json` from a local copy), read by the real gateway from Azurite (npm
//! `azurite`, object_store's emulator mode) and from file://, beside estimates in a real
//! Prometheus labelled as the Azure exporter labels them.

use std::path::Path;
use std::time::Duration;

use chrono::{Duration as Days, NaiveDate, Utc};
use serde_json::{json, Value};

use super::{f, generate, hash, prometheus_with, rows, start, wait_read, KEY_ADMIN, KEY_SUPPORT};
use crate::support::{gateway_bin, root, Gw};
use testkit::*;

mod bad;
mod overlap;

/// Subscriptions as the Azure exporter's `account` label writes them (lowercase GUIDs).
const S1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const S2: &str = "bbbbbbbb-0000-4000-8000-000000000002";

/// Azurite's blob service, in memory, on a free port of 127.0.0.1; stopped when dropped.
struct Azurite {
    _proc: Proc,
    url: String,
    _dir: tempfile::TempDir,
}

impl Azurite {
    fn start() -> Azurite {
        let bin = root().join(".npm-tools/node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "Azurite is not installed: run scripts/install-test-deps.sh ({} missing)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--loose"])
            .args(["--disableTelemetry", "--silent"])
            .current_dir(dir.path());
        let mut proc = Proc::spawn(cmd);
        let addr = format!("127.0.0.1:{port}");
        wait_until("Azurite to listen", Duration::from_secs(30), || {
            if let Some(Ok(Some(status))) = proc.child.as_mut().map(|c| c.try_wait()) {
                panic!("Azurite exited ({status}): {}", proc.log());
            }
            std::net::TcpStream::connect(&addr).ok().map(|_| ())
        });
        Azurite {
            _proc: proc,
            url: format!("http://{addr}"),
            _dir: dir,
        }
    }

    /// The gateway's environment for object_store's emulator mode (account
    /// `devstoreaccount1` and its published key).
    fn env(&self) -> [(&str, &str); 2] {
        [
            ("AZURE_STORAGE_USE_EMULATOR", "true"),
            ("AZURITE_BLOB_STORAGE_URL", self.url.as_str()),
        ]
    }

    /// Creates `container` and copies every file under `local` into it, blob names relative
    /// to `local`, data first and manifests last (pyarrow's AzureFileSystem, in
    /// billing_export.py).
    fn upload(&self, container: &str, local: &Path) {
        super::billing_export(&[
            "--azurite-upload".as_ref(),
            self.url.as_ref(),
            container.as_ref(),
            local.as_os_str(),
        ]);
    }
}

#[allow(clippy::too_many_arguments)]
fn az_row(
    day: NaiveDate,
    sub: &str,
    cost: f64,
    category: &str,
    subcat: &str,
    meter: &str,
    team: &str,
) -> Value {
    json!({"start": format!("{day}T00:00:00Z"), "subscription": sub, "cost": cost,
           "category": category, "subcategory": subcat, "meter": meter,
           "resource": format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/oai-east"),
           "tags": {"team": team}})
}

fn openai(day: NaiveDate, sub: &str, cost: f64, meter: &str, team: &str) -> Value {
    az_row(
        day,
        sub,
        cost,
        "Foundry Models",
        "Azure OpenAI",
        meter,
        team,
    )
}

/// One run per month of the rows' days: `[{period, run_id, submitted, files}]`.
fn runs(rows: &[Value], run_id: &str, submitted: &str) -> Value {
    let mut by: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for r in rows {
        by.entry(r["start"].as_str().unwrap()[..7].to_string())
            .or_default()
            .push(r.clone());
    }
    Value::Array(
        by.into_iter()
            .map(|(p, rows)| json!({"period": p, "run_id": run_id, "submitted": submitted, "files": [rows]}))
            .collect(),
    )
}

#[test]
fn billing_reconciles_azure_exports_from_azurite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let today = Utc::now().date_naive();
    let (d1, d2, d3) = (
        today - Days::days(3),
        today - Days::days(2),
        today - Days::days(1),
    );
    let upper = S1.to_ascii_uppercase();

    // FOCUS 1.0, Parquet, "create new export file": an older run whose numbers must not count
    // and the newer one. d1: gpt-4o 6 + 6 (billed 12 against an estimate of 10), gpt-4o mini
    // cached input 0.5, a PTU hour meter (no model: unmapped), a Marketplace partner model,
    // Speech and a VM (never counted); d2: gpt-4o 10 and a row in EUR (not counted, named).
    let mut llama = az_row(
        d1,
        &upper,
        2.0,
        "SaaS",
        "",
        "paygo-inference-input-tokens",
        "support",
    );
    llama["product"] =
        json!("Llama 3.3 70B Instruct - meta-llama-3-3-70b-plan - paygo-inference-input-tokens");
    let mut eur = openai(
        d2,
        &upper,
        3.0,
        "gpt 4o 0513 Input global Tokens",
        "support",
    );
    eur["currency"] = json!("EUR");
    let newer = vec![
        openai(
            d1,
            &upper,
            6.0,
            "gpt 4o 0513 Input global Tokens",
            "support",
        ),
        openai(
            d1,
            &upper,
            6.0,
            "gpt 4o 0513 Output global Tokens",
            "support",
        ),
        openai(
            d1,
            &upper,
            0.5,
            "gpt 4o mini 0718 cached Inp glbl Tokens",
            "research",
        ),
        az_row(
            d1,
            &upper,
            24.0,
            "Foundry Models",
            "Azure OpenAI",
            "Provisioned Managed Global Unit",
            "support",
        ),
        llama,
        az_row(
            d1,
            &upper,
            50.0,
            "Cognitive Services",
            "Speech",
            "S1 Speech To Text",
            "support",
        ),
        az_row(
            d1,
            &upper,
            100.0,
            "Virtual Machines",
            "Dv3 Series",
            "D2 v3",
            "support",
        ),
        openai(
            d2,
            &upper,
            10.0,
            "gpt 4o 0513 Input global Tokens",
            "support",
        ),
        eur,
        openai(
            d3,
            &upper,
            1.0,
            "gpt 4o 0513 Input global Tokens",
            "support",
        ),
    ];
    let older = vec![openai(
        d1,
        &upper,
        999.0,
        "gpt 4o 0513 Input global Tokens",
        "support",
    )];
    let blob_dir = d.join("blob");
    let submitted = |day: NaiveDate| format!("{day}T06:00:00Z");
    for (id, rows, when) in [
        ("11111111-run-old", &older, submitted(d1)),
        ("22222222-run-new", &newer, submitted(today)),
    ] {
        generate(
            d,
            json!({"cloud": "azure", "dir": blob_dir, "container": "exports", "root": "costs",
                   "export": "llm-focus", "layout": "focus", "file_format": "parquet",
                   "runs": runs(rows, id, &when)}),
        );
    }
    // Cost details (actual), EA columns, gzip CSV, on subscription S2: a Batch meter and
    // storage (never counted).
    generate(
        d,
        json!({"cloud": "azure", "dir": blob_dir, "container": "exports", "root": "costs",
               "export": "llm-actual", "layout": "actual", "file_format": "csv.gz",
               "runs": runs(&[
                   openai(d2, S2, 4.0, "gpt 4o 0806 Batch Inp glbl 1M Tokens", "research"),
                   openai(d3, S2, 1.0, "gpt 4o 0806 Batch Inp glbl 1M Tokens", "research"),
                   az_row(d2, S2, 7.0, "Storage", "Tiered Block Blob", "Hot LRS Data Stored", "research"),
               ], "33333333-run", &submitted(today))}),
    );
    let azurite = Azurite::start();
    azurite.upload("exports", &blob_dir);

    // Estimates as the Azure exporter labels them: account = subscription, model = name.
    let labels = |account: &str, model: &str, tenant: &str| {
        format!("cloud=\"azure\",account=\"{account}\",region=\"eastus\",model=\"{model}\",deployment=\"oai-east/{model}\",token_type=\"input\",tenant=\"{tenant}\"")
    };
    let (l1, l2) = (
        labels(S1, "gpt-4o", "support"),
        labels(S2, "gpt-4o", "research"),
    );
    let (_prom, prom) = prometheus_with(d, &[(&l1, 10.0), (&l2, 4.0)], d1, d3);

    let config = d.join("gateway.yaml");
    std::fs::write(&config, format!(
        "upstreams: [{{cloud: azure, url: 'http://{prom}', timeout: 5s}}]\ntenants: [{{name: support, api_key_sha256: {}}}]\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\nbilling:\n  - {{cloud: azure, format: focus, url: 'az://exports/costs/llm-focus/', tenant_tag: team}}\n  - {{cloud: azure, format: actual, url: 'https://devstoreaccount1.blob.core.windows.net/exports/costs/llm-actual/'}}\n",
        hash(KEY_SUPPORT), hash(KEY_ADMIN), d.join("gw.state.json").display()
    )).unwrap();
    let check = std::process::Command::new(gateway_bin())
        .args(["check-config", "--config.file", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let g = start(&config, &azurite.env());
    let gw = Gw { g: &g };
    let path = format!("/api/v1/costs/reconciliation?from={d1}&to={d3}&cloud=azure");
    let v = wait_read(&gw, KEY_ADMIN, &path, 2);
    let r = rows(&v);
    let at = |day: NaiveDate, account: &str, model: &str| {
        r.get(&(day.to_string(), account.to_string(), model.to_string()))
            .unwrap_or_else(|| panic!("no row {day} {account} {model} in {v:#}"))
            .clone()
    };
    // The meter's `gpt 4o 0513` meets the exporter's `gpt-4o` on the subscription; the newer
    // run counts; input and output meters add up.
    let g1 = at(d1, S1, "gpt-4o");
    assert!(close(Some(f(&g1["billed_usd"])), 12.0), "{g1}");
    assert!(close(Some(f(&g1["estimated_usd"])), 10.0), "{g1}");
    assert!(close(Some(f(&g1["drift_ratio"])), 1.2), "{g1}");
    let mini = at(d1, S1, "gpt-4o-mini");
    assert!(close(Some(f(&mini["billed_usd"])), 0.5), "{mini}");
    let ptu = at(d1, S1, "(unmapped)");
    assert!(close(Some(f(&ptu["billed_usd"])), 24.0), "{ptu}");
    assert_eq!(ptu["billed_as"], json!(["Provisioned Managed Global Unit"]));
    let l = at(d1, S1, "Llama 3.3 70B Instruct");
    assert!(close(Some(f(&l["billed_usd"])), 2.0), "{l}");
    // EUR is not counted and is named with its blob and column.
    assert!(close(Some(f(&at(d2, S1, "gpt-4o")["billed_usd"])), 10.0));
    let errors = v["billing"].to_string();
    assert!(
        errors.contains("part_0_0001.snappy.parquet")
            && errors.contains("BillingCurrency")
            && errors.contains("EUR"),
        "{errors}"
    );
    // The actual export over the https:// URL: the Batch meter on S2 meets its estimate.
    let b2 = at(d2, S2, "gpt-4o");
    assert!(
        close(Some(f(&b2["billed_usd"])), 4.0) && close(Some(f(&b2["drift_ratio"])), 1.0),
        "{b2} {}",
        v["billing"]
    );
    // Other services never count: the total is the LLM rows of the newer run only.
    let billed: f64 = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["billed_usd"].as_f64())
        .sum();
    assert!(
        close(
            Some(billed),
            12.0 + 0.5 + 24.0 + 2.0 + 10.0 + 1.0 + 4.0 + 1.0
        ),
        "{billed}: {v:#}"
    );
    assert_eq!(v["billed_through"]["azure"], json!(d2.to_string()), "{v:#}");

    // A tenant sees only the rows its tag names, and is told about the untagged export.
    let t = gw.ok(KEY_SUPPORT, &path);
    let tr = rows(&t);
    assert!(tr.keys().all(|(_, acc, _)| acc == S1), "{t:#}");
    assert!(
        !tr.keys().any(|(_, _, m)| m == "gpt-4o-mini"),
        "research's gpt-4o mini is not support's: {t:#}"
    );
    assert!(t["notes"].to_string().contains("azure-actual"), "{t}");
}
