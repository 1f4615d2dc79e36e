//! Logging setup. Filter directives come from `RUST_LOG` (for example
//! `info,tenantgate=debug`); the default is `info`.
//!
//! **Invariant:** nothing logs a token, a secret or a whole claim set; log
//! the provider, kid, tenant and error code as fields instead.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Install the global subscriber, writing to stderr. Returns a warning when
/// the directives could not be parsed (the default is used then).
pub fn init(directives: Option<&str>) -> Option<String> {
    let (filter, warning) = match directives.map(str::parse::<Targets>) {
        None => (default_filter(), None),
        Some(Ok(t)) => (t, None),
        Some(Err(e)) => (default_filter(), Some(format!("RUST_LOG is invalid ({e}); using \"info\""))),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_ansi(ansi);
    let _ = tracing_subscriber::registry().with(fmt).with(filter).try_init();
    warning
}

fn default_filter() -> Targets {
    Targets::new().with_default(tracing::Level::INFO)
}

/// An error with its sources, `outer: inner: innermost`, for a log line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
