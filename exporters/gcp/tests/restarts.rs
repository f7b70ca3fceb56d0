//! Restarts with a state file, against the real binary and the fake Cloud Monitoring while
//! usage keeps arriving: kill -9 at random moments never shows a scraper a counter going
//! backwards, and the totals end exact; two exporters never share one state file; a state
//! file that cannot be written stops publishing and says so.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use testkit::{wait_until, Exporter};

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

fn kill_9(mut e: Exporter) {
    let mut child = e.proc.child.take().expect("running");
    child.kill().unwrap(); // SIGKILL: no shutdown path runs
    child.wait().unwrap();
}

/// A tiny xorshift for the random moments (no seed from the outside: printed on failure).
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn kill_9_at_random_moments_never_shows_a_decrease_and_totals_end_exact() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let state = dir.path().join("gcp.state");
    let cfg = config(dir.path(), &server.url(), &state);

    // Usage before start-up is the baseline.
    add_tokens(&fake, now_minute() - 60, 1_000);
    let mut exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("the baseline poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });

    // From now on usage flows: 7 tokens every 100 ms into the current minute.
    let truth = Arc::new(AtomicI64::new(0));
    let flowing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (fake, truth, flowing) = (fake.clone(), truth.clone(), flowing.clone());
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(300);
            while flowing.load(Ordering::Acquire) && Instant::now() < end {
                add_tokens(&fake, now_minute(), 7);
                truth.fetch_add(7, Ordering::AcqRel);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut rng = seed;
    let (mut max_tokens, mut max_cost) = (0.0f64, 0.0f64);
    let (mut scrapes, mut decreases) = (0u64, 0u64);
    const KILLS: usize = 12;
    for kill in 0..KILLS {
        // Scrape as fast as a greedy Prometheus would for a random 0.2-3 s, then kill -9.
        let live_for = Duration::from_millis(200 + next(&mut rng) % 2_800);
        let end = Instant::now() + live_for;
        while Instant::now() < end {
            let s = exporter.scrape();
            scrapes += 1;
            let tokens = s.value("llm_tokens_total", &INPUT).unwrap_or(0.0);
            let cost = s
                .value("llm_estimated_cost_usd_total", &INPUT)
                .unwrap_or(0.0);
            if tokens < max_tokens || cost < max_cost - 1e-12 {
                decreases += 1;
                eprintln!("kill {kill} (seed {seed}): tokens {tokens} < {max_tokens} or cost {cost} < {max_cost}");
            }
            max_tokens = max_tokens.max(tokens);
            max_cost = max_cost.max(cost);
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_9(exporter);
        exporter = start_exporter(&["--config.file", &cfg], &key);
    }
    flowing.store(false, Ordering::Release);
    writer.join().unwrap();
    let truth = truth.load(Ordering::Acquire) as f64;

    let s = exporter.wait_for(
        "exact totals after recovery",
        Duration::from_secs(60),
        |s| s.value("llm_tokens_total", &INPUT) == Some(truth),
    );
    let cost = s.value("llm_estimated_cost_usd_total", &INPUT).unwrap();
    assert!((cost - truth * FLASH_IN).abs() < 1e-9, "cost {cost}");
    assert_eq!(
        decreases, 0,
        "{decreases} of {scrapes} scrapes went backwards (seed {seed})"
    );
    eprintln!(
        "kill -9 drill: {KILLS} kills, {scrapes} scrapes checked, 0 decreases, final {truth} tokens = truth {truth}"
    );
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
