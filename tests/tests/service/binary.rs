//! The `orders-server` binary: zero-config start, start-up failures, signals.

use harness::{ServerProcess, sample_order, temp_dir};

#[actix_web::test]
async fn with_no_configuration_it_serves_sqlite_and_logs_each_email() {
    let dir = temp_dir("zero-config");
    let mut server = ServerProcess::start(&dir, &[]);
    server.wait_ready().await;
    let order = server.api().create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    server.wait_for_output("mock email sent").await;
    let output = server.output();
    let line = output.lines().find(|l| l.contains("mock email sent")).unwrap();
    assert!(line.contains(id) && line.contains("ada@example.com"), "{line}");
    assert!(dir.join("data/orders.db").exists(), "the default database lives in ./data");

    server.signal("TERM");
    assert!(server.wait_exit().await.success(), "{}", server.output());
    assert!(server.output().contains("stopped"));
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn json_logs_carry_the_request_id_on_every_line_of_a_request() {
    let dir = temp_dir("json-logs");
    let server = ServerProcess::start(&dir, &[("LOG_FORMAT", "json")]);
    server.wait_ready().await;
    let body = serde_json::to_vec(&sample_order()).unwrap();
    let headers = [("content-type", "application/json"), ("x-request-id", "trace-me-42")];
    let response = server.api().request(actix_web::http::Method::POST, "/orders", &headers, Some(&body)).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.header("x-request-id"), Some("trace-me-42"));
    server.wait_for_line(&["request completed", "trace-me-42"]).await;
    let lines: Vec<serde_json::Value> = server
        .output()
        .lines()
        .filter(|l| l.contains("trace-me-42"))
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let messages: Vec<&str> = lines.iter().map(|l| l["fields"]["message"].as_str().unwrap()).collect();
    assert!(messages.contains(&"order created") && messages.contains(&"request completed"), "{messages:?}");
    for line in &lines {
        assert_eq!(line["span"]["request_id"], "trace-me-42");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn a_bad_setting_is_one_clear_line_and_exit_code_2() {
    let dir = temp_dir("bad-config");
    let mut server = ServerProcess::start(&dir, &[("DATABASE_POOL_SIZE", "lots")]);
    let status = server.wait_exit().await;
    assert_eq!(status.code(), Some(2));
    let output = server.output();
    assert_eq!(output.trim().lines().count(), 1, "{output}");
    assert!(output.contains("DATABASE_POOL_SIZE") && output.contains("lots"), "{output}");
    let _ = std::fs::remove_dir_all(dir);
}

/// No setting that may hold a password is ever shown, whichever way it is
/// wrong, and each problem is said once.
#[actix_web::test]
async fn settings_that_hold_secrets_are_never_shown() {
    let dir = temp_dir("secrets");
    let unreachable = format!("postgres://orders:s3cr3t@127.0.0.1:{}/orders", harness::free_port());
    let cases = [
        (vec![("DATABASE_URL", "postgress://orders:s3cr3t@127.0.0.1:5432/orders")], 2, "DATABASE_URL"),
        (vec![("DATABASE_URL", "orders:s3cr3t@127.0.0.1:5432/orders")], 2, "DATABASE_URL"),
        (vec![("DATABASE_URL", "postgres://orders:s3cr3t@127.0.0.1:notaport/orders")], 2, "DATABASE_URL"),
        (vec![("DATABASE_URL", "postgres://orders:s3cr3t@127.0.0.1:5432/orders?sslmode=s3cr3t")], 2, "DATABASE_URL"),
        (vec![("DATABASE_URL", unreachable.as_str())], 1, "could not open the database"),
        (vec![("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "smtps://orders:s3cr3t@127.0.0.1:99999")], 2, "SMTP_URL"),
        (vec![("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "smtpx://orders:s3cr3t@127.0.0.1:465")], 2, "SMTP_URL"),
    ];
    for (vars, code, named) in cases {
        let mut server = ServerProcess::start(&dir, &vars);
        let status = server.wait_exit().await;
        let output = server.output();
        assert_eq!(status.code(), Some(code), "{vars:?}: {output}");
        assert_eq!(output.trim().lines().count(), 1, "{vars:?}: {output}");
        assert_eq!(output.matches(named).count(), 1, "said once: {output}");
        assert!(!output.contains("s3cr3t"), "{vars:?}: {output}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Every setting is checked before anything is touched: an address that
/// cannot be listened on is a bad setting, found before the database is opened.
#[actix_web::test]
async fn an_address_that_cannot_be_listened_on_is_a_bad_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for address in ["127.0.0.1:99999", "no-port", taken.as_str()] {
        let dir = temp_dir("bad-bind");
        let mut server = ServerProcess::start(&dir, &[("BIND_ADDR", address)]);
        let status = server.wait_exit().await;
        let output = server.output();
        assert_eq!(status.code(), Some(2), "{address}: {output}");
        assert_eq!(output.trim().lines().count(), 1, "{output}");
        assert!(output.starts_with("orders-server: invalid configuration: BIND_ADDR"), "{output}");
        assert!(!dir.join("data").exists(), "{address}: the database was opened");
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[actix_web::test]
async fn an_unreachable_database_fails_start_up_with_its_cause() {
    let dir = temp_dir("no-db");
    let url = format!("postgres://postgres@127.0.0.1:{}/orders", harness::free_port());
    let mut server = ServerProcess::start(&dir, &[("DATABASE_URL", &url)]);
    let status = server.wait_exit().await;
    assert_eq!(status.code(), Some(1));
    let output = server.output();
    let last = output.trim().lines().last().unwrap();
    assert!(last.starts_with("orders-server: could not open the database"), "{output}");
    assert!(last.to_lowercase().contains("connect"), "the cause is named: {last}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A database that can be read but not written — a copy of a live one with its
/// -wal and -shm, made read-only — stops start-up as an unreachable one does,
/// rather than serving a 500 to every create.
#[actix_web::test]
async fn a_read_only_sqlite_database_fails_start_up_with_one_line() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("read-only");
    let mut live = ServerProcess::start(&dir, &[]);
    live.wait_ready().await;
    live.api().create_order(&sample_order()).await;
    // Killed, so its -wal and -shm stay beside it.
    live.signal("KILL");
    live.wait_exit().await;
    let data = dir.join("data");
    let mode = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    for file in ["orders.db", "orders.db-wal", "orders.db-shm"] {
        assert!(data.join(file).exists(), "{file}");
        mode(&data.join(file), 0o444);
    }
    mode(&data, 0o555);

    let mut server = ServerProcess::start_unprivileged(&dir, &[]);
    let status = server.wait_exit().await;
    let output = server.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert_eq!(output.trim().lines().count(), 1, "{output}");
    assert!(output.starts_with("orders-server: could not open the database at sqlite://data/orders.db"), "{output}");
    assert!(output.contains("cannot be written"), "{output}");
    mode(&data, 0o755);
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn the_healthcheck_subcommand_reports_readiness() {
    let dir = temp_dir("healthcheck");
    let mut server = ServerProcess::start(&dir, &[]);
    server.wait_ready().await;
    let check = |port: u16| {
        std::process::Command::new(harness::server_binary())
            .arg("healthcheck")
            .env("BIND_ADDR", format!("0.0.0.0:{port}"))
            .output()
            .unwrap()
    };
    let healthy = check(server.port);
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));
    server.signal("TERM");
    server.wait_exit().await;
    let stopped = check(server.port);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stopped.stderr).starts_with("orders-server healthcheck:"));
    let _ = std::fs::remove_dir_all(dir);
}
