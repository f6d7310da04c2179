//! Creating, reading, listing and moving orders, on both databases.

use harness::{Backend, on_both_backends, sample_order, spawn_app};
use serde_json::{Value, json};

on_both_backends!(
    create_returns_the_order_with_location,
    a_created_order_reads_back_exactly,
    creating_an_order_persists_it_and_sends_the_confirmation_email,
    names_are_stored_trimmed_and_emails_as_given,
    totals_are_computed_by_the_server,
    listing_is_newest_first_with_cursor_paging,
    an_exactly_full_last_page_has_no_cursor,
    listing_filters_by_status_and_customer_email,
    status_endpoint_has_exactly_the_documented_members,
    status_changes_follow_the_lifecycle,
    an_invalid_transition_is_a_conflict_naming_both_states,
    unknown_and_malformed_order_ids_are_not_found,
    trailing_slashes_reach_the_same_handler_without_redirect,
    health_endpoints_answer,
    concurrent_unconditional_changes_never_both_apply,
);

fn members(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn is_rfc3339_micros_utc(text: &str) -> bool {
    // 2026-11-24T18:00:00.123456Z
    text.len() == 27 && text.ends_with('Z') && text.as_bytes()[19] == b'.'
}

async fn create_returns_the_order_with_location(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_json("/orders", &sample_order()).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let order = response.json();
    let id = order["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(response.header("location"), Some(format!("/orders/{id}").as_str()));
    assert_eq!(
        members(&order),
        [
            "confirmation_email",
            "created_at",
            "currency",
            "customer_email",
            "customer_name",
            "id",
            "items",
            "status",
            "total_cents",
            "updated_at",
            "version"
        ]
    );
    assert_eq!(order["status"], "pending");
    assert_eq!(order["version"], 1);
    assert_eq!(
        order["confirmation_email"],
        json!({"state": "pending", "attempts": 0, "sent_at": null, "last_error": null})
    );
    assert_eq!(
        order["items"],
        json!([{"sku": "BOOK-001", "quantity": 2, "unit_price_cents": 1250, "line_total_cents": 2500}])
    );
    let created_at = order["created_at"].as_str().unwrap();
    assert!(is_rfc3339_micros_utc(created_at), "{created_at}");
    assert_eq!(order["updated_at"], order["created_at"]);
}

async fn a_created_order_reads_back_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut created = app.create_order(&sample_order()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let read = app.get(&format!("/orders/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.header("etag"), Some("\"1\""));
    let mut read = read.json();
    // The email may have been sent in between; everything else is identical.
    created.as_object_mut().unwrap().remove("confirmation_email");
    read.as_object_mut().unwrap().remove("confirmation_email");
    assert_eq!(read, created);
}

/// The seed's integration test: the order is stored and its confirmation goes out in the background.
async fn creating_an_order_persists_it_and_sends_the_confirmation_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();

    let stored = app.get(&format!("/orders/{id}")).await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.json()["customer_email"], "ada@example.com");

    let status = app.settled_email(id).await;
    assert_eq!(status["confirmation_email"]["state"], "sent");
    assert_eq!(status["confirmation_email"]["attempts"], 1);
    assert!(is_rfc3339_micros_utc(status["confirmation_email"]["sent_at"].as_str().unwrap()));
    assert_eq!(status["confirmation_email"]["last_error"], Value::Null);

    let sent = app.emails.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].recipient, "ada@example.com");
    assert_eq!(sent[0].order_id.to_string(), id);
    // The subject names the order by its short reference, the body by both.
    let reference = id[id.len() - 8..].to_uppercase();
    assert_eq!(sent[0].subject, format!("Order {reference} confirmed"));
    assert!(sent[0].body.contains(id) && sent[0].body.contains(&reference), "{}", sent[0].body);
    assert!(sent[0].body.contains("BOOK-001") && sent[0].body.contains("Total: 25.00 EUR"), "{}", sent[0].body);

    // Sending moved neither version nor updated_at.
    let after = app.get(&format!("/orders/{id}")).await.json();
    assert_eq!(after["version"], 1);
    assert_eq!(after["updated_at"], order["updated_at"]);
}

async fn names_are_stored_trimmed_and_emails_as_given(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = sample_order();
    body["customer_name"] = json!("  Zoë  Ångström \u{5e9}\u{5dc}\u{5d5}\u{5dd} 🚀 ");
    body["customer_email"] = json!("Ada.Lovelace+Orders@Example.COM");
    let order = app.create_order(&body).await;
    let read = app.get(&format!("/orders/{}", order["id"].as_str().unwrap())).await.json();
    assert_eq!(read["customer_name"], "Zoë  Ångström \u{5e9}\u{5dc}\u{5d5}\u{5dd} 🚀");
    assert_eq!(read["customer_email"], "Ada.Lovelace+Orders@Example.COM");
}

async fn totals_are_computed_by_the_server(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({
        "customer_name": "Grace", "customer_email": "grace@example.com", "currency": "USD",
        "items": [
            {"sku": "A", "quantity": 3, "unit_price_cents": 199},
            {"sku": "B", "quantity": 10000, "unit_price_cents": 100000000},
            {"sku": "C", "quantity": 1, "unit_price_cents": 0}
        ]
    });
    let order = app.create_order(&body).await;
    let lines: Vec<i64> =
        order["items"].as_array().unwrap().iter().map(|i| i["line_total_cents"].as_i64().unwrap()).collect();
    assert_eq!(lines, [597, 1_000_000_000_000, 0]);
    assert_eq!(order["total_cents"], 1_000_000_000_597_i64);
    let read = app.get(&format!("/orders/{}", order["id"].as_str().unwrap())).await.json();
    assert_eq!(read["total_cents"], 1_000_000_000_597_i64);
    assert_eq!(
        read["items"].as_array().unwrap().iter().map(|i| i["sku"].as_str().unwrap()).collect::<Vec<_>>(),
        ["A", "B", "C"]
    );
}

async fn create_many(app: &harness::TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let mut body = sample_order();
        body["customer_name"] = json!(format!("Customer {i}"));
        ids.push(app.create_order(&body).await["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn ids_of(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
}

async fn listing_is_newest_first_with_cursor_paging(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = create_many(&app, 5).await;
    ids.reverse();

    let first = app.get("/orders?limit=2").await.json();
    assert_eq!(ids_of(&first), ids[0..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get(&format!("/orders?limit=2&cursor={cursor}")).await.json();
    assert_eq!(ids_of(&second), ids[2..4]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let third = app.get(&format!("/orders?limit=2&cursor={cursor}")).await.json();
    assert_eq!(ids_of(&third), ids[4..5]);
    assert_eq!(third["next_cursor"], Value::Null);

    // The default page holds all five, with items and email state.
    let all = app.get("/orders").await.json();
    assert_eq!(ids_of(&all), ids);
    assert_eq!(all["items"][0]["items"][0]["sku"], "BOOK-001");
    assert_eq!(all["next_cursor"], Value::Null);
}

async fn an_exactly_full_last_page_has_no_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    create_many(&app, 4).await;
    let first = app.get("/orders?limit=2").await.json();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get(&format!("/orders?limit=2&cursor={cursor}")).await.json();
    assert_eq!(ids_of(&second).len(), 2);
    assert_eq!(second["next_cursor"], Value::Null);
    let empty = app.get("/orders?limit=200").await.json();
    assert_eq!(ids_of(&empty).len(), 4);
}

async fn listing_filters_by_status_and_customer_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut grace = sample_order();
    grace["customer_email"] = json!("Grace@Example.com");
    let grace_id = app.create_order(&grace).await["id"].as_str().unwrap().to_owned();
    let ada_ids = create_many(&app, 2).await;
    let moved = app.patch_json(&format!("/orders/{}/status", ada_ids[0]), &json!({"status": "processing"}), &[]).await;
    assert_eq!(moved.status, 200);

    let by_email = app.get("/orders?customer_email=GRACE@example.COM").await.json();
    assert_eq!(ids_of(&by_email), [grace_id.as_str()]);
    let by_status = app.get("/orders?status=processing").await.json();
    assert_eq!(ids_of(&by_status), [ada_ids[0].as_str()]);
    let both = app.get("/orders?status=pending&customer_email=ada@example.com").await.json();
    assert_eq!(ids_of(&both), [ada_ids[1].as_str()]);
    let none = app.get("/orders?customer_email=nobody@example.com").await.json();
    assert_eq!(ids_of(&none), Vec::<String>::new());

    // Paging under a filter: the client repeats the filter with the cursor.
    let first = app.get("/orders?status=pending&limit=1").await.json();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get(&format!("/orders?status=pending&limit=1&cursor={cursor}")).await.json();
    assert_eq!(ids_of(&first), [ada_ids[1].as_str()]);
    assert_eq!(ids_of(&second), [grace_id.as_str()]);
    assert_eq!(second["next_cursor"], Value::Null);
}

async fn status_endpoint_has_exactly_the_documented_members(backend: Backend) {
    let app = spawn_app(backend).await;
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    let status = app.get(&format!("/orders/{id}/status")).await;
    assert_eq!(status.status, 200);
    let status = status.json();
    assert_eq!(members(&status), ["confirmation_email", "order_id", "status", "updated_at"]);
    assert_eq!(members(&status["confirmation_email"]), ["attempts", "last_error", "sent_at", "state"]);
    assert_eq!(status["order_id"], order["id"]);
    assert_eq!(status["status"], "pending");
    assert_eq!(status["updated_at"], order["updated_at"]);
}

async fn status_changes_follow_the_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    let path = format!("/orders/{id}/status");
    let mut last_updated = order["updated_at"].as_str().unwrap().to_owned();
    for (step, to) in ["processing", "shipped", "delivered"].into_iter().enumerate() {
        let response = app.patch_json(&path, &json!({"status": to}), &[]).await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        let version = step as i64 + 2;
        assert_eq!(response.header("etag"), Some(format!("\"{version}\"").as_str()));
        let body = response.json();
        assert_eq!(members(&body), ["confirmation_email", "order_id", "status", "updated_at"]);
        assert_eq!(body["status"], to);
        let updated = body["updated_at"].as_str().unwrap().to_owned();
        assert!(updated > last_updated, "updated_at must move: {updated} after {last_updated}");
        last_updated = updated;
        let read = app.get(&format!("/orders/{id}")).await.json();
        assert_eq!(read["status"], to);
        assert_eq!(read["version"], version);
    }
    // Cancelling works from pending and processing.
    let other = app.create_order(&sample_order()).await;
    let other_path = format!("/orders/{}/status", other["id"].as_str().unwrap());
    assert_eq!(app.patch_json(&other_path, &json!({"status": "cancelled"}), &[]).await.status, 200);
}

async fn an_invalid_transition_is_a_conflict_naming_both_states(backend: Backend) {
    let app = spawn_app(backend).await;
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    let path = format!("/orders/{id}/status");

    let skip = app.patch_json(&path, &json!({"status": "delivered"}), &[]).await;
    let problem = skip.problem(409, "invalid_transition");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("pending") && detail.contains("delivered"), "{detail}");

    // Staying put is not a transition either.
    app.patch_json(&path, &json!({"status": "pending"}), &[]).await.problem(409, "invalid_transition");

    // A status that does not exist is a validation error, not a conflict.
    let unknown = app.patch_json(&path, &json!({"status": "lost"}), &[]).await;
    let problem = unknown.problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "status");
    assert_eq!(problem["errors"][0]["code"], "one_of");

    // Nothing changed.
    let read = app.get(&format!("/orders/{id}")).await.json();
    assert_eq!((read["status"].as_str(), read["version"].as_i64()), (Some("pending"), Some(1)));
}

async fn unknown_and_malformed_order_ids_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/orders/{unknown}"),
        format!("/orders/{unknown}/status"),
        "/orders/not-a-uuid".to_owned(),
        "/orders/not-a-uuid/status".to_owned(),
        "/orders/%00".to_owned(),
    ] {
        app.get(&path).await.problem(404, "not_found");
    }
    let patch = app.patch_json(&format!("/orders/{unknown}/status"), &json!({"status": "shipped"}), &[]).await;
    patch.problem(404, "not_found");
    // A malformed id is 404 even when the body is wrong too (routing wins).
    let both = app
        .request(actix_web::http::Method::PATCH, "/orders/xyz/status", &[("content-type", "text/plain")], Some(b"x"))
        .await;
    both.problem(404, "not_found");
}

async fn trailing_slashes_reach_the_same_handler_without_redirect(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.post_json("/orders/", &sample_order()).await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    for path in
        ["/orders/".to_owned(), format!("/orders/{id}/"), format!("/orders/{id}/status/"), "/health/live/".to_owned()]
    {
        let response = app.get(&path).await;
        assert_eq!(response.status, 200, "{path}");
    }
    let patched = app.patch_json(&format!("/orders/{id}/status/"), &json!({"status": "processing"}), &[]).await;
    assert_eq!(patched.status, 200);
}

async fn health_endpoints_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let live = app.get("/health/live").await;
    assert_eq!((live.status, live.json()), (200, json!({"status": "ok"})));
    let ready = app.get("/health/ready").await;
    assert_eq!((ready.status, ready.json()), (200, json!({"status": "ok", "database": "ok"})));
}

async fn concurrent_unconditional_changes_never_both_apply(backend: Backend) {
    let app = spawn_app(backend).await;
    let order = app.create_order(&sample_order()).await;
    let path = format!("/orders/{}/status", order["id"].as_str().unwrap());
    // pending → processing is allowed once; the loser re-reads and finds processing → processing forbidden.
    let body = json!({"status": "processing"});
    let requests = (0..8).map(|_| app.patch_json(&path, &body, &[]));
    let results = futures_util::future::join_all(requests).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let conflicts = results.iter().filter(|r| r.status == 409).count();
    assert_eq!((ok, conflicts), (1, 7), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    let read = app.get(&format!("/orders/{}", order["id"].as_str().unwrap())).await.json();
    assert_eq!(read["version"], 2);
}
