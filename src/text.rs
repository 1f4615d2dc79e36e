//! Small helpers for names and for client text in messages. A leaf: every
//! layer uses them and they import nothing from the crate.

/// A model identifier: a letter or `_`, then letters, digits and `_`
/// (cube and member names, each part of a table name).
pub fn is_identifier(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A client's string for an error message: at most 32 characters (then
/// `...`), Debug-quoted so control characters and quotes are escaped.
pub fn quoted(s: &str) -> String {
    let mut out: String = s.chars().take(32).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_quoted_client_text() {
        assert!(is_identifier("created_at") && is_identifier("_x1"));
        assert!(!is_identifier("1x") && !is_identifier("a-b") && !is_identifier(""));
        assert_eq!(quoted("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(quoted(&"x".repeat(40)), format!("\"{}...\"", "x".repeat(32)));
    }
}
