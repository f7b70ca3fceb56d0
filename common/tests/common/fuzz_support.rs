//! What the fuzzing of the config, pricing, web config and state files shares: the size an
//! error may take, the huge values the cases carry, and the check that an error is clear.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

/// An error may quote a value cut short (300 bytes), the file's path and the field's path:
/// never the whole of a megabyte value.
pub const MAX_ERROR: usize = 2048;
/// The size of the huge values in generated cases (256 KB keeps 256 cases within seconds,
/// and is far beyond the 2 KB an error may take); the `*_10_mb` tests use 10 MB once each.
pub const HUGE: usize = 256 * 1024;
pub const TEN_MB: usize = 10 * 1024 * 1024;

/// Stands for a 256 KB string in generated cases (so a failing case prints short); replaced by
/// the real thing just before the text is parsed or the file written.
pub const HUGE_MARK: &str = "<256 KB>";

pub fn inflate(text: &str) -> String {
    text.replace(HUGE_MARK, &"x".repeat(HUGE))
}

/// An error the user can act on: short, and naming `what` (the key's file or field).
pub fn assert_clear(e: &dyn std::fmt::Display, what: &str) -> Result<(), TestCaseError> {
    let text = e.to_string();
    prop_assert!(
        text.len() < MAX_ERROR,
        "error of {} bytes: {}…",
        text.len(),
        &text[..text.floor_char_boundary(300)]
    );
    prop_assert!(text.contains(what), "error does not name {what}: {text}");
    Ok(())
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
