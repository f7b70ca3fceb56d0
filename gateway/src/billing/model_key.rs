//! One key for a model however it is written, so the bill's names meet the exporters':
//! `anthropic.claude-haiku-4-5-20251001-v1:0`, `us.anthropic.claude-haiku-4-5-...` and
//! "Claude Haiku 4.5 (Amazon Bedrock Edition)" all become `4 5 claude haiku`;
//! `amazon.nova-pro-v1:0` and the usage type's `NovaPro` become `nova pro`.
//!
//! The key drops what only one side writes (a cross-Region profile's geo prefix, the vendor,
//! a date stamp, a `-vN:M` version suffix) and sorts the remaining words, because the bill
//! and the model id order them differently (`Claude4.6Sonnet`, `claude-sonnet-4-6`).

/// Geo prefixes of cross-Region inference profiles.
const GEO: &[&str] = &["us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"];

pub fn model_key(name: &str) -> String {
    let mut s = name.trim();
    if s.starts_with('(') {
        return s.to_string();
    }
    if let Some(i) = s.find(" (") {
        s = &s[..i];
    }
    // `...-v1:0` / `...-1:0`
    let mut versioned = false;
    if let Some(i) = s.rfind(':') {
        if s[i + 1..].chars().all(|c| c.is_ascii_digit()) {
            s = &s[..i];
            versioned = true;
        }
    }
    let before = s.len();
    let mut s = strip_version(s);
    if versioned && s.len() == before {
        if let Some(i) = s.rfind('-') {
            let tail = &s[i + 1..];
            if (1..=2).contains(&tail.len()) && tail.chars().all(|c| c.is_ascii_digit()) {
                s = &s[..i];
            }
        }
    }
    // Dots before a letter separate geo and vendor from the model: keep the last part.
    let mut last = 0;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            last = i + 1;
        }
    }
    let model = &s[last..];
    let mut words = split_words(model);
    words.retain(|w| !(w.len() == 8 && w.chars().all(|c| c.is_ascii_digit())));
    if words.is_empty() {
        return name.trim().to_ascii_lowercase();
    }
    words.sort();
    words.join(" ")
}

/// The model without its cross-Region geo prefix (`us.anthropic.x` -> `anthropic.x`).
pub fn without_geo(model: &str) -> &str {
    match model.split_once('.') {
        Some((g, rest)) if GEO.contains(&g) && rest.contains('.') => rest,
        _ => model,
    }
}

fn strip_version(s: &str) -> &str {
    if let Some(i) = s.rfind("-v") {
        if !s[i + 2..].is_empty() && s[i + 2..].chars().all(|c| c.is_ascii_digit()) {
            return &s[..i];
        }
    }
    s
}

/// Words at separators, letter/digit changes and lower-to-upper changes, lowercased.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let boundary = (p.is_ascii_digit() != c.is_ascii_digit())
                || (p.is_lowercase() && c.is_uppercase());
            if boundary && !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
        prev = Some(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bills_names_meet_the_model_ids() {
        for (a, b) in [
            (
                "anthropic.claude-haiku-4-5-20251001-v1:0",
                "Claude Haiku 4.5 (Amazon Bedrock Edition)",
            ),
            (
                "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                "Claude Haiku 4.5",
            ),
            ("global.anthropic.claude-sonnet-4-6", "Claude4.6Sonnet"),
            ("amazon.nova-pro-v1:0", "NovaPro"),
            ("us.amazon.nova-pro-v1:0", "NovaPro"),
            ("openai.gpt-oss-120b-1:0", "gpt-oss-120b"),
        ] {
            assert_eq!(model_key(a), model_key(b), "{a} vs {b}");
        }
        assert_ne!(model_key("amazon.nova-pro-v1:0"), model_key("NovaLite"));
        assert_ne!(
            model_key("anthropic.claude-haiku-4-5"),
            model_key("Claude Sonnet 4.5")
        );
        assert_eq!(model_key("(unmapped)"), "(unmapped)");
    }

    #[test]
    fn geo_prefixes_go() {
        assert_eq!(without_geo("us.anthropic.claude-x"), "anthropic.claude-x");
        assert_eq!(without_geo("amazon.nova-pro-v1:0"), "amazon.nova-pro-v1:0");
    }
}
