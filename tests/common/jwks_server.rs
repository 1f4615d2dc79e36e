//! Test fixture: a real local JWKS HTTP server owned by each test, and the
//! fixture keys as JWKs that sign tokens.
//!
//! Every test starts its own server on `127.0.0.1:0`, so hit counters belong
//! to that test alone and never need a global reset.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey};
use serde_json::{Map, Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A local JWKS endpoint. Dropping it stops the server and closes every
/// connection it holds open.
pub struct JwksServer {
    addr: std::net::SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

/// Shared with the server task. The locks are only held to copy a route or
/// bump a counter, never across an `.await`, so connections never queue on them
/// for longer than that.
#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Route>>,
    hits: Mutex<HashMap<String, usize>>,
    /// The last request per path: method, headers, body (for webhook tests).
    last: Mutex<HashMap<String, Seen>>,
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// Why a request was answered with a closed connection instead of a response.
#[derive(Debug)]
struct ResetByRoute;

impl std::fmt::Display for ResetByRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("route asks for the connection to be reset")
    }
}

impl std::error::Error for ResetByRoute {}

/// A panic in another test thread must not hide this test's state.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl JwksServer {
    /// Bind 127.0.0.1:0 and serve in a spawned tokio task until dropped (drop aborts the task).
    pub async fn start() -> JwksServer {
        // Tests open 1000+ connections at once; the default backlog (1024)
        // would drop SYNs and stall the extra connections for a second.
        let socket = TcpSocket::new_v4().expect("JWKS server socket");
        socket.bind(([127, 0, 0, 1], 0).into()).expect("JWKS server bind");
        let listener = socket.listen(4096).expect("JWKS server listen");
        let addr = listener.local_addr().expect("JWKS server address");
        let state = Arc::new(State::default());
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        JwksServer { addr, state, task }
    }

    /// Base URL, e.g. "http://127.0.0.1:38211" (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Set the response for a path (e.g. "/.well-known/jwks.json"). Paths with
    /// no route answer 404 with an empty body.
    pub fn set(&self, path: &str, route: Route) {
        lock(&self.state.routes).insert(path.to_string(), route);
    }

    /// Number of requests received for a path so far (including ones answered
    /// with errors or delays). Counted on arrival, before any delay.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.state.hits).get(path).copied().unwrap_or(0)
    }

    /// The last request received for a path.
    pub fn last(&self, path: &str) -> Option<Seen> {
        lock(&self.state.last).get(path).cloned()
    }

    /// Reset all hit counters to 0.
    pub fn reset_hits(&self) {
        lock(&self.state.hits).clear();
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connections live in a `JoinSet` owned by this task, so aborting it (on
/// drop) also drops every open connection, including ones mid-delay.
async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&state)));
                }
                // Typically EMFILE under a load test; keep serving the rest.
                Err(_) => tokio::task::yield_now().await,
            },
            // Reap finished connections so the set does not grow forever.
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| respond(req, Arc::clone(&state)));
    // An error here is a client hanging up or a `reset` route: both expected.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

async fn respond(req: Request<Incoming>, state: Arc<State>) -> Result<Response<Full<Bytes>>, ResetByRoute> {
    use http_body_util::BodyExt;
    let path = req.uri().path().to_string();
    *lock(&state.hits).entry(path.clone()).or_insert(0) += 1;
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let seen = Seen { method: parts.method.to_string(), headers: parts.headers, body };
    lock(&state.last).insert(path.clone(), seen);
    let route = lock(&state.routes).get(&path).cloned();
    let Some(route) = route else {
        return Ok(build(404, Vec::new(), None, None));
    };
    if !route.delay.is_zero() {
        tokio::time::sleep(route.delay).await;
    }
    if route.reset {
        // hyper closes the connection without writing a response.
        return Err(ResetByRoute);
    }
    Ok(build(route.status, route.body, route.cache_control, route.location))
}

fn build(status: u16, body: Vec<u8>, cache_control: Option<String>, location: Option<String>) -> Response<Full<Bytes>> {
    let mut resp = Response::builder().status(status);
    // The fetcher ignores Content-Type; real JWKS endpoints send JSON.
    if !body.is_empty() {
        resp = resp.header("content-type", "application/json");
    }
    if let Some(v) = cache_control {
        resp = resp.header("cache-control", v);
    }
    if let Some(v) = location {
        resp = resp.header("location", v);
    }
    resp.body(Full::new(Bytes::from(body))).expect("route has a valid status and header values")
}

/// What the server answers for one path.
#[derive(Clone, Debug)]
pub struct Route {
    /// Default 200.
    pub status: u16,
    /// Default empty.
    pub body: Vec<u8>,
    /// Sent as `Cache-Control` when `Some`.
    pub cache_control: Option<String>,
    /// Slept (with `tokio::time::sleep`, so paused time applies) before answering.
    pub delay: Duration,
    /// Sent as `Location` (for redirect tests).
    pub location: Option<String>,
    /// Close the connection without answering (after `delay`).
    pub reset: bool,
}

impl Default for Route {
    fn default() -> Route {
        Route {
            status: 200,
            body: Vec::new(),
            cache_control: None,
            delay: Duration::ZERO,
            location: None,
            reset: false,
        }
    }
}

impl Route {
    /// 200 with `value` as a JSON body.
    pub fn json(value: &Value) -> Route {
        Route { body: value.to_string().into_bytes(), ..Route::default() }
    }

    /// `code` with an empty body.
    pub fn status(code: u16) -> Route {
        Route { status: code, ..Route::default() }
    }

    /// Close the connection without answering.
    pub fn reset() -> Route {
        Route { reset: true, ..Route::default() }
    }

    pub fn with_cache_control(self, v: &str) -> Route {
        Route { cache_control: Some(v.to_string()), ..self }
    }

    pub fn with_delay(self, d: Duration) -> Route {
        Route { delay: d, ..self }
    }

    pub fn with_body(self, b: impl Into<Vec<u8>>) -> Route {
        Route { body: b.into(), ..self }
    }

    pub fn with_location(self, l: &str) -> Route {
        Route { location: Some(l.to_string()), ..self }
    }
}

/// A signing key from fixtures/keys for tests: builds its public JWK and signs tokens.
#[derive(Clone)]
pub struct TestKey {
    pub alg: Algorithm,
    pub kid: String,
    signer: Signer,
    jwk: Value,
}

#[derive(Clone)]
enum Signer {
    Jsonwebtoken(EncodingKey),
    /// aws-lc-rs refuses RSA keys under 2048 bits, which is exactly what the
    /// short-key tests need to present, so those are signed by hand.
    ShortRsa(short_rsa::PrivateKey),
}

impl TestKey {
    /// `file` is a private-key PEM name under fixtures/keys (e.g.
    /// "rsa_private.pem"); kid as given.
    pub fn load(file: &str, alg: Algorithm, kid: &str) -> TestKey {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let path = format!("{}/fixtures/keys/{file}", env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let key = match alg.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem),
            AlgorithmFamily::Ed => EncodingKey::from_ed_pem(&pem),
            AlgorithmFamily::Hmac => panic!("TestKey is for asymmetric keys; {alg:?} is HMAC"),
        }
        .unwrap_or_else(|e| panic!("{file} is not a {alg:?} private key: {e}"));

        let short = match alg.family() {
            AlgorithmFamily::Rsa => {
                let k = short_rsa::PrivateKey::from_pkcs1_der(key.as_bytes())
                    .unwrap_or_else(|| panic!("{file}: unreadable RSA private key"));
                (k.bits() < 2048).then_some(k)
            }
            _ => None,
        };
        let (signer, mut jwk) = match short {
            Some(k) => {
                let jwk = json!({ "kty": "RSA", "alg": alg_name(alg), "n": b64(&k.n), "e": b64(&k.e) });
                (Signer::ShortRsa(k), jwk)
            }
            None => {
                let jwk =
                    Jwk::from_encoding_key(&key, alg).unwrap_or_else(|e| panic!("{file}: no JWK for {alg:?}: {e}"));
                let jwk = serde_json::to_value(jwk).expect("a JWK serializes");
                (Signer::Jsonwebtoken(key), jwk)
            }
        };
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        TestKey { alg, kid: kid.to_string(), signer, jwk }
    }

    /// The public JWK as JSON: {"kty":..,"kid":..,"alg":..,"use":"sig", plus
    /// n/e or crv/x/y or crv/x}.
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// Sign `claims`; the header is {"typ":"JWT","alg":..,"kid":..}.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&json!({}), claims)
    }

    /// Sign `claims` with no `kid` in the header.
    pub fn sign_without_kid(&self, claims: &Value) -> String {
        self.sign_with_header(&json!({ "kid": null }), claims)
    }

    /// Sign with `header`'s members merged over {"typ":"JWT","alg":..,"kid":..}
    /// (e.g. jku/x5u/crit). A `null` member removes that name, so
    /// `{"typ":null}` drops `typ`.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let mut full = Map::new();
        full.insert("typ".into(), json!("JWT"));
        full.insert("alg".into(), json!(alg_name(self.alg)));
        full.insert("kid".into(), json!(self.kid));
        let extra = header.as_object().expect("the extra header is a JSON object");
        for (name, value) in extra {
            match value {
                Value::Null => full.remove(name),
                _ => full.insert(name.clone(), value.clone()),
            };
        }
        let input =
            format!("{}.{}", b64(Value::Object(full).to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let signature = match &self.signer {
            Signer::Jsonwebtoken(key) => jsonwebtoken::crypto::sign(input.as_bytes(), key, self.alg).expect("sign"),
            Signer::ShortRsa(key) => b64(&key.sign_pkcs1v15(self.alg, input.as_bytes())),
        };
        format!("{input}.{signature}")
    }
}

/// {"keys":[...]} from JWK values.
pub fn jwk_set(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// The JOSE name of `alg` ("RS256", "EdDSA", ...).
fn alg_name(alg: Algorithm) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("an Algorithm serializes as its name")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RSASSA-PKCS1-v1_5 (RS256/384/512) for RSA keys that aws-lc-rs will not
/// load. Test-only: not constant time, and it only exists so a test can
/// present a correctly signed token whose only flaw is the key length.
mod short_rsa {
    use jsonwebtoken::Algorithm;

    // DigestInfo prefixes from RFC 8017 section 9.2, note 1.
    const SHA256_INFO: &[u8] = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20";
    const SHA384_INFO: &[u8] = b"\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05\x00\x04\x30";
    const SHA512_INFO: &[u8] = b"\x30\x51\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03\x05\x00\x04\x40";

    #[derive(Clone)]
    pub struct PrivateKey {
        /// Big-endian, no leading zeros.
        pub n: Vec<u8>,
        pub e: Vec<u8>,
        d: Vec<u8>,
    }

    impl PrivateKey {
        /// `RSAPrivateKey` (RFC 8017 A.1.2): SEQUENCE { version, n, e, d, ... }.
        pub fn from_pkcs1_der(der: &[u8]) -> Option<PrivateKey> {
            let (0x30, body, _) = tlv(der)? else { return None };
            let (_version, rest) = integer(body)?;
            let (n, rest) = integer(rest)?;
            let (e, rest) = integer(rest)?;
            let (d, _) = integer(rest)?;
            Some(PrivateKey { n: n.to_vec(), e: e.to_vec(), d: d.to_vec() })
        }

        pub fn bits(&self) -> usize {
            self.n.first().map_or(0, |top| self.n.len() * 8 - top.leading_zeros() as usize)
        }

        /// The raw signature over `message` (RFC 8017 section 8.2.1).
        pub fn sign_pkcs1v15(&self, alg: Algorithm, message: &[u8]) -> Vec<u8> {
            use aws_lc_rs::digest;
            let (hash, prefix) = match alg {
                Algorithm::RS256 => (&digest::SHA256, SHA256_INFO),
                Algorithm::RS384 => (&digest::SHA384, SHA384_INFO),
                Algorithm::RS512 => (&digest::SHA512, SHA512_INFO),
                other => panic!("short RSA test keys sign RS256/384/512 only, not {other:?}"),
            };
            let h = digest::digest(hash, message);
            // EM = 0x00 0x01 PS(0xff..) 0x00 DigestInfo; the leading zero keeps EM < n.
            let mut em = vec![0xff; self.n.len()];
            em[0] = 0x00;
            em[1] = 0x01;
            let t_start = self.n.len() - prefix.len() - h.as_ref().len();
            em[t_start - 1] = 0x00;
            em[t_start..t_start + prefix.len()].copy_from_slice(prefix);
            em[t_start + prefix.len()..].copy_from_slice(h.as_ref());
            Montgomery::new(&self.n).pow(&em, &self.d)
        }
    }

    /// One DER TLV: (tag, content, rest).
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let (len_bytes, r) = rest.split_at_checked((first & 0x7f) as usize)?;
            rest = r;
            len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize)
        };
        let (content, rest) = rest.split_at_checked(len)?;
        Some((tag, content, rest))
    }

    /// An unsigned DER INTEGER without its sign-padding zeros.
    fn integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
        let (0x02, value, rest) = tlv(input)? else { return None };
        let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
        Some((&value[start..], rest))
    }

    /// Arithmetic modulo an odd `n` in Montgomery form, little-endian u64 limbs.
    struct Montgomery {
        n: Vec<u64>,
        /// -n^-1 mod 2^64.
        n0: u64,
        /// R^2 mod n, with R = 2^(64 * limbs).
        rr: Vec<u64>,
        len: usize,
    }

    impl Montgomery {
        fn new(n_be: &[u8]) -> Montgomery {
            let n = limbs(n_be, n_be.len().div_ceil(8));
            // Newton's iteration doubles the correct low bits each step; n*n = 1 mod 8 starts at 3.
            let mut inv = n[0];
            for _ in 0..5 {
                inv = inv.wrapping_mul(2u64.wrapping_sub(n[0].wrapping_mul(inv)));
            }
            let mut rr = vec![0u64; n.len()];
            rr[0] = 1;
            for _ in 0..2 * 64 * n.len() {
                let carry = shl1(&mut rr);
                if carry || !less(&rr, &n) {
                    sub(&mut rr, &n);
                }
            }
            Montgomery { n0: inv.wrapping_neg(), rr, len: n_be.len(), n }
        }

        /// a * b / R mod n (CIOS).
        fn mul(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
            let k = self.n.len();
            let mut t = vec![0u64; k + 2];
            for &bi in b {
                let mut carry = 0u128;
                for (tj, &aj) in t.iter_mut().zip(a) {
                    let s = *tj as u128 + aj as u128 * bi as u128 + carry;
                    *tj = s as u64;
                    carry = s >> 64;
                }
                let s = t[k] as u128 + carry;
                t[k] = s as u64;
                t[k + 1] = (s >> 64) as u64;
                let m = t[0].wrapping_mul(self.n0);
                let mut carry = 0u128;
                for (tj, &nj) in t.iter_mut().zip(&self.n) {
                    let s = *tj as u128 + nj as u128 * m as u128 + carry;
                    *tj = s as u64;
                    carry = s >> 64;
                }
                let s = t[k] as u128 + carry;
                t[k] = s as u64;
                t[k + 1] += (s >> 64) as u64;
                // t[0] is now zero: divide by 2^64.
                t.remove(0);
                t.push(0);
            }
            // t < 2n here, so one subtraction reduces it.
            let overflow = t[k] != 0;
            t.truncate(k);
            if overflow || !less(&t, &self.n) {
                sub(&mut t, &self.n);
            }
            t
        }

        /// base^exp mod n, both big-endian, as `len` big-endian bytes.
        fn pow(&self, base_be: &[u8], exp_be: &[u8]) -> Vec<u8> {
            let k = self.n.len();
            let base = self.mul(&limbs(base_be, k), &self.rr);
            let mut one = vec![0u64; k];
            one[0] = 1;
            let mut acc = self.mul(&one, &self.rr);
            for byte in exp_be {
                for bit in (0..8).rev() {
                    acc = self.mul(&acc, &acc);
                    if byte >> bit & 1 == 1 {
                        acc = self.mul(&acc, &base);
                    }
                }
            }
            let plain = self.mul(&acc, &one);
            let bytes: Vec<u8> = plain.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
            bytes[bytes.len() - self.len..].to_vec()
        }
    }

    fn limbs(be: &[u8], k: usize) -> Vec<u64> {
        let mut padded = vec![0u8; k * 8 - be.len()];
        padded.extend_from_slice(be);
        padded.chunks(8).rev().map(|c| u64::from_be_bytes(c.try_into().expect("8-byte chunk"))).collect()
    }

    fn less(a: &[u64], b: &[u64]) -> bool {
        a.iter().rev().cmp(b.iter().rev()).is_lt()
    }

    /// a -= b, wrapping (callers guarantee the true result is in range).
    fn sub(a: &mut [u64], b: &[u64]) {
        let mut borrow = false;
        for (x, y) in a.iter_mut().zip(b) {
            let (d1, b1) = x.overflowing_sub(*y);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            *x = d2;
            borrow = b1 || b2;
        }
    }

    /// a <<= 1; returns the bit shifted out.
    fn shl1(a: &mut [u64]) -> bool {
        let mut carry = 0;
        for x in a.iter_mut() {
            let next = *x >> 63;
            *x = (*x << 1) | carry;
            carry = next;
        }
        carry == 1
    }
}
