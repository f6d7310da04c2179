//! `Idempotency-Key` on `POST /orders`, on both databases.

use std::collections::HashSet;
use std::sync::Arc;

use actix_web::http::Method;
use harness::{
    Backend, TestApp, TestDatabase, eventually, on_both_backends, sample_order, spawn_app, spawn_app_on, spawn_app_with,
};
use serde_json::json;

on_both_backends!(
    a_retry_replays_the_first_answer_and_creates_nothing,
    a_replay_repeats_the_first_answer_even_after_the_order_changed,
    the_same_key_with_another_body_is_refused,
    a_rejected_request_does_not_consume_its_key,
    malformed_keys_are_invalid_headers_in_their_place,
    twenty_concurrent_requests_with_one_key_create_one_order,
    keys_outlive_the_process_and_are_shared_between_processes,
    keys_expire,
    expired_keys_are_purged,
);

async fn post_keyed(app: &TestApp, key: &str, body: &[u8]) -> harness::Response {
    app.request(Method::POST, "/orders", &[("content-type", "application/json"), ("idempotency-key", key)], Some(body))
        .await
}

fn order_bytes() -> Vec<u8> {
    serde_json::to_vec(&sample_order()).unwrap()
}

async fn order_count(app: &TestApp) -> usize {
    app.all_orders("").await.len()
}

async fn a_retry_replays_the_first_answer_and_creates_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = post_keyed(&app, "retry-1", &order_bytes()).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None, "the first answer is not a replay");
    // The same JSON value: other member order, other whitespace.
    let same = br#"{ "items": [ {"unit_price_cents": 1250, "quantity": 2, "sku": "BOOK-001"} ],
        "currency": "EUR", "customer_email": "ada@example.com", "customer_name": "Ada Lovelace" }"#;
    for _ in 0..3 {
        let again = post_keyed(&app, "retry-1", same).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.header("location"), first.header("location"));
        assert_eq!(again.header("content-type"), Some("application/json"));
        assert_eq!(again.body, first.body, "byte for byte");
    }
    assert_eq!(order_count(&app).await, 1);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    app.settled_email(&id).await;
    assert_eq!(app.emails.sent().len(), 1, "one order, one email");
    // Other keys, or none, create as usual.
    assert_eq!(post_keyed(&app, "retry-2", &order_bytes()).await.status, 201);
    app.create_order(&sample_order()).await;
    assert_eq!(order_count(&app).await, 3);
}

async fn a_replay_repeats_the_first_answer_even_after_the_order_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = post_keyed(&app, "changed", &order_bytes()).await;
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let moved = app.patch_json(&format!("/orders/{id}/status"), &json!({"status": "processing"}), &[]).await;
    assert_eq!(moved.status, 200);
    let again = post_keyed(&app, "changed", &order_bytes()).await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.json()["status"], "pending");
    assert_eq!(app.get(&format!("/orders/{id}")).await.json()["status"], "processing");
}

async fn the_same_key_with_another_body_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(post_keyed(&app, "mine", &order_bytes()).await.status, 201);
    let mut other = sample_order();
    other["items"][0]["quantity"] = json!(3);
    let reused = post_keyed(&app, "mine", &serde_json::to_vec(&other).unwrap()).await;
    let problem = reused.problem(422, "idempotency_key_reused");
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");
    assert_eq!(order_count(&app).await, 1);
}

async fn a_rejected_request_does_not_consume_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut invalid = sample_order();
    invalid["items"][0]["quantity"] = json!(0);
    post_keyed(&app, "second-chance", &serde_json::to_vec(&invalid).unwrap()).await.problem(422, "validation_failed");
    post_keyed(&app, "second-chance", b"{not json").await.problem(400, "malformed_json");
    let created = post_keyed(&app, "second-chance", &order_bytes()).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.header("idempotent-replayed"), None);
}

async fn malformed_keys_are_invalid_headers_in_their_place(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = "k".repeat(256);
    for bad in ["", "has space", too_long.as_str()] {
        post_keyed(&app, bad, &order_bytes()).await.problem(400, "invalid_header");
    }
    let longest = "k".repeat(255);
    assert_eq!(post_keyed(&app, &longest, &order_bytes()).await.status, 201);
    // Precedence: 415 before the header's 400, the header's 400 before 422.
    let untyped = app
        .request(Method::POST, "/orders", &[("content-type", "text/plain"), ("idempotency-key", "a b")], Some(b"x"))
        .await;
    untyped.problem(415, "unsupported_media_type");
    let invalid = post_keyed(&app, "a b", br#"{"customer_name": ""}"#).await;
    invalid.problem(400, "invalid_header");
    assert_eq!(order_count(&app).await, 1);
}

async fn twenty_concurrent_requests_with_one_key_create_one_order(backend: Backend) {
    let app = spawn_app_with(backend, &[("DATABASE_POOL_SIZE", "20"), ("HTTP_WORKERS", "4")]).await;
    let body = order_bytes();
    let requests = (0..20).map(|_| post_keyed(&app, "race", &body));
    let responses = futures_util::future::join_all(requests).await;
    for response in &responses {
        assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    }
    let bodies: HashSet<&Vec<u8>> = responses.iter().map(|r| &r.body).collect();
    assert_eq!(bodies.len(), 1, "every racer got the winner's answer");
    let firsts = responses.iter().filter(|r| r.header("idempotent-replayed").is_none()).count();
    assert_eq!(firsts, 1, "exactly one created");
    assert_eq!(order_count(&app).await, 1);
    assert_eq!(app.db.count("email_outbox").await, 1);
}

async fn keys_outlive_the_process_and_are_shared_between_processes(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let first_app = spawn_app_on(TestDatabase::existing(backend, db.url.clone()), &[]).await;
    let first = post_keyed(&first_app, "durable", &order_bytes()).await;
    // A second application on the same database: another process, or a restart.
    let second_app = spawn_app_on(TestDatabase::existing(backend, db.url.clone()), &[]).await;
    let again = post_keyed(&second_app, "durable", &order_bytes()).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    drop(first_app);
    let third = post_keyed(&second_app, "durable", &order_bytes()).await;
    assert_eq!(third.body, first.body);
    assert_eq!(order_count(&second_app).await, 1);
}

async fn keys_expire(backend: Backend) {
    let app = spawn_app_with(backend, &[("IDEMPOTENCY_TTL_SECS", "1")]).await;
    let first = post_keyed(&app, "short-lived", &order_bytes()).await;
    let mut other = sample_order();
    other["customer_name"] = json!("Someone Else");
    let other = serde_json::to_vec(&other).unwrap();
    // Reused while alive; once expired, the key creates afresh.
    let fresh = eventually("the key to expire", async || {
        let response = post_keyed(&app, "short-lived", &other).await;
        match response.status {
            422 => None,
            201 => Some(response),
            status => panic!("unexpected {status}"),
        }
    })
    .await;
    assert_eq!(fresh.header("idempotent-replayed"), None);
    assert_ne!(fresh.json()["id"], first.json()["id"]);
    assert_eq!(fresh.json()["customer_name"], "Someone Else");
    assert_eq!(order_count(&app).await, 2);
}

async fn expired_keys_are_purged(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = persistence::DatabaseUrl::parse(&app.db.url).unwrap();
    let database = persistence::Database::open(&url, &persistence::PoolOptions::default()).await.unwrap();
    let orders = domain::OrderService::new(Arc::new(database.orders(Arc::new(api::EventJson))))
        .with_idempotency_ttl(std::time::Duration::ZERO);
    for key in ["a", "b", "c", "d", "e"] {
        post_keyed(&app, key, &order_bytes()).await;
    }
    assert_eq!(app.db.count("idempotency_keys").await, 5);
    // Five live keys (24 h) stay; five more that expire at once go, two at a time.
    for key in ["f", "g", "h", "i", "j"] {
        let new = domain::NewOrder::new(
            domain::CustomerName::parse("Ada").unwrap(),
            domain::CustomerEmail::parse("ada@example.com").unwrap(),
            domain::Currency::parse("EUR").unwrap(),
            domain::OrderLines::parse(vec![domain::NewOrderLine {
                sku: domain::Sku::parse("A").unwrap(),
                quantity: domain::Quantity::parse(1).unwrap(),
                unit_price: domain::UnitPrice::parse(1).unwrap(),
            }])
            .unwrap(),
        )
        .unwrap();
        let key =
            domain::IdempotentRequest { key: domain::IdempotencyKey::parse(key).unwrap(), fingerprint: "f".into() };
        orders.place(new, Some(key), domain::Cause::default(), |o| Ok(o.id().to_string())).await.unwrap();
    }
    assert_eq!(app.db.count("idempotency_keys").await, 10);
    assert_eq!(orders.purge_expired_keys(2).await.unwrap(), 5);
    assert_eq!(app.db.count("idempotency_keys").await, 5);
}
