//! One error shape for every failure: API.md's error table, its precedence,
//! request ids, oversized and slow requests. On both databases.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::web::Bytes;
use harness::{Backend, TestApp, on_both_backends, sample_order, spawn_app, spawn_app_with};
use serde_json::json;

on_both_backends!(
    every_row_of_the_error_table_is_a_problem,
    the_first_applicable_error_wins,
    request_ids_are_echoed_when_well_formed_and_replaced_otherwise,
    bodies_over_64_kib_are_refused_with_or_without_a_length,
    a_slow_body_is_a_request_timeout,
    a_slow_request_head_is_cut_off,
    head_is_answered_wherever_get_is,
);

fn json_type() -> [(&'static str, &'static str); 1] {
    [("content-type", "application/json")]
}

async fn an_order(app: &TestApp) -> String {
    app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned()
}

/// API.md's table, row by row (`idempotency_key_reused` comes with idempotency keys).
async fn every_row_of_the_error_table_is_a_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = an_order(&app).await;
    let status_path = format!("/orders/{id}/status");

    let malformed = app.request(Method::POST, "/orders", &json_type(), Some(b"{nope")).await;
    let problem = malformed.problem(400, "malformed_json");
    assert_eq!(problem["type"], "/problems/malformed-json");

    app.get("/orders?limit=zero").await.problem(400, "invalid_query");
    app.get("/orders/00000000-0000-7000-8000-000000000000").await.problem(404, "not_found");
    app.get("/no/such/route").await.problem(404, "not_found");
    let wrong_method = app.request(Method::PUT, "/orders", &[], None).await;
    wrong_method.problem(405, "method_not_allowed");
    assert_eq!(wrong_method.header("allow"), Some("GET, HEAD, POST"));
    app.patch_json(&status_path, &json!({"status": "delivered"}), &[]).await.problem(409, "invalid_transition");
    app.patch_json(&status_path, &json!({"status": "processing"}), &[("if-match", "\"7\"")])
        .await
        .problem(412, "precondition_failed");
    let big = vec![b' '; 64 * 1024 + 1];
    app.request(Method::POST, "/orders", &json_type(), Some(&big)).await.problem(413, "payload_too_large");
    app.request(Method::POST, "/orders", &[("content-type", "text/csv")], Some(b"a,b"))
        .await
        .problem(415, "unsupported_media_type");
    let invalid = app.post_json("/orders", &json!({"customer_name": ""})).await;
    assert!(invalid.problem(422, "validation_failed")["errors"].as_array().unwrap().len() >= 4);
    app.patch_json(&status_path, &json!({"status": "processing"}), &[("if-match", "not-a-tag")])
        .await
        .problem(400, "invalid_header");
    // The order is still as it was: none of the above changed anything.
    let order = app.get(&format!("/orders/{id}")).await.json();
    assert_eq!((order["status"].as_str(), order["version"].as_i64()), (Some("pending"), Some(1)));
    assert_eq!(app.get("/orders").await.json()["items"].as_array().unwrap().len(), 1);
}

/// RFC 9110 §9.3.2: HEAD wherever GET is, with GET's status and headers and
/// no body; a 405's `Allow` lists it.
async fn head_is_answered_wherever_get_is(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = an_order(&app).await;
    // The order does not change between its GET and its HEAD.
    app.settled_email(&id).await;
    let missing = "/orders/00000000-0000-7000-8000-000000000000".to_owned();
    let paths = [
        "/orders".to_owned(),
        format!("/orders/{id}"),
        format!("/orders/{id}/status"),
        missing,
        "/health/live".to_owned(),
        "/health/ready".to_owned(),
        "/openapi.json".to_owned(),
        "/docs".to_owned(),
        "/docs/swagger-ui.css".to_owned(),
    ];
    for path in &paths {
        let get = app.get(path).await;
        let head = app.request(Method::HEAD, path, &[], None).await;
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert!(!get.body.is_empty(), "GET {path} has none");
        let same: Vec<&str> =
            get.headers.keys().map(|n| n.as_str()).filter(|n| !["date", "x-request-id"].contains(n)).collect();
        assert!(same.contains(&"content-length"), "GET {path}: {:?}", get.headers);
        for name in same {
            assert_eq!(head.header(name), get.header(name), "HEAD {path}: {name}");
        }
    }
    for (path, allow) in [
        ("/orders".to_owned(), "GET, HEAD, POST"),
        (format!("/orders/{id}"), "GET, HEAD"),
        (format!("/orders/{id}/status"), "GET, HEAD, PATCH"),
        ("/health/live".to_owned(), "GET, HEAD"),
    ] {
        let refused = app.request(Method::DELETE, &path, &[], None).await;
        refused.problem(405, "method_not_allowed");
        assert_eq!(refused.header("allow"), Some(allow), "{path}");
    }
}

/// method, path, headers, body → status, code
type Case = (Method, String, Vec<(&'static str, &'static str)>, Vec<u8>, u16, &'static str);

/// routing (404, 405), 415, 413, 400, 422, 412, 409 — the first that applies wins.
async fn the_first_applicable_error_wins(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = an_order(&app).await;
    let status_path = format!("/orders/{id}/status");
    let huge_text = vec![b'x'; 100 * 1024];
    let cases: Vec<Case> = vec![
        (Method::DELETE, "/nowhere".into(), vec![("content-type", "text/plain")], b"x".to_vec(), 404, "not_found"),
        (
            Method::DELETE,
            "/orders".into(),
            vec![("content-type", "text/plain")],
            huge_text.clone(),
            405,
            "method_not_allowed",
        ),
        (
            Method::PATCH,
            "/orders/not-an-id/status".into(),
            vec![("content-type", "text/plain")],
            huge_text.clone(),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/orders".into(),
            vec![("content-type", "text/plain")],
            huge_text.clone(),
            415,
            "unsupported_media_type",
        ),
        (
            Method::POST,
            "/orders".into(),
            vec![("content-type", "application/json")],
            huge_text,
            413,
            "payload_too_large",
        ),
        (
            Method::PATCH,
            status_path.clone(),
            vec![("content-type", "application/json"), ("if-match", "\"9\"")],
            b"{oops".to_vec(),
            400,
            "malformed_json",
        ),
        (
            Method::PATCH,
            status_path.clone(),
            vec![("content-type", "application/json"), ("if-match", "\"9\"")],
            br#"{"status": "lost"}"#.to_vec(),
            422,
            "validation_failed",
        ),
        (
            Method::PATCH,
            status_path.clone(),
            vec![("content-type", "application/json"), ("if-match", "\"9\"")],
            br#"{"status": "delivered"}"#.to_vec(),
            412,
            "precondition_failed",
        ),
        (
            Method::PATCH,
            status_path,
            vec![("content-type", "application/json"), ("if-match", "\"1\"")],
            br#"{"status": "delivered"}"#.to_vec(),
            409,
            "invalid_transition",
        ),
    ];
    for (method, path, headers, body, status, code) in cases {
        let response = app.request(method.clone(), &path, &headers, Some(&body)).await;
        assert_eq!(response.status, status, "{method} {path} → {}", String::from_utf8_lossy(&response.body));
        response.problem(status, code);
    }
}

async fn request_ids_are_echoed_when_well_formed_and_replaced_otherwise(backend: Backend) {
    let app = spawn_app(backend).await;
    let longest = "a".repeat(128);
    for good in ["abc", "A-1.b_2:c", longest.as_str()] {
        let response = app.request(Method::GET, "/health/live", &[("x-request-id", good)], None).await;
        assert_eq!(response.header("x-request-id"), Some(good));
        let problem =
            app.request(Method::GET, "/nope", &[("x-request-id", good)], None).await.problem(404, "not_found");
        assert_eq!(problem["request_id"], good);
    }
    let too_long = "a".repeat(129);
    for bad in ["", "has space", "semi;colon", "ünïcode", "<script>", too_long.as_str()] {
        let response = app.request(Method::GET, "/nope", &[("x-request-id", bad)], None).await;
        let generated = response.header("x-request-id").unwrap().to_owned();
        assert_ne!(generated, bad);
        assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
        assert_eq!(response.problem(404, "not_found")["request_id"], generated);
    }
    // Without one, every response still gets its own.
    let a = app.get("/health/live").await.header("x-request-id").unwrap().to_owned();
    let b = app.get("/health/live").await.header("x-request-id").unwrap().to_owned();
    assert_ne!(a, b);
}

async fn bodies_over_64_kib_are_refused_with_or_without_a_length(backend: Backend) {
    let app = spawn_app(backend).await;
    // Exactly 64 KiB of valid JSON is read (and then judged on its content).
    let mut body = sample_order();
    body["customer_name"] = json!("");
    let padding = 64 * 1024 - serde_json::to_vec(&body).unwrap().len();
    body["customer_name"] = json!("a".repeat(padding));
    let bytes = serde_json::to_vec(&body).unwrap();
    assert_eq!(bytes.len(), 64 * 1024);
    let at_limit = app.request(Method::POST, "/orders", &json_type(), Some(&bytes)).await;
    assert_eq!(at_limit.problem(422, "validation_failed")["errors"][0]["field"], "customer_name");

    // Chunked, no Content-Length: the limit holds while streaming.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..80).map(|_| Ok(Bytes::from(vec![b' '; 1024]))).collect();
    let client = awc::Client::default();
    let mut response = client
        .post(format!("{}/orders", app.address))
        .insert_header(("content-type", "application/json"))
        .insert_header(("authorization", format!("Bearer {}", app.key.as_deref().unwrap())))
        .send_stream(futures_util::stream::iter(chunks))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(response.headers().get("content-type").unwrap(), "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "payload_too_large");
    assert_eq!(app.get("/orders").await.json()["items"], json!([]));
}

fn raw(port: u16, head: &[u8], read_for: Duration) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(read_for)).unwrap();
    stream.write_all(head).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

async fn a_slow_body_is_a_request_timeout(backend: Backend) {
    let app = spawn_app_with(backend, &[("HTTP_BODY_TIMEOUT_MS", "300")]).await;
    let port = app.port;
    let head = format!(
        "POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"cust",
        app.key.as_deref().unwrap()
    );
    let answer = tokio::task::spawn_blocking(move || raw(port, head.as_bytes(), Duration::from_secs(5))).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_lowercase().contains("content-type: application/problem+json"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert_eq!(app.get("/orders").await.json()["items"], json!([]));
}

async fn a_slow_request_head_is_cut_off(backend: Backend) {
    // actix-http measures this time-out against a clock it refreshes every
    // 500 ms, so shorter values are not honoured reliably.
    let app = spawn_app_with(backend, &[("HTTP_HEAD_TIMEOUT_MS", "1000")]).await;
    let port = app.port;
    let started = std::time::Instant::now();
    let answer =
        tokio::task::spawn_blocking(move || raw(port, b"GET /orders HTTP/1.1\r\nHost: x\r\n", Duration::from_secs(10)))
            .await
            .unwrap();
    // actix-http answers a timed-out head itself (before any route runs) and closes.
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10), "the connection was not closed");
    // Other clients are unaffected.
    let after = app.get("/health/live").await;
    assert_eq!(after.status, 200, "{:?} {}", after.headers, String::from_utf8_lossy(&after.body));
}
