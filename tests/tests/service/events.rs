//! Order events: each change recorded in the transaction of the change, and
//! the timeline at `GET /orders/{id}/events`.

use harness::{Backend, on_both_backends, sample_order, spawn_app_with};
use serde_json::{Value, json};

on_both_backends!(
    an_orders_events_come_out_in_order_with_their_request_and_key,
    a_failed_email_is_an_event_with_its_error,
    events_of_an_unknown_order_are_not_found_and_need_a_key,
    a_refused_change_records_no_event,
);

/// The timeline's events, checked for the members every event has.
async fn events(app: &harness::TestApp, id: &str) -> Vec<Value> {
    let response = app.get(&format!("/orders/{id}/events")).await;
    assert_eq!(response.status, 200);
    let items = response.json()["items"].as_array().unwrap().clone();
    for event in &items {
        assert_eq!(event["data"]["order"]["id"], id, "{event}");
        assert_eq!(event["id"].as_str().unwrap().len(), 36, "{event}");
        assert!(event["created_at"].as_str().unwrap().ends_with('Z'), "{event}");
    }
    items
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn an_orders_events_come_out_in_order_with_their_request_and_key(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let created = app
        .request(
            awc::http::Method::POST,
            "/orders",
            &[("content-type", "application/json"), ("x-request-id", "create-1")],
            Some(&serde_json::to_vec(&sample_order()).unwrap()),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    app.settled_email(&id).await;
    for (n, to) in ["processing", "shipped", "delivered"].into_iter().enumerate() {
        let request_id = format!("move-{n}");
        let moved = app
            .patch_json(&format!("/orders/{id}/status"), &json!({"status": to}), &[("x-request-id", &request_id)])
            .await;
        assert_eq!(moved.status, 200);
    }

    let events = events(&app, &id).await;
    assert_eq!(
        types(&events),
        [
            "order.created",
            "order.confirmation_email.sent",
            "order.status_changed",
            "order.status_changed",
            "order.status_changed"
        ]
    );
    let times: Vec<&str> = events.iter().map(|e| e["created_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "oldest first: {times:?}");

    let key_id = app.get("/api-keys").await.json()["items"][0]["id"].clone();
    assert_eq!(events[0]["request"], json!({"id": "create-1", "api_key_id": key_id}));
    assert_eq!(events[0]["data"]["order"]["status"], "pending");
    assert_eq!(events[0]["data"]["order"]["confirmation_email"]["state"], "pending");
    // The dispatcher's change has no request behind it.
    assert_eq!(events[1]["request"], Value::Null);
    assert_eq!(events[1]["data"]["order"]["confirmation_email"]["state"], "sent");
    // Each status change carries both ends and the order as it was right after.
    for (n, (from, to)) in
        [("pending", "processing"), ("processing", "shipped"), ("shipped", "delivered")].into_iter().enumerate()
    {
        let event = &events[2 + n];
        assert_eq!((event["data"]["from"].as_str(), event["data"]["to"].as_str()), (Some(from), Some(to)));
        assert_eq!(event["data"]["order"]["status"], to);
        assert_eq!(event["data"]["order"]["version"], 2 + n);
        assert_eq!(event["request"]["id"], format!("move-{n}"));
    }
    assert!(events[0]["data"].get("from").is_none(), "no from/to outside a status change");
    assert_eq!(app.db.count("order_events").await, 5);
}

async fn a_failed_email_is_an_event_with_its_error(backend: Backend) {
    let app = spawn_app_with(backend, &[("MAIL_RETRY_BASE_MS", "20"), ("MAIL_MAX_ATTEMPTS", "2")]).await;
    app.emails.fail_next(u32::MAX);
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    app.settled_email(id).await;
    let events = events(&app, id).await;
    // One event for giving up, none for the attempt that was retried.
    assert_eq!(types(&events), ["order.created", "order.confirmation_email.failed"]);
    assert_eq!(events[1]["data"]["error"], "recording sender told to fail");
    assert_eq!(events[1]["data"]["order"]["confirmation_email"]["state"], "failed");
}

async fn events_of_an_unknown_order_are_not_found_and_need_a_key(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    app.get("/orders/0190b6a4-0000-7000-8000-000000000000/events").await.problem(404, "not_found");
    app.get("/orders/not-a-uuid/events").await.problem(404, "not_found");
    let order = app.create_order(&sample_order()).await;
    let path = format!("/orders/{}/events", order["id"].as_str().unwrap());
    app.anonymous().get(&path).await.problem(401, "unauthenticated");
}

async fn a_refused_change_records_no_event(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    let path = format!("/orders/{id}/status");
    app.patch_json(&path, &json!({"status": "delivered"}), &[]).await.problem(409, "invalid_transition");
    app.patch_json(&path, &json!({"status": "processing"}), &[("if-match", "\"7\"")])
        .await
        .problem(412, "precondition_failed");
    let events = events(&app, id).await;
    assert!(types(&events).iter().all(|t| *t != "order.status_changed"), "{events:?}");
}
