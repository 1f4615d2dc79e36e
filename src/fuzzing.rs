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
