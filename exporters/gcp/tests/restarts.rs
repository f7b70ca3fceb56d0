//! Restarts with a state file, against the real binary and the fake Cloud Monitoring while
//! usage keeps arriving: kill -9 at random moments never shows a scraper a counter going
//! backwards, and the totals end exact, and so do SIGTERM restarts; two exporters never share one state file; a state
//! file that cannot be written stops publishing and says so.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use testkit::{drill, wait_until, Exporter};

const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];
const INPUT: [(&str, &str); 2] = [("model", "gemini-2.5-flash"), ("token_type", "input")];
const FLASH_IN: f64 = 0.30e-6;

fn add_tokens(fake: &Fake, period: i64, n: i64) {
    fake.add(
        "proj-a",
        "token_count",
        &GEMINI,
        &[("type", "input"), ("request_type", "shared")],
        period,
        PointValue::Int(n),
    );
}

fn config(dir: &std::path::Path, endpoint: &str, state: &std::path::Path) -> String {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "poll_interval: 1s\nstate_file: {}\ngcp:\n  projects: [proj-a]\n  monitoring_endpoint: {endpoint}\n  timeout: 2s\n",
            state.display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Restarts `times` times by `stop` while 7 tokens arrive every 100 ms and a scraper checks
/// every 20 ms that no counter goes down; then the totals must equal the truth exactly.
fn restart_drill(what: &str, times: usize, stop: fn(Exporter)) {
    let started = Instant::now();
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let state = dir.path().join("gcp.state");
    let cfg = config(dir.path(), &server.url(), &state);
    // Usage before start-up is the baseline.
    add_tokens(&fake, now_minute() - 60, 1_000);
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let truth = Arc::new(AtomicI64::new(0));
    let ticker = {
        let (fake, truth) = (fake.clone(), truth.clone());
        drill::Ticker::start(Duration::from_millis(100), move || {
            add_tokens(&fake, now_minute(), 7);
            truth.fetch_add(7, Ordering::AcqRel);
        })
    };
    let (exporter, scraper) = drill::restart_loop(exporter, times, stop, || {
        start_exporter(&["--config.file", &cfg], &key)
    });
    ticker.stop();
    // Decreases first: a restart that lost counts shows here before the totals do.
    scraper.figures().assert_clean();
    let truth = truth.load(Ordering::Acquire) as f64;
    let s = exporter.wait_for(
        "exact totals after the last restart",
        Duration::from_secs(60),
        |s| s.value("llm_tokens_total", &INPUT) == Some(truth),
    );
    let cost = s.value("llm_estimated_cost_usd_total", &INPUT).unwrap();
    assert!((cost - truth * FLASH_IN).abs() < 1e-9, "cost {cost}");
    let figures = scraper.stop();
    eprintln!(
        "DRILL gcp {what} loop: {times} restarts, {}; total {truth} = truth {truth}; {:.1?} wall",
        figures.line(),
        started.elapsed()
    );
    figures.assert_clean();
}

#[test]
fn kill_9_at_random_moments_never_shows_a_decrease_and_totals_end_exact() {
    restart_drill("kill -9", 12, drill::kill_9);
}

#[test]
fn sigterm_restarts_never_show_a_decrease_and_totals_end_exact() {
    restart_drill("SIGTERM", 8, drill::sigterm);
}

#[test]
fn a_second_exporter_on_the_same_state_file_refuses_to_start() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let state = dir.path().join("gcp.state");
    let cfg = config(dir.path(), &server.url(), &state);
    let first = start_exporter(&["--config.file", &cfg], &key);
    let pid = first.proc.child.as_ref().unwrap().id();

    let out = Command::new(env!("CARGO_BIN_EXE_llm-exporter-gcp"))
        .args(["--config.file", &cfg, "--web.listen-address=127.0.0.1:0"])
        .env("GOOGLE_APPLICATION_CREDENTIALS", &key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("state_file")
            && err.contains("gcp.state")
            && err.contains(&format!("pid {pid}")),
        "{err}"
    );
}

#[test]
fn a_state_file_that_cannot_be_written_stops_publishing_and_says_so() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let states = dir.path().join("states");
    std::fs::create_dir(&states).unwrap();
    let state = states.join("gcp.state");
    let cfg = config(dir.path(), &server.url(), &state);
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    let m = now_minute();
    add_tokens(&fake, m, 100);
    exporter.wait_for("the first tokens", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &INPUT) == Some(100.0)
    });

    // The directory disappears (a volume unmounted): writes fail.
    std::fs::remove_dir_all(&states).unwrap();
    add_tokens(&fake, m, 50);
    let s = exporter.wait_for("the failed write to show", Duration::from_secs(60), |s| {
        s.value("llm_exporter_state_writes_total", &[("outcome", "error")])
            .is_some_and(|v| v >= 1.0)
    });
    assert_eq!(
        s.value("llm_tokens_total", &INPUT),
        Some(100.0),
        "nothing is published that a restart could not restore"
    );
    wait_until("/-/ready to answer 503", Duration::from_secs(30), || {
        (exporter.get("/-/ready").0 == 503).then_some(())
    });
    assert!(exporter.proc.log().contains("cannot write the state file"));

    // Back: publishing resumes with everything counted meanwhile.
    std::fs::create_dir(&states).unwrap();
    exporter.wait_for("publishing to resume", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &INPUT) == Some(150.0)
    });
    assert_eq!(exporter.get("/-/ready").0, 200);
}
