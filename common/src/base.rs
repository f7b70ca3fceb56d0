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
