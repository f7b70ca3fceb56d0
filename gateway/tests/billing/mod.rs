//! The bill beside the estimate: billing exports written by pyarrow in AWS's two shapes
//! (CUR 2.0 and FOCUS 1.0 with AWS columns, Parquet and gzip CSV), read by the real gateway
//! from LocalStack's S3 and from file://, estimates from a real Prometheus holding known
//! counters (backfilled with promtool), answers over REST and MCP and the ratio on /metrics;
//! the drift path from a demo exporter to the alert (`drift`); S3 credentials from an AWS
//! profile (`profile`).

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration as Days, NaiveDate, Utc};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{json, Value};

use super::{gateway_bin, http, mcp_client, root, stdio_transport, Gw};

mod azure;
mod gcp;
use testkit::localstack::LocalStack;
use testkit::*;

mod drift;
mod profile;

const A: &str = "111111111111";
const B: &str = "222222222222";
const KEY_ADMIN: &str = "billing-admin-0123456789";
const KEY_SUPPORT: &str = "billing-support-0123456789";
const HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const NOVA: &str = "amazon.nova-pro-v1:0";
const SONNET: &str = "global.anthropic.claude-sonnet-4-6";

/// Writes an export with the pyarrow generator (gateway/tests/billing_export.py).
fn generate(dir: &Path, spec: Value) {
    let file = dir.join(format!("spec-{}.json", super::rand_u64()));
    std::fs::write(&file, spec.to_string()).unwrap();
    billing_export(&[file.as_os_str()]);
}

/// Runs gateway/tests/billing_export.py with `args` in the pyarrow venv; panics with its
/// stderr when it fails.
fn billing_export(args: &[&std::ffi::OsStr]) {
    let python = root().join(".venv-billing/bin/python");
    assert!(
        python.exists(),
        "run scripts/install-test-deps.sh (the pyarrow venv)"
    );
    let out = std::process::Command::new(&python)
        .arg(root().join("gateway/tests/billing_export.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "billing_export.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[allow(clippy::too_many_arguments)]
fn row(
    day: NaiveDate,
    hour: u32,
    account: &str,
    cost: f64,
    code: &str,
    product: &str,
    usage: &str,
    tags: Value,
) -> Value {
    json!({"start": format!("{day}T{hour:02}:00:00Z"), "account": account, "cost": cost,
           "product_code": code, "product_name": product, "usage_type": usage, "tags": tags})
}

fn bedrock(day: NaiveDate, hour: u32, account: &str, cost: f64, usage: &str, team: &str) -> Value {
    row(
        day,
        hour,
        account,
        cost,
        "AmazonBedrock",
        "Amazon Bedrock",
        usage,
        json!({"user_team": team}),
    )
}

fn haiku(day: NaiveDate, hour: u32, cost: f64, team: &str) -> Value {
    let mut r = row(
        day,
        hour,
        A,
        cost,
        "8x2wa5zcqbomf3lvyt5qaydjx",
        "Claude Haiku 4.5 (Amazon Bedrock Edition)",
        "USE1-MP:USE1_InputTokenCount-Units",
        json!({"user_team": team}),
    );
    r["servicecode"] = json!("AmazonBedrockFoundationModels");
    r
}

/// Files (arrays of rows) split into billing periods by their rows' months, as AWS
/// partitions an export: `[{period, execution_id, files}]`.
fn by_period(files: &[Value], exec: Option<&str>) -> Value {
    let mut periods: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for file in files {
        let mut split: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
        for r in file.as_array().unwrap() {
            let month = r["start"].as_str().unwrap()[..7].to_string();
            split.entry(month).or_default().push(r.clone());
        }
        for (month, rows) in split {
            periods.entry(month).or_default().push(Value::Array(rows));
        }
    }
    Value::Array(
        periods
            .into_iter()
            .map(|(period, files)| json!({"period": period, "execution_id": exec, "files": files}))
            .collect(),
    )
}

/// A real Prometheus whose `llm_estimated_cost_usd_total` grows linearly by `per_day` USD a
/// day for each series, from `from` 00:00 to `to` 24:00 UTC (5-minute samples, backfilled
/// with `promtool tsdb create-blocks-from openmetrics`).
fn prometheus_with(
    dir: &Path,
    series: &[(&str, f64)],
    from: NaiveDate,
    to: NaiveDate,
) -> (Proc, String) {
    let t0 = from.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    let t1 = to
        .succ_opt()
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    let mut text = String::from("# TYPE llm_estimated_cost_usd counter\n");
    for (labels, per_day) in series {
        for t in (t0..=t1).step_by(300) {
            let v = per_day * (t - t0) as f64 / 86400.0;
            text.push_str(&format!(
                "llm_estimated_cost_usd_total{{{labels}}} {v} {t}\n"
            ));
        }
    }
    text.push_str("# EOF\n");
    let om = dir.join("estimates.om");
    std::fs::write(&om, text).unwrap();
    let data = dir.join("prom-data");
    let out = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .output()
        .expect("promtool is not installed: run scripts/install-test-deps.sh");
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global: {scrape_interval: 1m}\n").unwrap();
    let port = free_port();
    let proc = start_prometheus_at(&config, &data, port);
    (proc, format!("127.0.0.1:{port}"))
}

/// Copies every file under `local` to `bucket` on LocalStack's S3, keys relative to `local`.
fn upload(ls: &LocalStack, bucket: &str, local: &Path) {
    let (status, _, body) = http(
        "PUT",
        ls.url.trim_start_matches("http://"),
        &format!("/{bucket}"),
        &[],
        "",
    );
    assert!(status == 200, "create bucket: {status} {body}");
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&ls.url)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let s3: Arc<dyn ObjectStore> = Arc::new(s3);
    let mut files = Vec::new();
    let mut stack = vec![local.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    // Data before manifests, older executions before newer: as AWS delivers.
    files.sort_by_key(|p| {
        (
            p.to_string_lossy().contains("metadata"),
            p.to_string_lossy().to_string(),
        )
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for f in files {
            let key = f.strip_prefix(local).unwrap().to_string_lossy().to_string();
            let body = std::fs::read(&f).unwrap();
            s3.put(
                &object_store::path::Path::from(key.as_str()),
                PutPayload::from(body),
            )
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
        }
    });
}

fn start(config: &Path, env: &[(&str, &str)]) -> Exporter {
    let remove = [
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ];
    let mut all = vec![
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-never-logged"),
        ("AWS_REGION", "us-east-1"),
    ];
    all.extend_from_slice(env);
    Exporter::start(
        gateway_bin(),
        &["--config.file", config.to_str().unwrap()],
        &remove,
        &all,
    )
}

/// The answer's rows as (day, account, model) -> row.
fn rows(v: &Value) -> std::collections::BTreeMap<(String, String, String), Value> {
    v["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            ((s("day"), s("account"), s("model")), r.clone())
        })
        .collect()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn wait_read(gw: &Gw, key: &str, path: &str, exports: usize) -> Value {
    wait_until(
        "the billing exports to be read",
        std::time::Duration::from_secs(60),
        || {
            let v = gw.ok(key, path);
            let read = v["billing"]
                .as_array()?
                .iter()
                .filter(|e| e["last_read"].is_number())
                .count();
            (read == exports).then_some(v)
        },
    )
}

#[test]
fn billing_reconciles_aws_exports_from_s3_and_files() {
    common::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let today = Utc::now().date_naive();
    let (d1, d2, d3) = (
        today - Days::days(3),
        today - Days::days(2),
        today - Days::days(1),
    );

    // CUR 2.0, Parquet, "create new export file": an older execution whose numbers must not
    // count, and the newer one. Day d1: Haiku (Marketplace) 24 x 0.5, Nova Pro 3 + 1, a
    // guardrail row (unmapped), EC2 (never counted), a row in EUR (not counted, named).
    let s3_dir = d.join("s3");
    let newer = vec![
        json!([
            (0..24)
                .map(|h| haiku(d1, h, 0.5, "support"))
                .collect::<Vec<_>>(),
            vec![
                bedrock(d1, 3, A, 3.0, "USE1-NovaPro-input-tokens", "research"),
                bedrock(d1, 3, A, 1.0, "USE1-NovaPro-output-tokens", "research"),
                bedrock(
                    d1,
                    4,
                    A,
                    0.7,
                    "USE1-Guardrail-ContentPolicyUnits",
                    "support"
                ),
                row(
                    d1,
                    5,
                    A,
                    100.0,
                    "AmazonEC2",
                    "Amazon Elastic Compute Cloud",
                    "USE1-BoxUsage:m5.large",
                    json!({"user_team": "support"})
                )
            ]
        ]
        .concat()),
        {
            let mut eur = bedrock(d2, 6, A, 5.0, "USE1-NovaPro-input-tokens", "research");
            eur["currency"] = json!("EUR");
            json!([
                haiku(d2, 1, 12.0, "support"),
                bedrock(d2, 2, A, 4.0, "USE1-NovaPro-input-tokens", "research"),
                haiku(d3, 1, 1.0, "support"),
                eur
            ])
        },
    ];
    for (exec, files) in [
        ("exec-1", vec![json!([haiku(d1, 0, 120.0, "support")])]),
        ("exec-2", newer),
    ] {
        generate(
            d,
            json!({"dir": s3_dir, "bucket": "cur-bucket", "prefix": "cur", "export": "llm-cur",
            "layout": "cur2", "file_format": "parquet", "periods": by_period(&files, Some(exec))}),
        );
    }
    // FOCUS 1.0 with AWS columns, gzip CSV, overwritten in place, on the local disk; account
    // B: Nova Pro without an estimate, Sonnet 4.6 (first party) 5 on d2.
    let local = d.join("local");
    generate(
        d,
        json!({"dir": local, "bucket": "focus-bucket", "prefix": "focus", "export": "llm-focus",
        "layout": "focus", "file_format": "csv.gz",
        "periods": by_period(&[json!([
            bedrock(d1, 8, B, 2.0, "USE1-NovaPro-input-tokens", "x"),
            bedrock(d2, 8, B, 5.0, "USE1-Claude4.6Sonnet-output-tokens", "x"),
            bedrock(d3, 8, B, 1.0, "USE1-Claude4.6Sonnet-output-tokens", "x"),
            row(d2, 9, B, 50.0, "AmazonS3", "Amazon Simple Storage Service", "USE1-TimedStorage-ByteHrs", json!({}))])], None)}),
    );

    let ls = LocalStack::start("s3", "s3");
    upload(&ls, "cur-bucket", &s3_dir);

    // Estimates: Haiku (support) 10 a day, Nova Pro (research) 4, Sonnet 4.6 on B 5.
    let labels = |account: &str, model: &str, tenant: &str| {
        format!("cloud=\"aws\",account=\"{account}\",region=\"us-east-1\",model=\"{model}\",deployment=\"\",token_type=\"input\",tenant=\"{tenant}\"")
    };
    let (l1, l2, l3) = (
        labels(A, HAIKU, "support"),
        labels(A, NOVA, "research"),
        labels(B, SONNET, "research"),
    );
    let (prom_proc, prom) = prometheus_with(d, &[(&l1, 10.0), (&l2, 4.0), (&l3, 5.0)], d1, d3);

    let config = d.join("gateway.yaml");
    let write_config = |upstream: &str| {
        std::fs::write(&config, format!(
            "upstreams: [{{cloud: aws, url: 'http://{upstream}', timeout: 5s}}]\ntenants: [{{name: support, api_key_sha256: {}}}]\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\nbilling:\n  - {{cloud: aws, format: cur2, url: 's3://cur-bucket/cur/llm-cur/', tenant_tag: user_team}}\n  - {{cloud: aws, format: focus, url: 'file://{}/focus/llm-focus/'}}\n",
            hash(KEY_SUPPORT), hash(KEY_ADMIN), d.join("gw.state.json").display(), local.display()
        )).unwrap();
    };
    write_config(&prom);
    let endpoint = [
        ("AWS_ENDPOINT", ls.url.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let g = start(&config, &endpoint);
    let gw = Gw { g: &g };
    let path = format!("/api/v1/costs/reconciliation?from={d1}&to={d3}");
    let v = wait_read(&gw, KEY_ADMIN, &path, 2);
    assert!(
        v["billing"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["last_read"].is_number()),
        "{v}"
    );
    let r = rows(&v);
    let at = |day: NaiveDate, account: &str, model: &str| {
        r.get(&(day.to_string(), account.to_string(), model.to_string()))
            .unwrap_or_else(|| panic!("no row {day} {account} {model} in {v:#}"))
            .clone()
    };
    // The Marketplace row meets the estimate's model id; the newest execution counts.
    let h1 = at(d1, A, "anthropic.claude-haiku-4-5-20251001-v1:0");
    assert!(close(Some(f(&h1["billed_usd"])), 12.0), "{h1}");
    assert!(close(Some(f(&h1["estimated_usd"])), 10.0), "{h1}");
    assert!(close(Some(f(&h1["drift_ratio"])), 1.2), "{h1}");
    assert_eq!(h1["estimated_as"], json!([HAIKU]));
    let n1 = at(d1, A, NOVA);
    assert!(
        close(Some(f(&n1["billed_usd"])), 4.0) && close(Some(f(&n1["estimated_usd"])), 4.0),
        "{n1}"
    );
    let u1 = at(d1, A, "(unmapped)");
    assert!(close(Some(f(&u1["billed_usd"])), 0.7), "{u1}");
    assert_eq!(
        u1["billed_as"],
        json!(["USE1-Guardrail-ContentPolicyUnits"])
    );
    assert_eq!(f(&u1["estimated_usd"]), 0.0);
    assert!(u1["drift_ratio"].is_null());
    // The EUR row is not counted: d2's Nova Pro is 4, and the error names file and column.
    assert!(close(Some(f(&at(d2, A, NOVA)["billed_usd"])), 4.0));
    let errors = v["billing"][0]["errors"].to_string() + &v["billing"][1]["errors"].to_string();
    assert!(
        errors.contains("llm-cur-0000")
            && errors.contains("line_item_currency_code")
            && errors.contains("EUR"),
        "{errors}"
    );
    // FOCUS CSV on account B: first-party Sonnet 4.6 meets `global.anthropic.claude-sonnet-4-6`.
    let s2 = at(d2, B, "anthropic.claude-sonnet-4-6");
    assert!(
        close(Some(f(&s2["billed_usd"])), 5.0) && close(Some(f(&s2["drift_ratio"])), 1.0),
        "{s2}"
    );
    let nb = at(d1, B, "NovaPro");
    assert!(
        close(Some(f(&nb["billed_usd"])), 2.0) && f(&nb["estimated_usd"]) == 0.0,
        "{nb}"
    );
    // Other services never count; the bill reaches d3, complete through d2.
    let billed: f64 = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["billed_usd"].as_f64())
        .sum();
    assert!(
        close(
            Some(billed),
            12.0 + 4.0 + 0.7 + 12.0 + 4.0 + 1.0 + 2.0 + 5.0 + 1.0
        ),
        "{billed}: {v:#}"
    );
    assert_eq!(v["billed_through"]["aws"], json!(d2.to_string()));
    assert_eq!(at(d2, A, NOVA)["billed_complete"], json!(true));
    assert_eq!(
        at(d3, B, "anthropic.claude-sonnet-4-6")["billed_complete"],
        json!(false)
    );

    // A tenant sees the bill only through its tag, and is told about the untagged export.
    let t = gw.ok(KEY_SUPPORT, &path);
    let tr = rows(&t);
    assert!(tr.keys().all(|(_, acc, _)| acc == A), "{t:#}");
    let th = &tr[&(
        d1.to_string(),
        A.to_string(),
        "anthropic.claude-haiku-4-5-20251001-v1:0".to_string(),
    )];
    assert!(
        close(Some(f(&th["billed_usd"])), 12.0) && close(Some(f(&th["estimated_usd"])), 10.0),
        "{th}"
    );
    assert!(
        !tr.keys().any(|(_, _, m)| m == NOVA),
        "research's Nova Pro is not support's: {t:#}"
    );
    assert!(
        t["notes"].to_string().contains("aws-focus")
            && t["notes"].to_string().contains("tenant_tag"),
        "{t}"
    );

    // The same answer as an MCP tool.
    let mut stdio = stdio_transport(&config, KEY_ADMIN);
    for (k, v) in [
        ("AWS_ENDPOINT", ls.url.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        stdio["env"][k] = json!(v);
    }
    let plan = json!({"transports": [stdio],
        "calls": [{"name": "reconcile_costs", "arguments": {"from": d1.to_string(), "to": d3.to_string()}}]});
    let out = mcp_client(d, &plan);
    let call = &out["stdio"]["calls"][0]["attempts"][0];
    assert!(
        call["text"]
            .as_str()
            .unwrap_or("")
            .contains("billed $41.70"),
        "{call}"
    );
    assert_eq!(
        call["structured"]["days"].as_array().map(Vec::len),
        v["days"].as_array().map(Vec::len),
        "{call}"
    );

    // The ratio over the last complete days (d1, d2): Haiku billed 24 / estimated 20.
    let scrape = wait_until(
        "the billing ratio",
        std::time::Duration::from_secs(90),
        || {
            let s = g.scrape();
            s.value(
                "llm_billing_effective_rate_ratio",
                &[("model", "anthropic.claude-haiku-4-5-20251001-v1:0")],
            )
            .is_some()
            .then_some(s)
        },
    );
    let ratio = scrape.value(
        "llm_billing_effective_rate_ratio",
        &[
            ("cloud", "aws"),
            ("account", A),
            ("model", "anthropic.claude-haiku-4-5-20251001-v1:0"),
        ],
    );
    assert!(close(ratio, 1.2), "{ratio:?}\n{}", scrape.text);
    let end_d2 = d3.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as f64;
    assert_eq!(
        scrape.value(
            "llm_billing_last_complete_day_timestamp_seconds",
            &[("cloud", "aws")]
        ),
        Some(end_d2)
    );
    let families: String = scrape
        .text
        .lines()
        .filter(|l| l.starts_with("llm_billing"))
        .collect();
    assert!(
        !families.contains("support"),
        "no tenant names in the billing families"
    );
    let (code, out) = promtool_check_metrics(&scrape.text);
    assert!(code == 0, "{out}");
    // d2, the last complete day: billed 12 + 4 + 5 (the EUR row not counted), estimated 19.
    let day = |side: &str| {
        scrape.value(
            "llm_billing_last_complete_day_usd",
            &[("cloud", "aws"), ("side", side)],
        )
    };
    assert!(
        close(day("billed"), 21.0) && close(day("estimated"), 19.0),
        "{}",
        scrape.text
    );

    // The dashboard: Prometheus scrapes the gateway; every panel's query has series.
    std::fs::write(
        d.join("prometheus.yml"),
        format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: llm-gateway\n    static_configs: [{{targets: ['{}']}}]\n", g.addr),
    )
    .unwrap();
    let pid = prom_proc.child.as_ref().unwrap().id().to_string();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/llm-billing.json")).unwrap(),
    )
    .unwrap();
    for panel in dash["panels"].as_array().unwrap() {
        let expr = panel["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .replace("$cloud", ".*");
        wait_until(
            &format!("series for panel {}", panel["title"]),
            std::time::Duration::from_secs(60),
            || {
                let (_, body) = http_get(
                    &prom,
                    &format!("/api/v1/query?query={}", super::urlencode(&expr)),
                )
                .ok()?;
                let v: Value = serde_json::from_str(&body).ok()?;
                v["data"]["result"]
                    .as_array()
                    .filter(|r| !r.is_empty())
                    .map(|_| ())
            },
        );
    }

    // Prometheus down: the billed side is still answered, partial and saying so.
    drop(g);
    write_config("127.0.0.1:1");
    let g = start(&config, &endpoint);
    let gw = Gw { g: &g };
    let v = wait_read(&gw, KEY_ADMIN, &path, 2);
    assert_eq!(v["partial"], json!(true));
    assert_eq!(v["clouds_failed"][0]["cloud"], json!("aws"), "{v}");
    let r = rows(&v);
    let h1 = &r[&(
        d1.to_string(),
        A.to_string(),
        "Claude Haiku 4.5".to_string(),
    )];
    assert!(
        close(Some(f(&h1["billed_usd"])), 12.0) && h1["estimated_usd"].is_null(),
        "{h1}"
    );
    assert!(!g.proc.log().contains("test-secret-never-logged"));
}

fn hash(key: &str) -> String {
    let out = std::process::Command::new(gateway_bin())
        .args(["hash-key", key])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

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

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}
