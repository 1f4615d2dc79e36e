//! `/meta`: the model in Cube.js 0.33's shape (no `folders`, `hierarchies`,
//! member-level `public` or `primaryKey`, which later versions add), as far
//! as the caller may see it:
//! public cubes and members only (a hidden one is absent, as in Cube.js's
//! gateway), with roles only what the token's roles grant, and with access
//! policies only the members visible (or masked) to the caller; a cube or
//! view whose policies none apply is left out. Pure: model, grants and the
//! judged policies in, JSON out.

use serde_json::{Map, Value, json};

use super::Model;
use super::access::{Caller, Entity};
use super::model::{Docs, MemberRef};
use super::policy::Grants;
use super::view::View;

/// `/meta`: every visible cube with its visible members, in Cube.js's shape;
/// with roles, only what the token's roles grant.
pub fn meta(model: &Model, grants: Option<&Grants>, caller: &Caller<'_>) -> Value {
    let granted = |member: &str| grants.is_none_or(|g| g.allows(member)) && caller.shows(member);
    let components = connected_components(model);
    let cubes: Vec<Value> = model
        .cubes
        .iter()
        .enumerate()
        .filter(|(ci, c)| c.public && grants.is_none_or(|g| g.allows_cube(&c.name)) && caller.opens(Entity::Cube(*ci)))
        .map(|(ci, c)| {
            let shown = |name: &str, public: bool| public && granted(&format!("{}.{name}", c.name));
            let measures: Vec<Value> = c
                .measures
                .iter()
                .filter(|m| shown(&m.name, m.public))
                .map(|m| {
                    let is_measure =
                        |name: &String| model.member(name).is_ok_and(|id| matches!(id.member, MemberRef::Measure(_)));
                    let (drill_measures, drill_dimensions): (Vec<&String>, Vec<&String>) =
                        m.drill_members.iter().partition(|d| is_measure(d));
                    with_docs(
                        json!({
                            "name": format!("{}.{}", c.name, m.name),
                            "title": format!("{} {}", c.title, m.title),
                            "shortTitle": m.title,
                            "type": m.kind.reported_type(),
                            "aggType": m.kind.as_str(),
                            "cumulative": m.cumulative_flag || m.cumulative.is_some(),
                            "cumulativeTotal": m.cumulative_flag || m.cumulative.is_some(),
                            "drillMembers": m.drill_members,
                            "drillMembersGrouped": {"measures": drill_measures, "dimensions": drill_dimensions},
                            "isVisible": true,
                        }),
                        &m.docs,
                    )
                })
                .collect();
            let dimensions: Vec<Value> = c
                .dimensions
                .iter()
                .filter(|d| shown(&d.name, d.public))
                .map(|d| {
                    with_docs(
                        json!({
                            "name": format!("{}.{}", c.name, d.name),
                            "title": format!("{} {}", c.title, d.title),
                            "shortTitle": d.title,
                            "type": d.kind.as_str(),
                            "suggestFilterValues": d.suggest_filter_values,
                            "isVisible": true,
                        }),
                        &d.docs,
                    )
                })
                .collect();
            let segments: Vec<Value> = c
                .segments
                .iter()
                .filter(|s| shown(&s.name, s.public))
                .map(|s| {
                    with_docs(
                        json!({
                            "name": format!("{}.{}", c.name, s.name),
                            "title": format!("{} {}", c.title, s.title),
                            "shortTitle": s.title,
                            "isVisible": true,
                        }),
                        &s.docs,
                    )
                })
                .collect();
            let mut cube = with_docs(
                json!({
                    "name": c.name,
                    "title": c.title,
                    "type": "cube",
                    "public": true,
                    "measures": measures,
                    "dimensions": dimensions,
                    "segments": segments,
                }),
                &c.docs,
            );
            if let (Some(id), Value::Object(o)) = (components[ci], &mut cube) {
                o.insert("connectedComponent".into(), json!(id));
            }
            cube
        })
        .collect();
    let mut cubes = cubes;
    cubes.extend(
        model
            .views
            .iter()
            .enumerate()
            .filter(|(vi, v)| {
                v.public && grants.is_none_or(|g| g.allows_cube(&v.name)) && caller.opens(Entity::View(*vi))
            })
            .map(|(_, v)| v)
            .map(|v| view(model, v, &granted)),
    );
    json!({"cubes": cubes})
}

/// A view in Cube.js's shape: `type: "view"`, each member with the cube
/// member it stands for (`aliasMember`); no `connectedComponent`, as a view
/// is in no join.
fn view(model: &Model, v: &View, granted: &dyn Fn(&str) -> bool) -> Value {
    let mut measures = Vec::new();
    let mut dimensions = Vec::new();
    let mut segments = Vec::new();
    for m in
        v.members.iter().filter(|m| m.public && m.unsupported.is_none() && granted(&format!("{}.{}", v.name, m.name)))
    {
        let c = &model.cubes[m.target.cube];
        let common = json!({
            "name": format!("{}.{}", v.name, m.name),
            "title": format!("{} {}", v.title, m.title),
            "shortTitle": m.title,
            "isVisible": true,
        });
        let Value::Object(mut o) = common else { continue };
        match m.target.member {
            MemberRef::Measure(i) => {
                let t = &c.measures[i];
                let is_measure =
                    |name: &String| model.member(name).is_ok_and(|id| matches!(id.member, MemberRef::Measure(_)));
                let (drill_measures, drill_dimensions): (Vec<&String>, Vec<&String>) =
                    t.drill_members.iter().partition(|d| is_measure(d));
                o.insert("type".into(), json!(t.kind.reported_type()));
                o.insert("aggType".into(), json!(t.kind.as_str()));
                // Cube.js: `cumulative: true`, or a rolling window / running total.
                let cumulative = t.cumulative_flag || t.cumulative.is_some();
                o.insert("cumulative".into(), json!(cumulative));
                o.insert("cumulativeTotal".into(), json!(cumulative));
                o.insert("drillMembers".into(), json!(t.drill_members));
                o.insert(
                    "drillMembersGrouped".into(),
                    json!({"measures": drill_measures, "dimensions": drill_dimensions}),
                );
                o.insert("aliasMember".into(), json!(model.member_name(m.target)));
                measures.push(with_docs(Value::Object(o), &m.docs));
            }
            MemberRef::Dimension(i) => {
                let t = &c.dimensions[i];
                o.insert("type".into(), json!(t.kind.as_str()));
                o.insert("suggestFilterValues".into(), json!(t.suggest_filter_values));
                o.insert("aliasMember".into(), json!(model.member_name(m.target)));
                dimensions.push(with_docs(Value::Object(o), &m.docs));
            }
            MemberRef::Segment(_) => segments.push(with_docs(Value::Object(o), &m.docs)),
        }
    }
    with_docs(
        json!({
            "name": v.name,
            "title": v.title,
            "type": "view",
            "public": true,
            "measures": measures,
            "dimensions": dimensions,
            "segments": segments,
        }),
        &v.docs,
    )
}

/// Cube.js's `connectedComponents`: the cubes that declare joins, in order,
/// each starting a component number (counting on even when the cube was
/// already reached); every cube reached over joins either way takes it.
/// A cube in no join has none.
fn connected_components(model: &Model) -> Vec<Option<usize>> {
    let n = model.cubes.len();
    let mut neighbours = vec![Vec::new(); n];
    for (ci, c) in model.cubes.iter().enumerate() {
        for j in &c.joins {
            neighbours[ci].push(j.to);
            neighbours[j.to].push(ci);
        }
    }
    let mut component = vec![None; n];
    let mut id = 1;
    for (ci, c) in model.cubes.iter().enumerate() {
        if c.joins.is_empty() {
            continue;
        }
        let mut stack = vec![ci];
        while let Some(at) = stack.pop() {
            if component[at].is_none() {
                component[at] = Some(id);
                stack.extend(neighbours[at].iter().copied());
            }
        }
        id += 1;
    }
    component
}

/// `description`, `format` and `meta` where the model sets them (Cube.js
/// leaves them out otherwise).
fn with_docs(mut v: Value, docs: &Docs) -> Value {
    if let Value::Object(o) = &mut v {
        let put = |o: &mut Map<String, Value>, k: &str, x: &Option<Value>| {
            if let Some(x) = x {
                o.insert(k.to_string(), x.clone());
            }
        };
        put(o, "description", &docs.description.clone().map(Value::String));
        put(o, "format", &docs.format);
        put(o, "meta", &docs.meta);
    }
    v
}
