//! Which clouds each tenant has disabled, kept across restarts in a small JSON file.
//!
//! A file written atomically ([`common::atomic_file`]: temporary file in the same directory,
//! fsync, rename, fsync of the directory) rather than SQLite: the state is a few bytes per tenant, written only when
//! someone enables or disables a cloud, and read once at start; a rename is atomic on POSIX
//! file systems, so a crash leaves either the old or the new file, never half of one. SQLite
//! would add a C library and a schema for a map of tenant to clouds, and the file stays
//! readable and editable by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::config::Cloud;
use common::base::lock;

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    /// tenant -> clouds it has disabled
    disabled: BTreeMap<String, BTreeSet<Cloud>>,
    /// tenant -> those of its disabled clouds the admin disabled: only the admin enables them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    by_admin: BTreeMap<String, BTreeSet<Cloud>>,
}

pub struct Store {
    path: PathBuf,
    state: Mutex<StateFile>,
}

#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {message}")]
pub struct StateError {
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("{0} was disabled by the admin: only the admin key can enable it")]
    AdminDisabled(Cloud),
    #[error(transparent)]
    State(#[from] StateError),
}

impl Store {
    /// Loads the file; a missing file is an empty state, an unreadable one an error (the
    /// gateway refuses to start rather than silently re-enable clouds).
    pub fn open(path: &Path) -> Result<Store, StateError> {
        let err = |message: String| StateError {
            path: path.display().to_string(),
            message,
        };
        let state = match std::fs::read_to_string(path) {
            Ok(text) => {
                let s: StateFile = serde_json::from_str(&text)
                    .map_err(|e| err(format!("not a gateway state file: {e}")))?;
                if s.version != 1 {
                    return Err(err(format!("unknown version {}", s.version)));
                }
                s
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile {
                version: 1,
                disabled: BTreeMap::new(),
                by_admin: BTreeMap::new(),
            },
            Err(e) => return Err(err(format!("cannot read: {e}"))),
        };
        Ok(Store {
            path: path.to_path_buf(),
            state: Mutex::new(state),
        })
    }

    pub fn disabled(&self, tenant: &str) -> BTreeSet<Cloud> {
        let s = lock(&self.state);
        s.disabled.get(tenant).cloned().unwrap_or_default()
    }

    /// Enables or disables `cloud` for `tenant` and persists it before returning. `admin`:
    /// the admin key asks; a cloud the admin disabled stays disabled until the admin enables
    /// it, whatever the tenant's own key asks.
    pub fn set(
        &self,
        tenant: &str,
        cloud: Cloud,
        enabled: bool,
        admin: bool,
    ) -> Result<(), SetError> {
        let mut s = lock(&self.state);
        let mut next = s.clone();
        let by_admin = next.by_admin.entry(tenant.to_string()).or_default();
        if enabled && !admin && by_admin.contains(&cloud) {
            return Err(SetError::AdminDisabled(cloud));
        }
        if admin {
            if enabled {
                by_admin.remove(&cloud);
            } else {
                by_admin.insert(cloud);
            }
        }
        let set = next.disabled.entry(tenant.to_string()).or_default();
        if enabled {
            set.remove(&cloud);
        } else {
            set.insert(cloud);
        }
        next.disabled.retain(|_, v| !v.is_empty());
        next.by_admin.retain(|_, v| !v.is_empty());
        if next != *s {
            write_atomically(&self.path, &next).map_err(|e| StateError {
                path: self.path.display().to_string(),
                message: format!("cannot write: {e}"),
            })?;
            *s = next;
        }
        Ok(())
    }
}

fn write_atomically(path: &Path, state: &StateFile) -> std::io::Result<()> {
    let mut body = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    body.push(b'\n');
    common::atomic_file::write(path, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reopen_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.state");
        let s = Store::open(&path).unwrap();
        assert!(s.disabled("a").is_empty());
        s.set("a", Cloud::Gcp, false, false).unwrap();
        s.set("a", Cloud::Aws, false, false).unwrap();
        s.set("a", Cloud::Aws, true, false).unwrap();
        let again = Store::open(&path).unwrap();
        assert_eq!(again.disabled("a"), BTreeSet::from([Cloud::Gcp]));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn what_the_admin_disabled_only_the_admin_enables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.state");
        let s = Store::open(&path).unwrap();
        s.set("a", Cloud::Gcp, false, true).unwrap();
        // The tenant's key: refused, also after a restart; disabling again changes nothing.
        assert!(matches!(
            s.set("a", Cloud::Gcp, true, false),
            Err(SetError::AdminDisabled(Cloud::Gcp))
        ));
        s.set("a", Cloud::Gcp, false, false).unwrap();
        let again = Store::open(&path).unwrap();
        assert!(again.set("a", Cloud::Gcp, true, false).is_err());
        assert_eq!(again.disabled("a"), BTreeSet::from([Cloud::Gcp]));
        // What the tenant disabled itself, it enables; the admin enables anything.
        again.set("a", Cloud::Aws, false, false).unwrap();
        again.set("a", Cloud::Aws, true, false).unwrap();
        again.set("a", Cloud::Gcp, true, true).unwrap();
        assert!(again.disabled("a").is_empty());
        again.set("a", Cloud::Gcp, false, false).unwrap();
        again.set("a", Cloud::Gcp, true, false).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.state");
        std::fs::write(&path, "{oops").unwrap();
        let e = Store::open(&path).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("state file {}", path.display())),
            "{e}"
        );
    }
}
