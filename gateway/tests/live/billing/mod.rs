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

use crate::support::{gateway_bin, http, root, Gw};

mod aws;
mod azure;
mod bad_files;
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
    let file = dir.join(format!("spec-{}.json", crate::support::rand_u64()));
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

fn hash(key: &str) -> String {
    let out = std::process::Command::new(gateway_bin())
        .args(["hash-key", key])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
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
