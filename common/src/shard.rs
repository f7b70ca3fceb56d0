//! Splitting scopes across exporter replicas, as kube-state-metrics does (`--shard`,
//! `--total-shards`): a scope belongs to shard `fnv1a64(scope) % total_shards`. The hash is
//! FNV-1a (64-bit), fixed by its definition, so every replica and every version agrees on
//! which replica owns a scope; Rust's default hasher is randomized per process and cannot be
//! used here. Each scope has exactly one owner, so no scope is polled twice and the shards
//! together poll what one process would.

/// This replica's part of the scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub total: u64,
}

impl Default for Shard {
    /// One process holding every scope.
    fn default() -> Self {
        Shard { index: 0, total: 1 }
    }
}

impl Shard {
    /// Checks `--shard` and `--total-shards`.
    pub fn new(index: u64, total: u64) -> Result<Shard, String> {
        if total == 0 {
            return Err("--total-shards must be at least 1".into());
        }
        if index >= total {
            return Err(format!(
                "--shard {index} must be less than --total-shards {total} (shards are numbered from 0)"
            ));
        }
        Ok(Shard { index, total })
    }

    /// Whether this replica polls `scope`.
    pub fn owns(&self, scope: &str) -> bool {
        fnv1a64(scope.as_bytes()) % self.total == self.index
    }

    /// Keeps the items whose scope this replica owns; returns them and the scopes left to
    /// the other shards.
    pub fn split<T>(&self, items: Vec<T>, scope: impl Fn(&T) -> &str) -> (Vec<T>, Vec<String>) {
        let mut kept = Vec::new();
        let mut others = Vec::new();
        for item in items {
            if self.owns(scope(&item)) {
                kept.push(item);
            } else {
                others.push(scope(&item).to_string());
            }
        }
        (kept, others)
    }
}

/// Whether a scope the accumulator holds (`held`) belongs to a source scope (`source`): the
/// same, or a scope the source found by discovery (`<source>/...`, Azure's accounts).
pub fn held_by(held: &str, source: &str) -> bool {
    held == source
        || held
            .strip_prefix(source)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// FNV-1a, 64-bit (http://www.isthe.com/chongo/tech/comp/fnv/).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        // From the FNV reference test suite (test_fnv.c, FNV1a_64).
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn every_scope_has_exactly_one_owner_and_shards_are_used() {
        let scopes: Vec<String> = (0..300).map(|i| format!("project-{i}")).collect();
        for total in 1..=7 {
            let shards: Vec<Shard> = (0..total).map(|i| Shard::new(i, total).unwrap()).collect();
            for s in &scopes {
                assert_eq!(shards.iter().filter(|sh| sh.owns(s)).count(), 1, "{s}");
            }
            for sh in &shards {
                let n = scopes.iter().filter(|s| sh.owns(s)).count();
                // 300 scopes over at most 7 shards: each gets a fair part, none is empty.
                assert!(n * total as usize > 150, "shard {sh:?} holds only {n}");
            }
        }
    }

    #[test]
    fn bad_flags_are_named() {
        assert!(Shard::new(0, 0).unwrap_err().contains("--total-shards"));
        let e = Shard::new(3, 3).unwrap_err();
        assert!(
            e.contains("--shard 3") && e.contains("--total-shards 3"),
            "{e}"
        );
        assert_eq!(Shard::new(2, 3), Ok(Shard { index: 2, total: 3 }));
    }

    #[test]
    fn split_keeps_owned_items_and_names_the_rest() {
        let sh = Shard::new(1, 2).unwrap();
        let items = vec!["a", "b", "c", "d", "e"];
        let (kept, others) = sh.split(items.clone(), |s| s);
        assert_eq!(kept.len() + others.len(), items.len());
        assert!(kept.iter().all(|s| sh.owns(s)));
        assert!(others.iter().all(|s| !sh.owns(s)));
    }

    #[test]
    fn discovered_scopes_belong_to_their_source() {
        assert!(held_by("sub-1", "sub-1"));
        assert!(held_by("sub-1/rg/acct", "sub-1"));
        assert!(!held_by("sub-10/rg/acct", "sub-1"));
        assert!(!held_by("sub-10", "sub-1"));
    }
}
