//! `--config.check`, and the state file's provenance, against the real binary.

use std::process::Command;

fn exporter(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_llm-exporter-gcp"))
        .args(args)
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn config_check_validates_every_file_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("state")).unwrap();
    std::fs::write(
        d.join("prices.yaml"),
        "models:\n  gcp:\n    my-model: {input: 1.0e-6}\n",
    )
    .unwrap();
    // Relative paths are the config file's; {exporter} names each exporter's state file.
    let cfg = d.join("config.yaml");
    std::fs::write(
        &cfg,
        "state_file: state/{exporter}.state\npricing_file: prices.yaml\ngcp:\n  projects: [p]\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let (ok, out) = exporter(&["--config.file", c, "--config.check"]);
    assert!(ok, "{out}");
    assert!(out.contains("prices.yaml: ok"), "{out}");
    assert!(
        !out.contains("demo"),
        "--config.check is no demo run: {out}"
    );
    assert!(
        out.contains(&format!(
            "{}: not written yet",
            d.join("state/gcp.state").display()
        )),
        "{out}"
    );

    // A demo run writes the state file; a real run's check refuses it.
    std::fs::write(
        d.join("state/gcp.state"),
        r#"{"version":2,"cloud":"gcp","written_by":{"source":"demo","version":"0.1.0"},"counters":[],"scopes":{}}"#,
    )
    .unwrap();
    let (ok, out) = exporter(&["--config.file", c, "--config.check"]);
    assert!(!ok);
    assert!(out.contains("written by a demo run"), "{out}");
    let (ok, out) = exporter(&["--config.file", c, "--config.check", "--demo"]);
    assert!(ok, "{out}");

    // A broken pricing file fails the check, naming the key once.
    std::fs::write(d.join("prices.yaml"), "models:\n  amazon: {}\n").unwrap();
    let (ok, out) = exporter(&["--config.file", c, "--config.check"]);
    assert!(!ok);
    assert!(
        out.contains("pricing_file") && out.contains("unknown cloud"),
        "{out}"
    );
}
