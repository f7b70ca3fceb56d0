//! AWS exports (CUR 2.0 and FOCUS 1.0, Parquet and gzip CSV) from LocalStack's S3 and from
//! file://, reconciled with the estimates over REST and MCP and as a ratio on /metrics.

use super::*;
use crate::support::{mcp_client, stdio_transport};

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
                    &format!("/api/v1/query?query={}", crate::support::urlencode(&expr)),
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
