//! PostgreSQL for tests: the server's URL comes from
//! `TENANTGATE_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`).
//! Without it the tests are skipped with a loud message, unless
//! `TENANTGATE_REQUIRE_PG=1` (set by `.ci/run`), which makes absence a
//! failure. Each test gets its own database, dropped when it ends.

use tokio_postgres::NoTls;

/// An admin connection URL, or `None` (skip) after saying so loudly.
pub fn admin_url(test: &str) -> Option<String> {
    match std::env::var("TENANTGATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("TENANTGATE_REQUIRE_PG").as_deref() != Ok("1"),
                "TENANTGATE_REQUIRE_PG=1 but TENANTGATE_TEST_PG_URL is not set"
            );
            eprintln!(
                "\n*** SKIPPED {test}: set TENANTGATE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test to run the PostgreSQL tests ***\n"
            );
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
