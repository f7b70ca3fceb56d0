//! The state file: counters and revision state, written atomically (temporary file, fsync,
//! rename, fsync of the directory) so a crash at any moment leaves either the previous or the
//! new state, never half of one; and a lock beside it, so two exporters never share one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::accumulator::revisions::ScopeRevisions;
use crate::accumulator::CounterKey;

pub const STATE_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
#[error("state_file {path}: {message}")]
pub struct StateError {
    pub path: String,
    pub message: String,
}

impl StateError {
    pub fn new(path: &Path, message: impl std::fmt::Display) -> Self {
        StateError {
            path: crate::config::shown(path),
            // Parser messages quote the file's values, which can be megabytes long.
            message: crate::config::shorten(&message.to_string(), 500),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub cloud: String,
    /// Unix seconds (trusted clock) when it was written.
    #[serde(default)]
    pub saved_at: i64,
    /// What wrote it: the demo's counters must never be loaded into a real run, or the other
    /// way round.
    #[serde(default)]
    pub written_by: WrittenBy,
    pub counters: Vec<SavedCounter>,
    pub scopes: BTreeMap<String, ScopeRevisions>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WrittenBy {
    /// `demo` (--demo) or `cloud`; empty in files written before it was recorded.
    #[serde(default)]
    pub source: String,
    pub version: String,
}

#[derive(Serialize, Deserialize)]
pub struct SavedCounter {
    pub key: CounterKey,
    pub total: f64,
    /// Counted but not yet published when saved (a new counter shows 0 first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// Version 1 kept revision state per exported label set, which cannot be mapped to the
/// cloud's series: its counters are kept, and each scope records what the cloud reports on
/// its first poll without counting it (a re-baseline), so nothing is counted twice.
#[derive(Deserialize)]
struct StateFileV1 {
    cloud: String,
    counters: Vec<SavedCounter>,
    scopes: BTreeMap<String, ScopeV1>,
}

#[derive(Deserialize)]
struct ScopeV1 {
    horizon: i64,
}

/// Parses a state file of any supported version.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StateFile, StateError> {
    let invalid = |e: serde_json::Error| {
        StateError::new(
            path,
            format!("not a valid state file ({e}); move it away to start over"),
        )
    };
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let version = serde_json::from_slice::<Version>(bytes)
        .map_err(invalid)?
        .version;
    match version {
        STATE_VERSION => serde_json::from_slice(bytes).map_err(invalid),
        1 => {
            let v1: StateFileV1 = serde_json::from_slice(bytes).map_err(invalid)?;
            tracing::warn!(path = %crate::config::shown(path), "state file version 1: counters kept; each scope's first poll re-baselines open minutes");
            Ok(StateFile {
                version: STATE_VERSION,
                cloud: v1.cloud,
                saved_at: 0,
                written_by: WrittenBy::default(),
                counters: v1.counters,
                scopes: v1
                    .scopes
                    .into_iter()
                    .map(|(name, s)| {
                        let mut r = ScopeRevisions::new(s.horizon, s.horizon);
                        r.rebaseline = true;
                        (name, r)
                    })
                    .collect(),
            })
        }
        v => Err(StateError::new(
            path,
            format!("state version {v} is not supported (this exporter writes {STATE_VERSION})"),
        )),
    }
}

/// Reads the state file; `Ok(None)` when it does not exist (a first start).
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StateError::new(path, e)),
    }
}

/// Replaces the state file atomically ([`crate::atomic_file::write`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    crate::atomic_file::write(path, bytes).map_err(|e| StateError::new(path, e))
}

/// An exclusive lock on `<state_file>.lock`, held for the life of the process: a second
/// exporter pointed at the same state file refuses to start instead of both writing it.
pub struct StateLock {
    _file: File,
}

impl StateLock {
    pub fn acquire(state_path: &Path) -> Result<StateLock, StateError> {
        let mut lock_path = state_path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| {
                StateError::new(
                    state_path,
                    format!(
                        "cannot create the lock file {} ({e}); the directory must exist and be writable",
                        crate::config::shown(&lock_path)
                    ),
                )
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another process".to_string()
                } else {
                    format!("another exporter ({holder})")
                };
                return Err(StateError::new(
                    state_path,
                    format!("in use by {holder}; give each exporter its own state_file"),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StateError::new(
                    state_path,
                    format!("cannot lock {}: {e}", crate::config::shown(&lock_path)),
                ))
            }
        }
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {}", std::process::id());
        let _ = file.sync_all();
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.state");
        let first = StateLock::acquire(&path).unwrap();
        let e = StateLock::acquire(&path).err().unwrap().to_string();
        assert!(e.contains("state_file") && e.contains("aws.state"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        StateLock::acquire(&path).expect("free again once the holder is gone");
    }

    #[test]
    fn a_missing_directory_is_reported_at_once() {
        let e = StateLock::acquire(Path::new("/nonexistent/dir/aws.state"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("/nonexistent/dir") && e.contains("must exist"),
            "{e}"
        );
    }

    #[test]
    fn atomic_writes_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
