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
use std::net::{IpAddr, Ipv4Addr};
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
    pub cache: CacheConfig,
    pub audit: AuditConfig,
    /// `[forward_auth]`: `/tenantgate/v1/authorize` for gateways (nginx
    /// `auth_request`, Caddy `forward_auth`). `None` when the section is
    /// absent: the endpoint then answers 404.
    pub forward_auth: Option<ForwardAuthConfig>,
}

/// `[forward_auth]`.
#[derive(Debug, Clone)]
pub struct ForwardAuthConfig {
    /// `[forward_auth.headers]`: response headers on success, in
    /// configuration order; each a `{SECURITY_CONTEXT.<path>}` or a literal.
    pub headers: Vec<(http::HeaderName, SessionValue)>,
    /// `[[forward_auth.routes]]`, in order: the first match decides.
    pub routes: Vec<ForwardRoute>,
    /// When no route matches. Defaults to [`ForwardDefault::Deny`] when any
    /// route is configured (an unlisted path is not silently open), else
    /// [`ForwardDefault::Allow`] (every authenticated request passes).
    pub default: ForwardDefault,
    /// The security-context path holding the token's scopes (a list, or an
    /// OAuth space-separated string). Required by `require_scopes`.
    pub scopes_key: Option<ContextPath>,
    /// `[access] roles_key`, parsed: where `require_groups` looks.
    pub groups_key: Option<ContextPath>,
    /// `[forward_auth.internal_token]`: a short-lived JWT of the context in
    /// `X-Security-Context-Token`, keys at `/.well-known/jwks.json`. `None`
    /// when the table is absent.
    pub internal_token: Option<InternalTokenConfig>,
}

/// `[forward_auth.internal_token]`.
#[derive(Debug, Clone)]
pub struct InternalTokenConfig {
    /// `key_file` and `kid`: the key every token is signed with.
    pub signing: SigningKey,
    /// `rotation_key_file` and `rotation_kid`: published in the key set,
    /// never used to sign. The next key before a switch (so verifiers have
    /// it before the first token), or the previous one after it (so tokens
    /// still live keep verifying).
    pub rotation: Option<SigningKey>,
    /// The token's lifetime. Defaults to [`DEFAULT_INTERNAL_TOKEN_TTL`].
    pub ttl: Duration,
    /// The token's `iss`. Defaults to [`DEFAULT_INTERNAL_TOKEN_ISSUER`].
    pub issuer: String,
    /// The token's `aud`, when set.
    pub audience: Option<String>,
}

/// Defaults to 60 seconds: the token is minted per gateway request, so it
/// needs to outlive only the hop to the upstream (and clock skew).
pub const DEFAULT_INTERNAL_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Defaults to `"tenantgate"`.
pub const DEFAULT_INTERNAL_TOKEN_ISSUER: &str = "tenantgate";

/// A private key of ours, parsed once, with its public JWK.
#[derive(Debug, Clone)]
pub struct SigningKey {
    pub kid: String,
    /// `EdDSA` for Ed25519, `ES256` for P-256.
    pub algorithm: Algorithm,
    /// Its `Debug` redacts the key.
    pub key: jsonwebtoken::EncodingKey,
    /// The public half, with `kid`, `alg` and `use`.
    pub jwk: jsonwebtoken::jwk::Jwk,
}

/// `[[forward_auth.routes]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRoute {
    /// Normalised, starts with `/`; matches on a segment boundary.
    pub path_prefix: String,
    /// Upper-case method names; empty: every method.
    pub methods: Vec<String>,
    /// The caller must be in at least one of these groups (empty: none
    /// needed).
    pub require_groups: Vec<String>,
    /// The caller must hold every one of these scopes.
    pub require_scopes: Vec<String>,
}

/// `[forward_auth] default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardDefault {
    Allow,
    Deny,
}

/// `[cache]`: the result cache in front of the data sources.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Defaults to [`DEFAULT_CACHE_ENABLED`].
    pub enabled: bool,
    /// Bytes of cached results held in memory (each entry weighs its
    /// serialized size). Defaults to [`DEFAULT_CACHE_MAX_BYTES`].
    pub max_bytes: usize,
    /// How long a result is served for a cube without a `refresh_key`.
    /// Defaults to [`DEFAULT_CACHE_TTL`].
    pub ttl: Duration,
    /// How often a cube's `refresh_key: { sql: ... }` is run again (per
    /// route and settings) when the key gives no `every`. Defaults to
    /// [`DEFAULT_REFRESH_KEY_CHECK`].
    pub refresh_key_check: Duration,
    /// Defaults to [`DEFAULT_CACHE_BACKEND`].
    pub backend: CacheBackend,
    /// Bytes of plans held in memory (`cache::PlanCache`), whether or not
    /// `enabled`: a plan is never data. 0 turns it off. Defaults to
    /// [`DEFAULT_PLAN_CACHE_MAX_BYTES`].
    pub plan_max_bytes: usize,
}

/// `[cache] backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheBackend {
    /// `"memory"`: each replica caches on its own.
    Memory,
    /// `"redis"`: the in-memory layer in front of a Redis that replicas
    /// share. `url` (`redis://[user:password@]host[:port][/db]`) may hold a
    /// password, so it is a [`Secret`]. Redis down means the in-memory
    /// layer alone and a warning, never a failed request.
    Redis { url: Secret },
}

/// `[cache] enabled`. Defaults to `false`: a cached result can be up to
/// `ttl` old, which an operator opts into (Cube.js caches by default; set
/// `true` to match it).
pub const DEFAULT_CACHE_ENABLED: bool = false;
/// `[cache] max_bytes`. Defaults to `67108864` (64 MiB), one largest
/// allowed response.
pub const DEFAULT_CACHE_MAX_BYTES: usize = 64 << 20;
/// `[cache] plan_max_bytes`. Defaults to `8388608` (8 MiB), some thousand
/// plans.
pub const DEFAULT_PLAN_CACHE_MAX_BYTES: usize = 8 << 20;
/// `[cache] ttl`. Defaults to `10s`, Cube.js's default `refresh_key`
/// (`every: 10 second`) for databases other than BigQuery, Athena,
/// Snowflake and Presto.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10);
/// `[cache] refresh_key_check`. Defaults to `10s`, Cube.js's interval for
/// checking a `sql` refresh key.
pub const DEFAULT_REFRESH_KEY_CHECK: Duration = Duration::from_secs(10);
/// `[cache] backend`. Defaults to `"memory"`; `"redis"` also needs `url`.
pub const DEFAULT_CACHE_BACKEND: &str = "memory";

/// `[tenancy]` and `[tenants.<id>]`.
#[derive(Debug, Clone, Default)]
pub struct TenancyConfig {
    /// The security-context path that names the tenant (`tenant_id`).
    pub tenant_key: Option<String>,
    /// Refuse tenants not listed under `[tenants]` (403 `unknown_tenant`).
    /// Defaults to `true` when any tenant is listed, else `false`: with
    /// tenants listed, an unlisted one would silently read the default
    /// database.
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
    /// `[access] scopes_key` and `[access.group_scopes]`: which API scopes
    /// a token holds (Cube.js's `contextToApiScopes`).
    pub scopes: ScopesConfig,
    /// What a caller gets from a cube or view whose access policies none
    /// apply: Cube.js's hidden members and empty rows, or 403.
    pub no_policy: NoPolicy,
    /// `[[access.tests]]`, run by `check-config`.
    pub tests: Vec<AccessTest>,
}

/// `[access] no_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoPolicy {
    /// `"hide"` (the default, as Cube.js): its members are hidden, its rows
    /// are `1 = 0`.
    #[default]
    Hide,
    /// `"forbid"`: 403 `no_applicable_policy`.
    Forbid,
}

/// `[[access.tests]]`: a security context and a query, and what the
/// policies must decide for them.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessTest {
    pub name: String,
    /// The file that defines it.
    pub source: String,
    pub security_context: serde_json::Value,
    /// In Cube.js's query shape; `None`: only visibility is tested.
    pub query: Option<serde_json::Value>,
    pub expect_visible: Vec<String>,
    pub expect_hidden: Vec<String>,
    pub expect_masked: Vec<String>,
    /// A refusal code, or `"ok"`.
    pub expect_code: Option<String>,
}

/// An API scope: which group of endpoints a token may call (Cube.js's
/// `meta`, `data`, `sql`, plus our `explain`). A closed set: a name outside
/// it in configuration is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiScope {
    /// `/meta`.
    Meta,
    /// `/load`, `/subscribe`, `/dry-run`.
    Data,
    /// `/sql`.
    Sql,
    /// `POST /tenantgate/v1/explain`.
    Explain,
}

impl ApiScope {
    /// Every scope, in the order the README lists them.
    pub const ALL: [ApiScope; 4] = [ApiScope::Meta, ApiScope::Data, ApiScope::Sql, ApiScope::Explain];

    pub fn name(self) -> &'static str {
        match self {
            ApiScope::Meta => "meta",
            ApiScope::Data => "data",
            ApiScope::Sql => "sql",
            ApiScope::Explain => "explain",
        }
    }

    pub fn parse(name: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Where a token's API scopes come from. Neither set (the default): every
/// scope is granted, as Cube.js without `contextToApiScopes`.
#[derive(Debug, Clone, Default)]
pub struct ScopesConfig {
    /// `[access] scopes_key`: the context path of the token's scopes (a
    /// list of strings, or an OAuth space-separated string). Defaults to
    /// none.
    pub scopes_key: Option<ContextPath>,
    /// `[access.group_scopes]`: the scopes each group grants (`"*"`: every
    /// caller), groups read from `groups_key`. Defaults to none.
    pub group_scopes: Vec<(String, Vec<ApiScope>)>,
    /// `[access] roles_key`, parsed: where the groups are.
    pub groups_key: Option<ContextPath>,
}

/// `[audit]`: the audit log, one JSON line per data request on stderr
/// (`server::audit`).
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Defaults to [`DEFAULT_AUDIT_ENABLED`].
    pub enabled: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { enabled: DEFAULT_AUDIT_ENABLED }
    }
}

/// `[audit] enabled`. Defaults to `true`: who read what is recorded unless
/// turned off.
pub const DEFAULT_AUDIT_ENABLED: bool = true;

/// `[[access.rules]]`: a filter forced into every query on a cube.
#[derive(Debug, Clone)]
pub struct AccessRule {
    pub cube: String,
    pub member: String,
    /// Defaults to [`DEFAULT_RULE_OPERATOR`].
    pub operator: String,
    pub value: SessionValue,
}

/// `[[access.rules]] operator`. Defaults to `"equals"`: a rule usually pins
/// a member to the token's value.
pub const DEFAULT_RULE_OPERATOR: &str = "equals";

/// `[[access.roles]]`.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    /// Every member of these cubes.
    pub cubes: Vec<String>,
    /// These members (`Cube.member`).
    pub members: Vec<String>,
}

/// `[model]`: where the data model is and what it may do. The model itself
/// is loaded by the build step (`crate::build`).
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Defaults to [`DEFAULT_MODEL_PATH`].
    pub path: PathBuf,
    /// Defaults to [`DEFAULT_DANGEROUS_ALLOW_UNSAFE_VALUE`].
    pub dangerous_allow_unsafe_value: bool,
    /// Defaults to [`DEFAULT_DANGEROUS_MISSING_FILTER_ALLOWS_ALL`].
    pub dangerous_missing_filter_allows_all: bool,
    /// Cubes whose rows every tenant may read (reference data such as
    /// countries), allowed in production to join tenant cubes without a
    /// tenant predicate of their own. Defaults to [`DEFAULT_SHARED_CUBES`].
    pub shared_cubes: Vec<String>,
}

/// `[model] path`. Defaults to `"model"`, relative to the working
/// directory; a missing folder is an empty model.
pub const DEFAULT_MODEL_PATH: &str = "model";
/// `[model] dangerous_allow_unsafe_value`. Defaults to `false`:
/// `.unsafeValue()` would put a token's value into SQL text.
pub const DEFAULT_DANGEROUS_ALLOW_UNSAFE_VALUE: bool = false;
/// `[model] dangerous_missing_filter_allows_all`. Defaults to `false`: a
/// missing security-context value is refused (403) instead of Cube.js's
/// `1 = 1`.
pub const DEFAULT_DANGEROUS_MISSING_FILTER_ALLOWS_ALL: bool = false;
/// `[model] shared_cubes`. Defaults to none: outside development and test,
/// a cube with no tenant predicate that can be joined to a cube with one is
/// a build error unless listed here.
pub const DEFAULT_SHARED_CUBES: &[&str] = &[];

/// `[database] type`. Defaults to `"sqlite"`, the embedded database.
pub const DEFAULT_DATABASE_TYPE: &str = "sqlite";
/// `[database] statement_timeout`. Defaults to `10s`.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// `[database] max_concurrent_queries`. Defaults to `8`, also the
/// PostgreSQL pool size.
pub const DEFAULT_MAX_CONCURRENT_QUERIES: usize = 8;
/// `[database] queue_timeout`. Defaults to `2s`: a client waits that long
/// for a free slot, then gets 503 with `Retry-After`.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);
/// `[database] max_rows`. Defaults to `50000`, the largest `limit` a query
/// may ask for.
pub const DEFAULT_MAX_ROWS: usize = 50_000;
/// `[database] max_result_cells`. Defaults to `1000000`: a million cells is
/// about 35 MB of JSON with Cube.js's member-name keys, so the largest
/// allowed request stays under the response cap below.
pub const DEFAULT_MAX_RESULT_CELLS: usize = 1_000_000;
/// `[database] max_response_bytes`. Defaults to `67108864` (64 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;
/// `[database] host` for `type = "postgres"` when neither `host` nor `url`
/// names one. Defaults to `127.0.0.1`.
pub const DEFAULT_POSTGRES_HOST: &str = "127.0.0.1";
/// `[database] port` for `type = "postgres"` when neither `port` nor `url`
/// names one. Defaults to `5432`.
pub const DEFAULT_POSTGRES_PORT: u16 = 5432;
/// `[database] ssl` for `type = "postgres"`. Defaults to `false` (Cube.js's
/// `CUBEJS_DB_SSL` default); `true` requires verified TLS.
pub const DEFAULT_POSTGRES_SSL: bool = false;

/// `[database]`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `type`: defaults to [`DEFAULT_DATABASE_TYPE`].
    pub kind: DatabaseKind,
    /// Defaults to [`DEFAULT_STATEMENT_TIMEOUT`].
    pub statement_timeout: Duration,
    /// Defaults to [`DEFAULT_MAX_CONCURRENT_QUERIES`].
    pub max_concurrent_queries: usize,
    /// How long a query waits for a free slot before 503. Defaults to
    /// [`DEFAULT_QUEUE_TIMEOUT`].
    pub queue_timeout: Duration,
    /// Result rows above this are refused. Defaults to [`DEFAULT_MAX_ROWS`].
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
    Postgres(Box<tokio_postgres::Config>, PgTls),
}

/// TLS to PostgreSQL: `ssl` and `ca_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTls {
    /// `ssl = false`: plain text.
    Off,
    /// `ssl = true`: TLS required and verified against the webpki roots and,
    /// when given, the private CA in `ca_file`; never a plain-text fallback.
    Verified { ca_file: Option<PathBuf> },
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Defaults to [`DEFAULT_HOST`].
    pub host: IpAddr,
    /// Defaults to [`DEFAULT_PORT`].
    pub port: u16,
    /// `tls_cert` and `tls_key`, both or neither. Defaults to none (plain
    /// HTTP).
    pub tls: Option<TlsConfig>,
    /// Upper bound on the request head (HTTP/1) or header list (HTTP/2).
    /// Defaults to [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// Upper bound on a request body. Defaults to [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// How long graceful shutdown waits for in-flight requests. Defaults to
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`].
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

/// `[server] host`. Defaults to `127.0.0.1`: nothing outside the machine
/// reaches a server until a configuration says so (`production.toml` does).
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// `[server] port`. Defaults to `4000`, Cube.js's port.
pub const DEFAULT_PORT: u16 = 4000;

/// `[server] max_header_bytes`. Defaults to `16384` (16 KiB): room for a
/// large token in `Authorization` plus the usual headers.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 << 10;

/// `[server] max_body_bytes`. Defaults to `1048576` (1 MiB), far above any
/// Cube.js query.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// `[server] shutdown_timeout`. Defaults to `10s`, within the usual
/// orchestrator grace period.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// `[server] max_connections`. Defaults to `1024`: well under a typical
/// file-descriptor limit, so a flood of idle sockets cannot starve `/livez`
/// or the database of fds.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `[server] handshake_timeout`. Defaults to `10s`: generous for a slow
/// mobile TLS handshake, short enough that silent sockets do not pile up.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[server] idle_timeout`. Defaults to `60s`, the usual load-balancer idle
/// timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Defaults to [`DEFAULT_DEV_MODE`].
    pub dev_mode: bool,
    /// Defaults to [`DEFAULT_REQUIRE_EXP`].
    pub require_exp: bool,
    /// Defaults to [`DEFAULT_LEEWAY`].
    pub leeway: Duration,
    /// Defaults to none: the whole payload is the context.
    pub claims_namespace: Option<String>,
    /// Status for authentication failures: 401 (RFC 6750) or 403 (Cube.js),
    /// never another. Defaults to [`DEFAULT_FAILURE_STATUS`].
    pub failure_status: http::StatusCode,
    /// Tokens longer than this are refused with `token_too_large` before any
    /// decoding. Defaults to [`DEFAULT_MAX_TOKEN_BYTES`].
    pub max_token_bytes: usize,
    /// Memory for the verification cache (verified tokens' contexts by a
    /// SHA-256 of the token); `0` turns it off. Defaults to
    /// [`DEFAULT_VERIFICATION_CACHE_MAX_BYTES`].
    pub verification_cache_max_bytes: usize,
    /// The longest a verified token is served from that cache (never past
    /// its `exp`). Defaults to [`DEFAULT_VERIFICATION_CACHE_TTL`].
    pub verification_cache_ttl: Duration,
    pub providers: Vec<ProviderConfig>,
    /// `[[auth.enrich]]`, in order: claims fetched after verification.
    pub enrich: Vec<EnrichConfig>,
}

/// `[[auth.enrich]]`: more claims fetched by a verified one (Cube.js's
/// `extendContext`, Oathkeeper's hydrator).
#[derive(Debug, Clone)]
pub struct EnrichConfig {
    /// The context path whose value the lookup is keyed by (`key = "sub"`).
    pub key: ContextPath,
    /// Where the claims come from: `url` or `sql`.
    pub source: EnrichSource,
    /// Merge under this context key; `None`: at the root.
    pub into: Option<String>,
    /// `override`: fetched values replace verified ones. Defaults to
    /// [`DEFAULT_ENRICH_OVERRIDE`].
    pub override_verified: bool,
    /// Only for tokens these providers verified; empty: every provider.
    pub providers: Vec<String>,
    /// Defaults to [`DEFAULT_ENRICH_TTL`].
    pub ttl: Duration,
    /// Defaults to [`DEFAULT_ENRICH_MAX_ENTRIES`].
    pub max_entries: u64,
    /// Defaults to [`DEFAULT_ENRICH_TIMEOUT`].
    pub timeout: Duration,
    /// Defaults to [`EnrichOnError::Fail`] (`on_error = "fail"`).
    pub on_error: EnrichOnError,
    /// `url` form only. Defaults to [`DEFAULT_WEBHOOK_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// `url` form only.
    pub ca_file: Option<PathBuf>,
    /// `url` form only. Defaults to [`DEFAULT_DANGEROUS_ALLOW_HTTP`].
    pub dangerous_allow_http: bool,
}

/// `[[auth.enrich]]`: `url` or `sql`, exactly one.
#[derive(Debug, Clone)]
pub enum EnrichSource {
    /// `url`, holding `{<key>}` exactly once: replaced by the value,
    /// percent-encoded. Split around it.
    Url(String, String),
    /// `sql`: one statement on the default `[database]`, the key's value
    /// bound as its one parameter `$1`; it must return at most one row,
    /// whose columns are the claims.
    Sql {
        sql: String,
        /// `json_columns`: columns whose text is a JSON value (a list of
        /// groups), parsed. Defaults to none: every column as it comes.
        json_columns: Vec<String>,
    },
}

/// `[[auth.enrich]] on_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrichOnError {
    /// 503 `enrichment_unavailable`.
    Fail,
    /// The request goes on with the verified claims alone.
    Continue,
}

/// Defaults to `false`: a lookup never replaces what the token's issuer
/// signed.
pub const DEFAULT_ENRICH_OVERRIDE: bool = false;
/// Defaults to 60 seconds.
pub const DEFAULT_ENRICH_TTL: Duration = Duration::from_secs(60);
/// Defaults to 10,000 keys.
pub const DEFAULT_ENRICH_MAX_ENTRIES: u64 = 10_000;
/// Defaults to 2 seconds.
pub const DEFAULT_ENRICH_TIMEOUT: Duration = Duration::from_secs(2);
/// Defaults to `"fail"`.
pub const DEFAULT_ENRICH_ON_ERROR: &str = "fail";

/// `[auth] dev_mode`. Defaults to `false`.
pub const DEFAULT_DEV_MODE: bool = false;
/// `[auth] require_exp`. Defaults to `true`: a token without `exp` would be
/// valid forever.
pub const DEFAULT_REQUIRE_EXP: bool = true;
/// `[auth] leeway`. Defaults to `60s` of clock skew on `exp`, `nbf` and
/// `iat`, as jsonwebtoken's `Validation`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// `[auth] failure_status`. Defaults to `401` (RFC 6750, with
/// `WWW-Authenticate`); `403` restores Cube.js's status.
pub const DEFAULT_FAILURE_STATUS: http::StatusCode = http::StatusCode::UNAUTHORIZED;
/// `[auth] max_token_bytes`. Defaults to `8192` (8 KiB), half the default
/// header limit.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 << 10;
/// `[auth] verification_cache_max_bytes`. Defaults to `16777216` (16 MiB):
/// about ten thousand typical tokens, each entry weighing twice its token's
/// length plus 512 bytes.
pub const DEFAULT_VERIFICATION_CACHE_MAX_BYTES: usize = 16 << 20;
/// `[auth] verification_cache_ttl`. Defaults to `5m`: a token is verified
/// afresh at least that often, and never served from the cache at or past
/// its `exp`.
pub const DEFAULT_VERIFICATION_CACHE_TTL: Duration = Duration::from_secs(300);

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
    /// The claim is a string holding JSON; parse it. Defaults to
    /// [`DEFAULT_CLAIM_JSON`].
    pub json: bool,
}

/// `[auth.providers.claims] <target> = { json = ... }`. Defaults to `false`:
/// the claim is used as it is.
pub const DEFAULT_CLAIM_JSON: bool = false;

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
    /// `type = "webhook"`: the request's credential headers sent to a URL
    /// whose 200 JSON object is the claim set.
    Webhook(WebhookProviderConfig),
}

/// `type = "webhook"`.
#[derive(Debug, Clone)]
pub struct WebhookProviderConfig {
    /// `http(s)` URL; plain HTTP only to loopback or with
    /// `dangerous_allow_http`.
    pub url: String,
    /// `GET` or `POST` (then with a `{"headers": {...}}` JSON body).
    /// Defaults to [`DEFAULT_WEBHOOK_METHOD`].
    pub method: http::Method,
    /// The request headers sent on to the webhook, and the credential the
    /// cache is keyed by. Defaults to [`DEFAULT_WEBHOOK_FORWARD_HEADERS`];
    /// the `header` of [`WebhookApplies::Header`] is always among them.
    pub forward_headers: Vec<http::HeaderName>,
    /// The whole exchange. Defaults to [`DEFAULT_WEBHOOK_TIMEOUT`].
    pub timeout: Duration,
    /// Which requests go to this webhook.
    pub applies: WebhookApplies,
    /// Upper bound on the response's `max-age`. Defaults to
    /// [`DEFAULT_WEBHOOK_MAX_CACHE_TTL`].
    pub max_cache_ttl: Duration,
    /// How long a 401/403 is remembered. Defaults to
    /// [`DEFAULT_WEBHOOK_NEGATIVE_CACHE_TTL`].
    pub negative_cache_ttl: Duration,
    /// Defaults to [`DEFAULT_WEBHOOK_MAX_CACHE_ENTRIES`].
    pub max_cache_entries: u64,
    /// Defaults to [`DEFAULT_WEBHOOK_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// A private CA trusted besides the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Defaults to [`DEFAULT_DANGEROUS_ALLOW_HTTP`].
    pub dangerous_allow_http: bool,
}

/// When a `type = "webhook"` provider takes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookApplies {
    /// Neither `token_prefix` nor `header`: a token that is not shaped like
    /// a JWT (not three dot-separated parts).
    NotJwt,
    /// `token_prefix = "sk_"`: a token starting with it.
    TokenPrefix(String),
    /// `header = "X-Api-Key"`: a request carrying that header.
    Header(http::HeaderName),
}

/// Defaults to `GET`.
pub const DEFAULT_WEBHOOK_METHOD: &str = "GET";
/// Defaults to `["Authorization"]`.
pub const DEFAULT_WEBHOOK_FORWARD_HEADERS: [&str; 1] = ["Authorization"];
/// Defaults to 2 seconds: the webhook is on every uncached request's path.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(2);
/// Defaults to 5 minutes, whatever longer `max-age` the webhook sends, so a
/// revoked credential stops working within it.
pub const DEFAULT_WEBHOOK_MAX_CACHE_TTL: Duration = Duration::from_secs(300);
/// Defaults to 10 seconds: long enough to absorb a client retrying a bad
/// key, short enough that a newly issued key works soon.
pub const DEFAULT_WEBHOOK_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(10);
/// Defaults to 10,000 credentials.
pub const DEFAULT_WEBHOOK_MAX_CACHE_ENTRIES: u64 = 10_000;
/// Defaults to 64 KiB.
pub const DEFAULT_WEBHOOK_MAX_BODY_BYTES: usize = 64 << 10;

/// A provider whose keys come from a JWKS endpoint.
#[derive(Debug, Clone)]
pub struct JwksProviderConfig {
    pub preset: JwksPreset,
    /// Where the key set is. `None` only for `oidc` without an override:
    /// discovered from `discovery_url`.
    pub jwks_url: Option<String>,
    /// `<issuer>/.well-known/openid-configuration`, for `oidc`.
    pub discovery_url: Option<String>,
    /// Asymmetric only, never an HMAC algorithm. Defaults to
    /// [`DEFAULT_JWKS_ALGORITHMS`].
    pub algorithms: Vec<Algorithm>,
    pub claims: ClaimRules,
    pub keys: KeyCacheConfig,
    /// A PEM file of extra trusted roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// `jwks` and `oidc` only: accept tokens without checking `aud`, which
    /// outside development and test is otherwise refused (every token the
    /// issuer minted for any application would pass). Logged as a warning.
    /// Defaults to [`DEFAULT_DANGEROUS_SKIP_AUDIENCE`]; never set together
    /// with an audience.
    pub dangerous_skip_audience: bool,
}

/// JWKS providers' `algorithms`. Defaults to `["RS256"]`, what every
/// identity provider signs with unless told otherwise.
pub const DEFAULT_JWKS_ALGORITHMS: [Algorithm; 1] = [Algorithm::RS256];
/// `dangerous_skip_audience` (`jwks` and `oidc`). Defaults to `false`.
pub const DEFAULT_DANGEROUS_SKIP_AUDIENCE: bool = false;
/// `token_use` (`cognito`). Defaults to [`TokenUse::Id`]: ID tokens carry
/// the user's attributes.
pub const DEFAULT_TOKEN_USE: TokenUse = TokenUse::Id;

/// What a JWKS preset adds to the generic checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksPreset {
    Generic,
    /// AWS Cognito: `token_use` and the app client id.
    Cognito {
        /// Defaults to [`DEFAULT_TOKEN_USE`].
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

/// Key lifecycle settings of a JWKS provider. Each field defaults to the
/// `DEFAULT_` constant of its key (as the README's table shows).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCacheConfig {
    /// Defaults to [`DEFAULT_FETCH_TIMEOUT`].
    pub fetch_timeout: Duration,
    /// Defaults to [`DEFAULT_MAX_JWKS_BYTES`].
    pub max_jwks_bytes: usize,
    /// Defaults to [`DEFAULT_MAX_KEYS`].
    pub max_keys: usize,
    /// Defaults to [`DEFAULT_TTL_DEFAULT`].
    pub ttl_default: Duration,
    /// Defaults to [`DEFAULT_TTL_MIN`].
    pub ttl_min: Duration,
    /// Defaults to [`DEFAULT_TTL_MAX`].
    pub ttl_max: Duration,
    /// Fraction of the TTL after which the background refresh runs.
    /// Defaults to [`DEFAULT_REFRESH_AT`].
    pub refresh_at: f64,
    /// Defaults to [`DEFAULT_REFETCH_COOLDOWN`].
    pub refetch_cooldown: Duration,
    /// Defaults to [`DEFAULT_MAX_STALE`].
    pub max_stale: Duration,
    /// Defaults to [`DEFAULT_PREFETCH`].
    pub prefetch: bool,
    /// Defaults to [`DEFAULT_REQUIRED`].
    pub required: bool,
    /// Defaults to [`DEFAULT_NEGATIVE_CACHE_SIZE`].
    pub negative_cache_size: usize,
    /// Allow `http://` to non-loopback hosts. Logged as a warning. Defaults
    /// to [`DEFAULT_DANGEROUS_ALLOW_HTTP`].
    pub dangerous_allow_http: bool,
}

/// JWKS `fetch_timeout`. Defaults to `5s`, connect and total.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// JWKS `max_jwks_bytes`. Defaults to `524288` (512 KiB), hundreds of keys.
pub const DEFAULT_MAX_JWKS_BYTES: usize = 512 << 10;
/// JWKS `max_keys`. Defaults to `100`.
pub const DEFAULT_MAX_KEYS: usize = 100;
/// JWKS `ttl_default`, without `Cache-Control: max-age`. Defaults to `10m`.
pub const DEFAULT_TTL_DEFAULT: Duration = Duration::from_secs(600);
/// JWKS `ttl_min`, the floor for `max-age`. Defaults to `60s`.
pub const DEFAULT_TTL_MIN: Duration = Duration::from_secs(60);
/// JWKS `ttl_max`, the ceiling for `max-age`. Defaults to `24h`.
pub const DEFAULT_TTL_MAX: Duration = Duration::from_secs(86_400);
/// JWKS `refresh_at`. Defaults to `0.8` of the TTL: keys are fresh again
/// before they expire.
pub const DEFAULT_REFRESH_AT: f64 = 0.8;
/// JWKS `refetch_cooldown`. Defaults to `30s`: a flood of unknown kids
/// causes at most one fetch per cooldown.
pub const DEFAULT_REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
/// JWKS `max_stale`. Defaults to `24h` of outage before cached keys stop
/// verifying.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(86_400);
/// JWKS `prefetch`. Defaults to `true`: keys load at startup.
pub const DEFAULT_PREFETCH: bool = true;
/// JWKS `required`. Defaults to `true`: `/readyz` waits for the keys.
pub const DEFAULT_REQUIRED: bool = true;
/// JWKS `negative_cache_size`. Defaults to `1024` kids.
pub const DEFAULT_NEGATIVE_CACHE_SIZE: usize = 1024;
/// JWKS `dangerous_allow_http`. Defaults to `false`.
pub const DEFAULT_DANGEROUS_ALLOW_HTTP: bool = false;

impl Default for KeyCacheConfig {
    fn default() -> Self {
        KeyCacheConfig {
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            max_jwks_bytes: DEFAULT_MAX_JWKS_BYTES,
            max_keys: DEFAULT_MAX_KEYS,
            ttl_default: DEFAULT_TTL_DEFAULT,
            ttl_min: DEFAULT_TTL_MIN,
            ttl_max: DEFAULT_TTL_MAX,
            refresh_at: DEFAULT_REFRESH_AT,
            refetch_cooldown: DEFAULT_REFETCH_COOLDOWN,
            max_stale: DEFAULT_MAX_STALE,
            prefetch: DEFAULT_PREFETCH,
            required: DEFAULT_REQUIRED,
            negative_cache_size: DEFAULT_NEGATIVE_CACHE_SIZE,
            dangerous_allow_http: DEFAULT_DANGEROUS_ALLOW_HTTP,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SecretProviderConfig {
    /// Every secret is tried (rotation). Never empty.
    pub secrets: Vec<Secret>,
    /// HMAC algorithms only. Never empty. Defaults to
    /// [`DEFAULT_SECRET_ALGORITHMS`].
    pub algorithms: Vec<Algorithm>,
    pub claims: ClaimRules,
}

/// `type = "secret"` `algorithms`. Defaults to every HMAC algorithm: a
/// secret fits each, and the token's header picks one of these.
pub const DEFAULT_SECRET_ALGORITHMS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

#[derive(Debug, Clone)]
pub struct PublicKeyProviderConfig {
    /// The key's type (RSA, EC P-256/P-384 or Ed25519).
    pub key_type: pem::KeyType,
    /// The key, parsed from the PEM once while the configuration is checked
    /// (a public key is not a secret; jsonwebtoken's `Debug` shows none of it).
    pub key: jsonwebtoken::DecodingKey,
    /// Asymmetric algorithms only, each fitting the key's type. Never empty.
    /// Defaults to the one algorithm of the key's type (RS256, ES256, ES384
    /// or EdDSA).
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
