//! Registered-claim checks (`exp`, `nbf`, `iat`, `iss`, `aud`, `sub`), run
//! after the signature verified.
//!
//! Defaults, all documented in the README: `exp` required (`[auth]
//! require_exp`), `nbf` always checked when present, leeway 60 s applied to
//! `exp`, `nbf` and a future `iat`; `iss`, `aud` and `sub` checked only when
//! the provider configures them. Time claims are JSON numbers (fractions
//! allowed, RFC 7519 NumericDate) between 0 and the year 9999.

use serde_json::{Map, Value};

use super::AuthError;
use crate::config::ClaimRules;

/// Largest NumericDate we accept: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// Pipeline-wide time settings.
#[derive(Debug, Clone, Copy)]
pub struct TimeRules {
    pub require_exp: bool,
    pub leeway_secs: u64,
}

/// Check every registered claim the rules ask for. `now` is seconds since the
/// Unix epoch, passed in so tests choose the clock.
pub fn check(claims: &Map<String, Value>, rules: &ClaimRules, time: TimeRules, now: f64) -> Result<(), AuthError> {
    let leeway = time.leeway_secs as f64;
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;

    match exp {
        None if time.require_exp => return Err(AuthError::MissingExp),
        Some(exp) if now >= exp + leeway => {
            return Err(AuthError::TokenExpired { exp: exp as i64, now: now as i64, leeway: time.leeway_secs });
        }
        _ => {}
    }
    if let Some(nbf) = nbf
        && now + leeway < nbf
    {
        return Err(AuthError::TokenNotYetValid { nbf: nbf as i64, now: now as i64, leeway: time.leeway_secs });
    }
    if let Some(iat) = iat
        && iat > now + leeway
    {
        return Err(AuthError::InvalidClaim(format!(
            "iat {} is in the future (now {}, leeway {}s)",
            iat as i64, now as i64, time.leeway_secs
        )));
    }

    if let Some(expected) = &rules.issuer {
        match claims.get("iss") {
            Some(Value::String(iss)) if iss == expected => {}
            Some(Value::String(_)) => {
                return Err(AuthError::IssuerMismatch("token iss is not the provider's issuer".into()));
            }
            Some(_) => return Err(AuthError::InvalidClaim("iss must be a string".into())),
            None => return Err(AuthError::IssuerMismatch("token has no iss and the provider requires one".into())),
        }
    }
    if !rules.audience.is_empty() {
        let accepted = |a: &Value| a.as_str().is_some_and(|a| rules.audience.iter().any(|x| x == a));
        match claims.get("aud") {
            Some(Value::String(_)) | Some(Value::Array(_)) => {}
            Some(_) => return Err(AuthError::InvalidClaim("aud must be a string or an array of strings".into())),
            None => return Err(AuthError::AudienceMismatch),
        }
        let ok = match claims.get("aud") {
            Some(a @ Value::String(_)) => accepted(a),
            Some(Value::Array(list)) => list.iter().any(accepted),
            _ => false,
        };
        if !ok {
            return Err(AuthError::AudienceMismatch);
        }
    }
    if let Some(expected) = &rules.subject {
        match claims.get("sub") {
            Some(Value::String(sub)) if sub == expected => {}
            Some(Value::String(_)) | None => return Err(AuthError::SubjectMismatch),
            Some(_) => return Err(AuthError::InvalidClaim("sub must be a string".into())),
        }
    }
    Ok(())
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, AuthError> {
    let Some(v) = claims.get(name) else { return Ok(None) };
    let n =
        v.as_f64().ok_or_else(|| AuthError::InvalidClaim(format!("{name} must be a number of seconds since 1970")))?;
    if !(0.0..=MAX_NUMERIC_DATE).contains(&n) {
        return Err(AuthError::InvalidClaim(format!("{name} is out of range")));
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: f64 = 1_800_000_000.0;
    const STRICT: TimeRules = TimeRules { require_exp: true, leeway_secs: 60 };

    fn run(claims: Value, rules: &ClaimRules, time: TimeRules) -> &'static str {
        let Value::Object(map) = claims else { panic!("test claims must be an object") };
        check(&map, rules, time, NOW).err().map_or("ok", |e| e.code())
    }

    fn plain(claims: Value) -> &'static str {
        run(claims, &ClaimRules::default(), STRICT)
    }

    #[test]
    fn exp_is_required_checked_with_leeway_and_may_be_fractional() {
        assert_eq!(plain(json!({})), "missing_exp");
        assert_eq!(run(json!({}), &ClaimRules::default(), TimeRules { require_exp: false, leeway_secs: 0 }), "ok");
        assert_eq!(plain(json!({"exp": NOW + 10.5})), "ok");
        assert_eq!(plain(json!({"exp": NOW - 30.0})), "ok", "within leeway");
        assert_eq!(plain(json!({"exp": NOW - 60.0})), "token_expired");
    }

    #[test]
    fn nbf_in_the_future_beyond_leeway_is_not_yet_valid() {
        assert_eq!(plain(json!({"exp": NOW + 600.0, "nbf": NOW + 30.0})), "ok");
        assert_eq!(plain(json!({"exp": NOW + 600.0, "nbf": NOW + 61.0})), "token_not_yet_valid");
    }

    #[test]
    fn iat_in_the_future_beyond_leeway_is_an_invalid_claim() {
        assert_eq!(plain(json!({"exp": NOW + 600.0, "iat": NOW + 61.0})), "invalid_claim");
        assert_eq!(plain(json!({"exp": NOW + 600.0, "iat": NOW})), "ok");
    }

    #[test]
    fn time_claims_of_the_wrong_type_or_range_are_invalid_claims() {
        for bad in [json!("1800000600"), json!(null), json!(true), json!(-1), json!(1e300), json!([1]), json!(u64::MAX)]
        {
            assert_eq!(plain(json!({"exp": bad.clone()})), "invalid_claim", "exp {bad}");
            assert_eq!(plain(json!({"exp": NOW + 600.0, "nbf": bad.clone()})), "invalid_claim", "nbf {bad}");
            assert_eq!(plain(json!({"exp": NOW + 600.0, "iat": bad.clone()})), "invalid_claim", "iat {bad}");
        }
    }

    #[test]
    fn issuer_audience_and_subject_are_checked_when_configured() {
        let rules = ClaimRules {
            issuer: Some("https://issuer".into()),
            audience: vec!["api".into(), "web".into()],
            subject: Some("svc".into()),
        };
        let exp = NOW + 600.0;
        let ok = json!({"exp": exp, "iss": "https://issuer", "aud": ["x", "web"], "sub": "svc"});
        assert_eq!(run(ok, &rules, STRICT), "ok");
        assert_eq!(
            run(json!({"exp": exp, "iss": "https://other", "aud": "api", "sub": "svc"}), &rules, STRICT),
            "issuer_mismatch"
        );
        assert_eq!(run(json!({"exp": exp, "aud": "api", "sub": "svc"}), &rules, STRICT), "issuer_mismatch");
        assert_eq!(
            run(json!({"exp": exp, "iss": "https://issuer", "aud": "x", "sub": "svc"}), &rules, STRICT),
            "audience_mismatch"
        );
        assert_eq!(
            run(json!({"exp": exp, "iss": "https://issuer", "sub": "svc"}), &rules, STRICT),
            "audience_mismatch"
        );
        assert_eq!(
            run(json!({"exp": exp, "iss": "https://issuer", "aud": 5, "sub": "svc"}), &rules, STRICT),
            "invalid_claim"
        );
        assert_eq!(
            run(json!({"exp": exp, "iss": "https://issuer", "aud": "api", "sub": "other"}), &rules, STRICT),
            "subject_mismatch"
        );
    }
}
