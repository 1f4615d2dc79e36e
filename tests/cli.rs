//! The binary's commands: `token` (compatible with `cubejs token`) and
//! `check-config`.

use crate::common;

use std::process::{Command, Output};

use common::*;
use http::StatusCode;
use serde_json::json;

fn tenantgate(args: &[&str], config_dir: &std::path::Path, vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantgate"));
    cmd.args(args).arg("--config-dir").arg(config_dir).current_dir(config_dir).env_clear();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run tenantgate")
}

fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

fn decode_payload(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("three segments");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[test]
fn token_prints_only_the_token_and_keeps_json_types_of_values() {
    let dir = config_dir(&[("test.toml", "")]);
    let out = tenantgate(
        &[
            "token",
            "--env",
            "test",
            "-s",
            SECRET,
            "-e",
            "30 days",
            "-p",
            "id=42",
            "-p",
            r#"roles=["a","b"]"#,
            "-p",
            "name=acme",
            "-u",
            "org=7",
        ],
        dir.path(),
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let token = stdout.trim_end();
    assert_eq!(stdout, format!("{token}\n"), "stdout holds the token alone");
    let p = decode_payload(token);
    assert_eq!(
        (&p["id"], &p["roles"], &p["name"], &p["u"]),
        (&json!(42), &json!(["a", "b"]), &json!("acme"), &json!({"org": 7}))
    );
    let lifetime = p["exp"].as_i64().expect("exp") - p["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 30 * 86_400);
}

#[test]
fn token_with_expiry_zero_has_no_exp_and_the_default_secret_comes_from_cube_js_variables() {
    let dir = config_dir(&[("test.toml", "")]);
    let out = tenantgate(&["token", "--env", "test", "-e", "0"], dir.path(), &[("CUBEJS_API_SECRET", SECRET)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = decode_payload(String::from_utf8(out.stdout).expect("utf8").trim());
    assert!(p.get("exp").is_none(), "{p}");
}

#[test]
fn token_without_any_secret_exits_1_with_no_app_secret_found() {
    let dir = config_dir(&[("test.toml", "")]);
    let out = tenantgate(&["token", "--env", "test"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "No app secret found\n");
}

#[tokio::test]
async fn a_token_minted_by_the_cli_is_accepted_by_the_server() {
    let dir = config_dir(&[("test.toml", "")]);
    let out =
        tenantgate(&["token", "--env", "test", "-s", SECRET, "-p", "tenant_id=acme", "-e", "1h"], dir.path(), &[]);
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).expect("utf8");
    let server = TestServer::start(&secret_config("")).await;
    let reply = server.whoami(token.trim()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["securityContext"]["tenant_id"], "acme");
    server.stop().await;
}

#[test]
fn check_config_prints_a_summary_when_valid_and_every_error_when_not() {
    let dir = config_dir(&[("test.toml", &secret_config(""))]);
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "configuration for environment \"test\" is valid: 1 provider(s), listening on 127.0.0.1:0\n"
    );

    let dir = config_dir(&[("production.toml", "[auth]\nrequire_exp = false\n")]);
    let out = tenantgate(&["check-config", "--env", "production"], dir.path(), &[("CUBEJS_API_SECRET", "short")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.last(), Some(&"2 configuration error(s)"), "{stderr}");
    assert!(!stderr.contains("short"), "a secret must never be printed: {stderr}");
}

#[test]
fn check_config_and_serve_report_a_syntax_error_on_a_secrets_line_without_the_secret() {
    let toml = "[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"toml-needle-0123456789abcdef0123\" \"x\"]\n";
    let dotenv = "CUBEJS_API_SECRET=dotenv-needle-0123456789abcdef0123 tail\n";
    let cases: [(&[(&str, &str)], &str); 2] = [
        (
            &[("test.toml", toml)],
            "{dir}/test.toml: invalid TOML: line 4, column 47: missing comma between array elements, expected `,`",
        ),
        // `.env` is read from the working directory.
        (&[("test.toml", ""), (".env", dotenv)], ".env: invalid .env syntax on line 1"),
    ];
    for (files, expected) in cases {
        let dir = config_dir(files);
        let expected = expected.replace("{dir}", &dir.path().display().to_string());
        for command in ["check-config", "serve"] {
            let out = tenantgate(&[command, "--env", "test"], dir.path(), &[]);
            assert_eq!(out.status.code(), Some(1), "{command}");
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_eq!(stderr.lines().next(), Some(expected.as_str()), "{command}: {stderr}");
            assert!(!stdout.contains("needle") && !stderr.contains("needle"), "{command}: {stdout}{stderr}");
        }
    }
}

#[test]
fn serve_refuses_to_start_on_a_configuration_error() {
    let dir = config_dir(&[("staging.toml", "[server]\nport = \"eighty\"\n")]);
    let out = tenantgate(&["serve", "--env", "staging"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to start"), "{stderr}");
}

#[test]
fn serve_logs_one_line_per_request_without_tokens_or_claims_and_exits_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;

    let dir = config_dir(&[("test.toml", &secret_config(""))]);
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
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr = loop {
        let line = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("server starts");
        log.push(line.clone());
        if line.contains("tenantgate listening") {
            let addr = line.split_whitespace().find_map(|w| w.strip_prefix("address=")).expect("address field");
            break addr.to_string();
        }
    };

    let request = |token: &str| {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        write!(s, "GET /tenantgate/v1/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    };
    let good = hs256(SECRET, &claims(json!({"tenant_id": "tenant-needle-7"})));
    let forged = hs256("some-other-secret-some-other-secret-0", &claims(json!({"tenant_id": "x"})));
    assert!(request(&good).starts_with("HTTP/1.1 200"));
    assert!(request(&forged).starts_with("HTTP/1.1 401"));

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    reader.join().expect("reader");
    log.extend(rx.try_iter());
    assert!(exit.success(), "exit {exit:?}; log:\n{}", log.join("\n"));

    let text = log.join("\n");
    let access: Vec<&String> = log.iter().filter(|l| l.contains(" request ") || l.ends_with(" request")).collect();
    assert_eq!(access.len(), 2, "one access line per request:\n{text}");
    assert!(access[0].contains("status=200") && access[0].contains("provider=main"), "{}", access[0]);
    assert!(access[1].contains("status=401") && access[1].contains("code=invalid_signature"), "{}", access[1]);
    for needle in [good.as_str(), forged.as_str(), SECRET, "tenant-needle-7"] {
        assert!(!text.contains(needle), "the log must not contain {needle:.24}...:\n{text}");
    }
    assert!(text.contains("shutting down"), "{text}");
}

/// `serve` with the shipped development configuration, from the repository
/// root, with the demo database built in `tmp` instead of fixtures/ and
/// `vars` added to the environment; returns the two curls it prints.
fn serve_development(tmp: &std::path::Path, vars: &[(&str, &str)]) -> (std::process::Child, Vec<String>) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantgate"));
    cmd.args(["serve"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("TENANTGATE__SERVER__PORT", "0")
        .env("TENANTGATE__DATABASE__PATH", tmp.join("demo.sqlite").display().to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut curls = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.trim_start().starts_with("curl") {
            curls.push(line);
            if curls.len() == 2 {
                break;
            }
        }
    }
    if curls.len() < 2 {
        let _ = child.wait();
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr);
        panic!("serve prints a whoami and a load curl; stderr:\n{stderr}");
    }
    (child, curls)
}

/// The token and URL of a printed curl, sent as a request; the raw response.
fn run_curl(curl: &str) -> String {
    use std::io::{Read, Write};
    let token = curl.split("Bearer ").nth(1).and_then(|s| s.split('"').next()).expect("token in the curl");
    let url = curl.rsplit(' ').next().expect("URL").trim_matches('\'');
    let (addr, path) = url.trim_start_matches("http://").split_once('/').expect("host/path");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET /{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn cubejs_api_secret_replaces_the_development_secret_and_the_printed_curl_is_signed_with_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut child, curls) = serve_development(tmp.path(), &[("CUBEJS_API_SECRET", SECRET)]);
    let whoami = run_curl(&curls[0]);
    let token = curls[0].split("Bearer ").nth(1).and_then(|s| s.split('"').next()).expect("token");
    let (signed, signature) = token.rsplit_once('.').expect("three segments");
    let expected = {
        use aws_lc_rs::hmac;
        b64(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes()), signed.as_bytes()).as_ref())
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(whoami.starts_with("HTTP/1.1 200"), "{whoami}");
    assert!(whoami.contains(r#""provider":"cubejs""#), "{whoami}");
    assert_eq!(signature, expected, "the curl's token is signed with CUBEJS_API_SECRET");
}

#[test]
fn the_readmes_run_command_prints_curls_that_return_the_demo_rows() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut child, curls) = serve_development(tmp.path(), &[]);
    let out = run_curl(&curls[1]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let body = &out[out.find("\r\n\r\n").expect("body") + 4..];
    let v: serde_json::Value = serde_json::from_str(body.trim()).expect("json");
    let rows = v["data"].as_array().expect("rows");
    assert!(!rows.is_empty(), "{v}");
    // acme's 578 demo orders, split by status.
    let total: i64 = rows.iter().filter_map(|r| r["Orders.count"].as_i64()).sum();
    assert_eq!(total, 578, "{v}");
}

/// Configurations that load but cannot be served: before the one build
/// step, `check-config` passed each of them and `serve` refused it.
#[test]
fn check_config_and_serve_refuse_the_same_unservable_configurations_with_the_same_errors() {
    let cert = fixture("tls/cert.pem");
    let wrong_key = fixture("keys/rsa_private.pem");
    let cases = [
        (
            "a custom provider nobody registered",
            "[[auth.providers]]\nname = \"api-keys\"\ntype = \"custom\"\n".to_string(),
            "auth: provider \"api-keys\" has type \"custom\" but no strategy is registered",
        ),
        (
            "an unreadable TLS key",
            format!("tls_cert = \"{cert}\"\ntls_key = \"/nonexistent/key.pem\""),
            "tls: cannot read a private key from /nonexistent/key.pem",
        ),
        (
            "a TLS key that does not match the certificate",
            format!("tls_cert = \"{cert}\"\ntls_key = \"{wrong_key}\""),
            "tls: certificate and key do not form a usable pair",
        ),
        (
            "a missing SQLite file without a seed",
            "[database]\npath = \"/nonexistent/analytics.sqlite\"\n".to_string(),
            "database: the database is unavailable: /nonexistent/analytics.sqlite does not exist (and no seed is configured)",
        ),
    ];
    for (what, extra, expected) in cases {
        // TLS settings go under [server]; the rest are sections of their own.
        let toml = if extra.starts_with("tls_") {
            secret_config("").replace("port = 0", &format!("port = 0\n{extra}"))
        } else {
            format!("{}\n{extra}", secret_config(""))
        };
        let dir = config_dir(&[("test.toml", &toml)]);
        let mut seen = Vec::new();
        for command in ["check-config", "serve"] {
            let out = tenantgate(&[command, "--env", "test"], dir.path(), &[]);
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            assert_eq!(out.status.code(), Some(1), "{what}: {command}: {stderr}");
            let first = stderr.lines().next().unwrap_or("").to_string();
            assert!(first.starts_with(expected), "{what}: {command}: {stderr}");
            seen.push(first);
        }
        assert_eq!(seen[0], seen[1], "{what}: check-config and serve disagree");
    }
}

#[test]
fn check_config_creates_nothing_where_serve_would_create_the_database_from_its_seed() {
    let dir = config_dir(&[("seed.sql", "CREATE TABLE t (x INTEGER);")]);
    let db = dir.path().join("made.sqlite");
    let toml = format!(
        "{}\n[database]\npath = \"{}\"\nseed = \"{}\"\n",
        secret_config(""),
        db.display(),
        dir.path().join("seed.sql").display()
    );
    std::fs::write(dir.path().join("test.toml"), toml).expect("write");
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!db.exists(), "check-config created the database");
}

#[test]
fn check_config_and_serve_report_model_and_access_errors_from_the_build() {
    let dir = config_dir(&[]);
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/orders.yml"), "cubes:\n  - name: Orders\n    measures: []\n").expect("model");
    let toml = format!(
        "{}\n[model]\npath = \"{}\"\n[access]\nroles_key = \"groups\"\n[[access.roles]]\nname = \"viewer\"\ncubes = [\"Nope\"]\n",
        secret_config(""),
        dir.path().join("model").display()
    );
    std::fs::write(dir.path().join("test.toml"), toml).expect("config");
    for command in ["check-config", "serve"] {
        let out = tenantgate(&[command, "--env", "test"], dir.path(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains("orders.yml: cube Orders:"), "{command}: {stderr}");
    }
    // A model that loads, and a role naming a cube it does not have.
    std::fs::write(
        dir.path().join("model/orders.yml"),
        "cubes:\n  - name: Orders\n    sql_table: orders\n    measures:\n      - name: count\n        type: count\n",
    )
    .expect("model");
    for command in ["check-config", "serve"] {
        let out = tenantgate(&[command, "--env", "test"], dir.path(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.lines().next()
                == Some("access policy: access.roles[0].cubes: no cube or view named Nope in the model"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn check_config_lists_the_members_the_model_declares_but_tenantgate_does_not_serve() {
    let dir = config_dir(&[]);
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    let model = "cubes:\n  - name: Orders\n    sql_table: orders\n    measures:\n      - name: count\n        type: count\n      - name: staged\n        sql: amount\n        type: sum\n        multi_stage: true\n";
    std::fs::write(dir.path().join("model/orders.yml"), model).expect("model");
    let toml = format!("{}\n[model]\npath = \"{}\"\n", secret_config(""), dir.path().join("model").display());
    std::fs::write(dir.path().join("test.toml"), toml).expect("config");
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("not supported yet")).collect();
    assert_eq!(listed.len(), 1, "{stdout}");
    assert!(listed[0].contains("Orders.staged") && listed[0].contains("multi_stage"), "{stdout}");
}

const POLICY_MODEL: &str = r#"
cubes:
  - name: Orders
    sql_table: orders
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: region, sql: region, type: string}
      - {name: margin, sql: margin, type: number}
    measures:
      - {name: count, type: count}
    access_policy:
      - group: "*"
        member_level: {includes: [region, count]}
        row_level:
          filters:
            - {member: region, operator: equals, values: ["{ securityContext.region }"]}
      - group: finance
        conditions:
          - if: "{ securityContext.level >= 2 }"
  - name: Regions
    sql_table: regions
    dimensions:
      - {name: code, sql: code, type: string, primary_key: true, public: true}
"#;

#[test]
fn check_config_runs_the_access_tests_and_names_what_decided_a_failure() {
    let dir = config_dir(&[]);
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/orders.yml"), POLICY_MODEL).expect("model");
    let tests = r#"
[[access.tests]]
name = "an analyst sees regions, not margins"
security_context = { region = "eu", groups = ["analyst"] }
query = { measures = ["Orders.count"], dimensions = ["Orders.margin"] }
expect_visible = ["Orders.region", "Orders.count", "Regions.code"]
expect_hidden = ["Orders.margin"]
expect_code = "hidden_member"

[[access.tests]]
name = "senior finance sees margins"
security_context = { region = "eu", groups = ["finance"], level = 2 }
expect_visible = ["Orders.margin"]
"#;
    let write = |extra: &str| {
        let toml = format!(
            "{}\n[model]\npath = \"{}\"\n[access]\ngroups_key = \"groups\"\n{tests}{extra}",
            secret_config(""),
            dir.path().join("model").display()
        );
        std::fs::write(dir.path().join("test.toml"), toml).expect("config");
    };
    write("");
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("open (no access_policy; every caller reads it): cube Regions"), "{stdout}");
    assert!(stdout.contains("access tests: 2 passed, 0 failed"), "{stdout}");

    write(
        r#"
[[access.tests]]
name = "junior finance sees margins"
security_context = { region = "eu", groups = ["finance"], level = 1 }
expect_visible = ["Orders.margin"]
query = { measures = ["Orders.count"] }
expect_code = "ok"
"#,
    );
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("access test \"junior finance sees margins\" (")
            && lines[0].ends_with("test.toml) failed:"),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        "  Orders.margin: expected visible, but it is hidden: decided by Orders.access_policy[0] (group *)"
    );
    assert_eq!(lines.len(), 2, "the query itself passes: {stderr}");

    // A condition that does not parse is the model's error, with file and
    // cube, before any test runs.
    std::fs::write(dir.path().join("model/orders.yml"), POLICY_MODEL.replace(">= 2", "=> 2")).expect("model");
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("orders.yml: cube Orders: access_policy[1].conditions[0]: unexpected character '=' in condition"),
        "{stderr}"
    );
}

/// Orders filters on the tenant; Countries, joined to it, filters on
/// nothing; Products is joined to nothing.
const SHARED_MODEL: &str = r#"
cubes:
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    joins:
      - {name: Countries, relationship: many_to_one, sql: "{CUBE}.country = {Countries}.code"}
    measures:
      - {name: count, type: count}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
  - name: Countries
    sql_table: countries
    dimensions:
      - {name: code, sql: code, type: string, primary_key: true}
  - name: Products
    sql_table: products
    measures:
      - {name: count, type: count}
"#;

fn shared_cubes_dir(env: &str, model_section: &str) -> tempfile::TempDir {
    let dir = config_dir(&[]);
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/shop.yml"), SHARED_MODEL).expect("model");
    let toml =
        format!("{}\n[model]\npath = \"{}\"\n{model_section}", secret_config(""), dir.path().join("model").display());
    std::fs::write(dir.path().join(format!("{env}.toml")), toml).expect("config");
    dir
}

#[test]
fn in_production_a_cube_without_a_tenant_predicate_joined_to_one_with_one_must_be_listed_as_shared() {
    let dir = shared_cubes_dir("production", "");
    for command in ["check-config", "serve"] {
        let out = tenantgate(&[command, "--env", "production"], dir.path(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        let first = stderr.lines().next().unwrap_or("");
        assert!(
            first.ends_with(
                "shop.yml: cube Countries: has no tenant predicate (no SECURITY_CONTEXT filter in its sql, no [[access.rules]] rule, \
                 no tenant routing) but can be joined to Orders, which has one: a join would show every tenant's rows of it; \
                 add a predicate, or list it in [model] shared_cubes if every tenant may read all of it"
            ),
            "{command}: {stderr}"
        );
        assert_eq!(stderr.lines().filter(|l| l.contains("tenant predicate")).count(), 1, "Products joins nothing");
    }
    // Listed as shared, or given a rule, it passes.
    for section in [
        "shared_cubes = [\"Countries\"]\n",
        "[[access.rules]]\ncube = \"Countries\"\nmember = \"Countries.code\"\nvalue = \"{SECURITY_CONTEXT.country}\"\n",
    ] {
        let dir = shared_cubes_dir("production", section);
        let out = tenantgate(&["check-config", "--env", "production"], dir.path(), &[]);
        assert_eq!(out.status.code(), Some(0), "{section}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Development and test do not ask.
    let dir = shared_cubes_dir("test", "");
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // A shared cube that does not exist is an error everywhere.
    let dir = shared_cubes_dir("test", "shared_cubes = [\"Nope\"]\n");
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().next(), Some("model: shared_cubes: no cube named Nope in the model"), "{stderr}");
}

#[test]
fn check_config_warns_about_cube_pairs_with_two_minimal_join_paths() {
    let dir = config_dir(&[]);
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    let model = r#"
cubes:
  - name: Orders
    sql_table: orders
    joins:
      - {name: Users, relationship: many_to_one, sql: "{CUBE}.user_id = {Users}.id"}
      - {name: Stores, relationship: many_to_one, sql: "{CUBE}.store_id = {Stores}.id"}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
  - name: Users
    sql_table: users
    joins:
      - {name: Countries, relationship: many_to_one, sql: "{CUBE}.country = {Countries}.code"}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
  - name: Stores
    sql_table: stores
    joins:
      - {name: Countries, relationship: many_to_one, sql: "{CUBE}.country = {Countries}.code"}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
  - name: Countries
    sql_table: countries
    dimensions:
      - {name: code, sql: code, type: string, primary_key: true}
"#;
    std::fs::write(dir.path().join("model/shop.yml"), model).expect("model");
    let toml = format!("{}\n[model]\npath = \"{}\"\n", secret_config(""), dir.path().join("model").display());
    std::fs::write(dir.path().join("test.toml"), toml).expect("config");
    let out = tenantgate(&["check-config", "--env", "test"], dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let warnings: Vec<&str> = stdout.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(
        warnings,
        ["warning: ambiguous join path between Orders and Countries: Orders -> Users -> Countries and \
          Orders -> Stores -> Countries both take 2 join(s); a query takes one by the order it names its cubes; \
          name one with joinHints or a view's join_path"],
        "{stdout}"
    );
}
