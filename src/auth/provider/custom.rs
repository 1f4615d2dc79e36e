//! The custom check-auth strategy: the one trait in the auth layer, because
//! code outside this crate plugs in here (Cube.js's `checkAuth`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use super::VerifiedClaims;
use crate::auth::{AuthError, UnverifiedToken};

/// A boxed, sendable future, so [`CheckAuth`] stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A strategy a program embedding tenantgate registers under the name of a
/// `type = "custom"` provider.
///
/// Custom strategies are consulted before the built-in providers, in
/// configuration order; the first whose [`accepts`](CheckAuth::accepts)
/// returns true verifies the token, and no other provider is tried. They can
/// take opaque tokens (API keys) as well as JWTs.
///
/// The returned claims go through the same steps as a JWT payload (it must be
/// a JSON object; claims namespace; `u` merge) to become the security context.
/// Registered claims (`exp`, `iss`, ...) are the strategy's responsibility.
pub trait CheckAuth: Send + Sync + 'static {
    /// Whether this strategy takes this token. Must be cheap and must not
    /// verify anything.
    fn accepts(&self, token: &UnverifiedToken<'_>) -> bool;

    /// Verify the token and return its claims.
    fn verify<'a>(&'a self, token: &'a UnverifiedToken<'a>) -> BoxFuture<'a, Result<Value, AuthError>>;
}

/// A `type = "custom"` provider: its name and the strategy registered
/// under it.
pub(crate) struct CustomProvider {
    pub name: Arc<str>,
    pub strategy: Arc<dyn CheckAuth>,
}

impl CustomProvider {
    pub fn accepts(&self, token: &UnverifiedToken<'_>) -> bool {
        self.strategy.accepts(token)
    }

    /// The strategy's verdict is the verification: its claims (a JSON
    /// object) become [`VerifiedClaims`].
    pub async fn verify(&self, token: &UnverifiedToken<'_>) -> Result<VerifiedClaims, AuthError> {
        VerifiedClaims::from_payload(self.strategy.verify(token).await?)
    }
}
