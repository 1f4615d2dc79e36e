//! Phase two: the only bridge from the merged tree to a typed [`Config`].
//! Every field is checked and every error collected, each naming the file or
//! variable that set the value (or the environment's file for a value never
//! set) and its key. One file per section; this one holds the walk's context
//! and the typed getters every section uses.

mod access;
mod auth;
mod database;
mod model;
mod policy;
mod provider;
mod server;
mod tenancy;

use std::time::Duration;

use super::layers::{Node, Source, Table, Tree, Value, get};
use super::{AccessConfig, Config, ConfigError, ConfigErrors};

pub use provider::check_fetch_url;

pub(super) fn build(env: &str, tree: &Tree) -> Result<Config, ConfigErrors> {
    let mut cx = Cx { errors: Vec::new(), env_file: tree.env_file.clone() };
    cx.known_keys(&tree.root, "", &["server", "auth", "model", "database", "tenancy", "tenants", "access"]);
    let empty = Table::new();
    let server_table = cx_table(&mut cx, &tree.root, "server").unwrap_or(&empty);
    let server = server::server(&mut cx, server_table);
    let auth_table = cx_table(&mut cx, &tree.root, "auth").unwrap_or(&empty);
    let auth = auth::auth(&mut cx, auth_table, &server);
    let model_table = cx_table(&mut cx, &tree.root, "model").unwrap_or(&empty);
    let model = model::model(&mut cx, model_table);
    let database = match cx_table(&mut cx, &tree.root, "database") {
        Some(t) => database::database(&mut cx, t),
        None => None,
    };
    let tenancy = tenancy::tenancy(&mut cx, &tree.root, database.as_ref());
    let access = match cx_table(&mut cx, &tree.root, "access") {
        Some(t) => access::access(&mut cx, t, &model.model),
        None => AccessConfig::default(),
    };
    policy::policy(&mut cx, env, &server, &auth, tree);
    if cx.errors.is_empty() {
        Ok(Config { environment: env.to_string(), server, auth, model, database, tenancy, access })
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

/// Collects errors while walking the tree.
struct Cx {
    errors: Vec<ConfigError>,
    env_file: Source,
}

impl Cx {
    fn invalid(&mut self, source: &Source, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            source_name: source.to_string(),
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn known_keys(&mut self, table: &Table, path: &str, known: &[&str]) {
        for (k, node) in table {
            if !known.contains(&k.as_str()) {
                self.errors.push(ConfigError::UnknownKey { source_name: node.source.to_string(), key: join(path, k) });
            }
        }
    }

    fn string(&mut self, table: &Table, path: &str, key: &str) -> Option<String> {
        let node = get(table, key)?;
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.invalid(&node.source, &join(path, key), "expected a string");
                None
            }
        }
    }

    fn non_empty_string(&mut self, table: &Table, path: &str, key: &str) -> Option<String> {
        let s = self.string(table, path, key)?;
        if s.is_empty() {
            let src = get(table, key).map(|n| n.source.clone()).unwrap_or_else(|| self.env_file.clone());
            self.invalid(&src, &join(path, key), "must not be empty");
            return None;
        }
        Some(s)
    }

    fn bool(&mut self, table: &Table, path: &str, key: &str, default: bool) -> bool {
        match get(table, key) {
            None => default,
            Some(Node { value: Value::Bool(b), .. }) => *b,
            Some(node) => {
                self.invalid(&node.source, &join(path, key), "expected true or false");
                default
            }
        }
    }

    /// An integer within `min..=max`.
    fn int(&mut self, table: &Table, path: &str, key: &str, default: i64, min: i64, max: i64) -> i64 {
        match get(table, key) {
            None => default,
            Some(Node { value: Value::Int(i), source }) => {
                if (min..=max).contains(i) {
                    *i
                } else {
                    self.invalid(source, &join(path, key), format!("must be between {min} and {max}"));
                    default
                }
            }
            Some(node) => {
                self.invalid(&node.source, &join(path, key), "expected an integer");
                default
            }
        }
    }

    fn duration(&mut self, table: &Table, path: &str, key: &str, default: Duration) -> Duration {
        match get(table, key) {
            None => default,
            Some(Node { value: Value::Str(s), source }) => match crate::config::duration::parse(s) {
                Ok(d) => d,
                Err(e) => {
                    self.invalid(source, &join(path, key), e);
                    default
                }
            },
            Some(node) => {
                self.invalid(&node.source, &join(path, key), "expected a duration string such as \"60s\"");
                default
            }
        }
    }

    /// An array of strings; a single string is accepted as a list of one.
    fn strings(&mut self, table: &Table, path: &str, key: &str) -> Option<Vec<String>> {
        let node = get(table, key)?;
        match &node.value {
            Value::Str(s) => Some(vec![s.clone()]),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match &item.value {
                        Value::Str(s) => out.push(s.clone()),
                        _ => {
                            self.invalid(&node.source, &join(path, key), "expected an array of strings");
                            return None;
                        }
                    }
                }
                Some(out)
            }
            _ => {
                self.invalid(&node.source, &join(path, key), "expected an array of strings");
                None
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn cx_table<'t>(cx: &mut Cx, table: &'t Table, key: &str) -> Option<&'t Table> {
    let node = get(table, key)?;
    match &node.value {
        Value::Table(t) => Some(t),
        _ => {
            cx.invalid(&node.source, key, "expected a table");
            None
        }
    }
}

/// A duration that must not be zero: a zero connection deadline would close
/// every connection before its first request.
fn positive_duration(cx: &mut Cx, t: &Table, path: &str, key: &str, default: Duration) -> Duration {
    let d = cx.duration(t, path, key, default);
    if !d.is_zero() {
        return d;
    }
    if let Some(node) = get(t, key) {
        cx.invalid(&node.source, &join(path, key), "must be above zero");
    }
    default
}
