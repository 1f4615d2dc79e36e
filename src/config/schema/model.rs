//! `[model]`: the data model, loaded and checked here.

use std::path::PathBuf;

use super::{Cx, Section};
use crate::config::{ConfigError, ModelConfig};

pub(super) fn model(cx: &mut Cx, s: Section<'_>) -> ModelConfig {
    let path = PathBuf::from(cx.non_empty_string(&s, "path").unwrap_or_else(|| "model".into()));
    let allow_unsafe = cx.bool(&s, "dangerous_allow_unsafe_value", false);
    let allows_all = cx.bool(&s, "dangerous_missing_filter_allows_all", false);
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
