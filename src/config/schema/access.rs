//! `[access]`: rules and roles as data. Their cubes and members are checked
//! against the model by the build step (`crate::query::Policy::build`).

use super::{Cx, Section, join};
use crate::config::layers::{Node, Value};
use crate::config::{AccessConfig, AccessRule, AccessTest, DEFAULT_RULE_OPERATOR, NoPolicy, Role, SessionValue};

pub(super) fn access(cx: &mut Cx, t: Section<'_>) -> AccessConfig {
    // `groups_key` is the name Cube.js 1.x's policies use; `roles_key` the
    // older one. Either names the context path holding the caller's groups.
    let roles_key = match (cx.non_empty_string(&t, "roles_key"), cx.non_empty_string(&t, "groups_key")) {
        (Some(_), Some(_)) => {
            let src = t.source_or("groups_key", &cx.env_file);
            cx.invalid(&src, "access.groups_key", "set groups_key or roles_key, not both (they are one setting)");
            None
        }
        (r, g) => r.or(g),
    };
    let no_policy = match cx.string(&t, "no_policy").as_deref() {
        None | Some("hide") => NoPolicy::Hide,
        Some("forbid") => NoPolicy::Forbid,
        Some(other) => {
            let src = t.source_or("no_policy", &cx.env_file);
            cx.invalid(&src, "access.no_policy", format!("expected \"hide\" or \"forbid\", not {other:?}"));
            NoPolicy::Hide
        }
    };
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
    let tests = tests(cx, &t);
    t.finish(cx);
    AccessConfig { rules, roles_key, roles, no_policy, tests, scopes }
}

/// `[[access.tests]]`.
fn tests(cx: &mut Cx, t: &Section<'_>) -> Vec<AccessTest> {
    let mut out = Vec::new();
    for (i, node) in list_of_tables(cx, t, "tests") {
        let Value::Table(tt) = &node.value else { continue };
        let path = format!("access.tests[{i}]");
        let tt = Section::new(cx, tt, path.clone());
        let name = cx.non_empty_string(&tt, "name");
        let table = |cx: &mut Cx, key: &str| match tt.get(key) {
            None => None,
            Some(Node { value: v @ Value::Table(_), .. }) => Some(v.to_json()),
            Some(n) => {
                cx.invalid(&n.source, &join(&path, key), "expected a table");
                None
            }
        };
        let security_context = table(cx, "security_context");
        let query = table(cx, "query");
        let expect_visible = cx.strings(&tt, "expect_visible").unwrap_or_default();
        let expect_hidden = cx.strings(&tt, "expect_hidden").unwrap_or_default();
        let expect_masked = cx.strings(&tt, "expect_masked").unwrap_or_default();
        let expect_code = cx.non_empty_string(&tt, "expect_code");
        tt.finish(cx);
        let Some(name) = name else {
            cx.invalid(&node.source, &join(&path, "name"), "every test needs a name");
            continue;
        };
        if expect_code.is_some() && query.is_none() {
            cx.invalid(&node.source, &join(&path, "expect_code"), "needs a query to run");
            continue;
        }
        if expect_visible.is_empty() && expect_hidden.is_empty() && expect_masked.is_empty() && expect_code.is_none() {
            cx.invalid(
                &node.source,
                &path,
                "expects nothing: set expect_visible, expect_hidden, expect_masked or expect_code",
            );
            continue;
        }
        out.push(AccessTest {
            name,
            source: node.source.to_string(),
            security_context: security_context.unwrap_or_else(|| serde_json::json!({})),
            query,
            expect_visible,
            expect_hidden,
            expect_masked,
            expect_code,
        });
    }
    out
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
