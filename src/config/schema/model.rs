//! `[model]`: where the data model is and what it may do. Loading it is
//! the build step's work (`crate::build`); configuration stays data.

use std::path::PathBuf;

use super::{Cx, Section};
use crate::config::{
    DEFAULT_DANGEROUS_ALLOW_UNSAFE_VALUE, DEFAULT_DANGEROUS_MISSING_FILTER_ALLOWS_ALL, DEFAULT_MODEL_PATH,
    DEFAULT_SHARED_CUBES, ModelConfig,
};

pub(super) fn model(cx: &mut Cx, s: Section<'_>) -> ModelConfig {
    let path = PathBuf::from(cx.non_empty_string(&s, "path").unwrap_or_else(|| DEFAULT_MODEL_PATH.into()));
    let allow_unsafe = cx.bool(&s, "dangerous_allow_unsafe_value", DEFAULT_DANGEROUS_ALLOW_UNSAFE_VALUE);
    let allows_all = cx.bool(&s, "dangerous_missing_filter_allows_all", DEFAULT_DANGEROUS_MISSING_FILTER_ALLOWS_ALL);
    let shared_cubes =
        cx.strings(&s, "shared_cubes").unwrap_or_else(|| DEFAULT_SHARED_CUBES.iter().map(|c| c.to_string()).collect());
    s.finish(cx);
    ModelConfig {
        path,
        dangerous_allow_unsafe_value: allow_unsafe,
        dangerous_missing_filter_allows_all: allows_all,
        shared_cubes,
    }
}
