//! `[[access.tests]]`, run by `check-config`: each test's security context
//! and query against the model's access policies (and the configuration's
//! roles and rules), with what decided each member named in a failure.

use serde_json::Value;

use super::{Caller, Entity, Standing};
use crate::auth::SecurityContext;
use crate::config::AccessTest;
use crate::query::request::Ref;
use crate::query::{Model, Policy, plan};

/// One test that did not pass, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub test: String,
    pub source: String,
    pub problems: Vec<String>,
}

/// Run every test; the failures, in order.
pub fn run(model: &Model, policy: &Policy, tests: &[AccessTest]) -> Vec<Failure> {
    tests.iter().filter_map(|t| run_one(model, policy, t)).collect()
}

fn run_one(model: &Model, policy: &Policy, t: &AccessTest) -> Option<Failure> {
    let Value::Object(map) = &t.security_context else {
        return Some(Failure {
            test: t.name.clone(),
            source: t.source.clone(),
            problems: vec!["security_context must be a table".into()],
        });
    };
    let ctx = SecurityContext::for_policy_test(map.clone());
    let caller = policy.caller(model, &ctx);
    let grants = policy.grants(&ctx);
    let mut problems = Vec::new();
    for (list, want) in [(&t.expect_visible, "visible"), (&t.expect_hidden, "hidden"), (&t.expect_masked, "masked")] {
        for name in list {
            let Ok(r) = model.resolve(name) else {
                problems.push(format!("{name}: no such member in the model"));
                continue;
            };
            let granted = grants.as_ref().is_none_or(|g| g.allows(&model.ref_name(r)));
            let got = match caller.standing_of(r) {
                Standing::Hidden { .. } => "hidden",
                _ if !granted => "hidden",
                Standing::Masked => "masked",
                Standing::Visible => "visible",
            };
            if got != want {
                let why =
                    if granted { decided(&caller, model, r) } else { "no [[access.roles]] role grants it".into() };
                problems.push(format!("{name}: expected {want}, but it is {got}: {why}"));
            }
        }
    }
    if let (Some(want), Some(query)) = (&t.expect_code, &t.query) {
        let got = match plan(model, policy, std::slice::from_ref(query), &ctx) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.code().to_string(),
        };
        if &got != want {
            problems.push(format!("the query: expected {want}, got {got}"));
        }
    }
    (!problems.is_empty()).then(|| Failure { test: t.name.clone(), source: t.source.clone(), problems })
}

/// What decided a member's standing: the policies of its cube or view
/// that applied, or why each did not.
fn decided(caller: &Caller<'_>, model: &Model, r: Ref) -> String {
    let e = match r.view {
        Some(v) => Entity::View(v.view),
        None => Entity::Cube(r.id.cube),
    };
    let name = e.name(model);
    let judged: Vec<&super::Judged> = caller.judged.iter().filter(|j| j.entity == e).collect();
    if judged.is_empty() {
        return format!("{name} has no access_policy (open)");
    }
    let applied: Vec<String> = judged
        .iter()
        .filter(|j| j.applies)
        .map(|j| format!("{name}.access_policy[{}] (group {})", j.index, j.groups.join(", ")))
        .collect();
    if applied.is_empty() {
        let why: Vec<String> = judged
            .iter()
            .map(|j| format!("{name}.access_policy[{}]: {}", j.index, j.reason.as_deref().unwrap_or("?")))
            .collect();
        return format!("no policy of {name} applies ({})", why.join("; "));
    }
    format!("decided by {}", applied.join(", "))
}
