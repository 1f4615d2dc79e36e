//! The join tree of a query, as Cube.js's `JoinGraph` builds it: every
//! queried cube is tried as the root, the shortest directed path from the
//! root to each other cube is taken and the paths are unioned; the tree
//! with the fewest joins wins, ties going to the earlier root. Pure.

use super::QueryError;
use super::model::{Model, Relationship};

/// One join of a tree: `cubes[from].joins[join]`, reaching `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub join: usize,
    pub to: usize,
}

/// The cubes a query reads and how they are joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTree {
    pub root: usize,
    /// In the order they are rendered; each joins a cube already present.
    pub edges: Vec<Edge>,
    /// Cubes whose rows the tree repeats (Cube.js's multiplication factor):
    /// their aggregates are taken over distinct primary keys.
    pub multiplied: Vec<usize>,
}

impl JoinTree {
    /// One cube, no joins.
    pub fn single(cube: usize) -> JoinTree {
        JoinTree { root: cube, edges: Vec::new(), multiplied: Vec::new() }
    }

    /// The root, then each joined cube, in render order.
    pub fn cubes(&self) -> Vec<usize> {
        std::iter::once(self.root).chain(self.edges.iter().map(|e| e.to)).collect()
    }

    pub fn is_multiplied(&self, cube: usize) -> bool {
        self.multiplied.contains(&cube)
    }
}

/// A hint: a cube, or a path of cubes to be joined in that order
/// (`joinHints`, a view's `join_path`).
pub type Hint = Vec<usize>;

/// Build the tree joining every hint's cubes, or Cube.js's
/// `Can't find join path to join 'A', 'B'`.
pub fn build(model: &Model, hints: &[Hint]) -> Result<JoinTree, QueryError> {
    let hints: Vec<&Hint> = hints.iter().filter(|h| !h.is_empty()).collect();
    let Some(first) = hints.first() else {
        return Err(QueryError::Invalid("the query names no cube".into()));
    };
    if hints.len() == 1 && first.len() == 1 {
        return Ok(JoinTree::single(first[0]));
    }
    let mut best: Option<(usize, Vec<Edge>)> = None;
    for (i, hint) in hints.iter().enumerate() {
        let root = hint[0];
        // Cube.js's `R.without([hint], hints)`: every equal hint goes; the
        // rest of a path hint is joined first.
        let mut others: Vec<&[usize]> = Vec::new();
        if hint.len() > 1 {
            others.push(&hint[1..]);
        }
        others.extend(hints.iter().enumerate().filter(|(j, h)| *j != i && **h != *hint).map(|(_, h)| h.as_slice()));
        if let Some(edges) = tree_for_root(model, root, &others)
            && best.as_ref().is_none_or(|(_, b)| edges.len() < b.len())
        {
            best = Some((root, edges));
        }
    }
    let Some((root, edges)) = best else {
        let names: Vec<String> = hints
            .iter()
            .map(|h| format!("'{}'", h.iter().map(|c| model.cubes[*c].name.as_str()).collect::<Vec<_>>().join(",")))
            .collect();
        return Err(QueryError::NoJoinPath(format!("Can't find join path to join {}", names.join(", "))));
    };
    let mut tree = JoinTree { root, edges, multiplied: Vec::new() };
    tree.multiplied = tree.cubes().into_iter().filter(|c| multiplied(model, &tree.edges, *c)).collect();
    Ok(tree)
}

fn tree_for_root(model: &Model, root: usize, others: &[&[usize]]) -> Option<Vec<Edge>> {
    let mut joined = vec![false; model.cubes.len()];
    let mut edges: Vec<Edge> = Vec::new();
    for hint in others {
        let mut prev = root;
        for &to in hint.iter().filter(|c| **c != root) {
            if joined[to] {
                prev = to;
                continue;
            }
            for e in shortest_path(model, prev, to)? {
                if !edges.contains(&e) {
                    edges.push(e);
                }
            }
            prev = to;
            joined[to] = true;
        }
    }
    // Two routes into one cube (possible with path hints) would join it
    // twice under one alias: no tree from this root.
    let mut reached = vec![false; model.cubes.len()];
    reached[root] = true;
    for e in &edges {
        if reached[e.to] {
            return None;
        }
        reached[e.to] = true;
    }
    Some(edges)
}

/// Breadth-first over joins as declared (each cube's joins in file order),
/// so the shortest path is found and ties are stable.
pub(super) fn shortest_path(model: &Model, from: usize, to: usize) -> Option<Vec<Edge>> {
    if from == to {
        return Some(Vec::new());
    }
    let mut via: Vec<Option<Edge>> = vec![None; model.cubes.len()];
    let mut seen = vec![false; model.cubes.len()];
    seen[from] = true;
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(c) = queue.pop_front() {
        for (j, join) in model.cubes[c].joins.iter().enumerate() {
            if seen[join.to] {
                continue;
            }
            seen[join.to] = true;
            via[join.to] = Some(Edge { from: c, join: j, to: join.to });
            if join.to == to {
                let mut path = Vec::new();
                let mut at = to;
                while let Some(e) = via[at] {
                    path.push(e);
                    at = e.from;
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(join.to);
        }
    }
    None
}

/// Cube.js's `findMultiplicationFactorFor`: a cube is multiplied when some
/// join of the tree, walked away from it, goes from a "one" side to a
/// "many" side.
fn multiplied(model: &Model, edges: &[Edge], cube: usize) -> bool {
    let mut visited = vec![false; model.cubes.len()];
    walk(model, edges, cube, &mut visited)
}

fn walk(model: &Model, edges: &[Edge], current: usize, visited: &mut [bool]) -> bool {
    if visited[current] {
        return false;
    }
    visited[current] = true;
    let next = |e: &Edge| if e.from == current { e.to } else { e.from };
    let adjacent: Vec<&Edge> = edges.iter().filter(|e| e.from == current || e.to == current).collect();
    if adjacent.iter().any(|e| multiplies(model, current, e) && !visited[next(e)]) {
        return true;
    }
    adjacent.iter().any(|e| walk(model, edges, next(e), visited))
}

/// Whether the join repeats `cube`'s rows: the "one" side of a
/// one-to-many (as declared or reversed).
fn multiplies(model: &Model, cube: usize, e: &Edge) -> bool {
    let rel = model.cubes[e.from].joins[e.join].relationship;
    (e.from == cube && rel == Relationship::OneToMany) || (e.to == cube && rel == Relationship::ManyToOne)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::model::{ModelOptions, load_sources};

    /// Customers -< Orders -< Items >- Products; Customers - Profiles.
    const GRAPH: &str = r#"
cubes:
  - name: Customers
    sql_table: customers
    joins:
      - name: Orders
        relationship: one_to_many
        sql: "{CUBE}.id = {Orders}.customer_id"
      - name: Profiles
        relationship: hasOne
        sql: "{CUBE}.id = {Profiles.customerId}"
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
  - name: Orders
    sql_table: orders
    joins:
      - name: Items
        relationship: has_many
        sql: "{CUBE}.id = {Items}.order_id"
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
  - name: Items
    sql_table: items
    joins:
      - name: Products
        relationship: belongs_to
        sql: "{CUBE}.product_id = {Products}.id"
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
  - name: Products
    sql_table: products
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
  - name: Profiles
    sql_table: profiles
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: customerId, sql: customer_id, type: number}
"#;

    fn model() -> Model {
        load_sources(&[("graph.yml".into(), GRAPH.into())], ModelOptions::default()).expect("graph loads")
    }

    fn names(m: &Model, t: &JoinTree) -> (String, Vec<String>, Vec<String>) {
        let n = |c: usize| m.cubes[c].name.clone();
        (
            n(t.root),
            t.edges.iter().map(|e| format!("{}->{}", n(e.from), n(e.to))).collect(),
            t.multiplied.iter().map(|c| n(*c)).collect(),
        )
    }

    fn cube(m: &Model, name: &str) -> usize {
        m.cubes.iter().position(|c| c.name == name).expect(name)
    }

    #[test]
    fn the_root_is_the_queried_cube_that_reaches_the_others_and_one_to_many_multiplies_the_one_side() {
        let m = model();
        let h = |names: &[&str]| names.iter().map(|n| vec![cube(&m, n)]).collect::<Vec<_>>();
        let t = build(&m, &h(&["Products", "Customers"])).expect("tree");
        assert_eq!(
            names(&m, &t),
            (
                "Customers".into(),
                vec!["Customers->Orders".into(), "Orders->Items".into(), "Items->Products".into()],
                // Customers and Orders repeat per item; Products per item too.
                vec!["Customers".into(), "Orders".into(), "Products".into()]
            )
        );
        let t = build(&m, &h(&["Items", "Products"])).expect("tree");
        assert_eq!(names(&m, &t), ("Items".into(), vec!["Items->Products".into()], vec!["Products".into()]));
        let t = build(&m, &h(&["Customers", "Profiles"])).expect("tree");
        assert_eq!(names(&m, &t).2, Vec::<String>::new(), "one_to_one multiplies nothing");
        // Two siblings under one root multiply each other.
        let t = build(&m, &h(&["Orders", "Customers", "Profiles"])).expect("tree");
        assert_eq!(names(&m, &t).0, "Customers");
        assert_eq!(names(&m, &t).2, vec!["Customers".to_string(), "Profiles".to_string()]);
    }

    #[test]
    fn cubes_no_root_reaches_have_no_join_path() {
        let m = model();
        let err = build(&m, &[vec![cube(&m, "Profiles")], vec![cube(&m, "Orders")]]).expect_err("no path");
        assert_eq!(err, QueryError::NoJoinPath("Can't find join path to join 'Profiles', 'Orders'".into()));
    }

    #[test]
    fn a_path_hint_joins_in_its_order() {
        let m = model();
        let (c, o, i) = (cube(&m, "Customers"), cube(&m, "Orders"), cube(&m, "Items"));
        let t = build(&m, &[vec![c, o, i]]).expect("tree");
        assert_eq!(names(&m, &t).1, vec!["Customers->Orders".to_string(), "Orders->Items".to_string()]);
    }
}
