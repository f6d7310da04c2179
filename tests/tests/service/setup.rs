//! The harness itself: PostgreSQL tests fail loudly when PostgreSQL is absent,
//! and `make test`'s throwaway PostgreSQL comes and goes with its run.

use std::process::Command;

/// An unreachable server is a failure that says what to do, never a
/// silently skipped test.
#[actix_web::test]
#[should_panic(expected = "leave TEST_DATABASE_URL unset and run `make test`")]
async fn an_unreachable_postgres_fails_with_instructions() {
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", harness::free_port());
    harness::admin_client(&url).await;
}

#[test]
fn test_database_urls_keep_server_and_options() {
    assert_eq!(harness::with_database("postgres://u@h:5/postgres", "t1"), "postgres://u@h:5/t1");
    assert_eq!(
        harness::with_database("postgres://u@h/postgres?sslmode=disable", "t2"),
        "postgres://u@h/t2?sslmode=disable"
    );
}

fn with_postgres(command: &str) -> std::process::Output {
    let root = harness::workspace_root();
    Command::new(root.join("tests/setup/with-postgres.sh"))
        .args(["bash", "-c", command])
        .env_remove("TEST_DATABASE_URL")
        .env_remove("SKIP_POSTGRES")
        // Nothing answers there, as on a machine without PostgreSQL.
        .env("TEST_POSTGRES_PROBE_PORT", harness::free_port().to_string())
        .output()
        .expect("with-postgres.sh runs")
}

/// With no server to use, the run gets a cluster of its own, and nothing of
/// it is left once the run ends, whether the run passed or failed.
#[test]
fn a_run_without_postgres_gets_a_throwaway_cluster_and_leaves_nothing() {
    if harness::skip_postgres() {
        eprintln!("SKIP_POSTGRES=1: skipped");
        return;
    }
    let output = with_postgres(r#"psql "$TEST_DATABASE_URL" -Atc 'SELECT 40 + 2'; echo "$TEST_DATABASE_URL""#);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"42"), "the command reached the cluster: {stdout}");
    let url = lines.iter().find(|l| l.starts_with("postgres://")).expect("the command saw TEST_DATABASE_URL");
    let port: u16 = url.rsplit_once(':').unwrap().1.split('/').next().unwrap().parse().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the cluster is stopped after the run");

    let failed = with_postgres("exit 3");
    assert_eq!(failed.status.code(), Some(3), "the command's failure is the run's failure");
}
