//! An exporter started with nothing from the machine's environment (no credentials, no cloud
//! set-up), for tests of what a user sees when nothing is configured.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{wait_until, Proc};

/// Starts `bin` with `args`, an empty environment (but `PATH`, `HOME=home` and `env`), on a
/// free port of 127.0.0.1.
pub fn start_bare(bin: &str, args: &[&str], home: &Path, env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .arg("--web.listen-address=127.0.0.1:0")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::spawn(cmd)
}

/// The first log line of a failed poll (waits up to a minute).
pub fn first_failed_poll(proc: &Proc) -> String {
    wait_until("a failed poll", Duration::from_secs(60), || {
        proc.log()
            .lines()
            .find(|l| l.contains("poll failed"))
            .map(str::to_string)
    })
}
