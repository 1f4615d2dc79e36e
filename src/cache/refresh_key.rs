//! Cubes' `refresh_key`, and the model version, from the model files.
//!
//! The model loader (`query::model`) ignores `refresh_key` today; until it
//! carries the key on `Cube`, this reads the same files once more at
//! startup: a version (SHA-256 over every file's path and text), and each
//! cube's refresh key, parsed by [`parse`]. Follow-up: call [`parse`] from
//! the loader and take both from the loaded model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lc_rs::digest;
use serde_json::Value;

/// When a cube's cached results go stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshKey {
    /// `every: "10s"`: a result is served for this long after it was
    /// computed.
    Every(Duration),
    /// `sql: SELECT ...`: the statement runs (on the query's own route and
    /// settings) at most once per `check`; a result is served while its
    /// value is unchanged.
    Sql { sql: String, check: Duration },
}

/// What the cache takes from the model files.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// Changes whenever any model file does: part of every result key.
    pub version: [u8; 32],
    /// By cube name; a cube without one uses `[cache] ttl`.
    pub refresh_keys: HashMap<String, RefreshKey>,
}

/// Read `dir` as the model loader does (`*.yml`/`*.yaml`/`*.js`, recursively; a
/// missing folder is an empty model). Every refresh-key error is reported,
/// each with its file and cube.
pub fn read_model(dir: &Path, default_check: Duration) -> Result<ModelFiles, Vec<String>> {
    let mut files = Vec::new();
    if dir.is_dir() {
        collect(dir, &mut files).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
    }
    files.sort();
    let mut version = digest::Context::new(&digest::SHA256);
    let mut refresh_keys = HashMap::new();
    let mut errors = Vec::new();
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{}: cannot read: {e}", f.display()));
                continue;
            }
        };
        let rel = f.strip_prefix(dir).unwrap_or(f).to_string_lossy();
        for part in [rel.as_bytes(), text.as_bytes()] {
            version.update(&(part.len() as u64).to_le_bytes());
            version.update(part);
        }
        // The loader reports YAML and JavaScript errors; a file it refuses
        // never serves.
        let doc = if crate::query::js_model::is_js(&f.to_string_lossy()) {
            crate::query::js_model::document(&text).ok()
        } else {
            serde_saphyr::from_str::<Value>(&text).ok()
        };
        let Some(doc) = doc else { continue };
        for cube in doc.get("cubes").and_then(Value::as_array).into_iter().flatten() {
            let raw = cube.get("refresh_key").or_else(|| cube.get("refreshKey"));
            let (Some(name), Some(raw)) = (cube.get("name").and_then(Value::as_str), raw) else {
                continue;
            };
            match parse(raw, default_check) {
                Ok(key) => {
                    refresh_keys.insert(name.to_string(), key);
                }
                Err(e) => errors.push(format!("{}: cube {name}: refresh_key: {e}", f.display())),
            }
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(version.finish().as_ref());
    if errors.is_empty() { Ok(ModelFiles { version: out, refresh_keys }) } else { Err(errors) }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml" | "js")) {
            out.push(path);
        }
    }
    Ok(())
}

/// One cube's `refresh_key`: `every` (a duration), `sql` (a statement
/// without templates), or both (`every` is then how often the SQL runs).
/// Cron `every` values, `timezone`, `immutable` and `incremental` (Cube.js's
/// pre-aggregation options) are refused, so a model never means something
/// the cache does not do.
pub fn parse(raw: &Value, default_check: Duration) -> Result<RefreshKey, String> {
    let Some(obj) = raw.as_object() else {
        return Err("expected a mapping with `every` or `sql`".into());
    };
    if let Some(key) = obj.keys().find(|k| !matches!(k.as_str(), "every" | "sql")) {
        return Err(format!("{key:?} is not supported (only `every` and `sql`)"));
    }
    let every = match obj.get("every") {
        None => None,
        Some(Value::String(s)) if s.contains('*') || s.split_whitespace().count() > 2 => {
            return Err(format!("every {s:?}: cron expressions are not supported; use a duration such as \"10s\""));
        }
        Some(Value::String(s)) => match crate::config::duration::parse(s) {
            Ok(d) if d.is_zero() => return Err("every must be above zero".into()),
            Ok(d) => Some(d),
            Err(e) => return Err(format!("every: {e}")),
        },
        Some(_) => return Err("every: expected a duration string such as \"10s\"".into()),
    };
    match obj.get("sql") {
        None => every.map(RefreshKey::Every).ok_or_else(|| "expected `every` or `sql`".to_string()),
        Some(Value::String(sql)) if sql.contains('{') => {
            Err("sql: templates ({CUBE}, {SECURITY_CONTEXT...}) are not supported in a refresh key".into())
        }
        Some(Value::String(sql)) if sql.trim().is_empty() => Err("sql: must not be empty".into()),
        Some(Value::String(sql)) => Ok(RefreshKey::Sql { sql: sql.clone(), check: every.unwrap_or(default_check) }),
        Some(_) => Err("sql: expected a string".into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CHECK: Duration = Duration::from_secs(10);

    #[test]
    fn every_sql_and_both_parse_and_the_rest_is_refused_by_name() {
        assert_eq!(parse(&json!({"every": "1 minute"}), CHECK), Ok(RefreshKey::Every(Duration::from_secs(60))));
        assert_eq!(
            parse(&json!({"sql": "SELECT max(id) FROM orders"}), CHECK),
            Ok(RefreshKey::Sql { sql: "SELECT max(id) FROM orders".into(), check: CHECK })
        );
        assert_eq!(
            parse(&json!({"sql": "SELECT 1", "every": "5s"}), CHECK),
            Ok(RefreshKey::Sql { sql: "SELECT 1".into(), check: Duration::from_secs(5) })
        );
        let refused = [
            (json!({"every": "0 * * * *"}), "cron expressions are not supported"),
            (json!({"every": "0s"}), "above zero"),
            (json!({"immutable": true, "every": "1h"}), "\"immutable\" is not supported"),
            (json!({"sql": "SELECT max(x) FROM {CUBE}"}), "templates"),
            (json!({}), "expected `every` or `sql`"),
            (json!("10s"), "expected a mapping"),
        ];
        for (raw, want) in refused {
            let got = parse(&raw, CHECK).expect_err("refused");
            assert!(got.contains(want), "{raw}: {got}");
        }
    }

    #[test]
    fn the_version_follows_the_files_and_errors_name_file_and_cube() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.yml");
        std::fs::write(&file, "cubes:\n  - name: A\n    sql_table: a\n    refresh_key:\n      every: 1s\n").expect("w");
        let one = read_model(dir.path(), CHECK).expect("reads");
        assert_eq!(one.refresh_keys["A"], RefreshKey::Every(Duration::from_secs(1)));
        assert_eq!(read_model(dir.path(), CHECK).expect("reads").version, one.version, "deterministic");
        std::fs::write(&file, "cubes:\n  - name: A\n    sql_table: b\n").expect("w");
        let two = read_model(dir.path(), CHECK).expect("reads");
        assert_ne!(two.version, one.version);
        assert!(two.refresh_keys.is_empty());
        std::fs::write(&file, "cubes:\n  - name: A\n    sql_table: a\n    refresh_key:\n      every: soon\n")
            .expect("w");
        let errors = read_model(dir.path(), CHECK).expect_err("refused");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("a.yml: cube A: refresh_key: every: invalid duration"), "{errors:?}");
    }

    #[test]
    fn a_js_model_file_is_part_of_the_version_and_gives_its_refresh_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.js");
        std::fs::write(&file, "cube(`A`, { sqlTable: `a`, refreshKey: { every: `1 minute` } });").expect("w");
        let one = read_model(dir.path(), CHECK).expect("reads");
        assert_eq!(one.refresh_keys["A"], RefreshKey::Every(Duration::from_secs(60)));
        std::fs::write(&file, "cube(`A`, { sqlTable: `b` });").expect("w");
        let two = read_model(dir.path(), CHECK).expect("reads");
        assert_ne!(two.version, one.version, "a changed JS file changes every result key");
        assert!(two.refresh_keys.is_empty());
    }
}
