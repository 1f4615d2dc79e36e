//! `[[auth.enrich]]`: claims fetched after verification, keyed by a
//! verified one, from a `url` or by a `sql` statement on the database.

use std::path::PathBuf;

use super::provider::check_fetch_url;
use super::{Cx, Section};
use crate::config::layers::{Node, Value};
use crate::config::{
    DEFAULT_DANGEROUS_ALLOW_HTTP, DEFAULT_ENRICH_MAX_ENTRIES, DEFAULT_ENRICH_OVERRIDE, DEFAULT_ENRICH_TIMEOUT,
    DEFAULT_ENRICH_TTL, DEFAULT_WEBHOOK_MAX_BODY_BYTES, EnrichConfig, EnrichOnError, EnrichSource, ProviderConfig,
};
use crate::context_path::ContextPath;

pub(super) fn enrich(
    cx: &mut Cx,
    index: usize,
    node: &Node,
    providers: &[ProviderConfig],
    has_database: bool,
) -> Option<EnrichConfig> {
    let path = format!("auth.enrich[{index}]");
    let Value::Table(t) = &node.value else {
        cx.invalid(&node.source, &path, "expected a table");
        return None;
    };
    let s = Section::new(cx, t, path);
    let src = |s: &Section<'_>, key: &str| s.source_or(key, &node.source);
    let key_text = cx.non_empty_string(&s, "key");
    let key = match &key_text {
        None => {
            if s.get("key").is_none() {
                cx.invalid(&node.source, &s.key("key"), "required: the verified claim to look up by, such as \"sub\"");
            }
            None
        }
        Some(k) => ContextPath::parse(k).map_err(|e| cx.invalid(&src(&s, "key"), &s.key("key"), e)).ok(),
    };
    let source = match (s.get("url").is_some(), s.get("sql").is_some()) {
        (true, true) => {
            cx.invalid(&src(&s, "sql"), &s.key("sql"), "set url or sql, not both");
            None
        }
        (_, false) => url_form(cx, &s, node, key_text.as_deref()),
        (false, true) => sql_form(cx, &s, node, has_database),
    };
    let into = cx.non_empty_string(&s, "into");
    let override_verified = cx.bool(&s, "override", DEFAULT_ENRICH_OVERRIDE);
    let only = cx.strings(&s, "providers").unwrap_or_default();
    for p in &only {
        if !providers.iter().any(|c| &c.name == p) {
            cx.invalid(&src(&s, "providers"), &s.key("providers"), format!("no provider is named {p:?}"));
        }
    }
    let ttl = cx.duration(&s, "ttl", DEFAULT_ENRICH_TTL);
    let max_entries = cx.int(&s, "max_entries", DEFAULT_ENRICH_MAX_ENTRIES as i64, 0, 10_000_000) as u64;
    let timeout = cx.positive_duration(&s, "timeout", DEFAULT_ENRICH_TIMEOUT);
    let on_error = match s.get("on_error") {
        None => EnrichOnError::Fail,
        Some(Node { value: Value::Str(v), .. }) if v == "fail" => EnrichOnError::Fail,
        Some(Node { value: Value::Str(v), .. }) if v == "continue" => EnrichOnError::Continue,
        Some(n) => {
            cx.invalid(&n.source, &s.key("on_error"), "expected \"fail\" or \"continue\"");
            EnrichOnError::Fail
        }
    };
    // Only the url form reads these, so they are unknown keys beside sql.
    let (max_body_bytes, ca_file, dangerous_allow_http) = match &source {
        Some(EnrichSource::Url(..)) | None if s.get("sql").is_none() => {
            let max_body_bytes =
                cx.int(&s, "max_body_bytes", DEFAULT_WEBHOOK_MAX_BODY_BYTES as i64, 2, 16 << 20) as usize;
            let ca_file = cx.non_empty_string(&s, "ca_file").map(PathBuf::from);
            if let Some(file) = &ca_file
                && let Err(e) = std::fs::metadata(file)
            {
                cx.invalid(&src(&s, "ca_file"), &s.key("ca_file"), format!("cannot read {}: {e}", file.display()));
            }
            (max_body_bytes, ca_file, cx.bool(&s, "dangerous_allow_http", DEFAULT_DANGEROUS_ALLOW_HTTP))
        }
        _ => (DEFAULT_WEBHOOK_MAX_BODY_BYTES, None, DEFAULT_DANGEROUS_ALLOW_HTTP),
    };
    s.finish(cx);
    Some(EnrichConfig {
        key: key?,
        source: source?,
        into,
        override_verified,
        providers: only,
        ttl,
        max_entries,
        timeout,
        on_error,
        max_body_bytes,
        ca_file,
        dangerous_allow_http,
    })
}

/// `url`, holding `{<key>}` exactly once, split around it.
fn url_form(cx: &mut Cx, s: &Section<'_>, node: &Node, key: Option<&str>) -> Option<EnrichSource> {
    let src = |s: &Section<'_>, k: &str| s.source_or(k, &node.source);
    // Read before the url is checked: the check depends on it.
    let dangerous_allow_http =
        s.table().iter().any(|(k, n)| k == "dangerous_allow_http" && matches!(n.value, Value::Bool(true)));
    match (cx.non_empty_string(s, "url"), key) {
        (None, _) => {
            if s.get("url").is_none() {
                cx.invalid(
                    &node.source,
                    &s.key("url"),
                    "required (or sql): such as \"https://users.internal/entitlements/{sub}\"",
                );
            }
            None
        }
        (Some(_), None) => None,
        (Some(u), Some(k)) => {
            let placeholder = format!("{{{k}}}");
            let parts: Vec<&str> = u.split(placeholder.as_str()).collect();
            let probe = u.replace(placeholder.as_str(), "x");
            if parts.len() != 2 {
                cx.invalid(&src(s, "url"), &s.key("url"), format!("must hold {placeholder} exactly once"));
                None
            } else if let Err(msg) = check_fetch_url(&probe, dangerous_allow_http) {
                cx.invalid(&src(s, "url"), &s.key("url"), msg);
                None
            } else {
                Some(EnrichSource::Url(parts[0].to_string(), parts[1].to_string()))
            }
        }
    }
}

/// `sql`: one statement whose only parameter is `$1`, the key's value.
fn sql_form(cx: &mut Cx, s: &Section<'_>, node: &Node, has_database: bool) -> Option<EnrichSource> {
    let json_columns = cx.strings(s, "json_columns").unwrap_or_default();
    let sql = cx.non_empty_string(s, "sql")?;
    let source = s.source_or("sql", &node.source);
    let params = placeholders(&sql);
    if params != [1] {
        cx.invalid(
            &source,
            &s.key("sql"),
            "must use the key's value as its one parameter, $1 (bound, never formatted into the text), and no other",
        );
        return None;
    }
    if !has_database {
        cx.invalid(&source, &s.key("sql"), "needs a [database] to run on");
        return None;
    }
    Some(EnrichSource::Sql { sql, json_columns })
}

/// The distinct `$<n>` numbers of a statement, sorted.
fn placeholders(sql: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<u32>()
            && !found.contains(&n)
        {
            found.push(n);
        }
    }
    found.sort_unstable();
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_the_distinct_dollar_numbers() {
        assert_eq!(super::placeholders("SELECT a FROM t WHERE sub = $1 OR alt = $1"), [1]);
        assert_eq!(super::placeholders("SELECT $2, $1, '$'"), [1, 2]);
        assert!(super::placeholders("SELECT 1").is_empty());
    }
}
