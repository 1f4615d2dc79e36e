//! `/meta`: the model in Cube.js's shape, as far as the caller's roles see
//! it. Pure: model and grants in, JSON out.

use serde_json::{Value, json};

use super::Model;
use super::policy::Grants;

/// `/meta`: every cube with its members, in Cube.js's shape; with roles,
/// only what the token's roles grant.
pub fn meta(model: &Model, grants: Option<&Grants>) -> Value {
    let shown = |member: &str| grants.is_none_or(|g| g.allows(member));
    let cubes: Vec<Value> = model
        .cubes
        .iter()
        .filter(|c| grants.is_none_or(|g| g.allows_cube(&c.name)))
        .map(|c| {
            json!({
                "name": c.name,
                "title": c.title,
                "type": "cube",
                "isVisible": true,
                "public": true,
                "connectedComponent": 1,
                "measures": c.measures.iter().filter(|m| shown(&format!("{}.{}", c.name, m.name))).map(|m| json!({
                    "name": format!("{}.{}", c.name, m.name),
                    "title": format!("{} {}", c.title, m.title),
                    "shortTitle": m.title,
                    "type": "number",
                    "aggType": m.kind.as_str(),
                    "cumulative": false,
                    "cumulativeTotal": false,
                    "drillMembers": [],
                    "drillMembersGrouped": {"measures": [], "dimensions": []},
                    "isVisible": true,
                    "public": true,
                })).collect::<Vec<_>>(),
                "dimensions": c.dimensions.iter().filter(|d| shown(&format!("{}.{}", c.name, d.name))).map(|d| json!({
                    "name": format!("{}.{}", c.name, d.name),
                    "title": format!("{} {}", c.title, d.title),
                    "shortTitle": d.title,
                    "type": d.kind.as_str(),
                    "suggestFilterValues": true,
                    "primaryKey": d.primary_key,
                    "isVisible": true,
                    "public": true,
                })).collect::<Vec<_>>(),
                "segments": c.segments.iter().filter(|s| shown(&format!("{}.{}", c.name, s.name))).map(|s| json!({
                    "name": format!("{}.{}", c.name, s.name),
                    "title": format!("{} {}", c.title, s.title),
                    "shortTitle": s.title,
                    "isVisible": true,
                    "public": true,
                })).collect::<Vec<_>>(),
                "hierarchies": [],
                "folders": [],
                "nestedFolders": [],
            })
        })
        .collect();
    json!({"cubes": cubes})
}
