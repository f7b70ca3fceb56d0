//! A linear pre-scan of PromQL text before it reaches `promql-parser`, whose parser, printer,
//! AST walk and drop all recurse once per level of nesting: thousands of nested parentheses,
//! `abs(` calls or unary minus signs overflow a thread's stack and abort the whole process.
//! The scan bounds the size and the nesting depth in one pass without building anything, so
//! what reaches the parser is shallow enough for every recursive step after it.

/// The largest query accepted, in bytes.
pub const MAX_BYTES: usize = 10_000;

/// The deepest nesting accepted: open `(`, `[` and `{` plus the run of unary signs in front
/// of an operand. Real queries stay under ten; the unit test below runs a query at this
/// depth through the parser, the scoping walk, the printer and drop on a 512 KiB stack (a
/// quarter of a tokio worker's, in a debug build; 256 KiB is not enough there).
pub const MAX_DEPTH: usize = 64;

/// The most binary operators in one query: a chain of them (`1+1+1+...`) nests in the AST as
/// deeply as it is long.
pub const MAX_OPERATORS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("query longer than {MAX_BYTES} bytes ({0} bytes)")]
    Size(usize),
    #[error("query nested deeper than {MAX_DEPTH} levels (parentheses, brackets, braces and unary signs)")]
    Depth,
    #[error("query with more than {MAX_OPERATORS} binary operators")]
    Operators,
}

/// Checks size, nesting depth and operator count of `query` in one pass over its bytes.
/// String literals and comments are skipped; brackets need not balance (the parser reports
/// that), the scan only bounds how deep they go.
pub fn check(query: &str) -> Result<(), GuardError> {
    if query.len() > MAX_BYTES {
        return Err(GuardError::Size(query.len()));
    }
    let bytes = query.as_bytes();
    let mut depth: usize = 0;
    let mut unary_run: usize = 0;
    let mut operators: usize = 0;
    // Whether the next `+`/`-` is unary: at the start, after an operator, `(`, `[`, `{` or `,`.
    let mut expect_operand = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' | b'`' => {
                i = skip_string(bytes, i);
                expect_operand = false;
                unary_run = 0;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'(' | b'[' | b'{' => {
                depth += 1;
                expect_operand = true;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                expect_operand = false;
                unary_run = 0;
            }
            b'+' | b'-' if expect_operand => unary_run += 1,
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' | b',' => {
                if b != b',' && !matches!(bytes.get(i + 1), Some(b'=' | b'~')) {
                    operators += 1;
                }
                expect_operand = true;
                unary_run = 0;
            }
            _ => {
                // A word (name, number, keyword, duration): `and`, `or`, `unless` and
                // `atan2` are binary operators; anything else is an operand.
                let start = i;
                while i < bytes.len() && is_word(bytes[i]) {
                    i += 1;
                }
                if i == start {
                    i += 1;
                }
                let word = &query[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    operators += 1;
                    expect_operand = true;
                } else {
                    expect_operand = false;
                }
                unary_run = 0;
                if operators > MAX_OPERATORS {
                    return Err(GuardError::Operators);
                }
                continue;
            }
        }
        if depth + unary_run > MAX_DEPTH {
            return Err(GuardError::Depth);
        }
        if operators > MAX_OPERATORS {
            return Err(GuardError::Operators);
        }
        i += 1;
    }
    Ok(())
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.') || b >= 0x80
}

/// The index just past the string literal opening at `start` (backslash escapes inside `"`
/// and `'`; none inside backticks), or the end of the text when it is unterminated.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::{scope_query, TenantFilter};

    #[test]
    fn hostile_depth_and_size_are_refused() {
        let cases = [
            format!("{}1{}", "(".repeat(3000), ")".repeat(3000)),
            format!("{}1", "-".repeat(9000)),
            format!("{}1{}", "abs(".repeat(1500), ")".repeat(1500)),
            format!("{}1", "- ".repeat(100)),
            format!("{}x{}", "sum(".repeat(80), ")".repeat(80)),
            format!("1{}", "+1".repeat(300)),
            format!("2{}", "^2".repeat(300)),
            format!("x{}", " or x".repeat(300)),
            "x".repeat(MAX_BYTES + 1),
        ];
        for q in &cases {
            assert!(check(q).is_err(), "{}", &q[..40.min(q.len())]);
            let tenant = TenantFilter::Tenant("a".into());
            assert!(scope_query(q, &tenant, None).is_err());
        }
    }

    #[test]
    fn real_queries_pass() {
        for q in [
            "sum by (model) (rate(llm_tokens_total{model=~\"gemini.*\", tenant!=\"a\"}[5m]))",
            "-x - -1 + +2",
            "x{a=\"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((\"}",
            "x{a='--------------------------------------------------------------------------'}",
            "# ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((\nup",
            "max_over_time(sum(rate(x[1m]))[10m:1m]) > bool 0 and on() vector(1) unless y",
            "x{a=~\"a\"} != 1 == 2 >= 3 <= 4",
        ] {
            assert_eq!(check(q), Ok(()), "{q}");
        }
    }

    /// A query at every limit at once goes through the parser, the scoping walk, the printer,
    /// the verifying parse and drop on a quarter of a tokio worker's 2 MiB stack.
    #[test]
    fn the_deepest_accepted_query_fits_a_small_stack() {
        let half = MAX_DEPTH / 2;
        let deep = format!(
            "{}{}x{}{}",
            "abs(".repeat(half - 1),
            "-".repeat(half),
            ")".repeat(half - 1),
            " + x".repeat(MAX_OPERATORS)
        );
        assert_eq!(check(&deep), Ok(()));
        let right = format!("2{}", "^2".repeat(MAX_OPERATORS));
        assert_eq!(check(&right), Ok(()));
        let handle = std::thread::Builder::new()
            .stack_size(512 << 10)
            .spawn(move || {
                for q in [deep, right] {
                    let s =
                        scope_query(&q, &TenantFilter::Tenant("a".into()), None).map(|s| s.len());
                    assert!(s.is_ok(), "{s:?}");
                }
            })
            .unwrap();
        handle.join().unwrap();
    }
}
