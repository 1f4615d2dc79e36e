//! Forward auth for gateways (`/tenantgate/v1/authorize`): an authenticated
//! request's security context, the gateway's forwarded method and URI, and
//! `[forward_auth]` in; the response headers to hand the upstream, or the
//! reason for a 403, out. Pure: the HTTP handler is `server::routes`.
//!
//! Decisions, in order: the forwarded URI is normalised ([`path`]); the
//! first `[[forward_auth.routes]]` whose `path_prefix` covers the path and
//! whose `methods` hold the method decides (its groups: any one of them;
//! its scopes: every one); no match falls to `default`. Then every
//! configured header is built from the context, or the request is refused:
//! a header is never sent empty, with a missing value, or with a byte a
//! header value cannot hold (CR, LF, NUL, anything outside printable ASCII).
//! Lists are joined with `,` (RFC 9110's list syntax); an item that itself
//! holds `,` is refused, since the upstream could not split it back.
//!
//! **Invariant:** every configured header is in the answer, so a gateway
//! that copies them replaces whatever the client sent under those names.

pub mod path;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::{Resolved, SecurityContext};
use crate::config::{ForwardAuthConfig, ForwardDefault, InternalTokenConfig, SessionValue};

/// Where the internal token goes (`[forward_auth.internal_token]`).
pub const INTERNAL_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-security-context-token");

/// The method headers gateways send, in the order they are read.
const METHOD_HEADERS: [&str; 2] = ["x-forwarded-method", "x-original-method"];
/// The URI headers: Caddy and Traefik send `X-Forwarded-Uri`, nginx what its
/// configuration says (`X-Original-URI` by convention).
const URI_HEADERS: [&str; 2] = ["x-forwarded-uri", "x-original-uri"];

/// Why a gateway's request is refused after authentication (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("{0}")]
    BadUri(String),
    #[error("no route allows {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("the route for {path} needs one of the groups {groups:?}")]
    GroupRequired { path: String, groups: Vec<String> },
    #[error("the route for {path} needs the scope {scope:?}")]
    ScopeRequired { path: String, scope: String },
    #[error("the security context has no value for header {0}")]
    HeaderMissing(String),
    #[error("the security context's value for header {0} cannot be sent in a header")]
    HeaderInvalid(String),
    /// Ours, not the client's: the internal token could not be signed.
    #[error("the internal token could not be signed: {0}")]
    Signing(String),
}

impl ForwardError {
    pub fn code(&self) -> &'static str {
        match self {
            ForwardError::BadUri(_) => "forward_uri_invalid",
            ForwardError::NoRoute { .. } => "forward_route_denied",
            ForwardError::GroupRequired { .. } => "forward_group_required",
            ForwardError::ScopeRequired { .. } => "forward_scope_required",
            ForwardError::HeaderMissing(_) => "forward_header_missing",
            ForwardError::HeaderInvalid(_) => "forward_header_invalid",
            ForwardError::Signing(_) => "internal_error",
        }
    }
}

/// Decide on a gateway's request. `own_method` is the method the gateway
/// used to call us, taken when it forwards none; `now` is seconds since the
/// Unix epoch, for the internal token.
pub fn authorize(
    cfg: &ForwardAuthConfig,
    ctx: &SecurityContext,
    headers: &HeaderMap,
    own_method: &str,
    now: u64,
) -> Result<Vec<(HeaderName, HeaderValue)>, ForwardError> {
    if !cfg.routes.is_empty() {
        let method = one_of(headers, &METHOD_HEADERS)?.unwrap_or(own_method).to_ascii_uppercase();
        let uri = one_of(headers, &URI_HEADERS)?
            .ok_or_else(|| ForwardError::BadUri("no X-Forwarded-Uri or X-Original-URI header".into()))?;
        let path = path::normalize(uri).map_err(|e| ForwardError::BadUri(e.describe().into()))?;
        check_routes(cfg, ctx, &method, &path)?;
    }
    let mut out: Vec<(HeaderName, HeaderValue)> = cfg
        .headers
        .iter()
        .map(|(name, value)| Ok((name.clone(), header_value(ctx, name, value)?)))
        .collect::<Result<_, _>>()?;
    if let Some(t) = &cfg.internal_token {
        out.push((INTERNAL_TOKEN_HEADER, internal_token(t, ctx, now)?));
    }
    Ok(out)
}

/// The security context as a short-lived JWT signed with our key, so an
/// upstream verifies one issuer (`/.well-known/jwks.json`) instead of every
/// identity provider. Claims: `iss`, `aud` (when configured), `iat`, `nbf`,
/// `exp` and `securityContext`.
pub fn internal_token(cfg: &InternalTokenConfig, ctx: &SecurityContext, now: u64) -> Result<HeaderValue, ForwardError> {
    let mut claims = json!({
        "iss": cfg.issuer,
        "iat": now,
        "nbf": now,
        "exp": now + cfg.ttl.as_secs(),
        "securityContext": ctx,
    });
    if let (Some(aud), Some(map)) = (&cfg.audience, claims.as_object_mut()) {
        map.insert("aud".into(), Value::String(aud.clone()));
    }
    let mut header = jsonwebtoken::Header::new(cfg.signing.algorithm);
    header.kid = Some(cfg.signing.kid.clone());
    let token =
        jsonwebtoken::encode(&header, &claims, &cfg.signing.key).map_err(|e| ForwardError::Signing(e.to_string()))?;
    HeaderValue::from_str(&token).map_err(|e| ForwardError::Signing(e.to_string()))
}

/// `/.well-known/jwks.json`: the signing key and the rotation key, public
/// halves only.
pub fn key_set(cfg: &InternalTokenConfig) -> Value {
    let keys: Vec<&jsonwebtoken::jwk::Jwk> =
        std::iter::once(&cfg.signing).chain(&cfg.rotation).map(|k| &k.jwk).collect();
    json!({ "keys": keys })
}

/// The one value the gateway sent under any of `names`. Two different
/// values (a client's `X-Forwarded-Uri` beside nginx's `X-Original-URI`)
/// are refused: trusting either could let the client pick the path judged.
fn one_of<'h>(headers: &'h HeaderMap, names: &[&str]) -> Result<Option<&'h str>, ForwardError> {
    let mut found: Option<&str> = None;
    for name in names {
        for v in headers.get_all(*name) {
            let v = v.to_str().map_err(|_| ForwardError::BadUri(format!("{name} is not ASCII")))?;
            match found {
                Some(f) if f != v => {
                    return Err(ForwardError::BadUri(format!("conflicting {} headers", names.join(" / "))));
                }
                _ => found = Some(v),
            }
        }
    }
    Ok(found)
}

fn check_routes(cfg: &ForwardAuthConfig, ctx: &SecurityContext, method: &str, path: &str) -> Result<(), ForwardError> {
    let route = cfg.routes.iter().find(|r| {
        path::covers(&r.path_prefix, path) && (r.methods.is_empty() || r.methods.iter().any(|m| m == method))
    });
    let Some(route) = route else {
        return match cfg.default {
            ForwardDefault::Allow => Ok(()),
            ForwardDefault::Deny => Err(ForwardError::NoRoute { method: method.into(), path: path.into() }),
        };
    };
    if !route.require_groups.is_empty() {
        let held = cfg.groups_key.as_ref().map(|k| words(ctx.resolve(k), false)).unwrap_or_default();
        if !route.require_groups.iter().any(|g| held.contains(&g.as_str())) {
            return Err(ForwardError::GroupRequired { path: path.into(), groups: route.require_groups.clone() });
        }
    }
    if !route.require_scopes.is_empty() {
        let held = cfg.scopes_key.as_ref().map(|k| words(ctx.resolve(k), true)).unwrap_or_default();
        if let Some(scope) = route.require_scopes.iter().find(|s| !held.contains(&s.as_str())) {
            return Err(ForwardError::ScopeRequired { path: path.into(), scope: scope.clone() });
        }
    }
    Ok(())
}

/// Groups or scopes as held: a list of strings, or one string (for scopes,
/// OAuth's space-separated `scope`). Anything else holds none.
fn words(resolved: Resolved<'_>, split_spaces: bool) -> Vec<&str> {
    match resolved {
        Resolved::Scalar(Value::String(s)) if split_spaces => s.split(' ').filter(|w| !w.is_empty()).collect(),
        Resolved::Scalar(Value::String(s)) => vec![s.as_str()],
        Resolved::List(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn header_value(ctx: &SecurityContext, name: &HeaderName, value: &SessionValue) -> Result<HeaderValue, ForwardError> {
    let missing = || ForwardError::HeaderMissing(name.to_string());
    let invalid = || ForwardError::HeaderInvalid(name.to_string());
    let text = match value {
        SessionValue::Literal(l) => l.clone(),
        SessionValue::Context(path) => match ctx.resolve(path) {
            Resolved::Missing => return Err(missing()),
            Resolved::Scalar(v) => scalar(v),
            Resolved::List(items) => {
                let items: Vec<String> = items.iter().map(scalar).collect();
                if items.iter().any(|i| i.contains(',') || i.is_empty()) {
                    return Err(invalid());
                }
                items.join(",")
            }
            Resolved::Invalid(_) => return Err(invalid()),
        },
    };
    if text.is_empty() {
        return Err(missing());
    }
    // Printable ASCII only, and no edge whitespace a parser would trim.
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) || text.starts_with(' ') || text.ends_with(' ') {
        return Err(invalid());
    }
    HeaderValue::from_str(&text).map_err(|_| invalid())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::provider::VerifiedClaims;
    use crate::config::{ForwardRoute, SessionValue};
    use crate::context_path::ContextPath;
    use serde_json::json;

    fn ctx(v: Value) -> SecurityContext {
        SecurityContext::from_verified(VerifiedClaims::dangerous_assume_verified(v).expect("object"), None, &[])
            .expect("context")
    }

    fn route(prefix: &str, methods: &[&str], groups: &[&str], scopes: &[&str]) -> ForwardRoute {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        ForwardRoute {
            path_prefix: prefix.into(),
            methods: v(methods),
            require_groups: v(groups),
            require_scopes: v(scopes),
        }
    }

    fn cfg(routes: Vec<ForwardRoute>, default: ForwardDefault) -> ForwardAuthConfig {
        ForwardAuthConfig {
            headers: vec![(
                HeaderName::from_static("x-tenant-id"),
                SessionValue::Context(ContextPath::parse("tenant_id").expect("path")),
            )],
            routes,
            default,
            scopes_key: Some(ContextPath::parse("scope").expect("path")),
            groups_key: Some(ContextPath::parse("groups").expect("path")),
            internal_token: None,
        }
    }

    fn ask(
        cfg: &ForwardAuthConfig,
        ctx: &SecurityContext,
        method: &str,
        uri: &str,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ForwardError> {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-method", HeaderValue::from_str(method).expect("method"));
        h.insert("x-original-uri", HeaderValue::from_str(uri).expect("uri"));
        authorize(cfg, ctx, &h, "GET", 0)
    }

    #[test]
    fn the_first_matching_route_decides_and_walking_around_it_fails() {
        let c = cfg(
            vec![route("/admin", &[], &["admin"], &[]), route("/public", &["GET"], &[], &[])],
            ForwardDefault::Deny,
        );
        let user = ctx(json!({"tenant_id": "t1", "groups": ["staff"]}));
        let admin = ctx(json!({"tenant_id": "t1", "groups": ["staff", "admin"]}));
        assert!(ask(&c, &user, "GET", "/public/x").is_ok());
        assert_eq!(ask(&c, &user, "POST", "/public/x").map_err(|e| e.code()), Err("forward_route_denied"));
        for hostile in [
            "/admin",
            "/public/../admin",
            "//admin/",
            "/%61dmin/x",
            "/public/%2e%2e/admin",
            "/admin;x",
            "/admin;x/users",
            "/./admin",
        ] {
            assert_eq!(
                ask(&c, &user, "GET", hostile).map_err(|e| e.code()),
                Err("forward_group_required"),
                "{hostile}"
            );
            assert!(ask(&c, &admin, "GET", hostile).is_ok(), "{hostile}");
        }
        // Readings upstreams disagree on are refused, for everyone.
        for ambiguous in ["/../admin", "/public/..;/admin", "/public%2F..%2Fadmin", "/public#/../admin"] {
            assert_eq!(
                ask(&c, &admin, "GET", ambiguous).map_err(|e| e.code()),
                Err("forward_uri_invalid"),
                "{ambiguous}"
            );
        }
        assert_eq!(ask(&c, &admin, "GET", "/elsewhere").map_err(|e| e.code()), Err("forward_route_denied"));
        assert!(ask(&cfg(c.routes.clone(), ForwardDefault::Allow), &user, "GET", "/elsewhere").is_ok());
    }

    #[test]
    fn scopes_are_all_required_and_may_be_a_space_separated_string() {
        let c = cfg(vec![route("/", &[], &[], &["read", "write"])], ForwardDefault::Deny);
        assert!(ask(&c, &ctx(json!({"tenant_id": "t", "scope": "read write"})), "GET", "/x").is_ok());
        assert!(ask(&c, &ctx(json!({"tenant_id": "t", "scope": ["write", "read"]})), "GET", "/x").is_ok());
        let e = ask(&c, &ctx(json!({"tenant_id": "t", "scope": "read"})), "GET", "/x").map_err(|e| e.code());
        assert_eq!(e, Err("forward_scope_required"));
    }

    #[test]
    fn conflicting_forwarded_uris_are_refused() {
        let c = cfg(vec![route("/public", &[], &[], &[])], ForwardDefault::Deny);
        let mut h = HeaderMap::new();
        h.insert("x-original-uri", HeaderValue::from_static("/admin"));
        h.insert("x-forwarded-uri", HeaderValue::from_static("/public"));
        let e = authorize(&c, &ctx(json!({"tenant_id": "t"})), &h, "GET", 0).map_err(|e| e.code());
        assert_eq!(e, Err("forward_uri_invalid"));
        h.remove("x-original-uri");
        assert!(authorize(&c, &ctx(json!({"tenant_id": "t"})), &h, "GET", 0).is_ok());
        h.remove("x-forwarded-uri");
        let e = authorize(&c, &ctx(json!({"tenant_id": "t"})), &h, "GET", 0).map_err(|e| e.code());
        assert_eq!(e, Err("forward_uri_invalid"));
    }

    #[test]
    fn header_values_are_built_from_the_context_or_refused() {
        let c = cfg(Vec::new(), ForwardDefault::Allow);
        let got =
            |v: Value| ask(&c, &ctx(json!({"tenant_id": v})), "GET", "/").map(|h| h[0].1.clone()).map_err(|e| e.code());
        assert_eq!(got(json!("acme")), Ok(HeaderValue::from_static("acme")));
        assert_eq!(got(json!(42)), Ok(HeaderValue::from_static("42")));
        assert_eq!(got(json!(["a", "b"])), Ok(HeaderValue::from_static("a,b")));
        assert_eq!(got(Value::Null), Err("forward_header_missing"));
        assert_eq!(got(json!("")), Err("forward_header_missing"));
        assert_eq!(got(json!([])), Err("forward_header_missing"));
        for bad in [
            json!("a\r\nX-Admin: 1"),
            json!("a\nb"),
            json!("a\0"),
            json!("caf\u{e9}"),
            json!(" a"),
            json!({"x": 1}),
            json!(["a,b"]),
        ] {
            assert_eq!(got(bad.clone()), Err("forward_header_invalid"), "{bad}");
        }
        let no_tenant = ask(&c, &ctx(json!({"sub": "x"})), "GET", "/").map_err(|e| e.code());
        assert_eq!(no_tenant, Err("forward_header_missing"));
    }
}
