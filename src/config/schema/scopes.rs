//! `[access] scopes_key` and `[access.group_scopes]`: where a token's API
//! scopes come from (Cube.js's `contextToApiScopes`). Read inside
//! `[access]`, apart from its rules and roles.

use super::{Cx, Section, join};
use crate::config::layers::Value;
use crate::config::{ApiScope, ScopesConfig};
use crate::context_path::ContextPath;

pub(super) fn scopes(cx: &mut Cx, t: &Section<'_>, roles_key: Option<&str>) -> ScopesConfig {
    let scopes_key = cx.non_empty_string(t, "scopes_key").and_then(|k| {
        let src = t.source_or("scopes_key", &cx.env_file);
        ContextPath::parse(&k).map_err(|e| cx.invalid(&src, &t.key("scopes_key"), e)).ok()
    });
    let groups_key = roles_key.and_then(|k| ContextPath::parse(k).ok());
    let mut group_scopes = Vec::new();
    if let Some(node) = t.get("group_scopes") {
        let key = t.key("group_scopes");
        match &node.value {
            Value::Table(groups) => {
                for (group, entry) in groups {
                    let path = join(&key, group);
                    let names: Vec<&str> = match &entry.value {
                        Value::Array(items) => items
                            .iter()
                            .filter_map(|i| match &i.value {
                                Value::Str(s) => Some(s.as_str()),
                                _ => None,
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    let is_list = matches!(&entry.value, Value::Array(items) if items.len() == names.len());
                    if !is_list {
                        cx.invalid(
                            &entry.source,
                            &path,
                            "expected an array of scope names, such as [\"meta\", \"data\"]",
                        );
                        continue;
                    }
                    let mut granted = Vec::new();
                    for name in names {
                        match ApiScope::parse(name) {
                            Some(s) if !granted.contains(&s) => granted.push(s),
                            Some(_) => {}
                            None => cx.invalid(
                                &entry.source,
                                &path,
                                format!("unknown scope {name:?}; the scopes are meta, data, sql and explain"),
                            ),
                        }
                    }
                    group_scopes.push((group.clone(), granted));
                }
                if groups_key.is_none() {
                    cx.invalid(&node.source, &key, "needs [access] roles_key, the context path holding the groups");
                }
            }
            _ => cx.invalid(&node.source, &key, "expected a table of group = [scopes]"),
        }
    }
    if scopes_key.is_some() && t.get("group_scopes").is_some() {
        let src = t.source_or("scopes_key", &cx.env_file);
        cx.invalid(&src, &t.key("scopes_key"), "set scopes_key or [access.group_scopes], not both");
    }
    ScopesConfig { scopes_key, group_scopes, groups_key }
}
