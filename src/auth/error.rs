//! The auth layer's one error type.

/// Why a request was not authenticated. Each variant has a stable wire code
/// ([`AuthError::code`]); the detail strings say which check failed and never
/// contain the token, a secret or a claim set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no token in X-Cube-Authorization or Authorization")]
    MissingToken,
    #[error("token is {len} bytes; the limit is {max}")]
    TokenTooLarge { len: usize, max: usize },
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    AlgorithmNotAllowed(String),
    #[error("signature does not verify")]
    InvalidSignature,
    #[error("token expired (exp {exp}, now {now}, leeway {leeway}s)")]
    TokenExpired { exp: i64, now: i64, leeway: u64 },
    #[error("token not valid yet (nbf {nbf}, now {now}, leeway {leeway}s)")]
    TokenNotYetValid { nbf: i64, now: i64, leeway: u64 },
    #[error("token has no exp claim and this server requires one")]
    MissingExp,
    #[error("{0}")]
    InvalidClaim(String),
    #[error("{0}")]
    IssuerMismatch(String),
    #[error("{0}")]
    UnknownIssuer(String),
    #[error("token aud does not include an accepted audience")]
    AudienceMismatch,
    #[error("token sub is not the accepted subject")]
    SubjectMismatch,
    #[error("{0}")]
    ClaimsNotObject(String),
    #[error("token has no {0:?} claim (the configured claims namespace)")]
    MissingClaimsNamespace(String),
    #[error("{0}")]
    UnknownKid(String),
    /// The provider's keys cannot be had right now: not the token's fault,
    /// the client may retry (503).
    #[error("{0}")]
    JwksUnavailable(String),
    #[error("{0}")]
    TokenUseMismatch(String),
    #[error("{0}")]
    ClientIdMismatch(String),
    /// Refused by a custom check-auth strategy; the detail is the strategy's.
    #[error("{0}")]
    Rejected(String),
    /// A `type = "webhook"` provider answered 401/403 (or there was no
    /// credential to send it). The webhook's own reason is logged, not sent.
    #[error("{0}")]
    WebhookDenied(String),
    /// The auth webhook could not give a verdict (status, redirect, timeout,
    /// body): not the credential's fault, the client may retry (503).
    #[error("{0}")]
    AuthUpstreamUnavailable(String),
    /// An `[[auth.enrich]]` lookup failed and `on_error` is `"fail"` (503).
    #[error("{0}")]
    EnrichmentUnavailable(String),
    /// An `[[auth.enrich]]` `sql` statement found no row for the token and
    /// `on_error` is `"fail"`: the caller is not entitled (403).
    #[error("{0}")]
    EnrichmentNotFound(String),
}

impl AuthError {
    /// The machine-readable code sent to clients and logged.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::TokenTooLarge { .. } => "token_too_large",
            AuthError::Malformed(_) => "malformed_token",
            AuthError::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            AuthError::InvalidSignature => "invalid_signature",
            AuthError::TokenExpired { .. } => "token_expired",
            AuthError::TokenNotYetValid { .. } => "token_not_yet_valid",
            AuthError::MissingExp => "missing_exp",
            AuthError::InvalidClaim(_) => "invalid_claim",
            AuthError::IssuerMismatch(_) => "issuer_mismatch",
            AuthError::UnknownIssuer(_) => "unknown_issuer",
            AuthError::AudienceMismatch => "audience_mismatch",
            AuthError::SubjectMismatch => "subject_mismatch",
            AuthError::ClaimsNotObject(_) => "claims_not_object",
            AuthError::MissingClaimsNamespace(_) => "missing_claims_namespace",
            AuthError::UnknownKid(_) => "unknown_kid",
            AuthError::JwksUnavailable(_) => "jwks_unavailable",
            AuthError::TokenUseMismatch(_) => "token_use_mismatch",
            AuthError::ClientIdMismatch(_) => "client_id_mismatch",
            AuthError::Rejected(_) => "token_rejected",
            AuthError::WebhookDenied(_) => "webhook_denied",
            AuthError::AuthUpstreamUnavailable(_) => "auth_upstream_unavailable",
            AuthError::EnrichmentUnavailable(_) => "enrichment_unavailable",
            AuthError::EnrichmentNotFound(_) => "enrichment_not_found",
        }
    }
}
