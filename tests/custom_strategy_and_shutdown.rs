//! The public check-auth extension point, and graceful shutdown draining an
//! in-flight request (held open by a deliberately slow custom strategy).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::{Value, json};
use tenantgate::auth::{AuthError, BoxFuture, CheckAuth, Strategies, UnverifiedToken};
use tokio::sync::Notify;

/// Opaque API keys `tg_<tenant>`; waits for `release` when the tenant is
/// `slow`, to hold a request in flight.
struct ApiKeys {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

impl CheckAuth for ApiKeys {
    fn accepts(&self, token: &UnverifiedToken<'_>) -> bool {
        token.jwt().is_none() && token.raw().starts_with("tg_")
    }

    fn verify<'a>(&'a self, token: &'a UnverifiedToken<'a>) -> BoxFuture<'a, Result<Value, AuthError>> {
        Box::pin(async move {
            let tenant = token.raw().trim_start_matches("tg_");
            if tenant == "slow" {
                self.entered.notify_one();
                self.release.notified().await;
            }
            if tenant.is_empty() {
                return Err(AuthError::Rejected("unknown API key".into()));
            }
            Ok(json!({"tenant_id": tenant}))
        })
    }
}

fn config() -> String {
    format!("{}\n[[auth.providers]]\nname = \"api-keys\"\ntype = \"custom\"\n", secret_config(""))
}

fn strategies(entered: Arc<Notify>, release: Arc<Notify>) -> Strategies {
    let mut s = Strategies::new();
    s.insert("api-keys".into(), Arc::new(ApiKeys { entered, release }) as Arc<dyn CheckAuth>);
    s
}

#[tokio::test]
async fn a_custom_strategy_takes_opaque_tokens_and_jwts_still_reach_the_secret_provider() {
    let n = Arc::new(Notify::new());
    let server = TestServer::start_with(&config(), &[], strategies(n.clone(), n)).await;
    let reply = server.whoami("tg_acme").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body, json!({"securityContext": {"tenant_id": "acme"}, "provider": "api-keys"}));
    let reply = server.whoami("tg_").await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "token_rejected"));
    let jwt = hs256(SECRET, &claims(json!({"tenant_id": "globex"})));
    assert_eq!(server.whoami(&jwt).await.body["provider"], "main");
    // Not an API key and not a JWT: the JWT parser's error.
    assert_eq!(server.whoami("xx_acme").await.code(), "malformed_token");
    server.stop().await;
}

#[tokio::test]
async fn a_custom_provider_without_a_registered_strategy_stops_startup() {
    let cfg = load_config("test", &config(), &[]).expect("valid config");
    tenantgate::install_crypto_provider();
    let err = tenantgate::server::App::new(cfg, Strategies::new()).err().expect("must fail");
    assert!(
        err.to_string().contains("provider \"api-keys\" has type \"custom\" but no strategy is registered"),
        "{err}"
    );
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_request_and_stops_accepting() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let mut server = TestServer::start_with(&config(), &[], strategies(entered.clone(), release.clone())).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
        send(addr, Method::GET, "/tenantgate/v1/whoami", &[("authorization", "tg_slow")], Bytes::new()).await
    });
    entered.notified().await;

    let done = server.trigger_shutdown();
    // The listener closes while the request is still running.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections must be refused after shutdown starts");
    assert!(!done.is_finished(), "the server must wait for the in-flight request");

    release.notify_one();
    let reply = in_flight.await.expect("client task");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["securityContext"]["tenant_id"], "slow");
    tokio::time::timeout(Duration::from_secs(5), done).await.expect("drains").expect("task").expect("ok");
}
