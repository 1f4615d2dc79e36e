//! `[access]`: rules and roles as data. Their cubes and members are checked
//! against the model by the build step (`crate::query::Policy::build`).

use super::{Cx, Section, join};
use crate::config::layers::{Node, Value};
use crate::config::{AccessConfig, AccessRule, DEFAULT_RULE_OPERATOR, Role, SessionValue};

pub(super) fn access(cx: &mut Cx, t: Section<'_>) -> AccessConfig {
    let roles_key = cx.non_empty_string(&t, "roles_key");
    let mut rules = Vec::new();
    for (i, node) in list_of_tables(cx, &t, "rules") {
        let Value::Table(rt) = &node.value else { continue };
        let path = format!("access.rules[{i}]");
        let rt = Section::new(cx, rt, path.clone());
        let fields =
            (cx.non_empty_string(&rt, "cube"), cx.non_empty_string(&rt, "member"), cx.non_empty_string(&rt, "value"));
        let operator = cx.non_empty_string(&rt, "operator");
        rt.finish(cx);
        let (Some(cube), Some(member), Some(value)) = fields else {
            cx.invalid(&node.source, &path, "a rule needs cube, member and value");
            continue;
        };
        let operator = operator.unwrap_or_else(|| DEFAULT_RULE_OPERATOR.into());
        if !["equals", "notEquals", "contains", "startsWith", "endsWith", "gt", "gte", "lt", "lte"]
            .contains(&operator.as_str())
        {
            cx.invalid(
                &node.source,
                &join(&path, "operator"),
                format!("operator {operator:?} cannot force a value filter"),
            );
            continue;
        }
        match SessionValue::parse(&value) {
            Ok(value) => rules.push(AccessRule { cube, member, operator, value }),
            Err(msg) => cx.invalid(&node.source, &join(&path, "value"), msg),
        }
    }
    let mut roles = Vec::new();
    for (i, node) in list_of_tables(cx, &t, "roles") {
        let Value::Table(rt) = &node.value else { continue };
        let path = format!("access.roles[{i}]");
        let rt = Section::new(cx, rt, path.clone());
        let name = cx.non_empty_string(&rt, "name");
        let cubes = cx.strings(&rt, "cubes").unwrap_or_default();
        let members = cx.strings(&rt, "members").unwrap_or_default();
        rt.finish(cx);
        let Some(name) = name else {
            cx.invalid(&node.source, &join(&path, "name"), "every role needs a name");
            continue;
        };
        roles.push(Role { name, cubes, members });
    }
    if !roles.is_empty() && roles_key.is_none() {
        cx.invalid(&cx.env_file.clone(), "access.roles_key", "required when roles are defined (e.g. \"groups\")");
    }
    let scopes = super::scopes::scopes(cx, &t, roles_key.as_deref());
    t.finish(cx);
    AccessConfig { rules, roles_key, roles, scopes }
}

fn list_of_tables<'t>(cx: &mut Cx, t: &Section<'t>, key: &str) -> Vec<(usize, &'t Node)> {
    match t.get(key) {
        None => Vec::new(),
        Some(Node { value: Value::Array(items), .. }) => {
            for (i, n) in items.iter().enumerate() {
                if !matches!(n.value, Value::Table(_)) {
                    cx.invalid(&n.source, &format!("access.{key}[{i}]"), "expected a table");
                }
            }
            items.iter().enumerate().collect()
        }
        Some(n) => {
            cx.invalid(&n.source, &format!("access.{key}"), format!("expected [[access.{key}]] tables"));
            Vec::new()
        }
    }
}
