//! API scopes per token, as Cube.js's `contextToApiScopes`: which groups of
//! endpoints (`meta`, `data`, `sql`, and our `explain`) a caller may use.
//!
//! The scopes come from a context path (`[access] scopes_key`: a list of
//! strings, or an OAuth space-separated string), or from the caller's groups
//! (`[access.group_scopes]`, groups at `[access] roles_key`); without either,
//! every scope is granted, as Cube.js's default. A name in a token that is
//! not a scope (OAuth's `openid`, Cube.js's `graphql`) grants nothing.
//!
//! Which endpoint needs which scope is the caller's to say
//! (`server::cube_api::Endpoint::scope`), mirroring Cube.js's
//! `assertApiScope` calls; this module only judges a context. The explain
//! endpoint calls `check(&config.access.scopes, ctx, ApiScope::Explain)`
//! right after authentication, as `routes` does for the Cube.js ones.
//!
//! **Invariant:** with a source configured, a context without the claim (or
//! with it malformed) holds no scope: fail closed.

use serde_json::Value;

use super::{Resolved, SecurityContext};
use crate::config::{ApiScope, ScopesConfig};
use crate::context_path::ContextPath;

/// A refused scope: 403 with Cube.js's exact words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("API scope is missing: {}", .0.name())]
pub struct ScopeMissing(pub ApiScope);

impl ScopeMissing {
    pub fn code(&self) -> &'static str {
        "api_scope_missing"
    }
}

/// The scopes a context holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub const ALL: ScopeSet = ScopeSet(0b1111);

    fn bit(s: ApiScope) -> u8 {
        1 << (s as u8)
    }

    fn insert(&mut self, s: ApiScope) {
        self.0 |= Self::bit(s);
    }

    pub fn contains(self, s: ApiScope) -> bool {
        self.0 & Self::bit(s) != 0
    }

    /// The held scopes by name, in [`ApiScope::ALL`]'s order.
    pub fn names(self) -> Vec<&'static str> {
        ApiScope::ALL.into_iter().filter(|s| self.contains(*s)).map(ApiScope::name).collect()
    }
}

/// The caller's groups, read from `key` (a string, or a list whose string
/// items count). The one reader of groups for scopes and the audit log, so
/// the policy engine's `groups_key` can replace it in one place.
pub fn groups<'c>(ctx: &'c SecurityContext, key: Option<&ContextPath>) -> Vec<&'c str> {
    match key.map(|k| ctx.resolve(k)) {
        Some(Resolved::Scalar(Value::String(s))) => vec![s.as_str()],
        Some(Resolved::List(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The scopes `ctx` holds under `cfg`.
pub fn granted(cfg: &ScopesConfig, ctx: &SecurityContext) -> ScopeSet {
    let mut set = ScopeSet::default();
    if let Some(key) = &cfg.scopes_key {
        let names: Vec<&str> = match ctx.resolve(key) {
            Resolved::Scalar(Value::String(s)) => s.split(' ').collect(),
            Resolved::List(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        names.into_iter().filter_map(ApiScope::parse).for_each(|s| set.insert(s));
        return set;
    }
    if cfg.group_scopes.is_empty() {
        return ScopeSet::ALL;
    }
    let held = groups(ctx, cfg.groups_key.as_ref());
    for (group, scopes) in &cfg.group_scopes {
        if group == "*" || held.contains(&group.as_str()) {
            scopes.iter().for_each(|s| set.insert(*s));
        }
    }
    set
}

/// Cube.js's `assertApiScope`: `Ok` when `ctx` holds `scope`.
pub fn check(cfg: &ScopesConfig, ctx: &SecurityContext, scope: ApiScope) -> Result<(), ScopeMissing> {
    if granted(cfg, ctx).contains(scope) { Ok(()) } else { Err(ScopeMissing(scope)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::provider::VerifiedClaims;
    use serde_json::json;

    fn ctx(v: Value) -> SecurityContext {
        SecurityContext::from_verified(VerifiedClaims::dangerous_assume_verified(v).expect("object"), None, &[])
            .expect("context")
    }

    fn path(p: &str) -> Option<ContextPath> {
        Some(ContextPath::parse(p).expect("path"))
    }

    #[test]
    fn without_a_source_every_scope_is_granted() {
        assert_eq!(granted(&ScopesConfig::default(), &ctx(json!({}))), ScopeSet::ALL);
    }

    #[test]
    fn a_scopes_claim_grants_what_it_lists_and_nothing_when_absent_or_malformed() {
        let cfg = ScopesConfig { scopes_key: path("scopes"), ..Default::default() };
        assert_eq!(granted(&cfg, &ctx(json!({"scopes": ["meta", "graphql", "sql"]}))).names(), ["meta", "sql"]);
        assert_eq!(granted(&cfg, &ctx(json!({"scopes": "openid data"}))).names(), ["data"]);
        assert_eq!(granted(&cfg, &ctx(json!({}))).names(), Vec::<&str>::new());
        assert_eq!(granted(&cfg, &ctx(json!({"scopes": {"meta": true}}))).names(), Vec::<&str>::new());
        assert_eq!(check(&cfg, &ctx(json!({})), ApiScope::Data), Err(ScopeMissing(ApiScope::Data)));
    }

    #[test]
    fn group_scopes_are_the_union_of_the_callers_groups_and_star() {
        let cfg = ScopesConfig {
            groups_key: path("groups"),
            group_scopes: vec![
                ("analyst".into(), vec![ApiScope::Meta, ApiScope::Data]),
                ("dev".into(), vec![ApiScope::Sql]),
                ("*".into(), vec![ApiScope::Explain]),
            ],
            ..Default::default()
        };
        assert_eq!(
            granted(&cfg, &ctx(json!({"groups": ["analyst", "dev"]}))).names(),
            ["meta", "data", "sql", "explain"]
        );
        assert_eq!(granted(&cfg, &ctx(json!({"groups": "dev"}))).names(), ["sql", "explain"]);
        assert_eq!(granted(&cfg, &ctx(json!({}))).names(), ["explain"]);
        let e = check(&cfg, &ctx(json!({"groups": ["dev"]})), ApiScope::Data).map_err(|e| e.to_string());
        assert_eq!(e, Err("API scope is missing: data".to_string()));
    }
}
