//! The drift path end to end: the AWS exporter on its demo source -> the regional Prometheus
//! (prometheus/aws.yml) -> the gateway reading a CUR 2.0 export whose bill is a known factor
//! of the estimate per model -> the reconciliation answer, the gateway's
//! `llm_billing_effective_rate_ratio`, and the global Prometheus (prometheus/global.yml, its
//! `llm-gateway` job, the repository's alert rules unchanged) holding
//! `LLMEstimateDriftsFromBill` pending for exactly the drifting models.
//!
//! The ratio covers complete billing days, and a demo exporter has counted only since it
//! started: yesterday is backfilled into the regional Prometheus with
//! `promtool tsdb create-blocks-from openmetrics`, as the demo's own series (the labels it
//! exposes, `job` and `instance` as Prometheus scrapes them) counting at the pace each one
//! counted since start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate, Utc};
use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;
use testkit::*;

use super::{by_period, f, generate, hash, row, rows, start, KEY_ADMIN};
use crate::support::{binary, num, prom, root, yaml, Gw};

const ACCOUNT: &str = "123456789012";

/// How the bill names each demo model and the factor it is billed at (billed / estimated).
/// AWS bills Anthropic's models through AWS Marketplace as "<name> (Amazon Bedrock Edition)"
/// and Amazon's own under usage types that name them, prefixed with the Region's billing code
/// (eu-west-1 is `EU`: https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-region-billing-codes.html).
/// Llama 3.3 is missing from this bill: estimated, never billed, ratio 0.
struct Billed {
    /// A part of the demo's model ids.
    family: &'static str,
    marketplace: Option<&'static str>,
    usage_type: &'static str,
    factor: f64,
}

const BILL: &[Billed] = &[
    Billed {
        family: "claude-haiku-4-5",
        marketplace: Some("Claude Haiku 4.5"),
        usage_type: "USE1-MP:USE1_InputTokenCount-Units",
        factor: 2.0,
    },
    Billed {
        family: "claude-3-5-sonnet",
        marketplace: Some("Claude 3.5 Sonnet"),
        usage_type: "USE1-MP:USE1_OutputTokenCount-Units",
        factor: 1.1,
    },
    Billed {
        family: "claude-3-7-sonnet",
        marketplace: Some("Claude 3.7 Sonnet"),
        usage_type: "EU-MP:EU_InputTokenCount-Units",
        factor: 1.0,
    },
    Billed {
        family: "nova-pro",
        marketplace: None,
        usage_type: "USE1-NovaPro-input-tokens",
        factor: 0.9,
    },
    Billed {
        family: "nova-lite",
        marketplace: None,
        usage_type: "EU-NovaLite-output-tokens",
        factor: 1.0,
    },
    Billed {
        family: "llama3-3-70b",
        marketplace: None,
        usage_type: "",
        factor: 0.0,
    },
];

fn family(model: &str) -> &'static Billed {
    BILL.iter()
        .find(|b| model.contains(b.family))
        .unwrap_or_else(|| panic!("a demo model this test does not bill: {model}"))
}

/// One hour of `b` on `day` in CUR 2.0 (None: not on the bill).
fn bill_row(b: &Billed, day: NaiveDate, hour: u32, cost: f64) -> Option<Value> {
    if b.usage_type.is_empty() {
        return None;
    }
    Some(match b.marketplace {
        Some(name) => {
            let mut r = row(
                day,
                hour,
                ACCOUNT,
                cost,
                "prodview-llm",
                &format!("{name} (Amazon Bedrock Edition)"),
                b.usage_type,
                json!({}),
            );
            r["servicecode"] = json!("AmazonBedrockFoundationModels");
            r
        }
        None => row(
            day,
            hour,
            ACCOUNT,
            cost,
            "AmazonBedrock",
            "Amazon Bedrock",
            b.usage_type,
            json!({}),
        ),
    })
}

fn day_start(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
}

/// `expr` at `t` on a Prometheus, summed per demo model family.
fn per_family(addr: &str, expr: &str, t: i64) -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::new();
    for s in prom(addr, expr, &t.to_string()) {
        let model = s["metric"]["model"].as_str().unwrap_or("");
        *out.entry(family(model).family).or_default() += num(&s["value"][1]);
    }
    out
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1e-9)
}

#[test]
fn billing_drift_from_demo_exporter_to_ratio_and_alert() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = root();
    let today = Utc::now().date_naive();
    let yesterday = today - Days::days(1);
    let (y0, t0) = (day_start(yesterday), day_start(today));

    // The demo exporter, until every demo model has counted some cost (at night the quietest
    // demo models call about once a minute: after 20 s, Haiku and one model billed within
    // 15 % of its estimate are enough).
    let config = d.join("exporter.yaml");
    std::fs::write(&config, "poll_interval: 1s\n").unwrap();
    let exporter = Exporter::start(
        &binary("llm-exporter-aws"),
        &["--demo", "--config.file", config.to_str().unwrap()],
        &[],
        &[],
    );
    let up_since = Instant::now();
    let counted = |s: &Scrape| -> BTreeSet<&'static str> {
        s.matching("llm_estimated_cost_usd_total", &[])
            .iter()
            .filter(|x| x.2 > 0.0)
            .map(|x| family(&x.1["model"]).family)
            .collect()
    };
    let scrape = wait_until("cost on the demo's models", Duration::from_secs(40), || {
        let s = exporter.scrape();
        let c = counted(&s);
        let enough = c.contains("claude-haiku-4-5")
            && BILL
                .iter()
                .any(|b| c.contains(b.family) && (b.factor - 1.0).abs() <= 0.15);
        (c.len() == BILL.len() || (enough && up_since.elapsed() > Duration::from_secs(20)))
            .then_some(s)
    });
    let secs = up_since.elapsed().as_secs_f64();
    let present = counted(&scrape);
    let bill: Vec<&Billed> = BILL.iter().filter(|b| present.contains(b.family)).collect();

    // Yesterday, as the demo's series counting at their pace since start-up, every 5 min.
    let mut om = String::from("# TYPE llm_estimated_cost_usd counter\n");
    for (_, labels, value) in scrape.matching("llm_estimated_cost_usd_total", &[]) {
        if *value <= 0.0 {
            continue;
        }
        let mut labels = labels.clone();
        labels.insert("job".into(), "llm-exporter-aws".into());
        labels.insert("instance".into(), exporter.addr.clone());
        let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let pace = value / secs;
        for t in (y0..t0).step_by(300) {
            om.push_str(&format!(
                "llm_estimated_cost_usd_total{{{}}} {} {t}\n",
                text.join(","),
                pace * (t - y0) as f64
            ));
        }
    }
    om.push_str("# EOF\n");
    std::fs::write(d.join("yesterday.om"), om).unwrap();
    let data = d.join("data-aws");
    let out = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(d.join("yesterday.om"))
        .arg(&data)
        .output()
        .expect("promtool is not installed: run scripts/install-test-deps.sh");
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The regional Prometheus: aws.yml scraping the exporter, on the backfilled data.
    let mut c = yaml(&repo.join("prometheus/aws.yml"));
    c["global"]["scrape_interval"] = Yaml::from("1s");
    c["rule_files"] = Yaml::Sequence(vec![Yaml::from(
        repo.join("prometheus/rules/llm.rules.yml")
            .display()
            .to_string(),
    )]);
    let job = &mut c["scrape_configs"][0];
    job["scrape_interval"] = Yaml::from("1s");
    job["scrape_timeout"] = Yaml::from("1s");
    job["static_configs"][0]["targets"] = Yaml::Sequence(vec![Yaml::from(exporter.addr.clone())]);
    std::fs::write(d.join("aws.yml"), serde_yaml_ng::to_string(&c).unwrap()).unwrap();
    let port = non_ephemeral_free_port();
    let _regional = start_prometheus_at(&d.join("aws.yml"), &data, port);
    let regional = format!("127.0.0.1:{port}");

    // The bill: yesterday at each model's factor of yesterday's estimate, in 24 hourly rows,
    // and the first hour of today (so yesterday is the last complete day).
    let day_expr = "sum by (model) (increase(llm_estimated_cost_usd_total[86400s]))";
    let estimated = per_family(&regional, day_expr, t0);
    assert_eq!(estimated.len(), bill.len(), "{estimated:?}");
    let mut lines = Vec::new();
    for b in &bill {
        let cost = b.factor * estimated[b.family];
        lines.extend((0..24).filter_map(|h| bill_row(b, yesterday, h, cost / 24.0)));
        lines.extend(bill_row(b, today, 0, cost / 24.0));
    }
    let local = d.join("export");
    generate(
        d,
        json!({"dir": local, "bucket": "cur-bucket", "prefix": "cur", "export": "llm-cur",
               "layout": "cur2", "file_format": "parquet",
               "periods": by_period(&[Value::Array(lines)], None)}),
    );

    // The gateway over the regional Prometheus, reading the export from file://.
    let gw_config = d.join("gateway.yaml");
    std::fs::write(
        &gw_config,
        format!(
            "upstreams: [{{cloud: aws, url: 'http://{regional}', timeout: 10s}}]\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\nbilling:\n  - {{cloud: aws, format: cur2, url: 'file://{}/cur/llm-cur/'}}\n",
            hash(KEY_ADMIN),
            d.join("gw.state.json").display(),
            local.display()
        ),
    )
    .unwrap();
    let g = start(&gw_config, &[]);
    let gw = Gw { g: &g };

    // The answer: yesterday per model, the estimate as Prometheus has it, drift = factor.
    let path = format!("/api/v1/costs/reconciliation?from={yesterday}&to={yesterday}");
    let v = super::wait_read(&gw, KEY_ADMIN, &path, 1);
    assert_eq!(
        v["billed_through"]["aws"],
        json!(yesterday.to_string()),
        "{v:#}"
    );
    assert_eq!(v["partial"], json!(false), "{v:#}");
    let answer = rows(&v);
    assert_eq!(answer.len(), bill.len(), "{v:#}");
    for ((day, account, model), r) in &answer {
        let b = family(model);
        assert_eq!(
            (day.as_str(), account.as_str()),
            (yesterday.to_string().as_str(), ACCOUNT)
        );
        let est = estimated[b.family];
        assert!(near(f(&r["estimated_usd"]), est), "{model}: {r} vs {est}");
        assert!(near(f(&r["billed_usd"]), b.factor * est), "{model}: {r}");
        assert!(near(f(&r["drift_ratio"]), b.factor), "{model}: {r}");
    }

    // The ratio over the last 7 complete days, on the gateway's /metrics.
    let week = per_family(
        &regional,
        "sum by (model) (increase(llm_estimated_cost_usd_total[604800s]))",
        t0,
    );
    let want: BTreeMap<&str, f64> = bill
        .iter()
        .map(|b| (b.family, b.factor * estimated[b.family] / week[b.family]))
        .collect();
    assert!(near(want["claude-haiku-4-5"], 2.0), "{want:?}");
    let ratios = |s: &Scrape| -> BTreeMap<&'static str, f64> {
        s.matching(
            "llm_billing_effective_rate_ratio",
            &[("cloud", "aws"), ("account", ACCOUNT)],
        )
        .iter()
        .map(|x| (family(&x.1["model"]).family, x.2))
        .collect()
    };
    let scrape = g.wait_for("the ratio of every model", Duration::from_secs(45), |s| {
        ratios(s).len() == bill.len()
    });
    for (fam, got) in ratios(&scrape) {
        assert!(near(got, want[fam]), "{fam}: {got} vs {}", want[fam]);
    }

    // The global Prometheus: global.yml with its llm-gateway job and the alert rules as they
    // are (no Alertmanager here).
    let mut gc = yaml(&repo.join("prometheus/global.yml"));
    gc["global"]["scrape_interval"] = Yaml::from("1s");
    gc["global"]["evaluation_interval"] = Yaml::from("1s");
    gc["rule_files"] = Yaml::Sequence(
        ["alerts/thresholds.yml", "alerts/llm.alerts.yml"]
            .iter()
            .map(|f| Yaml::from(repo.join(f).display().to_string()))
            .collect(),
    );
    gc.as_mapping_mut().unwrap().remove("alerting");
    for job in gc["scrape_configs"].as_sequence_mut().unwrap() {
        let target = match job["job_name"].as_str().unwrap() {
            "llm-federate" => regional.clone(),
            "llm-gateway" => g.addr.clone(),
            other => panic!("global.yml has a job this test does not know: {other}"),
        };
        job["scrape_interval"] = Yaml::from("1s");
        job["scrape_timeout"] = Yaml::from("1s");
        job["static_configs"][0]["targets"] = Yaml::Sequence(vec![Yaml::from(target)]);
    }
    std::fs::write(d.join("global.yml"), serde_yaml_ng::to_string(&gc).unwrap()).unwrap();
    let gport = non_ephemeral_free_port();
    let _global = start_prometheus_at(&d.join("global.yml"), &d.join("data-global"), gport);
    let global = format!("127.0.0.1:{gport}");

    // The rule's expression holds for exactly the models billed more than 15 % away from the
    // estimate (Haiku at 2, Llama at 0; not 3.5 Sonnet at 1.1 or Nova Pro at 0.9), and the
    // alert is pending for them (its `for` is an hour).
    // The ratio reached it through the llm-gateway job.
    let scraped = wait_until(
        "the ratio in the global Prometheus",
        Duration::from_secs(30),
        || {
            let r = prom(
                &global,
                "llm_billing_effective_rate_ratio{job=\"llm-gateway\"}",
                &format!("{:.3}", Utc::now().timestamp_millis() as f64 / 1000.0),
            );
            (r.len() == bill.len()).then_some(r)
        },
    );
    for s in &scraped {
        let fam = family(s["metric"]["model"].as_str().unwrap()).family;
        assert!(near(num(&s["value"][1]), want[fam]), "{s}");
    }
    let drifting: BTreeSet<&str> = bill
        .iter()
        .filter(|b| (b.factor - 1.0).abs() > 0.15)
        .map(|b| b.family)
        .collect();
    assert!(
        drifting.contains("claude-haiku-4-5") && drifting.len() < bill.len(),
        "{drifting:?}"
    );
    let alerts = yaml(&repo.join("alerts/llm.alerts.yml"));
    let rule = alerts["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .find(|r| r["alert"] == "LLMEstimateDriftsFromBill")
        .unwrap();
    let expr = rule["expr"].as_str().unwrap();
    let pending = wait_until(
        "LLMEstimateDriftsFromBill pending",
        Duration::from_secs(30),
        || {
            let (_, body) = http_get(&global, "/api/v1/alerts").ok()?;
            let v: Value = serde_json::from_str(&body).ok()?;
            let mine: Vec<Value> = v["data"]["alerts"]
                .as_array()?
                .iter()
                .filter(|a| a["labels"]["alertname"] == "LLMEstimateDriftsFromBill")
                .cloned()
                .collect();
            let models: BTreeSet<&str> = mine
                .iter()
                .filter_map(|a| a["labels"]["model"].as_str())
                .map(|m| family(m).family)
                .collect();
            (models == drifting).then_some(v)
        },
    );
    // Now, after the evaluation that made the alerts pending (a whole second earlier can
    // precede the first scrape of the gateway).
    let now = format!("{:.3}", Utc::now().timestamp_millis() as f64 / 1000.0);
    let result = prom(&global, expr, &now);
    let holds: BTreeSet<&str> = result
        .iter()
        .map(|s| family(s["metric"]["model"].as_str().unwrap()).family)
        .collect();
    assert_eq!(
        holds, drifting,
        "{expr} at {now}: {result:?}
{pending}"
    );
    for a in pending["data"]["alerts"].as_array().unwrap() {
        assert_ne!(a["labels"]["alertname"], "LLMBillingExportStale", "{a}");
        if a["labels"]["alertname"] == "LLMEstimateDriftsFromBill" {
            assert_eq!(a["state"], "pending", "{a}");
            assert_eq!(a["labels"]["cloud"], "aws", "{a}");
            assert_eq!(a["labels"]["account"], ACCOUNT, "{a}");
            let fam = family(a["labels"]["model"].as_str().unwrap()).family;
            assert!(near(num(&a["value"]), want[fam]), "{a}");
        }
    }
    eprintln!(
        "drift path checked in {:.1} s",
        began.elapsed().as_secs_f64()
    );
}
