//! Finding the token in a request, exactly as Cube.js does.
//!
//! `X-Cube-Authorization` wins over `Authorization`. The value is split on its
//! first space and the part after it is the token, so `Bearer <t>`,
//! `bearer <t>` and a raw `<t>` all give `<t>`.
//!
//! A header that carries no token (empty, or a bare `Bearer`) is absent: the
//! next one is read. Otherwise an empty `X-Cube-Authorization` (or an empty
//! first `Authorization`) would hide a token beside it, and dev mode would
//! give that request the anonymous context instead of verifying the token.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};

use super::AuthError;

pub const X_CUBE_AUTHORIZATION: &str = "x-cube-authorization";

/// The raw token, or `None` when no header carries one.
pub fn token_from_headers(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let values = headers.get_all(X_CUBE_AUTHORIZATION).iter().chain(headers.get_all(AUTHORIZATION));
    for value in values {
        if let Some(token) = token_in(value)? {
            return Ok(Some(token));
        }
    }
    Ok(None)
}

fn token_in(value: &HeaderValue) -> Result<Option<&str>, AuthError> {
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("the authorization header is not visible ASCII".into()))?
        .trim();
    let token = match value.split_once(' ') {
        Some((_scheme, rest)) => rest.trim(),
        // HTTP strips trailing whitespace, so `Bearer ` arrives as `Bearer`:
        // a scheme without credentials is no token, not a malformed one.
        None if value.eq_ignore_ascii_case("bearer") => "",
        None => value,
    };
    Ok((!token.is_empty()).then_some(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_lowercase_bearer_and_raw_tokens_give_the_same_token() {
        for v in ["Bearer abc", "bearer abc", "abc", "  Bearer   abc  "] {
            assert_eq!(token_from_headers(&headers(&[("authorization", v)])), Ok(Some("abc")), "{v}");
        }
    }

    #[test]
    fn x_cube_authorization_wins_over_authorization() {
        let h = headers(&[("authorization", "Bearer a"), ("x-cube-authorization", "b")]);
        assert_eq!(token_from_headers(&h), Ok(Some("b")));
    }

    #[test]
    fn absent_or_empty_header_means_no_token() {
        assert_eq!(token_from_headers(&HeaderMap::new()), Ok(None));
        assert_eq!(token_from_headers(&headers(&[("authorization", "")])), Ok(None));
        assert_eq!(token_from_headers(&headers(&[("authorization", "Bearer ")])), Ok(None));
    }

    #[test]
    fn an_empty_x_cube_authorization_is_absent_and_authorization_is_used() {
        for empty in ["", "Bearer", "  "] {
            let mut h = headers(&[("authorization", "Bearer forged")]);
            h.insert(X_CUBE_AUTHORIZATION, HeaderValue::from_static(empty));
            assert_eq!(token_from_headers(&h), Ok(Some("forged")), "{empty:?}");
        }
    }

    #[test]
    fn an_empty_first_authorization_header_does_not_hide_a_second_one() {
        let mut h = headers(&[("authorization", "")]);
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer forged"));
        assert_eq!(token_from_headers(&h), Ok(Some("forged")));
    }
}
