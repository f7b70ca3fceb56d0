//! The rule that a crate's modules import each other one way: each module named in a crate's
//! layer list may use (`crate::name`) only modules listed before it. Modules the list does not
//! name are not checked, but no listed module may use one. Comments and test code
//! (`#[cfg(test)]` items, `tests.rs` and `*_tests.rs` files) are left out: tests may use
//! anything.

use std::path::Path;

/// Panics naming every import that goes against `order` (lowest layer first) among the
/// modules of `src` (`name.rs`, or the files of a `name/` directory).
pub fn assert_one_way(src: &Path, order: &[&str]) {
    let mut wrong = Vec::new();
    for (rank, module) in order.iter().enumerate() {
        for (file, code) in sources(src, module) {
            for used in uses(&code) {
                if used == *module {
                    continue;
                }
                match order.iter().position(|m| *m == used) {
                    Some(r) if r < rank => {}
                    Some(_) => wrong.push(format!("{file}: {module} uses {used}, a later layer")),
                    None => wrong.push(format!(
                        "{file}: {module} uses {used}, which the layer list does not name"
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers {order:?}:\n{}",
        wrong.join("\n")
    );
}

/// `(file name, text)` of each source file of `module` in `src`.
fn sources(src: &Path, module: &str) -> Vec<(String, String)> {
    let file = src.join(format!("{module}.rs"));
    let dir = src.join(module);
    let mut paths = Vec::new();
    if file.is_file() {
        paths.push(file);
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        paths.extend(entries.flatten().map(|e| e.path()));
    }
    assert!(
        !paths.is_empty(),
        "{module}: no {module}.rs or {module}/ in {}",
        src.display()
    );
    paths
        .into_iter()
        // Test modules kept in files of their own (`tests.rs`, `*_tests.rs`) are test code.
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| !p.to_string_lossy().ends_with("tests.rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (p.display().to_string(), text)
        })
        .collect()
}

/// The modules `code` uses through `crate::`, outside comments and test code.
fn uses(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line.starts_with("#[cfg(test)]") {
            skip_item(&mut lines);
            continue;
        }
        if line.starts_with("//") {
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Skips the item that follows (test code): to its closing brace, or its `;`.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0i64;
    for line in lines.by_ref() {
        let line = line.split("//").next().unwrap_or("");
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        let trimmed = line.trim();
        if depth <= 0 && (trimmed.ends_with('}') || trimmed.ends_with(';')) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_read_from_code_and_not_from_comments_or_tests() {
        let code = "//! see [`crate::later`]\nuse crate::base::lock;\n#[cfg(test)]\nfn helper() {\n    crate::later::x();\n}\nfn f() { crate::error::x(); } // crate::note\n#[cfg(test)]\nmod costs;\n#[cfg(test)]\nmod tests {\n    use crate::anything;\n}\n";
        assert_eq!(uses(code), ["base", "error"]);
    }
}
