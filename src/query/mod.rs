//! The query engine: a Cube.js query and a security context in, SQL text and
//! bound parameters out.
//!
//! - [`model`]: the data model (YAML files, and JavaScript files through
//!   [`js_model`]), loaded and checked at startup.
//! - [`template`]: `{SECURITY_CONTEXT.x.filter('col')}` in a cube's `sql`.
//! - [`request`]: the query JSON, checked against the model.
//! - [`join`]: the join tree of a query's cubes (Cube.js's join graph).
//! - [`view`]: `views:`, each member another name for a cube member.
//! - [`policy`]: tenants, rules, roles and session settings, resolved once.
//! - [`plan`]: model + policy + request + context -> the queries to run.
//! - [`render`]: the pure renderer, one [`dialect`] per database.
//! - [`meta`]: `/meta`, the model as the caller's roles may see it.
//!
//! **Invariant:** rendering requires a [`SecurityContext`], which only the
//! auth pipeline can build.
//! **Invariant:** tenant values and query values reach SQL only as bound
//! parameters; identifiers come only from the model. The one exception,
//! `.unsafeValue()`, is refused when the model loads unless
//! `[model] dangerous_allow_unsafe_value = true`.
//!
//! [`SecurityContext`]: crate::auth::SecurityContext

pub mod access;
pub mod dialect;
pub mod join;
pub mod js_model;
pub mod meta;
pub mod model;
pub mod plan;
pub mod policy;
pub mod render;
pub mod request;
pub mod template;
pub mod time;
pub mod transformed;
pub mod view;

pub use dialect::Dialect;
pub use model::Model;
pub use plan::{Plan, Planned, plan};
pub use policy::Policy;
pub use render::{Column, Rendered, render};
pub use request::Query;

/// A value bound to a statement parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl SqlValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            SqlValue::Null => serde_json::Value::Null,
            SqlValue::Bool(b) => (*b).into(),
            SqlValue::Int(i) => (*i).into(),
            SqlValue::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
            SqlValue::Text(s) => s.clone().into(),
        }
    }
}

/// Why a query was refused. All but `MissingSecurityContext` (403) are the
/// client's 400s.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("query param is required")]
    MissingQuery,
    #[error("Unable to decode query param as JSON, error: {0}")]
    BadJson(String),
    #[error(
        "Query should contain either measures, dimensions or timeDimensions with granularities in order to be valid"
    )]
    Empty,
    /// Cube.js's words: the part after the cube (`'nope' not found for path
    /// 'Orders.nope'`).
    #[error("'{name}' not found for path '{path}'", path = .0, name = .0.split_once('.').map_or(.0.as_str(), |(_, m)| m))]
    UnknownMember(String),
    /// A name that cannot be a member path (`count`, `A.b; DROP ...`), refused
    /// by Cube.js's query schema before any lookup; the message is Cube.js's.
    #[error("{0}")]
    BadMemberName(String),
    /// A path whose cube does not exist (Cube.js's words).
    #[error("Cube '{cube}' not found for path '{path}'", path = .0, cube = .0.split_once('.').map_or(.0.as_str(), |(c, _)| c))]
    UnknownCube(String),
    /// The member (or its cube) uses a Cube.js feature tenantgate does not
    /// implement; answering without it would be wrong.
    #[error("Member '{member}' uses {feature}, which tenantgate does not support")]
    MemberNotSupported { member: String, feature: String },
    /// Cube.js's words (`public: false`, or a primary key without
    /// `public: true`).
    #[error(
        "You requested hidden member: '{0}'. Please make it visible using `public: true`. Please note primaryKey fields are `public: false` by default: https://cube.dev/docs/schema/reference/joins#setting-a-primary-key."
    )]
    HiddenMember(String),
    #[error("{0}")]
    Invalid(String),
    /// A check Cube.js's schema compiler makes, in its words (its answer
    /// says `"type": "UserError"`).
    #[error("{0}")]
    Compiler(String),
    /// Cube.js's `Can't find join path to join 'A', 'B'`.
    #[error("{0}")]
    NoJoinPath(String),
    #[error("Security context has no '{path}' required by cube {cube}")]
    MissingSecurityContext { path: String, cube: String },
    #[error("{0}")]
    InvalidSecurityContext(String),
    #[error("{0}")]
    InvalidTenant(String),
    #[error("Tenant '{0}' is not configured")]
    UnknownTenant(String),
    #[error("Member '{0}' is not granted to this token's roles")]
    MemberNotAllowed(String),
    /// `[access] no_policy = "forbid"`: the cube or view has access
    /// policies and none applies to the caller (403).
    #[error("No access policy of {0} applies to this security context")]
    NoApplicablePolicy(String),
    /// A member the caller sees masked, used as a condition (a filter, a
    /// segment, a date range): filtering on the real value would reveal it.
    #[error("Member '{0}' is masked for this security context; it can be selected, not filtered or ordered on")]
    MaskedMember(String),
    /// A query `timezone` that is not an IANA name (Cube.js: a 500
    /// `Error: Unknown timezone: ...`).
    #[error("Unknown timezone: {0}")]
    UnknownTimezone(String),
    /// A request whose results pass a configured bound (cells or bytes).
    #[error("{0}")]
    ResultTooLarge(String),
    /// A measure the tenant's database cannot compute (Cube.js's words for
    /// `count_distinct_approx`).
    #[error("{0}")]
    NotSupportedByDb(&'static str),
}

impl QueryError {
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::UnknownMember(_) | QueryError::UnknownCube(_) | QueryError::BadMemberName(_) => {
                "unknown_member"
            }
            QueryError::MemberNotSupported { .. } => "member_not_supported",
            QueryError::HiddenMember(_) => "hidden_member",
            QueryError::NoJoinPath(_) => "no_join_path",
            QueryError::MissingSecurityContext { .. } => "missing_security_context",
            QueryError::InvalidSecurityContext(_) => "invalid_security_context",
            QueryError::InvalidTenant(_) => "invalid_tenant",
            QueryError::UnknownTenant(_) => "unknown_tenant",
            QueryError::MemberNotAllowed(_) => "member_not_allowed",
            QueryError::NoApplicablePolicy(_) => "no_applicable_policy",
            QueryError::MaskedMember(_) => "masked_member",
            QueryError::ResultTooLarge(_) => "result_too_large",
            QueryError::UnknownTimezone(_) => "unknown_timezone",
            QueryError::NotSupportedByDb(_) => "not_supported_by_database",
            QueryError::MissingQuery
            | QueryError::BadJson(_)
            | QueryError::Empty
            | QueryError::Invalid(_)
            | QueryError::Compiler(_) => "invalid_query",
        }
    }
}
