//! The bottom layer: small helpers any module may use. It uses no other module of the crate,
//! so no import through it can close a circle.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A mutex's guard, poisoned or not: a panic in one task must not stop polling, publishing or
/// exposition, and every value kept behind these locks stays consistent between statements.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A read guard of an `RwLock`, poisoned or not (as [`lock`]).
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// A write guard of an `RwLock`, poisoned or not (as [`lock`]).
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Unix seconds now, from the host's wall clock (0 for a clock set before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `text` cut to at most `max` bytes (at a character boundary) with an ellipsis: errors and
/// logs quote user and cloud values, which can be megabytes long.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes)", &text[..cut], text.len())
}

#[cfg(test)]
mod tests {
    /// The crate's layers, lowest first: a module uses only modules before it, so data flows
    /// source -> poller -> accumulator -> publish -> server/landing without a circle (the
    /// poller, above the accumulator and the publisher, drives both).
    const LAYERS: &[&str] = &[
        "base",
        "error",
        "atomic_file",
        "shutdown",
        "logging",
        "breaker",
        "source",
        "budget",
        "shard",
        "edge",
        "gzip",
        "idle",
        "sections",
        "config_error",
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
        "run",
        "exporter",
    ];

    #[test]
    fn modules_import_each_other_one_way() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        testkit::layers::assert_one_way(&src, LAYERS);
    }
}
