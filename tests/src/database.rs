//! A fresh database per test: a temporary SQLite file, or a new PostgreSQL database.

use std::path::PathBuf;

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `SKIP_POSTGRES=1` skips the PostgreSQL half of the suite (for laptops).
/// CI never sets it, so there an unreachable PostgreSQL fails the suite.
pub fn skip_postgres() -> bool {
    std::env::var("SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

/// Where the harness may create and drop databases.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The same server with another database name.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let (server, _) = base.rsplit_once('/').expect("TEST_DATABASE_URL has no database part");
    format!("{server}/{name}{query}")
}

/// A database that lives as long as the test.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Nothing,
    Folder(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// A connection to PostgreSQL at `url`; panics with instructions if it is not there.
pub async fn admin_client(url: &str) -> tokio_postgres::Client {
    let connected = tokio_postgres::connect(url, tokio_postgres::NoTls).await;
    let (client, connection) = connected.unwrap_or_else(|error| {
        panic!(
            "PostgreSQL tests need a server at TEST_DATABASE_URL={url} ({error}).\n\
             Start a server there, or leave TEST_DATABASE_URL unset and run `make test`, which uses \
             127.0.0.1:5432 or else starts a throwaway PostgreSQL of its own;\n\
             or skip these tests on a laptop with SKIP_POSTGRES=1 (never in CI)."
        )
    });
    tokio::spawn(connection);
    client
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let folder = std::env::temp_dir().join(format!("orders-test-{id}"));
                let url = format!("sqlite://{}", folder.join("orders.db").display());
                Self { backend, url, cleanup: Cleanup::Folder(folder) }
            }
            Backend::Postgres => {
                let admin_url = admin_url();
                let name = format!("orders_test_{id}");
                admin_client(&admin_url)
                    .await
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("could not create a test database");
                let url = with_database(&admin_url, &name);
                Self { backend, url, cleanup: Cleanup::Postgres { admin_url, name } }
            }
        }
    }

    /// A database someone else owns (a private cluster), used as it is.
    pub fn existing(backend: Backend, url: String) -> Self {
        Self { backend, url, cleanup: Cleanup::Nothing }
    }

    /// Runs SQL directly against the test's database (to rig or inspect it).
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Postgres => admin_client(&self.url).await.batch_execute(sql).await.expect("SQL runs"),
            Backend::Sqlite => {
                let (path, sql) = (self.sqlite_path(), sql.to_owned());
                tokio::task::spawn_blocking(move || {
                    use diesel::connection::SimpleConnection as _;
                    let mut conn = <diesel::SqliteConnection as diesel::Connection>::establish(&path).unwrap();
                    conn.batch_execute(&format!("PRAGMA busy_timeout = 5000; {sql}")).expect("SQL runs");
                })
                .await
                .unwrap();
            }
        }
    }

    /// Rows in a table.
    pub async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
    }

    /// The one integer a query answers (e.g. a `COUNT(*)` with conditions).
    pub async fn scalar(&self, query: &str) -> i64 {
        let sql = format!("SELECT ({query}) AS n");
        match self.backend {
            Backend::Postgres => admin_client(&self.url).await.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0),
            Backend::Sqlite => {
                let path = self.sqlite_path();
                tokio::task::spawn_blocking(move || {
                    use diesel::RunQueryDsl as _;
                    #[derive(diesel::QueryableByName)]
                    struct Count {
                        #[diesel(sql_type = diesel::sql_types::BigInt)]
                        n: i64,
                    }
                    let mut conn = <diesel::SqliteConnection as diesel::Connection>::establish(&path).unwrap();
                    diesel::sql_query(sql).get_result::<Count>(&mut conn).unwrap().n
                })
                .await
                .unwrap()
            }
        }
    }

    fn sqlite_path(&self) -> String {
        self.url.strip_prefix("sqlite://").expect("a sqlite:// URL").to_owned()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Nothing => {}
            Cleanup::Folder(folder) => {
                let _ = std::fs::remove_dir_all(folder);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a runtime of its own on
                // another thread can block until the database is gone.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                    runtime.block_on(async {
                        let (client, connection) =
                            tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.ok()?;
                        tokio::spawn(connection);
                        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()
                    })
                });
                let _ = dropped.join();
            }
        }
    }
}
