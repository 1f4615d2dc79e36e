//! Embedding tenantgate with a custom check-auth strategy: opaque API keys
//! (`tg_live_<...>`) looked up in a table, beside the configured JWT
//! providers. Cube.js users know this as `checkAuth`.
//!
//! Run with a configuration that names the strategy:
//!
//! ```toml
//! [[auth.providers]]
//! name = "api-keys"
//! type = "custom"
//! ```
//!
//! `cargo run --example api_key_strategy -- config test`

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};
use tenantgate::auth::{AuthError, BoxFuture, CheckAuth, Strategies, UnverifiedToken};
use tenantgate::config::{self, LoadOptions};
use tenantgate::server::{self, App};

struct ApiKeys {
    /// key -> tenant. A real program would hash keys and read a database.
    keys: HashMap<String, String>,
}

impl CheckAuth for ApiKeys {
    fn accepts(&self, token: &UnverifiedToken<'_>) -> bool {
        token.raw().starts_with("tg_live_")
    }

    fn verify<'a>(&'a self, token: &'a UnverifiedToken<'a>) -> BoxFuture<'a, Result<Value, AuthError>> {
        Box::pin(async move {
            match self.keys.get(token.raw()) {
                Some(tenant) => Ok(json!({"tenant_id": tenant, "auth": "api_key"})),
                None => Err(AuthError::Rejected("unknown API key".into())),
            }
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tenantgate::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let config_dir = args.next().unwrap_or_else(|| "config".into());
    let env = args.next().unwrap_or_else(|| "development".into());
    let cfg = config::load(&LoadOptions {
        config_dir: config_dir.into(),
        env,
        dotenv: None,
        vars: std::env::vars().collect::<BTreeMap<_, _>>(),
    })?;

    let keys = HashMap::from([("tg_live_acme_0001".to_string(), "acme".to_string())]);
    let mut strategies = Strategies::new();
    strategies.insert("api-keys".into(), Arc::new(ApiKeys { keys }) as Arc<dyn CheckAuth>);

    let listener = tokio::net::TcpListener::bind((cfg.server.host, cfg.server.port)).await?;
    println!("listening on {}", listener.local_addr()?);
    let app = Arc::new(App::new(cfg, strategies)?);
    server::run(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
