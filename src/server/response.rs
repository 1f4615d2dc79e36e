//! Responses, and the one place where errors become HTTP.
//!
//! Who caused a fault picks the status: the client gets a 4xx with a stable
//! code; later layers add upstream faults (502/503) and our own (500). Bodies
//! keep Cube.js's strings (`"error"`) so existing clients behave the same, and
//! add a machine-readable `"code"` and, where useful, a `"detail"`.

use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::auth::forward::ForwardError;
use crate::auth::scope::ScopeMissing;
use crate::db::DbError;
use crate::query::QueryError;

pub type Body = Full<Bytes>;

/// Every error a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Forward(#[from] ForwardError),
    #[error(transparent)]
    Scope(#[from] ScopeMissing),
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body could not be read: {0}")]
    BadBody(String),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Auth(e) => e.code(),
            ApiError::Forward(e) => e.code(),
            ApiError::Scope(e) => e.code(),
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::BadBody(_) => "bad_request",
            ApiError::Query(e) => e.code(),
            ApiError::Db(e) => e.code(),
        }
    }
}

/// The one mapping from errors to HTTP. `auth_failure_status` is 401
/// (RFC 6750) or 403 (`[auth] failure_status`, Cube.js's status).
pub fn error_response(err: &ApiError, auth_failure_status: StatusCode) -> Response<Body> {
    match err {
        ApiError::Auth(AuthError::MissingToken) => {
            let mut resp = json_response(
                auth_failure_status,
                &json!({"error": "Authorization header isn't set", "code": err.code()}),
            );
            if auth_failure_status == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tenantgate\""));
            }
            resp
        }
        // Not the token's fault: the identity provider's keys cannot be had.
        // 503 whatever failure_status says, so clients retry.
        ApiError::Auth(e @ AuthError::JwksUnavailable(_)) => {
            let mut resp = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "Token keys are unavailable", "code": e.code(), "detail": e.to_string()}),
            );
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("10"));
            resp
        }
        ApiError::Auth(e @ (AuthError::AuthUpstreamUnavailable(_) | AuthError::EnrichmentUnavailable(_))) => {
            let mut resp = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "Authentication is unavailable", "code": e.code(), "detail": e.to_string()}),
            );
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("5"));
            resp
        }
        // The token verified, but the caller's entitlements were not found:
        // 403 whatever failure_status says (retrying will not help).
        ApiError::Auth(e @ AuthError::EnrichmentNotFound(_)) => json_response(
            StatusCode::FORBIDDEN,
            &json!({"error": "Forbidden", "code": e.code(), "detail": e.to_string()}),
        ),
        ApiError::Auth(e) => {
            let detail = e.to_string();
            let mut resp = json_response(
                auth_failure_status,
                &json!({"error": "Invalid token", "code": e.code(), "detail": detail}),
            );
            if auth_failure_status == StatusCode::UNAUTHORIZED {
                let challenge = format!(
                    "Bearer realm=\"tenantgate\", error=\"invalid_token\", error_description=\"{}\"",
                    rfc6750_description(&detail)
                );
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    resp.headers_mut().insert(WWW_AUTHENTICATE, v);
                }
            }
            resp
        }
        ApiError::Forward(ForwardError::Signing(_)) => {
            json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": "Internal error", "code": err.code()}))
        }
        // Authenticated, but this gateway request is not allowed (or its
        // headers cannot be built): 403 whatever failure_status says, which
        // nginx's auth_request and Caddy's forward_auth pass to the client.
        ApiError::Forward(e) => json_response(
            StatusCode::FORBIDDEN,
            &json!({"error": "Forbidden", "code": e.code(), "detail": e.to_string()}),
        ),
        // Authenticated, but the token's scopes do not cover the endpoint:
        // Cube.js's 403 and words, whatever failure_status says.
        ApiError::Scope(e) => json_response(StatusCode::FORBIDDEN, &json!({"error": e.to_string(), "code": e.code()})),
        ApiError::NotFound => json_response(StatusCode::NOT_FOUND, &json!({"error": "Not found", "code": err.code()})),
        ApiError::MethodNotAllowed => {
            json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "Method not allowed", "code": err.code()}))
        }
        ApiError::PayloadTooLarge { .. } => json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"error": "Request body is too large", "code": err.code(), "detail": err.to_string()}),
        ),
        ApiError::BadBody(_) => {
            json_response(StatusCode::BAD_REQUEST, &json!({"error": err.to_string(), "code": err.code()}))
        }
        // A token that lacks a claim the model filters on is not allowed to
        // see the cube: 403. Everything else about a query is the client's
        // 400, with Cube.js's message.
        ApiError::Query(
            e @ (QueryError::MissingSecurityContext { .. }
            | QueryError::InvalidTenant(_)
            | QueryError::UnknownTenant(_)
            | QueryError::MemberNotAllowed(_)
            | QueryError::NoApplicablePolicy(_)),
        ) => json_response(StatusCode::FORBIDDEN, &json!({"error": e.to_string(), "code": e.code()})),
        // Cube.js's schema compiler raises these as `UserError`, and its
        // answer says so in `type`.
        ApiError::Query(
            e @ (QueryError::UnknownMember(_)
            | QueryError::UnknownCube(_)
            | QueryError::NoJoinPath(_)
            | QueryError::Compiler(_)
            | QueryError::NotSupportedByDb(_)),
        ) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"type": "UserError", "error": e.to_string(), "code": e.code()}),
        ),
        ApiError::Query(e) => {
            json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string(), "code": e.code()}))
        }
        ApiError::Db(e) => {
            let status = match e {
                DbError::Busy | DbError::Unavailable(_) | DbError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
                DbError::BadValue(_) | DbError::Refused { .. } | DbError::TooManyRows { .. } => StatusCode::BAD_REQUEST,
                DbError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            // The driver's text (host and user names, the database's own
            // messages, SQL) stays in the log; the client gets our words.
            let message = match e {
                DbError::Internal(_) => "Internal error: the query could not be run".to_string(),
                DbError::Unavailable(_) => "The database is unavailable; retry shortly".to_string(),
                DbError::Refused { sqlstate, .. } => {
                    format!("The database refused a value of the query ({sqlstate}); check the filter values")
                }
                _ => e.to_string(),
            };
            let mut resp = json_response(status, &json!({"error": message, "code": e.code()}));
            if status == StatusCode::SERVICE_UNAVAILABLE {
                resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            resp
        }
    }
}

/// RFC 6750 section 3: error_description is limited to %x20-21 / %x23-5B /
/// %x5D-7E, so quotes and backslashes are replaced and the length bounded.
fn rfc6750_description(detail: &str) -> String {
    detail
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .take(200)
        .collect()
}

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    bytes_response(status, body.to_string().into_bytes())
}

/// A JSON body already serialized.
pub fn bytes_response(status: StatusCode, json: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(json)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_descriptions_stay_within_the_rfc6750_alphabet() {
        assert_eq!(rfc6750_description("unsupported alg \"x\\y\" é"), "unsupported alg 'x/y' ?");
    }

    #[test]
    fn the_cube_js_status_can_replace_401() {
        let resp = error_response(&ApiError::Auth(AuthError::InvalidSignature), StatusCode::FORBIDDEN);
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.headers().get(WWW_AUTHENTICATE).is_none());
    }
}
