//! Small text helpers shared by every layer: bounded one-line messages, cutting on a
//! character boundary, a stable hash for derived names and percent-encoding. The cutting and
//! the hash live in `pandora::text` (Pandora's formats need them and depend only on `time`);
//! they are re-exported here so the other layers have one place to look.

pub use crate::pandora::text::{fnv1a, fnv1a_hex, truncate_chars};

/// Squeezes text onto one bounded line for logs.
pub fn one_line(text: &str, max: usize) -> String {
    let s: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_chars(&s, max)
}

/// Percent-encodes a path segment or query value.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_folds_whitespace_and_bounds_length() {
        assert_eq!(one_line("a\n  b\tc", 10), "a b c");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
