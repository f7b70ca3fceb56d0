//! Restarts with a state file, against the real binary and the fake Cloud Monitoring: kill -9
//! and SIGTERM at random moments while usage keeps arriving (`testkit::drills::restart_drills`)
//! never show a scraper a counter going backwards, and the totals end exact; two exporters
//! never share one state file; a state file that cannot be written stops publishing and says
//! so; state files of the previous version keep counting.

use std::process::Command;
use std::time::Duration;

use crate::support::drill_cloud::{add_input, GcpCloud, GEMINI, INPUT};
use crate::support::*;
use testkit::wait_until;

fn config(dir: &std::path::Path, endpoint: &str, state: &std::path::Path) -> String {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "poll_interval: 1s\nstate_file: {}\ngcp:\n  projects: [proj-a]\n  monitoring_endpoint: {endpoint}\n  timeout: 2s\n  idle_poll_interval: 2s\n",
            state.display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn kill_9_and_sigterm_restarts_never_show_a_decrease_and_totals_end_exact() {
    testkit::drills::restart_drills::<GcpCloud>();
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
    add_input(&fake, m, 100);
    exporter.wait_for("the first tokens", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &INPUT) == Some(100.0)
    });

    // The directory disappears (a volume unmounted): writes fail.
    std::fs::remove_dir_all(&states).unwrap();
    add_input(&fake, m, 50);
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

/// One series' revision state in a state file: (cloud series, provisioned part,
/// [(period, largest value seen)]).
type OldSeries<'a> = (&'a str, bool, &'a [(i64, f64)]);

/// A state file as the previous version wrote it, for scope `proj-a`: `counters` and the
/// revision state of `series`, saved just now, counting since `counting_since`, open from
/// `horizon`.
fn old_state_file(
    path: &std::path::Path,
    counters: &[(&str, f64)],
    series: &[OldSeries],
    horizon: i64,
    counting_since: i64,
) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let counters: Vec<serde_json::Value> = counters
        .iter()
        .map(|(model, total)| {
            serde_json::json!({
                "key": {"metric": {"tokens": "input"},
                        "labels": {"account": "proj-a", "region": "us-central1",
                                   "model": model, "deployment": ""}},
                "total": total,
            })
        })
        .collect();
    let series: Vec<serde_json::Value> = series
        .iter()
        .map(|(id, provisioned, periods)| {
            let mut key = serde_json::json!({"series": id, "metric": {"tokens": "input"}});
            if *provisioned {
                key["provisioned"] = serde_json::json!(true);
            }
            serde_json::json!([key, {"periods": periods, "final_through": i64::MIN}])
        })
        .collect();
    let file = serde_json::json!({
        "version": 2,
        "cloud": "gcp",
        "saved_at": now,
        "written_by": {"source": "cloud", "version": "0.1.0"},
        "counters": counters,
        "scopes": {"proj-a": {"horizon": horizon, "counting_since": counting_since,
                              "series": series}},
    });
    std::fs::write(path, file.to_string()).unwrap();
}

/// Provisioned Throughput tokens were revised as a "provisioned" part of the model's series;
/// they now have their own series id (`<series>#provisioned`), to which state files of the
/// previous version are migrated: an open minute counted before the restart is not counted
/// again, and later minutes count.
#[test]
fn a_dedicated_series_from_an_old_state_file_keeps_counting_without_double_counting() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let state = dir.path().join("gcp.state");
    let m = now_minute();
    let dedicated = TokenLabels {
        request_type: "dedicated",
        ..TokenLabels::shared("input", "us-central1")
    };
    // Counted by the previous version: 5,000 provisioned tokens two minutes ago.
    dedicated.add(&fake, "proj-a", &GEMINI, m - 120, 5_000);
    old_state_file(
        &state,
        &[("gemini-2.5-flash", 5_000.0)],
        &[(
            "us-central1|google|gemini-2.5-flash|",
            true,
            &[(m - 120, 5_000.0)],
        )],
        m - 600,
        m - 3_600,
    );
    let cfg = config(dir.path(), &server.url(), &state);
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("a poll", Duration::from_secs(60), |s| {
        s.value("llm_exporter_up", &[]) == Some(1.0)
    });
    // Growth after the restart: the same minute revised up, and a new minute.
    dedicated.add(&fake, "proj-a", &GEMINI, m - 120, 300);
    dedicated.add(&fake, "proj-a", &GEMINI, m, 700);
    let total = |s: &Scrape| -> f64 {
        s.matching("llm_tokens_total", &INPUT)
            .iter()
            .map(|m| m.2)
            .sum()
    };
    let s = exporter.wait_for("the growth counted", Duration::from_secs(60), |s| {
        total(s) >= 6_000.0
    });
    assert_eq!(total(&s), 6_000.0, "5,000 before the restart, 1,000 after");
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(total(&s), 6_000.0, "nothing counted twice on later polls");
    let cost: f64 = s
        .matching("llm_estimated_cost_usd_total", &INPUT)
        .iter()
        .map(|m| m.2)
        .sum();
    assert_eq!(cost, 0.0, "provisioned tokens are not priced per token");
}

/// A model part the exporter has not fetched before is fetched back to the window's
/// `backfill_start` (when counting started), not only from the open minutes: after a
/// restart, minutes a model had while its series was unknown to the state count in full. It
/// costs one extra call, only when a new part appears.
#[test]
fn a_new_part_is_fetched_back_to_when_counting_started_with_one_extra_call() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let state = dir.path().join("gcp.state");
    let m = now_minute();
    // Counting started an hour ago; minutes before ten minutes ago are closed for the
    // series the state knows (none), open for new ones back to the hour.
    old_state_file(&state, &[], &[], m - 600, m - 3_600);
    let online = TokenLabels::shared("input", "us-central1");
    online.add(&fake, "proj-a", &GEMINI, m - 1_800, 300);
    online.add(&fake, "proj-a", &GEMINI, m, 100);
    // Before counting started: never counted.
    online.add(&fake, "proj-a", &GEMINI, m - 7_200, 10_000);
    let cfg = config(dir.path(), &server.url(), &state);
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    let input = |s: &Scrape| -> f64 {
        s.matching("llm_tokens_total", &INPUT)
            .iter()
            .map(|m| m.2)
            .sum()
    };
    // A new counter is published at 0 for a poll interval before its first increase, so the
    // count is awaited rather than read after a fixed number of polls.
    let s = exporter.wait_for(
        "three polls and the new part",
        Duration::from_secs(60),
        |s| {
            s.value("llm_exporter_polls_total", &[("outcome", "success")]) >= Some(3.0)
                && input(s) >= 400.0
        },
    );
    assert_eq!(input(&s), 400.0, "the minute half an hour ago and this one");
    drop(exporter);
    let calls = fake.state().calls.clone();
    let n = |suffix: &str| {
        calls
            .iter()
            .find(|(k, _)| k.ends_with(suffix))
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    // Tokens are fetched first in a poll: a poll cut short by the stop may have fetched
    // them without the invocations.
    let extra = n("/token_count") - n("/model_invocation_count");
    assert!(
        extra == 1 || extra == 2,
        "one extra call, for the new part only, not one per poll: {calls:?}"
    );
}
