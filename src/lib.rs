//! tenantgate: the auth layer and Cube.js-compatible API server for
//! multitenant SaaS backends.
//!
//! # Layout
//!
//! The module list reads as a request's path:
//!
//! - [`config`]: layered files and variables in, one validated `Config` out
//!   (including the loaded data model).
//! - [`server`]: the accept loop (TCP, optional TLS, HTTP/1.1 + HTTP/2),
//!   routing, CORS, access log, graceful shutdown, the Cube.js REST
//!   endpoints, and the one function that maps errors to HTTP responses.
//! - [`auth`]: extract the token from the request, parse it strictly, route it
//!   to one provider, verify signature and claims, and build the
//!   [`auth::SecurityContext`]. Nothing downstream runs without one.
//! - [`query`]: the data model and the pure renderer: a Cube.js query and a
//!   security context in, SQL text and bound parameters out.
//! - [`db`]: run the rendered SQL on a data source (SQLite embedded).
//! - [`cache`]: results kept by route, settings, SQL and parameters, in
//!   front of `db`.
//! - [`context_path`]: `{SECURITY_CONTEXT.x}` paths, parsed once, and
//!   [`text`]: identifiers and quoting of client text (leaves).
//! - [`build`]: configuration in, everything the server runs out, every
//!   error collected; `serve` and `check-config` both call it.
//! - [`mint`]: signing tokens (the `token` CLI and the development curl).
//! - [`telemetry`]: logging setup; [`trust`]: roots for outgoing TLS.

#![forbid(unsafe_code)]

pub mod config;
pub mod build;
pub mod server;
pub mod auth;
pub mod query;
pub mod db;
pub mod cache;
pub mod tls;
pub mod mint;
pub mod context_path;
pub mod text;
pub mod telemetry;
pub mod trust;
/// Fuzz entry points; only with the `fuzzing` feature (see `Cargo.toml`).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

/// Install aws-lc-rs as the process-wide crypto provider for rustls and for
/// jsonwebtoken. Called once at startup (and by tests); calling it again is
/// harmless.
pub fn install_crypto_provider() {
    // Both calls fail only when a provider is already installed, which is the
    // state we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
