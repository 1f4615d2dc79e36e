//! Configuration: layered sources in, one validated [`Config`] out.
//!
//! Layers, later wins: built-in defaults < `config/default.toml` <
//! `config/<env>.toml` < `.env` file < process environment. Within the `.env`
//! layer and within the environment layer, Cube.js names (`CUBEJS_API_SECRET`,
//! `PORT`, ...) apply first and `TENANTGATE__SECTION__KEY` wins over them.
//!
//! Loading is two phases, as in Vector: `layers` merges every layer into a
//! permissive tree that remembers, for each value, which file or variable set
//! it; `schema` is the only bridge from that tree to [`Config`] and collects
//! every error, each naming its source and key.
//!
//! **Invariant:** a [`Config`] exists only if every check passed; `serve`
//! never starts on a partially valid configuration.
//! **Boundary:** the loader never reads the process environment itself: the
//! caller passes the variables in [`LoadOptions::vars`], so tests never mutate
//! process state.

pub mod duration;
mod layers;
pub mod pem;
mod schema;
mod secret;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::context_path::ContextPath;

pub use schema::check_fetch_url;
pub use secret::Secret;

/// Environments in which weak settings (short secrets, dev mode, no `exp`)
/// are allowed. Every other environment name is treated as production-like.
pub const RELAXED_ENVIRONMENTS: [&str; 2] = ["development", "test"];

/// Where configuration comes from. Built by `main` from flags and the process
/// environment, and by tests from literals.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Folder holding `default.toml` and `<env>.toml`.
    pub config_dir: PathBuf,
    /// Environment name; `<config_dir>/<env>.toml` must exist.
    pub env: String,
    /// `.env` file to read, if it exists (a missing `.env` is not an error).
    pub dotenv: Option<PathBuf>,
    /// The process environment (or a test's stand-in for it).
    pub vars: BTreeMap<String, String>,
}

/// A fully validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The environment name this configuration was loaded for.
    pub environment: String,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub model: ModelConfig,
    /// `None` when no `[database]` is configured: query endpoints then
    /// answer 503 `db_unavailable`.
    pub database: Option<DatabaseConfig>,
    pub tenancy: TenancyConfig,
    pub access: AccessConfig,
}

/// `[tenancy]` and `[tenants.<id>]`.
#[derive(Debug, Clone, Default)]
pub struct TenancyConfig {
    /// The security-context path that names the tenant (`tenant_id`).
    pub tenant_key: Option<String>,
    /// Refuse tenants not listed under `[tenants]` (403 `unknown_tenant`).
    /// Defaults to `true` when any tenant is listed, else `false`.
    pub require_known_tenant: bool,
    pub tenants: Vec<(String, TenantRoute)>,
}

/// Where one tenant's queries go.
#[derive(Debug, Clone)]
pub enum TenantRoute {
    /// A schema of the default PostgreSQL database (`search_path`, set per
    /// transaction with `set_config`).
    Schema(String),
    /// A database of its own (a PostgreSQL URL or a SQLite file), with the
    /// default database's limits.
    Database(Box<DatabaseConfig>),
}

/// `[access]`: rules forced into queries, and roles granting members.
#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    pub rules: Vec<AccessRule>,
    /// The security-context path holding the token's roles (`groups`).
    pub roles_key: Option<String>,
    /// Empty: no role checks. Otherwise a member outside every grant of the
    /// token's roles is refused.
    pub roles: Vec<Role>,
}

/// `[[access.rules]]`: a filter forced into every query on a cube.
#[derive(Debug, Clone)]
pub struct AccessRule {
    pub cube: String,
    pub member: String,
    pub operator: String,
    pub value: SessionValue,
}

/// `[[access.roles]]`.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    /// Every member of these cubes.
    pub cubes: Vec<String>,
    /// These members (`Cube.member`).
    pub members: Vec<String>,
}

/// `[model]`: the data model and what it may do.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub path: PathBuf,
    /// The loaded, checked model.
    pub model: std::sync::Arc<crate::query::Model>,
    pub dangerous_allow_unsafe_value: bool,
    pub dangerous_missing_filter_allows_all: bool,
}

/// `[database] max_result_cells`: a million cells is about 35 MB of JSON
/// with Cube.js's member-name keys, so the largest allowed request stays
/// under the response cap below.
pub const DEFAULT_MAX_RESULT_CELLS: usize = 1_000_000;
/// `[database] max_response_bytes`: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;

/// `[database]`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub kind: DatabaseKind,
    pub statement_timeout: Duration,
    pub max_concurrent_queries: usize,
    /// How long a query waits for a free slot before 503.
    pub queue_timeout: Duration,
    /// Result rows above this are refused.
    pub max_rows: usize,
    /// Cells (rows x columns) one request may return across all its
    /// queries; more is refused with 400 `result_too_large`. Defaults to
    /// [`DEFAULT_MAX_RESULT_CELLS`].
    pub max_result_cells: usize,
    /// Bytes of one `/load` response body; more is refused with 400
    /// `result_too_large`. Defaults to [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub max_response_bytes: usize,
    /// `[database.session]`: settings bound with `set_config` in every
    /// query's transaction (PostgreSQL), for row-level security.
    pub session: Vec<(String, SessionValue)>,
}

/// A session setting's value: a security-context path or a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionValue {
    Context(ContextPath),
    Literal(String),
}

impl SessionValue {
    /// `{SECURITY_CONTEXT.tenant_id}` (also `${...}` and `USER_CONTEXT`) or
    /// a literal without braces.
    pub fn parse(raw: &str) -> Result<SessionValue, String> {
        match ContextPath::parse_reference(raw) {
            Some(Ok(path)) => Ok(SessionValue::Context(path)),
            Some(Err(_)) => Err(format!("{raw:?}: expected {{SECURITY_CONTEXT.<path>}} or a literal")),
            None if raw.contains('{') || raw.contains('}') => {
                Err(format!("{raw:?}: expected {{SECURITY_CONTEXT.<path>}} or a literal"))
            }
            None => Ok(SessionValue::Literal(raw.to_string())),
        }
    }
}

/// One variant per `type` of `[database]`.
#[derive(Debug, Clone)]
pub enum DatabaseKind {
    /// `type = "sqlite"`: a file, created from `seed` (SQL) when missing.
    Sqlite { path: PathBuf, seed: Option<PathBuf> },
    /// `type = "postgres"`. tokio-postgres's `Debug` redacts the password.
    /// `tls`: `Some` when `ssl = true`, with the CA file (empty: webpki
    /// roots only).
    Postgres(Box<tokio_postgres::Config>, Option<PathBuf>),
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: IpAddr,
    pub port: u16,
    pub tls: Option<TlsConfig>,
    /// Upper bound on the request head (HTTP/1) or header list (HTTP/2).
    pub max_header_bytes: usize,
    /// Upper bound on a request body.
    pub max_body_bytes: usize,
    /// How long graceful shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Connections served at once; beyond it a new connection is closed as
    /// soon as it is accepted. Defaults to [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Deadline from accept to the first complete request head: the TLS
    /// handshake, protocol detection and the HTTP/2 preface all count. HTTP/1
    /// also gets this long for each later request head, which includes the
    /// wait between keep-alive requests. Defaults to
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// A connection with no request in flight for this long is closed
    /// (HTTP/2 with a GOAWAY). Defaults to [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
}

/// Defaults to `1024`: well under a typical file-descriptor limit, so a
/// flood of idle sockets cannot starve `/livez` or the database of fds.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Defaults to `10s`: generous for a slow mobile TLS handshake, short enough
/// that silent sockets do not pile up.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Defaults to `60s`, the usual load-balancer idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub dev_mode: bool,
    pub require_exp: bool,
    pub leeway: Duration,
    pub claims_namespace: Option<String>,
    /// Status for authentication failures: 401 (RFC 6750) or 403 (Cube.js).
    pub failure_status: u16,
    /// Tokens longer than this are refused with `token_too_large` before any
    /// decoding.
    pub max_token_bytes: usize,
    pub providers: Vec<ProviderConfig>,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// `[auth.providers.claims]`: builds the security context from the
    /// token. Empty: the whole payload is the context.
    pub claims_map: Vec<ClaimMapping>,
}

/// One entry of a provider's claims map (Hasura-style).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimMapping {
    /// Key in the security context.
    pub target: String,
    /// RFC 6901 JSON pointer into the claims, e.g. `/custom:tenant_id`.
    pub pointer: String,
    /// Used when the claim is absent or null.
    pub default: Option<serde_json::Value>,
    /// The claim is a string holding JSON; parse it.
    pub json: bool,
}

/// One variant per `type` of `[[auth.providers]]`.
// Built once at startup, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ProviderKind {
    /// `type = "secret"`: HMAC with shared secrets.
    Secret(SecretProviderConfig),
    /// `type = "public_key"`: a static PEM public key.
    PublicKey(PublicKeyProviderConfig),
    /// `type = "jwks"`, `"cognito"`, `"auth0"` or `"oidc"`: keys from a
    /// JWKS endpoint, cached by kid.
    Jwks(JwksProviderConfig),
    /// `type = "custom"`: a strategy the embedding program registers under
    /// the provider's name.
    Custom,
}

/// A provider whose keys come from a JWKS endpoint.
#[derive(Debug, Clone)]
pub struct JwksProviderConfig {
    pub preset: JwksPreset,
    /// Where the key set is. `None` only for `oidc` without an override:
    /// discovered from `discovery_url`.
    pub jwks_url: Option<String>,
    /// `<issuer>/.well-known/openid-configuration`, for `oidc`.
    pub discovery_url: Option<String>,
    /// Asymmetric only; default `["RS256"]`. Never an HMAC algorithm.
    pub algorithms: Vec<Algorithm>,
    pub claims: ClaimRules,
    pub keys: KeyCacheConfig,
    /// A PEM file of extra trusted roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// `jwks` and `oidc` only: accept tokens without checking `aud`, which
    /// outside development and test is otherwise refused (every token the
    /// issuer minted for any application would pass). Logged as a warning.
    /// Defaults to `false`; never set together with an audience.
    pub dangerous_skip_audience: bool,
}

/// What a JWKS preset adds to the generic checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksPreset {
    Generic,
    /// AWS Cognito: `token_use` and the app client id.
    Cognito {
        token_use: TokenUse,
        client_ids: Vec<String>,
    },
    Auth0,
    Oidc,
}

/// Which Cognito tokens a provider takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    Id,
    Access,
    Any,
}

/// Key lifecycle settings of a JWKS provider (defaults in the README).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCacheConfig {
    pub fetch_timeout: Duration,
    pub max_jwks_bytes: usize,
    pub max_keys: usize,
    pub ttl_default: Duration,
    pub ttl_min: Duration,
    pub ttl_max: Duration,
    /// Fraction of the TTL after which the background refresh runs.
    pub refresh_at: f64,
    pub refetch_cooldown: Duration,
    pub max_stale: Duration,
    pub prefetch: bool,
    pub required: bool,
    pub negative_cache_size: usize,
    /// Allow `http://` to non-loopback hosts. Logged as a warning.
    pub dangerous_allow_http: bool,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        KeyCacheConfig {
            fetch_timeout: Duration::from_secs(5),
            max_jwks_bytes: 512 * 1024,
            max_keys: 100,
            ttl_default: Duration::from_secs(600),
            ttl_min: Duration::from_secs(60),
            ttl_max: Duration::from_secs(86_400),
            refresh_at: 0.8,
            refetch_cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(86_400),
            prefetch: true,
            required: true,
            negative_cache_size: 1024,
            dangerous_allow_http: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SecretProviderConfig {
    /// Every secret is tried (rotation). Never empty.
    pub secrets: Vec<Secret>,
    /// HMAC algorithms only. Never empty.
    pub algorithms: Vec<Algorithm>,
    pub claims: ClaimRules,
}

#[derive(Debug, Clone)]
pub struct PublicKeyProviderConfig {
    /// The PEM text (a public key is not a secret).
    pub pem: String,
    /// Asymmetric algorithms only, each fitting the key's type. Never empty.
    pub algorithms: Vec<Algorithm>,
    pub claims: ClaimRules,
}

/// Registered-claim checks a provider applies after the signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimRules {
    pub issuer: Option<String>,
    /// When non-empty, the token's `aud` must contain one of these.
    pub audience: Vec<String>,
    pub subject: Option<String>,
}

impl Config {
    pub fn is_relaxed_environment(&self) -> bool {
        RELAXED_ENVIRONMENTS.contains(&self.environment.as_str())
    }

    /// Settings that weaken a guarantee on purpose, as `(key, why)`, for the
    /// startup warning.
    pub fn dangerous_settings(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        if self.model.dangerous_allow_unsafe_value {
            out.push((
                "model.dangerous_allow_unsafe_value".to_string(),
                "cubes may inline security-context values into SQL with .unsafeValue()",
            ));
        }
        if self.model.dangerous_missing_filter_allows_all {
            out.push((
                "model.dangerous_missing_filter_allows_all".to_string(),
                "a token without a filtered claim sees every tenant's rows (Cube.js's 1 = 1)",
            ));
        }
        for p in &self.auth.providers {
            let ProviderKind::Jwks(j) = &p.kind else { continue };
            if j.keys.dangerous_allow_http {
                out.push((
                    format!("auth.providers[{}].dangerous_allow_http", p.name),
                    "keys may be fetched over plain HTTP from a non-loopback host",
                ));
            }
            if j.dangerous_skip_audience {
                out.push((
                    format!("auth.providers[{}].dangerous_skip_audience", p.name),
                    "aud is not checked: every token the issuer minted for any application is accepted",
                ));
            }
        }
        out
    }
}

/// One problem found while loading configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The named environment has no file.
    #[error("{path}: environment `{env}` has no configuration file")]
    MissingEnvironment { env: String, path: String },
    /// A file could not be read or parsed.
    #[error("{source_name}: {message}")]
    Unreadable { source_name: String, message: String },
    /// A key that no part of the configuration defines.
    #[error("{source_name}: {key}: unknown key")]
    UnknownKey { source_name: String, key: String },
    /// A problem in the data model (already names its file and cube).
    #[error("{0}")]
    Model(String),
    /// A value of the wrong type or out of range, or a policy violation.
    #[error("{source_name}: {key}: {message}")]
    Invalid { source_name: String, key: String, message: String },
}

/// Every problem found, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn messages(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Load and validate the configuration for `opts.env`.
pub fn load(opts: &LoadOptions) -> Result<Config, ConfigErrors> {
    let tree = layers::load_layers(opts)?;
    schema::build(&opts.env, &tree)
}
