//! One project's outage never holds back another: each project has its
//! own breaker and rate limit, so a project answering 503 opens the breaker for itself only.

use std::time::{Duration, Instant};

use crate::support::*;

const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];

#[test]
fn one_failing_project_does_not_hold_back_another() {
    let fake = Fake::default();
    fake.state()
        .project_faults
        .insert("proj-b".into(), Fault::Status(503));
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let cfg = write_config(dir.path(), &server.url(), "proj-a, proj-b", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    exporter.wait_for("proj-b's breaker to open", Duration::from_secs(90), |s| {
        s.value(
            "llm_exporter_circuit_state",
            &[("api", "timeSeries.list"), ("target", "proj-b")],
        ) == Some(2.0)
            && s.value("llm_exporter_target_up", &[("target", "proj-a")]) == Some(1.0)
    });
    let m = now_minute();
    add_tokens(&fake, "proj-a", &GEMINI, "input", m, 1_234);
    let input = [("account", "proj-a"), ("token_type", "input")];
    exporter.wait_for("proj-a to count", Duration::from_secs(60), |s| {
        s.value("llm_tokens_total", &input) == Some(1_234.0)
    });
    // For 10 s of scrapes, proj-a stays up and its breaker closed while proj-b fails.
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let s = exporter.scrape();
        assert_eq!(
            s.value("llm_exporter_target_up", &[("target", "proj-a")]),
            Some(1.0)
        );
        assert_eq!(
            s.value("llm_exporter_target_up", &[("target", "proj-b")]),
            Some(0.0)
        );
        assert_eq!(
            s.value(
                "llm_exporter_circuit_state",
                &[("api", "timeSeries.list"), ("target", "proj-a")]
            ),
            Some(0.0)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(exporter.proc.log().contains("proj-b"));

    // The landing page shows each target's state and error, the breakers and the config.
    let (status, page) = exporter.get("/");
    assert_eq!(status, 200);
    for expected in [
        "proj-a",
        "proj-b",
        "failed",
        "circuit open",
        "timeSeries.list proj-b</td><td>open",
        "usage series held",
        "poll_interval",
        "litellm 1.109.1",
    ] {
        assert!(
            page.contains(expected),
            "{expected:?} missing from the landing page:\n{page}"
        );
    }
}

/// The reason `llm_exporter_target_failure_reason` gives for a project (at most one).
fn failure_reasons(s: &testkit::Scrape, project: &str) -> Vec<String> {
    s.matching("llm_exporter_target_failure_reason", &[("target", project)])
        .iter()
        .filter(|(_, _, v)| *v == 1.0)
        .map(|(_, l, _)| l["reason"].clone())
        .collect()
}

/// A project without the monitoring.viewer role (403 PERMISSION_DENIED) and one over its
/// quota (429 RESOURCE_EXHAUSTED) are down with the reason an operator acts on, beside the
/// healthy one; the landing page says it too, and the reason goes once the project works.
#[test]
fn a_failing_project_says_whether_it_is_denied_or_throttled() {
    let fake = Fake::default();
    fake.state()
        .project_faults
        .insert("proj-b".into(), Fault::Status(403));
    fake.state()
        .project_faults
        .insert("proj-c".into(), Fault::Status(429));
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let cfg = write_config(dir.path(), &server.url(), "proj-a, proj-b, proj-c", "");
    let exporter = start_exporter(&["--config.file", &cfg], &key);
    let s = exporter.wait_for("both reasons", Duration::from_secs(60), |s| {
        failure_reasons(s, "proj-b") == ["denied"] && failure_reasons(s, "proj-c") == ["throttled"]
    });
    assert_eq!(
        s.value("llm_exporter_target_up", &[("target", "proj-b")]),
        Some(0.0)
    );
    assert_eq!(
        s.value("llm_exporter_target_up", &[("target", "proj-c")]),
        Some(0.0)
    );
    assert!(
        failure_reasons(&s, "proj-a").is_empty(),
        "none while it succeeds"
    );
    let (_, page) = exporter.get("/");
    assert!(
        page.contains("<td>denied</td>") && page.contains("<td>throttled</td>"),
        "the landing page says why:\n{page}"
    );
    fake.state().project_faults.clear();
    exporter.wait_for("the reasons to go", Duration::from_secs(60), |s| {
        s.value("llm_exporter_target_up", &[("target", "proj-b")]) == Some(1.0)
            && failure_reasons(s, "proj-b").is_empty()
            && failure_reasons(s, "proj-c").is_empty()
    });
}

const FLEET: [&str; 8] = [
    "proj-a", "proj-b", "proj-c", "proj-d", "proj-e", "proj-f", "proj-g", "proj-h",
];

/// Projects whose target is up in this scrape.
fn targets_up(s: &testkit::Scrape) -> Vec<String> {
    s.matching("llm_exporter_target_up", &[])
        .iter()
        .filter(|(_, _, v)| *v == 1.0)
        .map(|(_, l, _)| l["target"].clone())
        .collect()
}

#[test]
fn three_shards_poll_each_project_once_and_total_what_one_process_does() {
    let fake = Fake::default();
    let server = fake.start();
    let projects = FLEET.join(", ");
    let one_dir = tempfile::tempdir().unwrap();
    let key = service_account_key(one_dir.path());
    let one_cfg = write_config(one_dir.path(), &server.url(), &projects, "");
    // One config for every shard: `{shard}` gives each replica its own state file.
    let shard_dir = tempfile::tempdir().unwrap();
    let shard_cfg = write_config(
        shard_dir.path(),
        &server.url(),
        &projects,
        "state_file: state-{shard}.json\n",
    );
    let one = start_exporter(&["--config.file", &one_cfg], &key);
    let shards: Vec<_> = (0..3)
        .map(|i| {
            let i = i.to_string();
            let args = [
                "--config.file",
                &shard_cfg,
                "--shard",
                &i,
                "--total-shards",
                "3",
            ];
            start_exporter(&args, &key)
        })
        .collect();

    // Every project is up in the single process, and in exactly one shard.
    one.wait_for("every project up", Duration::from_secs(60), |s| {
        targets_up(s).len() == FLEET.len()
    });
    let mut owner = std::collections::BTreeMap::new();
    for (i, shard) in shards.iter().enumerate() {
        let s = shard.wait_for("its projects up", Duration::from_secs(60), |s| {
            !targets_up(s).is_empty()
                && s.value(
                    "llm_exporter_shard",
                    &[("shard", &i.to_string()), ("total_shards", "3")],
                ) == Some(targets_up(s).len() as f64)
        });
        for p in targets_up(&s) {
            assert!(
                owner.insert(p.clone(), i).is_none(),
                "{p} polled by two shards"
            );
        }
        assert!(shard_dir.path().join(format!("state-{i}.json")).exists());
    }
    let owned: Vec<&str> = owner.keys().map(String::as_str).collect();
    assert_eq!(owned, FLEET, "the shards together poll the fleet");

    let m = now_minute();
    for (n, p) in FLEET.iter().enumerate() {
        add_tokens(&fake, p, &GEMINI, "input", m, 1_000 * (n as i64 + 1));
    }
    let fleet_total: f64 = (1..=FLEET.len()).map(|n| 1_000.0 * n as f64).sum();
    let tokens = |s: &testkit::Scrape| -> f64 {
        s.matching("llm_tokens_total", &[("token_type", "input")])
            .iter()
            .map(|(_, _, v)| v)
            .sum()
    };
    let cost = |s: &testkit::Scrape| -> f64 {
        s.matching("llm_estimated_cost_usd_total", &[])
            .iter()
            .map(|(_, _, v)| v)
            .sum()
    };
    let single = one.wait_for("the fleet's tokens", Duration::from_secs(60), |s| {
        tokens(s) == fleet_total
    });
    let parts: Vec<_> = shards
        .iter()
        .map(|e| {
            e.wait_for("its projects' tokens", Duration::from_secs(60), |s| {
                let want: f64 = FLEET
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| targets_up(s).contains(&p.to_string()))
                    .map(|(n, _)| 1_000.0 * (n as f64 + 1.0))
                    .sum();
                tokens(s) == want
            })
        })
        .collect();
    assert_eq!(parts.iter().map(tokens).sum::<f64>(), fleet_total);
    let shard_cost: f64 = parts.iter().map(cost).sum();
    assert!(cost(&single) > 0.0);
    assert!(
        (shard_cost - cost(&single)).abs() < 1e-9,
        "{shard_cost} vs {}",
        cost(&single)
    );
    // Per project, the owning shard's series equal the single process' series.
    for (p, i) in &owner {
        let labels = [("account", p.as_str()), ("token_type", "input")];
        assert_eq!(
            parts[*i].value("llm_tokens_total", &labels),
            single.value("llm_tokens_total", &labels),
            "{p}"
        );
        for (j, other) in parts.iter().enumerate() {
            if j != *i {
                assert!(
                    other
                        .matching("llm_tokens_total", &[("account", p)])
                        .is_empty(),
                    "{p} in shard {j}"
                );
            }
        }
    }
    let (_, page) = shards[2].get("/");
    assert!(
        page.contains("2 of 3"),
        "the landing page names the shard:\n{page}"
    );

    // Shard 0 of 3 (proj-c, proj-d) restarted as shard 0 of 2 on its own state file: proj-d
    // now belongs to shard 1, and the restore says the file was written by another layout.
    const WARNING: &str = "the state file holds scopes another shard polls";
    assert!(!shards[0].proc.log().contains(WARNING));
    let mut first = shards.into_iter().next().unwrap();
    first.proc.stop();
    let args = [
        "--config.file",
        &shard_cfg,
        "--shard",
        "0",
        "--total-shards",
        "2",
    ];
    let resharded = start_exporter(&args, &key);
    resharded.wait_for("the new layout", Duration::from_secs(60), |s| {
        s.value(
            "llm_exporter_shard",
            &[("shard", "0"), ("total_shards", "2")],
        ) == Some(4.0)
    });
    let log = resharded.proc.log();
    assert!(
        log.contains(WARNING) && log.contains("example=proj-d"),
        "{log}"
    );
}

#[test]
fn a_shard_outside_total_shards_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "http://127.0.0.1:9", "proj-a", "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llm-exporter-gcp"))
        .args(["--config.file", &cfg, "--shard", "3", "--total-shards", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--shard 3 must be less than --total-shards 3"),
        "{err}"
    );
}
