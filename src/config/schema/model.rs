//! `[model]`: the data model, loaded and checked here.

use std::path::PathBuf;

use super::Cx;
use crate::config::layers::Table;
use crate::config::{ConfigError, ModelConfig};

pub(super) fn model(cx: &mut Cx, t: &Table) -> ModelConfig {
    const P: &str = "model";
    cx.known_keys(t, P, &["path", "dangerous_allow_unsafe_value", "dangerous_missing_filter_allows_all"]);
    let path = PathBuf::from(cx.non_empty_string(t, P, "path").unwrap_or_else(|| "model".into()));
    let allow_unsafe = cx.bool(t, P, "dangerous_allow_unsafe_value", false);
    let allows_all = cx.bool(t, P, "dangerous_missing_filter_allows_all", false);
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
