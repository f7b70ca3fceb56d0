//! The bottom layer: small helpers any module may use. It uses no other module of the crate,
//! so no import through it can close a circle.

use std::sync::{Mutex, MutexGuard};

/// A mutex's guard, poisoned or not: a panic in one task must not stop polling, publishing or
/// exposition, and every value kept behind these locks stays consistent between statements.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Unix seconds now, from the host's wall clock (0 for a clock set before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    /// The crate's layers, lowest first: a module uses only modules before it, so data flows
    /// source -> poller -> accumulator -> publish -> server/landing without a circle (the
    /// poller, above the accumulator and the publisher, drives both).
    const LAYERS: &[&str] = &[
        "base",
        "error",
        "source",
        "budget",
        "shard",
        "edge",
        "gzip",
        "idle",
        "config",
        "tls",
        "cli",
        "metrics",
        "cache",
        "basic_auth",
        "web_config",
        "guard",
        "pricing",
        "accumulator",
        "exposition",
        "publish",
        "poller",
        "demo",
        "reload",
        "landing",
        "server",
    ];

    #[test]
    fn modules_import_each_other_one_way() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        testkit::layers::assert_one_way(&src, LAYERS);
    }
}
