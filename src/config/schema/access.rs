//! `[access]`: rules and roles, checked against the model.

use super::{Cx, join};
use crate::config::layers::{Node, Table, Value, get};
use crate::config::{AccessConfig, AccessRule, Role, SessionValue};

/// `[access]`: every cube and member named must exist in the model.
pub(super) fn access(cx: &mut Cx, t: &Table, model: &crate::query::Model) -> AccessConfig {
    cx.known_keys(t, "access", &["rules", "roles_key", "roles"]);
    let roles_key = cx.non_empty_string(t, "access", "roles_key");
    let member_exists = |m: &str| {
        m.split_once('.').is_some_and(|(c, n)| {
            model.cube(c).is_some_and(|cube| {
                cube.measures.iter().any(|x| x.name == n)
                    || cube.dimensions.iter().any(|x| x.name == n)
                    || cube.segments.iter().any(|x| x.name == n)
            })
        })
    };
    let mut rules = Vec::new();
    for (i, node) in list_of_tables(cx, t, "rules") {
        let Value::Table(rt) = &node.value else { continue };
        let path = format!("access.rules[{i}]");
        cx.known_keys(rt, &path, &["cube", "member", "operator", "value"]);
        let (Some(cube), Some(member), Some(value)) = (
            cx.non_empty_string(rt, &path, "cube"),
            cx.non_empty_string(rt, &path, "member"),
            cx.non_empty_string(rt, &path, "value"),
        ) else {
            cx.invalid(&node.source, &path, "a rule needs cube, member and value");
            continue;
        };
        let operator = cx.non_empty_string(rt, &path, "operator").unwrap_or_else(|| "equals".into());
        if model.cube(&cube).is_none() {
            cx.invalid(&node.source, &join(&path, "cube"), format!("no cube named {cube} in the model"));
            continue;
        }
        if !member.starts_with(&format!("{cube}.")) || !member_exists(&member) {
            cx.invalid(&node.source, &join(&path, "member"), format!("{member} is not a member of cube {cube}"));
            continue;
        }
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
    for (i, node) in list_of_tables(cx, t, "roles") {
        let Value::Table(rt) = &node.value else { continue };
        let path = format!("access.roles[{i}]");
        cx.known_keys(rt, &path, &["name", "cubes", "members"]);
        let Some(name) = cx.non_empty_string(rt, &path, "name") else {
            cx.invalid(&node.source, &join(&path, "name"), "every role needs a name");
            continue;
        };
        let cubes = cx.strings(rt, &path, "cubes").unwrap_or_default();
        let members = cx.strings(rt, &path, "members").unwrap_or_default();
        for c in &cubes {
            if model.cube(c).is_none() {
                cx.invalid(&node.source, &join(&path, "cubes"), format!("no cube named {c} in the model"));
            }
        }
        for m in &members {
            if !member_exists(m) {
                cx.invalid(&node.source, &join(&path, "members"), format!("no member named {m} in the model"));
            }
        }
        roles.push(Role { name, cubes, members });
    }
    if !roles.is_empty() && roles_key.is_none() {
        cx.invalid(&cx.env_file.clone(), "access.roles_key", "required when roles are defined (e.g. \"groups\")");
    }
    AccessConfig { rules, roles_key, roles }
}

fn list_of_tables<'t>(cx: &mut Cx, t: &'t Table, key: &str) -> Vec<(usize, &'t Node)> {
    match get(t, key) {
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
