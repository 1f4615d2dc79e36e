//! What a request means: CORS, request id, body limit, routing, and the one
//! access-log line per request.

use std::time::Instant;

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    CONTENT_LENGTH, HeaderValue,
};
use http::{HeaderName, Method, Request, Response, StatusCode};
use serde_json::json;

use http::request::Parts;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};

use super::response::{ApiError, Body, bytes_response, error_response, json_response};
use super::{App, audit, cube_api};
use crate::auth::Authenticated;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the access log says about a request beyond method, path and status.
#[derive(Default)]
struct Outcome {
    code: Option<&'static str>,
    provider: Option<std::sync::Arc<str>>,
    kid: Option<std::sync::Arc<str>>,
    /// A data request's audit record, written with the access line.
    audit: Option<Box<audit::Record>>,
}

pub async fn handle(app: &App, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let request_id = incoming_request_id(&req).unwrap_or_else(|| app.next_request_id());
    let (parts, body) = req.into_parts();
    let (mut resp, mut outcome) = route(app, &parts, body).await;

    let headers = resp.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(X_REQUEST_ID, v);
    }
    // Never the token, the query string or the claims: path, ids and codes.
    // Upstream faults (the key endpoint) are warnings; the rest is routine.
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE && outcome.code.is_some() {
        tracing::warn!(request_id = %request_id, code = outcome.code.unwrap_or("-"), provider = outcome.provider.as_deref().unwrap_or("-"), "request refused: upstream unavailable");
    }
    if let Some(record) = outcome.audit.take() {
        let (provider, kid) = (outcome.provider.as_deref(), outcome.kid.as_deref());
        record.emit(&app.audit, &request_id, resp.status().as_u16(), outcome.code, provider, kid).await;
    }
    let latency = started.elapsed();
    app.metrics.record(resp.status().as_u16(), outcome.code, outcome.provider.as_ref(), latency);
    tracing::info!(
        request_id = %request_id,
        method = %parts.method,
        path = parts.uri.path(),
        status = resp.status().as_u16(),
        code = %outcome.code.unwrap_or("-"),
        provider = %outcome.provider.as_deref().unwrap_or("-"),
        // Client-controlled values stay Debug-escaped (no log injection).
        kid = outcome.kid.as_deref().unwrap_or("-"),
        latency_us = latency.as_micros() as u64,
        "request"
    );
    resp
}

async fn route(app: &App, req: &Parts, body: Incoming) -> (Response<Body>, Outcome) {
    if req.method == Method::OPTIONS {
        return (preflight(), Outcome::default());
    }
    let limit = app.config.server.max_body_bytes;
    if content_length(req).is_some_and(|len| len > limit) {
        return fail(app, ApiError::PayloadTooLarge { limit }, Outcome::default());
    }
    let path = req.uri.path();
    match path {
        "/livez" => only_get(app, req, || json_response(StatusCode::OK, &json!({"status": "ok"}))),
        // Not ready until every required JWKS provider has loaded keys once;
        // never unready again after that (an upstream outage must not take
        // every replica out of the load balancer at once).
        "/readyz" => only_get(app, req, || {
            let waiting = app.pipeline.not_ready();
            if waiting.is_empty() {
                json_response(StatusCode::OK, &json!({"status": "ready"}))
            } else {
                json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "not_ready", "waiting_for": waiting}))
            }
        }),
        "/metrics" => only_get(app, req, || {
            let mut resp = Response::new(Body::from(app.metrics.render(
                app.pipeline.not_ready().is_empty(),
                app.statements_running(),
                app.audit.write_errors(),
                &app.cache_snapshots(),
                &app.pipeline.webhook_stats(),
                &app.pipeline.enrich_stats(),
            )));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }),
        "/tenantgate/v1/whoami" => {
            if req.method != Method::GET {
                return fail(app, ApiError::MethodNotAllowed, Outcome::default());
            }
            match authenticate(app, req).await {
                Ok((auth, outcome)) => (whoami(&auth), outcome),
                Err(failed) => failed,
            }
        }
        // Forward auth for gateways: any method (nginx's auth_request keeps
        // the client's), the body never read.
        "/tenantgate/v1/authorize" => {
            let Some(cfg) = &app.config.forward_auth else {
                return fail(app, ApiError::NotFound, Outcome::default());
            };
            let (auth, outcome) = match authenticate(app, req).await {
                Ok(ok) => ok,
                Err(failed) => return failed,
            };
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            match crate::auth::forward::authorize(cfg, &auth.context, &req.headers, req.method.as_str(), now) {
                Ok(headers) => {
                    let mut resp = Response::new(Body::default());
                    for (name, value) in headers {
                        resp.headers_mut().insert(name, value);
                    }
                    (resp, outcome)
                }
                Err(e) => fail(app, e.into(), outcome),
            }
        }
        // The internal token's public keys (`[forward_auth.internal_token]`).
        "/.well-known/jwks.json" => {
            let Some(t) = app.config.forward_auth.as_ref().and_then(|f| f.internal_token.as_ref()) else {
                return fail(app, ApiError::NotFound, Outcome::default());
            };
            only_get(app, req, || {
                let mut resp = json_response(StatusCode::OK, &crate::auth::forward::key_set(t));
                // Short, so a rotation key added to the set reaches verifiers
                // soon.
                resp.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
                resp
            })
        }
        _ => match cube_api::Endpoint::from_path(path) {
            Some(endpoint) => {
                let allowed =
                    req.method == Method::GET || (req.method == Method::POST && endpoint != cube_api::Endpoint::Meta);
                if !allowed {
                    return fail(app, ApiError::MethodNotAllowed, Outcome::default());
                }
                let mut record = endpoint
                    .audited()
                    .filter(|_| app.config.audit.enabled)
                    .map(|name| Box::new(audit::Record::new(name)));
                // Authentication before anything else is read or parsed.
                let (auth, mut outcome) = match authenticate(app, req).await {
                    Ok(ok) => ok,
                    Err((resp, mut outcome)) => {
                        outcome.audit = record;
                        return (resp, outcome);
                    }
                };
                if let Some(r) = record.as_deref_mut() {
                    r.caller(app, &auth);
                }
                outcome.audit = record;
                // Then the scope, as Cube.js's handlers assert it first.
                if let Err(e) = crate::auth::scope::check(&app.config.access.scopes, &auth.context, endpoint.scope()) {
                    return fail(app, e.into(), outcome);
                }
                let bytes = if req.method == Method::POST {
                    match Limited::new(body, limit).collect().await {
                        Ok(c) => c.to_bytes(),
                        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                            return fail(app, ApiError::PayloadTooLarge { limit }, outcome);
                        }
                        Err(e) => return fail(app, ApiError::BadBody(e.to_string()), outcome),
                    }
                } else {
                    Bytes::new()
                };
                let result = cube_api::handle(app, endpoint, req, bytes, &auth, outcome.audit.as_deref_mut()).await;
                match result {
                    Ok(resp) => (resp, outcome),
                    Err(e) => fail(app, e, outcome),
                }
            }
            None => fail(app, ApiError::NotFound, Outcome::default()),
        },
    }
}

/// Run the auth pipeline; a refusal comes back as the finished response.
async fn authenticate(app: &App, req: &Parts) -> Result<(Authenticated, Outcome), (Response<Body>, Outcome)> {
    match app.pipeline.authenticate(&req.headers).await {
        Ok(auth) => {
            let outcome = Outcome { code: None, provider: auth.provider.clone(), kid: auth.kid.clone(), audit: None };
            Ok((auth, outcome))
        }
        Err(rejection) => {
            let outcome = Outcome {
                code: Some(rejection.error.code()),
                provider: rejection.provider,
                kid: rejection.kid,
                audit: None,
            };
            Err(fail(app, ApiError::Auth(rejection.error), outcome))
        }
    }
}

/// `{"securityContext": <the context>, "provider": <name or null>}`. The
/// context's JSON is written once per verified token
/// ([`Authenticated::context_json`], shared through the verification cache);
/// only the envelope is written here.
fn whoami(auth: &Authenticated) -> Response<Body> {
    let context = auth.context_json();
    let provider = auth.provider.as_deref().unwrap_or("");
    let mut body = Vec::with_capacity(context.len() + provider.len() + 40);
    body.extend_from_slice(b"{\"securityContext\":");
    body.extend_from_slice(&context);
    body.extend_from_slice(b",\"provider\":");
    // A string or null always serializes.
    let _ = serde_json::to_writer(&mut body, &auth.provider.as_deref());
    body.push(b'}');
    let mut resp = bytes_response(StatusCode::OK, body);
    // Where to ask what the access policies decide for this token.
    resp.headers_mut()
        .insert(http::header::LINK, HeaderValue::from_static("</tenantgate/v1/explain>; rel=\"explain\""));
    resp
}

fn only_get(app: &App, req: &Parts, ok: impl FnOnce() -> Response<Body>) -> (Response<Body>, Outcome) {
    if req.method == Method::GET || req.method == Method::HEAD {
        (ok(), Outcome::default())
    } else {
        fail(app, ApiError::MethodNotAllowed, Outcome::default())
    }
}

fn fail(app: &App, err: ApiError, mut outcome: Outcome) -> (Response<Body>, Outcome) {
    // Our own faults are errors in the log, with the detail the client does
    // not get; the client's and upstream's are in the access line already.
    // The database's text never reaches the client (see error_response), so
    // it is logged here, bounded: one statement's error once made a 254 KB
    // line (rusqlite's errors carry the whole SQL).
    match &err {
        ApiError::Db(e @ crate::db::DbError::Internal(_)) => {
            tracing::error!(error = %crate::telemetry::bounded(&e.to_string()), "request failed on our side");
        }
        ApiError::Forward(e @ crate::auth::forward::ForwardError::Signing(_)) => {
            tracing::error!(error = %e, "the internal token could not be signed");
        }
        ApiError::Db(e @ (crate::db::DbError::Unavailable(_) | crate::db::DbError::Refused { .. })) => {
            tracing::warn!(error = %crate::telemetry::bounded(&e.to_string()), "database refused or unavailable");
        }
        _ => {}
    }
    outcome.code = Some(err.code());
    (error_response(&err, app.config.auth.failure_status), outcome)
}

/// Cube-style CORS: any origin, preflight answered with 204.
fn preflight() -> Response<Body> {
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    h.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, x-cube-authorization, content-type, x-request-id"),
    );
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    resp
}

fn content_length(req: &Parts) -> Option<usize> {
    req.headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A client's `X-Request-Id` is kept when it is short and plain, so ids can
/// be followed across services; anything else is replaced.
fn incoming_request_id<B>(req: &Request<B>) -> Option<String> {
    let v = req.headers().get(X_REQUEST_ID)?.to_str().ok()?;
    let plain = !v.is_empty()
        && v.len() <= 64
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain.then(|| v.to_string())
}
