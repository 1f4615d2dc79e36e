//! Finding the token in a request, exactly as Cube.js does.
//!
//! `X-Cube-Authorization` wins over `Authorization`. The value is split on its
//! first space and the part after it is the token, so `Bearer <t>`,
//! `bearer <t>` and a raw `<t>` all give `<t>`.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::AuthError;

pub const X_CUBE_AUTHORIZATION: &str = "x-cube-authorization";

/// The raw token, or `None` when the request carries none.
pub fn token_from_headers(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = headers.get(X_CUBE_AUTHORIZATION).or_else(|| headers.get(AUTHORIZATION)) else {
        return Ok(None);
    };
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
}
