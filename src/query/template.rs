//! Templates in a cube's `sql`: `{SECURITY_CONTEXT.path.filter('col')}`,
//! the JS-style `${...}` form and the older `USER_CONTEXT` name,
//! `.requiredFilter('col')` and `.unsafeValue()`.
//!
//! Pure: parsed once when the model loads; rendering turns each piece into
//! SQL text and bound parameters.

use crate::context_path::ContextPath;

/// One piece of a cube's `sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Context { path: ContextPath, op: ContextOp },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextOp {
    /// `col = $n` / `col IN (...)`; a missing value fails closed (or
    /// `1 = 1` with `dangerous_missing_filter_allows_all`).
    Filter { column: String },
    /// Like `Filter`, but a missing value is always an error.
    RequiredFilter { column: String },
    /// The value inlined as a literal (refused unless allowed).
    UnsafeValue,
}

/// Parse a cube's `sql`. Errors say what is wrong with which expression.
pub fn parse(sql: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        // `${` is the JS template form of the same expression.
        let dollar = open > 0 && rest.as_bytes()[open - 1] == b'$';
        let before = if dollar { &rest[..open - 1] } else { &rest[..open] };
        text.push_str(before);
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("unclosed template expression in {:?}", excerpt(&rest[open..])));
        };
        let expr = rest[open + 1..open + close].trim();
        let piece = parse_expr(expr)?;
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(piece);
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn parse_expr(expr: &str) -> Result<Piece, String> {
    let body = ContextPath::strip_prefix(expr).ok_or_else(|| {
        format!("unsupported template expression {{{expr}}}; expected SECURITY_CONTEXT.<path>.filter('column')")
    })?;
    let (path, op) = if let Some(p) = body.strip_suffix(".unsafeValue()") {
        (p, ContextOp::UnsafeValue)
    } else if let Some((p, call)) = body.rsplit_once(".requiredFilter(") {
        (p, ContextOp::RequiredFilter { column: column_arg(call, expr)? })
    } else if let Some((p, call)) = body.rsplit_once(".filter(") {
        (p, ContextOp::Filter { column: column_arg(call, expr)? })
    } else {
        return Err(format!(
            "template {{{expr}}} must end in .filter('column'), .requiredFilter('column') or .unsafeValue()"
        ));
    };
    let path =
        ContextPath::parse(path).map_err(|_| format!("template {{{expr}}} has an invalid security context path"))?;
    Ok(Piece::Context { path, op })
}

/// `'col')` -> `col`, checked to be a plain (optionally qualified) column.
fn column_arg(call: &str, expr: &str) -> Result<String, String> {
    let arg = call.strip_suffix(')').map(str::trim).unwrap_or("");
    let col = arg
        .strip_prefix('\'')
        .and_then(|a| a.strip_suffix('\''))
        .or_else(|| arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')))
        .ok_or_else(|| format!("template {{{expr}}}: the column must be a quoted name, as in .filter('user_id')"))?;
    let ok = !col.is_empty()
        && col.split('.').all(|p| {
            !p.is_empty()
                && p.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if !ok {
        return Err(format!("template {{{expr}}}: {col:?} is not a column name"));
    }
    Ok(col.to_string())
}

fn excerpt(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(path: &[&str], op: ContextOp) -> Piece {
        Piece::Context { path: ContextPath::parse(&path.join(".")).expect("path"), op }
    }

    #[test]
    fn all_three_spellings_parse_to_the_same_filter() {
        let want = vec![
            Piece::Text("SELECT * FROM orders WHERE ".into()),
            ctx(&["id"], ContextOp::Filter { column: "user_id".into() }),
        ];
        for sql in [
            "SELECT * FROM orders WHERE {SECURITY_CONTEXT.id.filter('user_id')}",
            "SELECT * FROM orders WHERE ${SECURITY_CONTEXT.id.filter('user_id')}",
            "SELECT * FROM orders WHERE ${USER_CONTEXT.id.filter('user_id')}",
        ] {
            assert_eq!(parse(sql), Ok(want.clone()), "{sql}");
        }
    }

    #[test]
    fn nested_paths_required_filters_and_unsafe_values_parse() {
        assert_eq!(
            parse("{SECURITY_CONTEXT.org.id.requiredFilter('o.org_id')} AND x = {SECURITY_CONTEXT.plan.unsafeValue()}"),
            Ok(vec![
                ctx(&["org", "id"], ContextOp::RequiredFilter { column: "o.org_id".into() }),
                Piece::Text(" AND x = ".into()),
                ctx(&["plan"], ContextOp::UnsafeValue),
            ])
        );
    }

    #[test]
    fn bad_templates_are_refused_with_the_expression() {
        for (sql, needle) in [
            ("{FILTER_PARAMS.x}", "unsupported template expression"),
            ("{SECURITY_CONTEXT.id}", "must end in"),
            ("{SECURITY_CONTEXT.id.filter(user_id)}", "quoted name"),
            ("{SECURITY_CONTEXT.id.filter('1; DROP TABLE x')}", "is not a column name"),
            ("WHERE {SECURITY_CONTEXT.id.filter('a')", "unclosed"),
            ("{SECURITY_CONTEXT..filter('a')}", "invalid security context path"),
        ] {
            let err = parse(sql).expect_err(sql);
            assert!(err.contains(needle), "{sql}: {err}");
        }
    }
}
