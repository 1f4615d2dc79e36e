//! `[audit]`: the audit log (one JSON line per data request).

use super::{Cx, Section};
use crate::config::{AuditConfig, DEFAULT_AUDIT_ENABLED};

pub(super) fn audit(cx: &mut Cx, s: Section<'_>) -> AuditConfig {
    let enabled = cx.bool(&s, "enabled", DEFAULT_AUDIT_ENABLED);
    s.finish(cx);
    AuditConfig { enabled }
}
