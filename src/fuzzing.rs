//! Entry points for the fuzz targets in `fuzz/` and for the test that
//! replays their corpus (`tests/fuzz_corpus.rs`): each runs bytes through the
//! same code the server uses, and must never panic.
//!
//! Compiled only with the `fuzzing` feature, which `fuzz/` enables and
//! `cargo test` gets through the crate's dev-dependency on itself. The claims
//! and query targets need a context from unverified JSON, and take it from
//! the one `danger` entry point, `VerifiedClaims::dangerous_assume_verified`.
//! Not a stable API.

use std::sync::OnceLock;

use serde_json::Value;

use crate::auth::SecurityContext;
use crate::auth::provider::VerifiedClaims;
use crate::query::render::RenderOptions;
use crate::query::{Dialect, Model, Query, model, render};

/// Token parsing and verification: the strict front end, then a secret
/// check and a JWK check with fixed keys.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = crate::auth::Jwt::parse(text);
    let _ = crate::auth::verify_jws_with_secret(
        text,
        b"fuzz-secret-fuzz-secret-fuzz-secret-0123",
        &[jsonwebtoken::Algorithm::HS256],
    );
    let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "ES256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    let _ = crate::auth::verify_jws_with_jwk(text, &jwk);
}

/// Claims to security context: the payload must be an object, namespace and
/// `u` steps, then a claims map.
pub fn claims(data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else { return };
    let map = [crate::config::ClaimMapping {
        target: "tenant_id".into(),
        pointer: "/https:~1~1example.com~1tenant".into(),
        default: None,
        json: true,
    }];
    for ns in [None, Some("https://example.com/claims")] {
        if let Ok(claims) = VerifiedClaims::dangerous_assume_verified(payload.clone()) {
            let _ = SecurityContext::from_verified(claims, ns, &map);
        }
    }
}

/// JWKS document parsing.
pub fn jwks(data: &[u8]) {
    let _ = crate::auth::jwks::keyset::parse(data, 100);
}

fn demo_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let yaml = include_str!("../fixtures/demo/model/orders.yml").to_string();
        model::load_sources(&[("orders.yml".into(), yaml)], model::ModelOptions::default())
            .unwrap_or_else(|_| Model::empty())
    })
}

/// Query JSON to SQL, both dialects, with a context that has the claim and
/// one that lacks it.
pub fn query(data: &[u8]) {
    let Ok(raw) = serde_json::from_slice::<Value>(data) else { return };
    let model = demo_model();
    let Ok(q) = Query::parse(&raw, model) else { return };
    for ctx in [serde_json::json!({"tenant_id": "acme"}), serde_json::json!({})] {
        if let Ok(ctx) =
            VerifiedClaims::dangerous_assume_verified(ctx).and_then(|c| SecurityContext::from_verified(c, None, &[]))
        {
            for d in [Dialect::Sqlite, Dialect::Postgres] {
                let _ = render(model, &q, &ctx, d, RenderOptions::default());
            }
        }
    }
}

/// A configuration with every policy piece: a tenant key with listed tenants
/// (a schema and a file), a rule, roles and a session setting, on PostgreSQL.
const PLAN_CONFIG: &str = r#"
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["fuzz-secret-fuzz-secret-fuzz-secret-0123"]
[database]
type = "postgres"
url = "postgres://fuzz@127.0.0.1/fuzz"
[database.session]
"app.tenant" = "{SECURITY_CONTEXT.tenant_id}"
[tenancy]
tenant_key = "tenant_id"
require_known_tenant = false
[tenants.acme]
schema = "acme"
[tenants.initech]
sqlite_path = "/nonexistent/initech.sqlite"
[access]
roles_key = "groups"
[[access.roles]]
name = "viewer"
members = ["Orders.count", "Orders.status"]
[[access.roles]]
name = "analyst"
cubes = ["Orders"]
[[access.rules]]
cube = "Orders"
member = "Orders.status"
operator = "equals"
value = "{SECURITY_CONTEXT.statuses}"
"#;

fn plan_policy() -> Option<&'static (std::sync::Arc<Model>, crate::query::Policy)> {
    static POLICY: OnceLock<Option<(std::sync::Arc<Model>, crate::query::Policy)>> = OnceLock::new();
    POLICY
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("tenantgate-fuzz-plan-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("model")).ok()?;
            std::fs::write(dir.join("model/orders.yml"), include_str!("../fixtures/demo/model/orders.yml")).ok()?;
            let toml = format!("{PLAN_CONFIG}[model]\npath = \"{}\"\n", dir.join("model").display());
            std::fs::write(dir.join("fuzz.toml"), toml).ok()?;
            let opts = crate::config::LoadOptions {
                config_dir: dir.clone(),
                env: "fuzz".into(),
                dotenv: None,
                vars: Default::default(),
            };
            let config = crate::config::load(&opts).ok()?;
            let model = std::sync::Arc::new(crate::build::load_model(&config.model).ok()?);
            let policy = crate::query::Policy::build(&config, &model).ok()?;
            let _ = std::fs::remove_dir_all(&dir);
            Some((model, policy))
        })
        .as_ref()
}

/// Whether the plan target's configuration built (the corpus replay checks
/// it, so the target cannot silently do nothing).
pub fn plan_ready() -> bool {
    plan_policy().is_some()
}

/// The whole query stage: `{"context": {...}, "queries": [...]}` (or a
/// single query object) through `query::plan` with every policy piece.
pub fn plan(data: &[u8]) {
    let Ok(input) = serde_json::from_slice::<Value>(data) else { return };
    let Some((model, policy)) = plan_policy() else { return };
    let context = input.get("context").cloned().unwrap_or_else(|| serde_json::json!({}));
    let queries = match input.get("queries") {
        Some(Value::Array(list)) => list.clone(),
        Some(other) => vec![other.clone()],
        None => vec![input.clone()],
    };
    let Ok(ctx) =
        VerifiedClaims::dangerous_assume_verified(context).and_then(|c| SecurityContext::from_verified(c, None, &[]))
    else {
        return;
    };
    let _ = crate::query::plan(model, policy, &queries, &ctx);
}
