//! The integration suite, as one test binary: each module is one area
//! (`tests/jwks.rs`, `tests/views.rs`, ...), all sharing the fixtures in
//! `tests/common/`. One binary links the crate once instead of once per file, which keeps a clean
//! build's disk and link time small on a 2-core CI machine; run one area with
//! `cargo test --test integration <area>::`.

mod common;

mod access_policies;
mod architecture;
mod attacks;
mod audit;
mod auth_http;
mod cli;
mod config_load;
mod connections;
mod cube_shapes;
mod custom_strategy_and_shutdown;
mod enrich;
mod enrich_sql;
mod fixture_jwks_server;
mod forward_auth;
mod fuzz_corpus;
mod joins;
mod js_model;
mod jwks;
mod postgres;
mod query_sqlite;
mod readme_defaults;
mod result_cache;
mod scopes;
mod tls_and_http2;
mod vectors;
mod verification_cache;
mod views;
mod webhook;
