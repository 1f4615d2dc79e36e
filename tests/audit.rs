//! The audit log through the real binary: `serve` with its log on a pipe,
//! one JSON line per data request on stderr, with who, what and how it
//! ended, and never the token, a secret or the claim set; and in process,
//! each line written before its response is sent.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const SEED: &str = "CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, status TEXT NOT NULL);\n\
                    INSERT INTO orders VALUES (1, 'acme', 'new'), (2, 'acme', 'done'), (3, 'globex', 'new');\n";

const MODEL: &str = r#"
cubes:
  - name: Orders
    sql_table: orders
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: tenantId
        sql: tenant_id
        type: string
      - name: status
        sql: status
        type: string
"#;

struct Served {
    child: std::process::Child,
    addr: String,
    lines: Receiver<String>,
    _dir: tempfile::TempDir,
}

/// A config folder: the model, the seed and `test.toml` with `extra`.
fn config_dir(extra: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/orders.yml"), MODEL).expect("model");
    std::fs::write(dir.path().join("seed.sql"), SEED).expect("seed");
    let cfg = format!(
        r#"{}
[model]
path = "{}"
[database]
path = "{}"
seed = "{}"
[tenancy]
tenant_key = "tenant_id"
[access]
roles_key = "groups"
[[access.rules]]
cube = "Orders"
member = "Orders.tenantId"
value = "{{SECURITY_CONTEXT.tenant_id}}"
[[access.roles]]
name = "analyst"
cubes = ["Orders"]
[[access.roles]]
name = "viewer"
members = ["Orders.count"]
{extra}
"#,
        secret_config(""),
        dir.path().join("model").display(),
        dir.path().join("orders.sqlite").display(),
        dir.path().join("seed.sql").display(),
    );
    std::fs::write(dir.path().join("test.toml"), &cfg).expect("config");
    (dir, cfg)
}

fn serve(extra: &str) -> Served {
    let (dir, _) = config_dir(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .args(["serve", "--env", "test", "--config-dir"])
        .arg(dir.path())
        .current_dir(dir.path())
        .env_clear()
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = lines.recv_timeout(Duration::from_secs(20)).expect("server starts");
        if line.contains("tenantgate listening") {
            let addr = line.split_whitespace().find_map(|w| w.strip_prefix("address=")).expect("address field");
            break addr.to_string();
        }
    };
    Served { child, addr, lines, _dir: dir }
}

fn get(addr: &str, path: &str, token: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// Stop the server; every line it wrote after starting.
fn stop(mut s: Served) -> Vec<String> {
    let status = Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    assert!(s.child.wait().expect("wait").success());
    let mut lines = Vec::new();
    while let Ok(l) = s.lines.recv_timeout(Duration::from_secs(2)) {
        lines.push(l);
    }
    lines
}

/// The audit lines: each a whole JSON object.
fn audit_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
        .collect()
}

fn load_path(query: &Value) -> String {
    format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(&query.to_string()))
}

#[test]
fn each_data_request_writes_one_json_audit_line_without_the_token_or_the_claims() {
    let s = serve("");
    let token = hs256(
        SECRET,
        &claims(
            json!({"sub": "user-7", "tenant_id": "acme", "groups": ["analyst"], "email": "claim-needle@example.com"}),
        ),
    );
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"]});
    assert!(get(&s.addr, &load_path(&q), &token).starts_with("HTTP/1.1 200"));
    let sql = format!("/cubejs-api/v1/sql?query={}", tenantgate::server::url::encode(&q.to_string()));
    assert!(get(&s.addr, &sql, &token).starts_with("HTTP/1.1 200"));
    // A viewer may not read Orders.status: refused, and audited as such.
    let viewer = hs256(SECRET, &claims(json!({"sub": "user-8", "tenant_id": "acme", "groups": ["viewer"]})));
    assert!(get(&s.addr, &load_path(&q), &viewer).starts_with("HTTP/1.1 403"));
    let forged = hs256("some-other-secret-some-other-secret-0", &claims(json!({"sub": "x"})));
    assert!(get(&s.addr, &load_path(&q), &forged).starts_with("HTTP/1.1 401"));
    // Not data requests: no audit line.
    assert!(get(&s.addr, "/cubejs-api/v1/meta", &token).starts_with("HTTP/1.1 200"));
    assert!(get(&s.addr, "/tenantgate/v1/whoami", &token).starts_with("HTTP/1.1 200"));
    let lines = stop(s);
    let text = lines.join("\n");
    let audit = audit_lines(&lines);
    assert_eq!(audit.len(), 4, "one line per data request:\n{text}");

    let load = &audit[0];
    let id = load["request_id"].as_str().expect("request id").to_string();
    assert!(!id.is_empty());
    assert_eq!(
        load,
        &json!({
            "request_id": id,
            "endpoint": "load",
            "status": 200,
            "outcome": "ok",
            "code": null,
            "tenant": "acme",
            "subject": "user-7",
            "provider": "main",
            "kid": null,
            "groups": ["analyst"],
            "policies": ["role:analyst", "access.rules[0]"],
            "members": ["Orders.count", "Orders.status"],
            "filters_injected": ["Orders.tenantId equals"],
            "rows": 2,
            "database": {"route": "default", "type": "sqlite"},
        })
    );
    // The access line of the same request carries the same id.
    assert!(lines.iter().any(|l| !l.starts_with('{') && l.contains(&id)), "{text}");
    assert_eq!((audit[1]["endpoint"].as_str(), audit[1]["rows"].as_u64()), (Some("sql"), None));
    assert_eq!(audit[1]["filters_injected"], json!(["Orders.tenantId equals"]));
    assert_eq!(
        (audit[2]["status"].as_u64(), audit[2]["outcome"].as_str(), audit[2]["code"].as_str()),
        (Some(403), Some("refused"), Some("member_not_allowed"))
    );
    assert_eq!((audit[2]["subject"].as_str(), audit[2]["groups"].clone()), (Some("user-8"), json!(["viewer"])));
    assert_eq!(audit[2]["members"], json!(["Orders.status"]), "the refused member is named");
    assert_eq!(
        (audit[3]["code"].as_str(), audit[3]["provider"].as_str(), audit[3]["subject"].as_str()),
        (Some("invalid_signature"), Some("main"), None),
        "a refused token is audited, with nothing from its claims"
    );
    for needle in [token.as_str(), viewer.as_str(), forged.as_str(), SECRET, "claim-needle", "\"iat\""] {
        assert!(!text.contains(needle), "the log must not contain {needle:.24}...:\n{text}");
    }
}

#[test]
fn audit_enabled_false_turns_the_audit_log_off() {
    let s = serve("[audit]\nenabled = false\n");
    let token = hs256(SECRET, &claims(json!({"sub": "user-7", "tenant_id": "acme", "groups": ["analyst"]})));
    assert!(get(&s.addr, &load_path(&json!({"measures": ["Orders.count"]})), &token).starts_with("HTTP/1.1 200"));
    let lines = stop(s);
    assert!(audit_lines(&lines).is_empty(), "{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("status=200")), "the access line stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_response_is_sent_after_its_audit_line_is_written() {
    let (_dir, cfg) = config_dir("");
    let server = std::sync::Arc::new(TestServer::start(&cfg).await);
    let token = hs256(SECRET, &claims(json!({"sub": "user-7", "tenant_id": "acme", "groups": ["analyst"]})));
    let path = load_path(&json!({"measures": ["Orders.count"]}));
    // Concurrent requests, so that lines share writes: each line is still
    // whole, and there the moment its response arrives.
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (server, token, path) = (server.clone(), token.clone(), path.clone());
            tokio::spawn(async move {
                let id = format!("audit-order-{i}");
                let auth = format!("Bearer {token}");
                let reply = server.get(&path, &[("authorization", &auth), ("x-request-id", &id)]).await;
                assert_eq!(reply.status, 200, "{:?}", reply.body);
                let lines = server.audit.lines();
                assert!(lines.iter().any(|l| l["request_id"] == id.as_str()), "{id}'s line was not written first");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("request");
    }
    let lines = server.audit.lines();
    assert_eq!(lines.len(), 64);
    assert!(lines.iter().all(|l| l["endpoint"] == "load" && l["rows"] == 1 && l["tenant"] == "acme"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_waits_until_its_audit_line_is_written() {
    let (_dir, cfg) = config_dir("");
    let server = std::sync::Arc::new(TestServer::start(&cfg).await);
    let auth = format!(
        "Bearer {}",
        hs256(SECRET, &claims(json!({"sub": "user-7", "tenant_id": "acme", "groups": ["analyst"]})))
    );
    let path = load_path(&json!({"measures": ["Orders.count"]}));
    // The audit log's writer stalls: the answer must wait for it.
    server.audit.hold(true);
    let request = {
        let (server, auth, path) = (server.clone(), auth.clone(), path.clone());
        tokio::spawn(async move { server.get(&path, &[("authorization", &auth), ("x-request-id", "held-1")]).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!request.is_finished(), "answered before its audit line was written");
    server.audit.hold(false);
    let reply =
        tokio::time::timeout(std::time::Duration::from_secs(10), request).await.expect("answered").expect("task");
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(server.audit.lines().iter().any(|l| l["request_id"] == "held-1"));
}
