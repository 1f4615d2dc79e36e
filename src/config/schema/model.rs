//! `[model]`: the data model, loaded and checked here.

use std::path::PathBuf;

use super::{Cx, Section};
use crate::config::{
    ConfigError, DEFAULT_DANGEROUS_ALLOW_UNSAFE_VALUE, DEFAULT_DANGEROUS_MISSING_FILTER_ALLOWS_ALL, DEFAULT_MODEL_PATH,
    ModelConfig,
};

pub(super) fn model(cx: &mut Cx, s: Section<'_>) -> ModelConfig {
    let path = PathBuf::from(cx.non_empty_string(&s, "path").unwrap_or_else(|| DEFAULT_MODEL_PATH.into()));
    let allow_unsafe = cx.bool(&s, "dangerous_allow_unsafe_value", DEFAULT_DANGEROUS_ALLOW_UNSAFE_VALUE);
    let allows_all = cx.bool(&s, "dangerous_missing_filter_allows_all", DEFAULT_DANGEROUS_MISSING_FILTER_ALLOWS_ALL);
    s.finish(cx);
    let options = crate::query::model::ModelOptions { allow_unsafe_value: allow_unsafe };
    let model = match crate::query::model::load_dir(&path, options) {
        Ok(m) => m,
        Err(errors) => {
            cx.errors.extend(errors.into_iter().map(ConfigError::Model));
            crate::query::Model::empty()
        }
    };
    ModelConfig {
        path,
        model: std::sync::Arc::new(model),
        dangerous_allow_unsafe_value: allow_unsafe,
        dangerous_missing_filter_allows_all: allows_all,
    }
}
