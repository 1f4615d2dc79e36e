//! The strict JWT front end: compact serialization in, parsed parts out.
//!
//! jsonwebtoken's `decode` is too lax for an auth server (duplicate claims keep
//! the last value, `nbf` off by default, any JSON payload accepted), so every
//! token passes through here first: exactly three segments, a size cap
//! (checked by the caller before this runs), strict base64url without padding,
//! one JSON parse per segment into a tree that rejects duplicate member names,
//! and our own checks of `alg`, `crit` and `kid`. The signature itself is
//! checked later by a provider, with `jsonwebtoken::crypto::verify`.
//!
//! **Invariant:** nothing here trusts the token: every value is treated as
//! attacker input, and no code path panics on it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::AuthError;
use super::provider::SignatureValid;

/// Longest `kid` we look at. Real kids are short (a thumbprint, a UUID); a
/// longer one is an attack or a mistake.
pub const MAX_KID_BYTES: usize = 256;

/// A compact JWS split and decoded, not yet verified: the signature layer's
/// view, where the payload is bytes (JWS test vectors sign arbitrary bytes).
#[derive(Clone)]
pub struct Jws<'a> {
    /// `base64url(header) "." base64url(payload)`: the bytes that were
    /// signed, exactly as received.
    signing_input: &'a str,
    /// The third segment, still base64url (what `crypto::verify` takes).
    signature: &'a str,
    alg: Algorithm,
    kid: Option<String>,
    header: Map<String, Value>,
    payload: Vec<u8>,
}

impl<'a> Jws<'a> {
    /// Parse a compact JWS. The caller has already bounded `token`'s length.
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(AuthError::Malformed("a JWT has exactly three dot-separated segments".into()));
        };
        // The header first: an `alg: none` token (often sent with an empty
        // signature) is refused as such, not as a malformed one.
        let header_bytes = decode_segment(h, "header")?;
        let header = match parse_json(&header_bytes, "header")? {
            Value::Object(map) => map,
            _ => return Err(AuthError::Malformed("the JWT header is not a JSON object".into())),
        };
        let alg = parse_alg(&header)?;
        check_crit(&header)?;
        let kid = parse_kid(&header)?;
        if s.is_empty() {
            return Err(AuthError::Malformed("the JWT signature segment is empty".into()));
        }
        let payload = decode_segment(p, "payload")?;
        // The signature is decoded only to enforce the same strict alphabet;
        // the provider verifies it.
        decode_segment(s, "signature")?;
        Ok(Jws { signing_input: &token[..h.len() + 1 + p.len()], signature: s, alg, kid, header, payload })
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub(crate) fn signing_input(&self) -> &str {
        self.signing_input
    }

    pub(crate) fn signature(&self) -> &str {
        self.signature
    }
}

/// A JWT: a JWS whose payload is one JSON value, parsed once (duplicate
/// member names refused). Not yet verified.
#[derive(Clone)]
pub struct Jwt<'a> {
    jws: Jws<'a>,
    payload: Value,
}

impl<'a> Jwt<'a> {
    /// Parse a compact JWT. The caller has already bounded `token`'s length.
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        let jws = Jws::parse(token)?;
        if jws.payload.is_empty() {
            return Err(AuthError::Malformed("the JWT payload segment is empty".into()));
        }
        let payload = parse_json(&jws.payload, "payload")?;
        Ok(Jwt { jws, payload })
    }

    pub fn jws(&self) -> &Jws<'a> {
        &self.jws
    }

    pub fn alg(&self) -> Algorithm {
        self.jws.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.jws.kid()
    }

    pub fn header(&self) -> &Map<String, Value> {
        &self.jws.header
    }

    /// The payload as sent. Not verified: use it for routing only.
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// The unverified `iss`, for routing. A non-string `iss` is an error.
    pub fn issuer(&self) -> Result<Option<&str>, AuthError> {
        match self.payload.get("iss") {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(AuthError::InvalidClaim("iss must be a string".into())),
        }
    }

    /// The payload, given up only against the proof that the signature
    /// verified.
    pub(crate) fn into_payload(self, _valid: SignatureValid) -> Value {
        self.payload
    }
}

impl fmt::Debug for Jwt<'_> {
    // Never print the payload or the signature: a token must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt").field("alg", &self.jws.alg).field("kid", &self.jws.kid).finish_non_exhaustive()
    }
}

fn decode_segment(segment: &str, what: &str) -> Result<Vec<u8>, AuthError> {
    // URL_SAFE_NO_PAD refuses padding, `+`, `/`, whitespace and non-canonical
    // trailing bits.
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed(format!("the JWT {what} is not unpadded base64url")))
}

fn parse_json(bytes: &[u8], what: &str) -> Result<Value, AuthError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| AuthError::Malformed(format!("the JWT {what} is not valid JSON: {}", strip_position(&e))))?;
    Ok(value.0)
}

/// serde_json appends "at line 1 column 17"; keep the message short and stable.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn parse_alg(header: &Map<String, Value>) -> Result<Algorithm, AuthError> {
    let alg = match header.get("alg") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(AuthError::Malformed("the JWT header's alg is not a string".into())),
        None => return Err(AuthError::Malformed("the JWT header has no alg".into())),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(AuthError::AlgorithmNotAllowed("alg \"none\" is never accepted".into()));
    }
    alg.parse::<Algorithm>().map_err(|_| AuthError::AlgorithmNotAllowed(format!("unsupported alg {}", quoted(alg))))
}

/// We implement no JWS extension, so any `crit` must be refused (RFC 7515
/// section 4.1.11).
fn check_crit(header: &Map<String, Value>) -> Result<(), AuthError> {
    if header.contains_key("crit") {
        return Err(AuthError::Malformed("the JWT header lists crit extensions, none of which is supported".into()));
    }
    Ok(())
}

fn parse_kid(header: &Map<String, Value>) -> Result<Option<String>, AuthError> {
    match header.get("kid") {
        // `kid: null` is treated as no kid.
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > MAX_KID_BYTES => {
            Err(AuthError::Malformed(format!("the JWT kid is longer than {MAX_KID_BYTES} bytes")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::Malformed("the JWT kid is not a string".into())),
    }
}

/// Quote an attacker-supplied string for a message: bounded and escaped.
pub(crate) use crate::text::quoted;

/// A JSON value parsed with duplicate member names refused at every depth.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite float from text.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member name {}", quoted(&key))));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    fn code(t: &str) -> &'static str {
        Jwt::parse(t).err().map_or("ok", |e| e.code())
    }

    #[test]
    fn a_well_formed_token_parses_once_into_header_and_payload() {
        let t = token(r#"{"alg":"HS256","kid":"k1"}"#, r#"{"sub":"a","n":[1,{"x":null}]}"#);
        let jwt = Jwt::parse(&t).expect("parses");
        assert_eq!(jwt.alg(), Algorithm::HS256);
        assert_eq!(jwt.kid(), Some("k1"));
        assert_eq!(jwt.payload()["sub"], "a");
        assert_eq!(jwt.jws().signing_input().matches('.').count(), 1);
    }

    #[test]
    fn segment_count_other_than_three_is_malformed() {
        let t = token(r#"{"alg":"HS256"}"#, "{}");
        for bad in [String::new(), "a.b".into(), format!("{t}."), format!("{t}.x"), format!(".{t}")] {
            assert_eq!(code(&bad), "malformed_token", "{bad}");
        }
    }

    #[test]
    fn padding_standard_alphabet_and_whitespace_are_refused() {
        let h = b64(r#"{"alg":"HS256"}"#);
        let p = b64(r#"{"a":"??>"}"#);
        for bad in [
            format!("{h}=.{p}.c2ln"),
            format!("{h}.{}.c2ln", p.replace('_', "/").replace('-', "+")),
            format!("{h} .{p}.c2ln"),
            format!("{h}.{p}.c2ln\n"),
        ] {
            assert_eq!(code(&bad), "malformed_token", "{bad}");
        }
    }

    #[test]
    fn duplicate_member_names_are_refused_in_header_and_payload_at_any_depth() {
        assert_eq!(code(&token(r#"{"alg":"HS256","alg":"none"}"#, "{}")), "malformed_token");
        assert_eq!(code(&token(r#"{"alg":"HS256"}"#, r#"{"t":1,"t":2}"#)), "malformed_token");
        assert_eq!(code(&token(r#"{"alg":"HS256"}"#, r#"{"o":{"t":1,"t":2}}"#)), "malformed_token");
    }

    #[test]
    fn alg_none_in_any_casing_is_not_allowed() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            assert_eq!(code(&token(&format!(r#"{{"alg":"{alg}"}}"#), "{}")), "algorithm_not_allowed");
        }
        assert_eq!(code(&token(r#"{"alg":"hs256"}"#, "{}")), "algorithm_not_allowed");
        assert_eq!(code(&token(r#"{"alg":1}"#, "{}")), "malformed_token");
        assert_eq!(code(&token(r#"{}"#, "{}")), "malformed_token");
    }

    #[test]
    fn crit_is_refused_and_kid_null_means_no_kid() {
        assert_eq!(code(&token(r#"{"alg":"HS256","crit":["exp"]}"#, "{}")), "malformed_token");
        let t = token(r#"{"alg":"HS256","kid":null}"#, "{}");
        assert_eq!(Jwt::parse(&t).expect("parses").kid(), None);
        assert_eq!(code(&token(r#"{"alg":"HS256","kid":7}"#, "{}")), "malformed_token");
        let long = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, "k".repeat(MAX_KID_BYTES + 1));
        assert_eq!(code(&token(&long, "{}")), "malformed_token");
    }

    #[test]
    fn header_that_is_not_an_object_is_malformed_but_any_json_payload_parses() {
        assert_eq!(code(&token(r#"["alg"]"#, "{}")), "malformed_token");
        assert_eq!(code(&token(r#"{"alg":"HS256"}"#, "[1]")), "ok");
        assert_eq!(code(&token(r#"{"alg":"HS256"}"#, "{")), "malformed_token");
        assert_eq!(code(&token(r#"{"alg":"HS256"}"#, "{} x")), "malformed_token");
    }
}
