//! Logging setup. Filter directives come from `RUST_LOG` (for example
//! `info,tenantgate=debug`); the default is `info`.
//!
//! **Invariant:** nothing logs a token, a secret or a whole claim set; log
//! the provider, kid, tenant and error code as fields instead.

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
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
    // Audit lines have their own layer (bare JSON objects), whatever
    // RUST_LOG says: `[audit] enabled` is what turns them off.
    let filter = filter.with_target(AUDIT_TARGET, LevelFilter::OFF);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(fmt).with(audit_layer(std::io::stderr)).try_init();
    warning
}

/// The tracing target of the audit log (`server::audit`).
pub const AUDIT_TARGET: &str = "tenantgate::audit";

/// The audit log's layer: each event on [`AUDIT_TARGET`] written as its
/// `record` field alone (one JSON object) and a newline.
pub fn audit_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .event_format(AuditLine)
        .with_filter(Targets::new().with_target(AUDIT_TARGET, tracing::Level::INFO))
}

struct AuditLine;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for AuditLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        struct Record(String);
        impl tracing::field::Visit for Record {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "record" {
                    self.0 = value.to_owned();
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut record = Record(String::new());
        event.record(&mut record);
        writeln!(writer, "{}", record.0)
    }
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
