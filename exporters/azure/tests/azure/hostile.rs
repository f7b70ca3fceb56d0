//! Hostile responses, against the real binary and the fake Azure:
//! getBatch answers carrying values no real account reports (1.797e308 tokens in two minutes
//! of one deployment, a negative count, a point dated tomorrow, points dated 1970, a minute
//! reported twice) beside a sane deployment. The exporter keeps serving, counters stay finite
//! and never decrease, every rejected point is counted in
//! `llm_exporter_samples_rejected_total{reason}`, the sane totals are exact, the state file
//! holds only finite numbers and the next start accepts it. Then a `"total": "NaN"` (a string
//! where the documented schema has a number) fails the poll clearly without a crash and
//! without moving a counter, and the exporter recovers once the answers are sane again.
//!
//! The fake stores sane values only, so a proxy of the test's own sits between the exporter and
//! the fake's getBatch and appends the hostile points to its answers (the documented shape).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use testkit::hostile::{assert_state_finite, check_counters, rejected};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SUB: &str = "aaaaaaaa-1111-2222-3333-444444444444";

/// (metric, deployment, data point) appended to every getBatch answer.
#[derive(Clone, Default)]
struct Inject {
    upstream: String,
    fake_public: Arc<Mutex<String>>,
    points: Arc<Mutex<Vec<(String, String, Value)>>>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl Inject {
    fn add(&self, metric: &str, deployment: &str, point: Value) {
        self.points
            .lock()
            .unwrap()
            .push((metric.into(), deployment.into(), point));
    }
}

/// One plain HTTP/1.0 POST to the fake (behind its TLS front, the fake itself is plain).
async fn forward(upstream: &str, path: &str, auth: &str, body: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(upstream).await?;
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: {upstream}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let raw = String::from_utf8_lossy(&raw);
    Ok(raw
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string())
}

async fn get_batch(
    State(inject): State<Inject>,
    Path((region, sub, op)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    inject
        .calls
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    // The fake checks the token's audience against its own address.
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|_| {
            format!(
                "Bearer fake-token:{}/.default",
                inject.fake_public.lock().unwrap()
            )
        })
        .unwrap_or_default();
    let path = format!(
        "/{region}/subscriptions/{sub}/{op}?{}",
        q.unwrap_or_default()
    );
    let Ok(text) = forward(&inject.upstream, &path, &auth, &body).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let Ok(mut answer) = serde_json::from_str::<Value>(&text) else {
        return (StatusCode::BAD_GATEWAY, text).into_response();
    };
    let points = inject.points.lock().unwrap().clone();
    for resource in answer["values"].as_array_mut().into_iter().flatten() {
        for metric in resource["value"].as_array_mut().into_iter().flatten() {
            let name = metric["name"]["value"].as_str().unwrap_or("").to_string();
            for (m, deployment, point) in &points {
                if *m != name {
                    continue;
                }
                let series = metric["timeseries"].as_array_mut().unwrap();
                let pos = series.iter().position(|ts| {
                    ts["metadatavalues"][0]["value"].as_str() == Some(deployment.as_str())
                });
                let ts = match pos {
                    Some(i) => &mut series[i],
                    None => {
                        series.push(json!({"metadatavalues": [{"name": {"value": "modeldeploymentname", "localizedValue": "modeldeploymentname"}, "value": deployment}], "data": []}));
                        series.last_mut().unwrap()
                    }
                };
                ts["data"].as_array_mut().unwrap().push(point.clone());
            }
        }
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        answer.to_string(),
    )
        .into_response()
}

fn point(minute: i64, total: Value) -> Value {
    json!({"timeStamp": rfc3339(minute), "total": total})
}

fn tokens(s: &Scrape, deployment: &str) -> f64 {
    sum(
        s,
        "llm_tokens_total",
        &[
            ("deployment", format!("oai-east/{deployment}").as_str()),
            ("token_type", "input"),
        ],
    )
}

/// Scrapes through `polls` more successful polls, checking every scrape.
fn watch(exporter: &Exporter, before: &mut Scrape, polls: f64) {
    let start = before
        .value("llm_exporter_polls_total", &[("outcome", "success")])
        .unwrap_or(0.0);
    wait_until("more polls", Duration::from_secs(30), || {
        let s = exporter.scrape();
        check_counters(before, &s, false);
        let done = s
            .value("llm_exporter_polls_total", &[("outcome", "success")])
            .unwrap_or(0.0)
            >= start + polls;
        *before = s;
        done.then_some(())
    });
}

#[test]
fn hostile_values_are_rejected_and_counted_and_sane_totals_stay_exact() {
    let east = FakeAccount {
        subscription: SUB.into(),
        name: "oai-east".into(),
        location: "eastus".into(),
        deployments: vec![deployment(
            "chat-prod",
            "gpt-4o",
            "2024-08-06",
            "OpenAI",
            "GlobalStandard",
        )],
    };
    let t = setup(vec![east.clone()]);
    // The proxy, on TLS with the fake's certificate, in front of the fake's getBatch.
    let inject = Inject {
        upstream: t._server.addr.clone(),
        fake_public: Arc::new(Mutex::new(t.public.clone())),
        ..Inject::default()
    };
    let proxy = Server::start(
        Router::new()
            .route("/{region}/subscriptions/{sub}/{op}", post(get_batch))
            .with_state(inject.clone()),
    );
    let (proxy_addr, _proxy_tls) = tls_proxy(
        proxy.addr.clone(),
        &t.dir.path().join("server.pem"),
        &t.dir.path().join("server.key"),
    );
    let state = t.dir.path().join("azure.state");
    let cfg = config(
        t.dir.path(),
        &t.public,
        &t.ca,
        &[SUB],
        &format!("state_file: {}\n", state.display()),
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("metrics: \"{}/{{region}}\"", t.public),
        &format!("metrics: \"https://{proxy_addr}/{{region}}\""),
    );
    std::fs::write(&cfg, text).unwrap();

    let mut exporter = start_exporter(&["--config.file", &cfg]);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute();
    let p = "ProcessedPromptTokens";
    // Sane: 3,000 tokens over two minutes.
    t.fake.add(&east, p, "chat-prod", "", m - 120, 1_000.0);
    t.fake.add(&east, p, "chat-prod", "", m - 60, 2_000.0);
    // 1.797e308 in two minutes of one deployment: added up they are +Inf.
    inject.add(p, "absurd", point(m - 120, json!(1.797e308)));
    inject.add(p, "absurd", point(m - 60, json!(1.797e308)));
    inject.add(p, "negative", point(m - 120, json!(-5.0)));
    inject.add(p, "future", point(m + 86_400, json!(50.0)));
    inject.add(p, "old", point(0, json!(50.0)));
    inject.add(p, "old", point(60, json!(50.0)));

    let s = exporter.wait_for(
        "the sane tokens and the rejections",
        Duration::from_secs(60),
        |s| {
            tokens(s, "chat-prod") == 3_000.0
                && rejected(s, "implausible") >= 2.0
                && rejected(s, "negative") >= 1.0
                && rejected(s, "future") >= 1.0
                && rejected(s, "before_window") >= 2.0
        },
    );
    for d in ["absurd", "negative", "future", "old"] {
        assert_eq!(tokens(&s, d), 0.0, "{d}: nothing counted\n{}", s.text);
    }

    // A minute reported twice in one series.
    inject.add(p, "twice", point(m - 120, json!(100.0)));
    inject.add(p, "twice", point(m - 120, json!(100.0)));
    let mut before = exporter.scrape();
    watch(&exporter, &mut before, 5.0);
    let twice = tokens(&before, "twice");
    assert!(
        (100.0..=200.0).contains(&twice),
        "a minute reported twice: {twice}"
    );
    println!("a minute reported twice (100 + 100) counts {twice}");
    assert_eq!(
        tokens(&before, "chat-prod"),
        3_000.0,
        "the sane total is exact"
    );

    // A string where the schema has a number: the answer is refused, nothing moves.
    inject.add(p, "nan", point(m - 120, json!("NaN")));
    let calls = || inject.calls.load(std::sync::atomic::Ordering::SeqCst);
    let c0 = calls();
    wait_until(
        "two getBatch answers with NaN",
        Duration::from_secs(30),
        || (calls() >= c0 + 2).then_some(()),
    );
    let s = exporter.wait_for("the account reported down", Duration::from_secs(30), |s| {
        s.value(
            "llm_exporter_target_up",
            &[("target", format!("{SUB}/rg-llm/oai-east").as_str())],
        ) == Some(0.0)
    });
    check_counters(&before, &s, false);
    let log = exporter.proc.log();
    let line = log
        .lines()
        .find(|l| l.contains("NaN") || l.contains("invalid type"))
        .unwrap_or_else(|| panic!("no log line names the bad value:\n{log}"));
    assert!(line.len() < 2048, "{line}");
    println!("logged: {line}");
    let target = format!("{SUB}/rg-llm/oai-east");
    println!(
        "with a NaN string in getBatch: target_up {:?}, api requests {:?}",
        s.value("llm_exporter_target_up", &[("target", target.as_str())]),
        s.matching("llm_exporter_api_requests_total", &[])
    );
    assert!(
        !exporter.proc.log().contains("panicked"),
        "{}",
        exporter.proc.log()
    );
    inject.points.lock().unwrap().retain(|(_, d, _)| d != "nan");
    t.fake
        .add(&east, p, "chat-prod", "", now_minute() - 60, 500.0);
    let mut before = exporter.wait_for("recovery", Duration::from_secs(60), |s| {
        tokens(s, "chat-prod") == 3_500.0
    });
    watch(&exporter, &mut before, 2.0);

    // The state file holds only finite numbers, and the next start accepts it.
    exporter.proc.stop();
    assert_state_finite(&state);
    let exporter = start_exporter(&["--config.file", &cfg]);
    let s = exporter.wait_for("the restart's poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    assert_eq!(
        tokens(&s, "chat-prod"),
        3_500.0,
        "restored, not counted again"
    );
    check_counters(&before, &s, true);
}
