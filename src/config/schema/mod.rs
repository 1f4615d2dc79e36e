//! Phase two: the only bridge from the merged tree to a typed [`Config`].
//! Every field is checked and every error collected, each naming the file or
//! variable that set the value (or the environment's file for a value never
//! set) and its key. One file per section; this one holds the walk's context
//! and the typed getters every section uses.

mod access;
mod audit;
mod auth;
mod cache;
mod database;
mod enrich;
mod forward_auth;
mod model;
mod policy;
mod provider;
mod scopes;
mod server;
mod tenancy;

use std::cell::Cell;
use std::time::Duration;

use super::layers::{Node, Source, Table, Tree, Value};
use super::{AccessConfig, Config, ConfigError, ConfigErrors};

pub use provider::check_fetch_url;

pub(super) fn build(env: &str, tree: &Tree) -> Result<Config, ConfigErrors> {
    let mut cx = Cx { errors: Vec::new(), env_file: tree.env_file.clone(), open: 0 };
    let root = Section::new(&mut cx, &tree.root, "");
    let section = root.section_or_empty(&mut cx, "server");
    let server = server::server(&mut cx, section);
    // `[[auth.enrich]]`'s sql form needs a database, read after `[auth]`.
    let has_database = root.table().iter().any(|(k, _)| k == "database");
    let section = root.section_or_empty(&mut cx, "auth");
    let auth = auth::auth(&mut cx, section, &server, has_database);
    let section = root.section_or_empty(&mut cx, "model");
    let model = model::model(&mut cx, section);
    let database = match root.section(&mut cx, "database") {
        Some(s) => database::database(&mut cx, s),
        None => None,
    };
    let tenancy = tenancy::tenancy(&mut cx, &root, database.as_ref());
    let access = match root.section(&mut cx, "access") {
        Some(s) => access::access(&mut cx, s),
        None => AccessConfig::default(),
    };
    let section = root.section_or_empty(&mut cx, "cache");
    let cache = cache::cache(&mut cx, section);
    let section = root.section_or_empty(&mut cx, "audit");
    let audit = audit::audit(&mut cx, section);
    let forward_auth = root.section(&mut cx, "forward_auth").map(|s| forward_auth::forward_auth(&mut cx, s, &access));
    root.finish(&mut cx);
    policy::policy(&mut cx, env, &server, &auth, tree);
    if cx.errors.is_empty() {
        Ok(Config {
            environment: env.to_string(),
            server,
            auth,
            model,
            database,
            tenancy,
            access,
            cache,
            audit,
            forward_auth,
        })
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

/// Collects errors while walking the tree.
struct Cx {
    errors: Vec<ConfigError>,
    env_file: Source,
    /// Sections open now; they nest, so they finish innermost first.
    open: usize,
}

/// A table being read. Every key a reader asks for is marked, and
/// [`Section::finish`] reports each key nobody asked for as an unknown key.
/// So the keys a table accepts are exactly the keys its reader reads, with
/// no list to keep beside the code: a key that only another type reads
/// (`url` on a SQLite database, `jwks_url` on a secret provider) is unknown.
struct Section<'t> {
    table: &'t Table,
    path: String,
    read: Vec<Cell<bool>>,
    /// Where this table's unknown keys go in the error list: before the
    /// errors found while reading it, so a typo comes first.
    mark: usize,
    depth: usize,
    finished: bool,
}

/// What an absent section is read as.
static EMPTY: Table = Table::new();

impl<'t> Section<'t> {
    fn new(cx: &mut Cx, table: &'t Table, path: impl Into<String>) -> Section<'t> {
        cx.open += 1;
        Section {
            table,
            path: path.into(),
            read: table.iter().map(|_| Cell::new(false)).collect(),
            mark: cx.errors.len(),
            depth: cx.open,
            finished: false,
        }
    }

    /// The value of `key`, now marked as read.
    fn get(&self, key: &str) -> Option<&'t Node> {
        let i = self.table.iter().position(|(k, _)| k == key)?;
        self.read[i].set(true);
        Some(&self.table[i].1)
    }

    /// Marks `key` as read without reading it.
    fn skip(&self, key: &str) {
        let _ = self.get(key);
    }

    /// The full key, such as `database.url`.
    fn key(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The table itself, for lookups that must not count as reading it.
    fn table(&self) -> &'t Table {
        self.table
    }

    /// Who set `key`, or `fallback` when nobody did.
    fn source_or(&self, key: &str, fallback: &Source) -> Source {
        self.get(key).map_or_else(|| fallback.clone(), |n| n.source.clone())
    }

    /// The table under `key`: `None` when absent, or (reported) when not a
    /// table.
    fn section(&self, cx: &mut Cx, key: &str) -> Option<Section<'t>> {
        let node = self.get(key)?;
        match &node.value {
            Value::Table(t) => Some(Section::new(cx, t, self.key(key))),
            _ => {
                cx.invalid(&node.source, &self.key(key), "expected a table");
                None
            }
        }
    }

    /// The table under `key`, read as empty when absent or not a table.
    fn section_or_empty(&self, cx: &mut Cx, key: &str) -> Section<'t> {
        self.section(cx, key).unwrap_or_else(|| Section::new(cx, &EMPTY, self.key(key)))
    }

    /// Reports every key nobody read, in table order, as an unknown key.
    fn finish(mut self, cx: &mut Cx) {
        let unknown: Vec<ConfigError> = self
            .table
            .iter()
            .zip(&self.read)
            .filter(|(_, read)| !read.get())
            .map(|((k, node), _)| ConfigError::UnknownKey { source_name: node.source.to_string(), key: self.key(k) })
            .collect();
        let at = self.mark.min(cx.errors.len());
        cx.errors.splice(at..at, unknown);
        self.close(cx);
    }

    /// Ends the section without judging its keys: for a table whose `type`
    /// is missing or unknown, which keys are known is unknown too.
    fn abandon(mut self, cx: &mut Cx) {
        self.close(cx);
    }

    fn close(&mut self, cx: &mut Cx) {
        debug_assert_eq!(cx.open, self.depth, "{}: sections finish innermost first", self.path);
        cx.open -= 1;
        self.finished = true;
    }
}

impl Drop for Section<'_> {
    fn drop(&mut self) {
        // A section dropped unfinished would accept any key silently.
        if cfg!(debug_assertions) && !self.finished && !std::thread::panicking() {
            panic!("section {:?} was dropped without finish()", self.path);
        }
    }
}

impl Cx {
    fn invalid(&mut self, source: &Source, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            source_name: source.to_string(),
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn string(&mut self, s: &Section<'_>, key: &str) -> Option<String> {
        let node = s.get(key)?;
        match &node.value {
            Value::Str(v) => Some(v.clone()),
            _ => {
                self.invalid(&node.source, &s.key(key), "expected a string");
                None
            }
        }
    }

    fn non_empty_string(&mut self, s: &Section<'_>, key: &str) -> Option<String> {
        let v = self.string(s, key)?;
        if v.is_empty() {
            let src = s.source_or(key, &self.env_file);
            self.invalid(&src, &s.key(key), "must not be empty");
            return None;
        }
        Some(v)
    }

    fn bool(&mut self, s: &Section<'_>, key: &str, default: bool) -> bool {
        match s.get(key) {
            None => default,
            Some(Node { value: Value::Bool(b), .. }) => *b,
            Some(node) => {
                self.invalid(&node.source, &s.key(key), "expected true or false");
                default
            }
        }
    }

    /// An integer within `min..=max`.
    fn int(&mut self, s: &Section<'_>, key: &str, default: i64, min: i64, max: i64) -> i64 {
        match s.get(key) {
            None => default,
            Some(Node { value: Value::Int(i), source }) => {
                if (min..=max).contains(i) {
                    *i
                } else {
                    self.invalid(source, &s.key(key), format!("must be between {min} and {max}"));
                    default
                }
            }
            Some(node) => {
                self.invalid(&node.source, &s.key(key), "expected an integer");
                default
            }
        }
    }

    fn duration(&mut self, s: &Section<'_>, key: &str, default: Duration) -> Duration {
        match s.get(key) {
            None => default,
            Some(Node { value: Value::Str(v), source }) => match crate::config::duration::parse(v) {
                Ok(d) => d,
                Err(e) => {
                    self.invalid(source, &s.key(key), e);
                    default
                }
            },
            Some(node) => {
                self.invalid(&node.source, &s.key(key), "expected a duration string such as \"60s\"");
                default
            }
        }
    }

    /// A duration that must not be zero: a zero connection deadline would
    /// close every connection before its first request.
    fn positive_duration(&mut self, s: &Section<'_>, key: &str, default: Duration) -> Duration {
        let d = self.duration(s, key, default);
        if !d.is_zero() {
            return d;
        }
        if let Some(node) = s.get(key) {
            self.invalid(&node.source, &s.key(key), "must be above zero");
        }
        default
    }

    /// An array of strings; a single string is accepted as a list of one.
    fn strings(&mut self, s: &Section<'_>, key: &str) -> Option<Vec<String>> {
        let node = s.get(key)?;
        match &node.value {
            Value::Str(v) => Some(vec![v.clone()]),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match &item.value {
                        Value::Str(v) => out.push(v.clone()),
                        _ => {
                            self.invalid(&node.source, &s.key(key), "expected an array of strings");
                            return None;
                        }
                    }
                }
                Some(out)
            }
            _ => {
                self.invalid(&node.source, &s.key(key), "expected an array of strings");
                None
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}
