//! Build script of the binary crates (the three exporters and the gateway; not of `common`,
//! so that a new commit rebuilds only the binaries): sets `GIT_REVISION` for `--version` and
//! the build_info metrics. It reruns only when HEAD, the branch HEAD points at, or
//! `GIT_REVISION` in the environment changes. `GIT_REVISION` in the environment wins (a
//! build from an archive or a Docker context without `.git`); without either, `unknown`.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    let revision = std::env::var("GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=GIT_REVISION={revision}");

    // HEAD moves on checkout; the branch's ref (loose, or in packed-refs) on commit. Only
    // files that exist are named: cargo reruns a build script every time for a missing one.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    let here = std::env::current_dir().unwrap_or_default();
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = here.join(PathBuf::from(path));
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
