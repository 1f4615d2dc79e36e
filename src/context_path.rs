//! A path into the security context (`tenant_id`, `org.id`) and the one
//! parser of `{SECURITY_CONTEXT.<path>}` references. A leaf: configuration
//! (session settings, access rules), the model's templates and the auth
//! layer's resolver all use it, and it imports nothing from the crate.

use std::fmt;

/// Dotted segments, each non-empty and made of ASCII letters, digits, `_`,
/// `-` or `:` (claims such as `cognito:groups`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContextPath(Vec<String>);

impl ContextPath {
    /// `org.id` -> `["org", "id"]`.
    pub fn parse(dotted: &str) -> Result<ContextPath, String> {
        let segments: Vec<String> = dotted.split('.').map(str::to_owned).collect();
        let valid = |s: &String| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':')
        };
        if segments.iter().all(valid) {
            Ok(ContextPath(segments))
        } else {
            Err(format!("{dotted:?} is not a security context path"))
        }
    }

    /// The part of a template expression after `SECURITY_CONTEXT.` or the
    /// legacy `USER_CONTEXT.`; `None` for any other expression.
    pub fn strip_prefix(expr: &str) -> Option<&str> {
        expr.strip_prefix("SECURITY_CONTEXT.").or_else(|| expr.strip_prefix("USER_CONTEXT."))
    }

    /// A whole reference, `{SECURITY_CONTEXT.tenant_id}` (also `${...}` and
    /// `USER_CONTEXT`): `None` when `text` is not brace-wrapped at all,
    /// `Some(Err)` when it is but is not a valid reference.
    pub fn parse_reference(text: &str) -> Option<Result<ContextPath, String>> {
        let t = text.trim();
        let inner = t.strip_prefix("${").or_else(|| t.strip_prefix('{')).and_then(|r| r.strip_suffix('}'))?;
        Some(
            Self::strip_prefix(inner.trim())
                .ok_or_else(|| format!("{text:?}: expected {{SECURITY_CONTEXT.<path>}}"))
                .and_then(ContextPath::parse),
        )
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for ContextPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_in_every_spelling_give_the_same_path() {
        let want = ContextPath::parse("org.id").expect("path");
        for text in ["{SECURITY_CONTEXT.org.id}", "${SECURITY_CONTEXT.org.id}", " {USER_CONTEXT.org.id} "] {
            assert_eq!(ContextPath::parse_reference(text), Some(Ok(want.clone())), "{text}");
        }
        assert_eq!(want.to_string(), "org.id");
    }

    #[test]
    fn literals_are_not_references_and_bad_references_are_errors() {
        assert_eq!(ContextPath::parse_reference("acme"), None);
        for bad in ["{FOO.x}", "{SECURITY_CONTEXT.}", "{SECURITY_CONTEXT.a..b}", "{SECURITY_CONTEXT.a b}"] {
            assert!(matches!(ContextPath::parse_reference(bad), Some(Err(_))), "{bad}");
        }
        assert!(ContextPath::parse("cognito:groups").is_ok());
    }
}
