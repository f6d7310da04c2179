//! The harness itself: PostgreSQL tests fail loudly when PostgreSQL is absent.

/// An unreachable server is a failure that says how to start PostgreSQL,
/// never a silently skipped test.
#[actix_web::test]
#[should_panic(expected = "pg_ctlcluster --skip-systemctl-redirect")]
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
