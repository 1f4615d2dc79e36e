//! Logging setup. Filter directives come from `RUST_LOG` (for example
//! `info,tenantgate=debug`); the default is `info`.
//!
//! **Invariant:** nothing logs a token, a secret or a whole claim set; log
//! the provider, kid, tenant and error code as fields instead.

use tracing_subscriber::Layer;
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
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(fmt).try_init();
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

/// Longest error text in one log line; the rest is cut (SQL can be long).
pub const MAX_LOGGED_ERROR_BYTES: usize = 2048;

/// `text` cut to [`MAX_LOGGED_ERROR_BYTES`] on a character boundary, with
/// how much was cut.
pub fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_LOGGED_ERROR_BYTES {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = MAX_LOGGED_ERROR_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}... ({} more bytes)", &text[..end], text.len() - end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_error_text_is_cut_on_a_character_boundary() {
        assert_eq!(bounded("short"), "short");
        let long = format!("{}é{}", "a".repeat(MAX_LOGGED_ERROR_BYTES - 1), "b".repeat(300_000));
        let cut = bounded(&long);
        assert!(cut.len() < MAX_LOGGED_ERROR_BYTES + 40, "{}", cut.len());
        assert!(cut.ends_with("more bytes)"));
    }
}
