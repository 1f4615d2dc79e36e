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
//! A bare `Bearer` with no token anywhere is `malformed_token` ("Invalid
//! token", as Cube.js answers), not a missing token.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};

use super::AuthError;

pub const X_CUBE_AUTHORIZATION: &str = "x-cube-authorization";

/// The raw token, or `None` when no header carries one.
///
/// A bare `Bearer` hides nothing beside it, but when no header carries a
/// token it is a malformed token, not a missing one: Cube.js reads the word
/// `Bearer` as the token and answers `Invalid token`.
pub fn token_from_headers(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let values = headers.get_all(X_CUBE_AUTHORIZATION).iter().chain(headers.get_all(AUTHORIZATION));
    let mut bare_scheme = false;
    for value in values {
        match token_in(value)? {
            Found::Token(token) => return Ok(Some(token)),
            Found::BareScheme => bare_scheme = true,
            Found::Nothing => {}
        }
    }
    if bare_scheme {
        return Err(AuthError::Malformed("the authorization header has the Bearer scheme and no token".into()));
    }
    Ok(None)
}

enum Found<'a> {
    Token(&'a str),
    BareScheme,
    Nothing,
}

fn token_in(value: &HeaderValue) -> Result<Found<'_>, AuthError> {
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("the authorization header is not visible ASCII".into()))?
        .trim();
    let token = match value.split_once(' ') {
        Some((_scheme, rest)) => rest.trim(),
        // HTTP strips trailing whitespace, so `Bearer ` arrives as `Bearer`.
        None if value.eq_ignore_ascii_case("bearer") => return Ok(Found::BareScheme),
        None => value,
    };
    Ok(if token.is_empty() { Found::Nothing } else { Found::Token(token) })
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
        assert_eq!(token_from_headers(&headers(&[("authorization", "Bearer   x")])), Ok(Some("x")));
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
    fn a_bare_bearer_scheme_alone_is_a_malformed_token() {
        for v in ["Bearer ", "bearer"] {
            let h = headers(&[("authorization", v)]);
            assert!(matches!(token_from_headers(&h), Err(AuthError::Malformed(_))), "{v:?}");
        }
    }

    #[test]
    fn an_empty_first_authorization_header_does_not_hide_a_second_one() {
        let mut h = headers(&[("authorization", "")]);
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer forged"));
        assert_eq!(token_from_headers(&h), Ok(Some("forged")));
    }
}
