//! PostgreSQL for tests: the server's URL comes from
//! `TENANTGATE_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`),
//! else the local default [`DEFAULT_URL`] when a server answers there.
//! Without either the tests are skipped, each printing one `SKIPPED` line,
//! unless `TENANTGATE_REQUIRE_PG=1` (set by `.ci/run`), which makes absence
//! a failure. Each test gets its own database, dropped when it ends.

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use tokio_postgres::NoTls;

/// The server `cargo test` tries when `TENANTGATE_TEST_PG_URL` is unset.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_ADDR: &str = "127.0.0.1:5432";

/// The admin URL to use, from the variable's value, or the default when
/// `default_answers()`; else why there is none.
pub fn resolve(var: Option<&str>, default_answers: impl FnOnce() -> bool) -> Result<String, String> {
    match var {
        Some(url) if !url.is_empty() => Ok(url.to_string()),
        _ if default_answers() => Ok(DEFAULT_URL.to_string()),
        _ => Err(format!("TENANTGATE_TEST_PG_URL is not set and no server answers at {DEFAULT_ADDR}")),
    }
}

/// An admin connection URL, or `None` (skip) after saying so.
pub fn admin_url(test: &str) -> Option<String> {
    // Probed once per test binary.
    static RESOLVED: OnceLock<Result<String, String>> = OnceLock::new();
    let resolved = RESOLVED.get_or_init(|| {
        let var = std::env::var("TENANTGATE_TEST_PG_URL").ok();
        resolve(var.as_deref(), || {
            let addr = DEFAULT_ADDR.parse().expect("address");
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        })
    });
    match resolved {
        Ok(url) => Some(url.clone()),
        Err(why) => {
            assert!(std::env::var("TENANTGATE_REQUIRE_PG").as_deref() != Ok("1"), "TENANTGATE_REQUIRE_PG=1 but {why}");
            // Straight to the process's stderr: the test harness captures
            // `eprintln!` of a passing test, which would hide the skip.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
            None
        }
    }
}

/// A fresh database for one test.
pub struct TestDb {
    admin_url: String,
    pub name: String,
}

impl TestDb {
    pub async fn create(admin_url: &str, prefix: &str) -> TestDb {
        let mut seed = [0u8; 6];
        let _ = aws_lc_rs::rand::fill(&mut seed);
        let name = format!("tg_{prefix}_{}", seed.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let admin = connect(admin_url).await;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
        TestDb { admin_url: admin_url.to_string(), name }
    }

    /// The URL of this test's database, as `user` (default: the admin's).
    pub fn url(&self, user: Option<&str>) -> String {
        let mut cfg: tokio_postgres::Config = self.admin_url.parse().expect("admin url");
        cfg.dbname(&self.name);
        if let Some(u) = user {
            cfg.user(u);
        }
        let host = match cfg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".into(),
        };
        let port = cfg.get_ports().first().copied().unwrap_or(5432);
        let user = cfg.get_user().unwrap_or("postgres");
        format!("postgres://{user}@{host}:{port}/{}", self.name)
    }

    pub async fn execute(&self, sql: &str) {
        let client = connect(&self.url(None)).await;
        client.batch_execute(sql).await.unwrap_or_else(|e| panic!("setup SQL failed: {e:?}\n{sql}"));
    }

    pub async fn drop_now(self) {
        let admin = connect(&self.admin_url).await;
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(conn);
    client
}
