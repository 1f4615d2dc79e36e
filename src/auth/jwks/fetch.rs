//! Fetching key sets and OIDC discovery documents, and calling auth
//! webhooks ([`Fetcher::send`]): HTTPS through rustls
//! (webpki roots, plus a provider's `ca_file`), plain HTTP only where the
//! configuration allowed it (loopback, or `dangerous_allow_http`).
//! Redirects are not followed, the status must be 200, the body is bounded
//! and the whole exchange has one deadline.

use std::time::Duration;

use http::header::{CACHE_CONTROL, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::KeyError;

/// One HTTP client, shared by every provider that trusts the same roots.
#[derive(Clone)]
pub struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Fetcher {
    /// A client trusting the webpki roots and, when given, a private CA.
    pub fn new(ca_file: Option<&std::path::Path>, connect_timeout: Duration) -> Result<Fetcher, String> {
        let roots = crate::trust::root_store(ca_file)?;
        let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Fetcher { client: Client::builder(TokioExecutor::new()).build(https) })
    }

    /// GET `url`; the body and the `Cache-Control: max-age`, if any.
    pub async fn get(
        &self,
        url: &str,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<(Bytes, Option<Duration>), KeyError> {
        let uri: http::Uri = url.parse().map_err(|_| KeyError::Transport(format!("{url:?} is not a URL")))?;
        let req = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("tenantgate/", env!("CARGO_PKG_VERSION")))
            .body(Full::default())
            .map_err(|e| KeyError::Transport(e.to_string()))?;
        let reply = self.send(req, timeout, max_bytes).await?;
        if reply.status != StatusCode::OK {
            return Err(KeyError::Status(reply.status.as_u16()));
        }
        Ok((reply.body, reply.max_age))
    }

    /// Send `req` (no redirect followed) and read the whole answer within
    /// `timeout`, the body bounded by `max_bytes`, whatever the status.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Reply, KeyError> {
        let exchange = async {
            let resp =
                self.client.request(req).await.map_err(|e| KeyError::Transport(crate::telemetry::error_chain(&e)))?;
            let status = resp.status();
            let max_age = resp.headers().get(CACHE_CONTROL).and_then(max_age);
            let body = Limited::new(resp.into_body(), max_bytes)
                .collect()
                .await
                .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
                    Ok(_) => KeyError::TooLarge { max: max_bytes },
                    Err(e) => KeyError::Transport(e.to_string()),
                })?
                .to_bytes();
            Ok(Reply { status, max_age, body })
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| KeyError::Timeout(timeout))?
    }
}

/// An answer read by [`Fetcher::send`].
pub struct Reply {
    pub status: StatusCode,
    /// `Cache-Control: max-age`; `no-store`/`no-cache` read as zero.
    pub max_age: Option<Duration>,
    pub body: Bytes,
}

/// `max-age` from a `Cache-Control` value; `no-store`/`no-cache` count as 0
/// (clamped up to `ttl_min` by the policy).
fn max_age(v: &HeaderValue) -> Option<Duration> {
    let v = v.to_str().ok()?;
    let mut out = None;
    for directive in v.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            out = n.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        let h = |s: &'static str| max_age(&HeaderValue::from_static(s));
        assert_eq!(h("public, max-age=3600"), Some(Duration::from_secs(3600)));
        assert_eq!(h("max-age=\"120\", must-revalidate"), Some(Duration::from_secs(120)));
        assert_eq!(h("no-store"), Some(Duration::ZERO));
        assert_eq!(h("public"), None);
        assert_eq!(h("max-age=abc"), None);
    }
}
