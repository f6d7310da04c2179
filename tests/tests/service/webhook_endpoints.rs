//! Webhook endpoints: registered, listed, read, switched and deleted with an
//! `admin` key; their secret shown once; destinations inside the network
//! refused; deliveries queued only for enabled, subscribed endpoints.

use domain::Scope;
use harness::{Backend, TestApp, issue_key, on_both_backends, sample_order, spawn_app_with};
use serde_json::{Value, json};

on_both_backends!(
    an_endpoint_is_registered_listed_switched_and_deleted,
    the_secret_is_shown_once,
    every_invalid_member_is_reported_at_once,
    destinations_inside_the_network_are_refused_unless_allowed,
    endpoints_need_an_admin_key,
    deliveries_are_queued_for_enabled_subscribed_endpoints_only,
    deleting_an_endpoint_fails_its_waiting_deliveries,
);

const ALLOW_PRIVATE: &[(&str, &str)] = &[("WEBHOOK_ALLOW_PRIVATE", "true"), ("MAIL_DISPATCHER", "on")];

async fn register(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let response = app.post_json("/webhook-endpoints", &json!({"url": url, "events": events})).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    response.json()
}

async fn an_endpoint_is_registered_listed_switched_and_deleted(backend: Backend) {
    let app = spawn_app_with(backend, ALLOW_PRIVATE).await;
    let created = register(&app, "http://127.0.0.1:9/hooks/a", &["order.status_changed", "order.created"]).await;
    let id = created["id"].as_str().unwrap();
    // Event types come back in the order of an order's life.
    assert_eq!(created["events"], json!(["order.created", "order.status_changed"]));
    assert_eq!(
        (created["enabled"].as_bool(), created["url"].as_str()),
        (Some(true), Some("http://127.0.0.1:9/hooks/a"))
    );

    let path = format!("/webhook-endpoints/{id}");
    let listed = app.get("/webhook-endpoints").await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], id);
    assert_eq!(app.get(&path).await.json()["events"], created["events"]);

    let off = app
        .request(
            awc::http::Method::PATCH,
            &path,
            &[("content-type", "application/json")],
            Some(br#"{"enabled": false}"#),
        )
        .await;
    assert_eq!((off.status, off.json()["enabled"].as_bool()), (200, Some(false)));
    assert_eq!(app.get(&path).await.json()["enabled"], false);
    let on = app.patch_json(&path, &json!({"enabled": true}), &[]).await;
    assert_eq!(on.json()["enabled"], true);

    let deleted = app.request(awc::http::Method::DELETE, &path, &[], None).await;
    assert_eq!((deleted.status, deleted.body.len()), (204, 0));
    app.get(&path).await.problem(404, "not_found");
    app.request(awc::http::Method::DELETE, &path, &[], None).await.problem(404, "not_found");
    app.patch_json(&path, &json!({"enabled": true}), &[]).await.problem(404, "not_found");
    assert_eq!(app.get("/webhook-endpoints").await.json()["items"], json!([]));
    app.get("/webhook-endpoints/not-a-uuid").await.problem(404, "not_found");
}

async fn the_secret_is_shown_once(backend: Backend) {
    let app = spawn_app_with(backend, ALLOW_PRIVATE).await;
    let response =
        app.post_json("/webhook-endpoints", &json!({"url": "http://127.0.0.1:9/", "events": ["order.created"]})).await;
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let created = response.json();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() == 49, "{secret}");
    assert_eq!(response.header("location").unwrap(), format!("/webhook-endpoints/{}", created["id"].as_str().unwrap()));
    for path in ["/webhook-endpoints".to_owned(), format!("/webhook-endpoints/{}", created["id"].as_str().unwrap())] {
        let body = String::from_utf8(app.get(&path).await.body).unwrap();
        assert!(!body.contains(secret) && !body.contains("secret"), "{path}: {body}");
    }
    let other = register(&app, "http://127.0.0.1:9/", &["order.created"]).await;
    assert_ne!(other["secret"], created["secret"], "each endpoint signs with its own secret");
}

async fn every_invalid_member_is_reported_at_once(backend: Backend) {
    let app = spawn_app_with(backend, ALLOW_PRIVATE).await;
    let body = json!({"url": "ftp://example.com/x", "events": ["order.created", "order.deleted", 7], "extra": 1});
    let problem = app.post_json("/webhook-endpoints", &body).await.problem(422, "validation_failed");
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [("events[1]", "one_of"), ("events[2]", "type"), ("extra", "unknown_field"), ("url", "pattern")]
    );

    let empty = app.post_json("/webhook-endpoints", &json!({"url": "http://127.0.0.1/", "events": []})).await;
    assert_eq!(empty.problem(422, "validation_failed")["errors"][0]["field"], "events");
    let missing = app.post_json("/webhook-endpoints", &json!({})).await.problem(422, "validation_failed");
    assert_eq!(missing["errors"].as_array().unwrap().len(), 2, "{missing}");
    let long = format!("http://127.0.0.1/{}", "a".repeat(2048));
    let too_long = app.post_json("/webhook-endpoints", &json!({"url": long, "events": ["order.created"]})).await;
    assert_eq!(too_long.problem(422, "validation_failed")["errors"][0]["code"], "length");

    let created = register(&app, "http://127.0.0.1:9/", &["order.created"]).await;
    let path = format!("/webhook-endpoints/{}", created["id"].as_str().unwrap());
    let wrong =
        app.patch_json(&path, &json!({"enabled": "no", "url": "x"}), &[]).await.problem(422, "validation_failed");
    assert_eq!(wrong["errors"].as_array().unwrap().len(), 2, "{wrong}");
    assert_eq!(app.get(&path).await.json()["enabled"], true, "a refused change changes nothing");
    assert_eq!(app.db.count("webhook_endpoints").await, 1, "refused registrations store nothing");
}

async fn destinations_inside_the_network_are_refused_unless_allowed(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    for url in [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0x7f.1/hook",
    ] {
        let problem = app.post_json("/webhook-endpoints", &json!({"url": url, "events": ["order.created"]})).await;
        let problem = problem.problem(422, "validation_failed");
        assert_eq!(
            (problem["errors"][0]["field"].as_str(), problem["errors"][0]["code"].as_str()),
            (Some("url"), Some("private_address")),
            "{url}: {problem}"
        );
    }
    let unknown = app
        .post_json("/webhook-endpoints", &json!({"url": "http://no-such-host.invalid/", "events": ["order.created"]}))
        .await;
    assert_eq!(unknown.problem(422, "validation_failed")["errors"][0]["code"], "unresolvable");
    assert_eq!(app.db.count("webhook_endpoints").await, 0);

    let allowed = spawn_app_with(backend, ALLOW_PRIVATE).await;
    register(&allowed, "http://127.0.0.1:8000/hook", &["order.created"]).await;
}

async fn endpoints_need_an_admin_key(backend: Backend) {
    let app = spawn_app_with(backend, ALLOW_PRIVATE).await;
    let created = register(&app, "http://127.0.0.1:9/", &["order.created"]).await;
    let path = format!("/webhook-endpoints/{}", created["id"].as_str().unwrap());
    let writer = app.with_key(issue_key(&app.db.url, &[Scope::OrdersRead, Scope::OrdersWrite]).await);
    writer.wait_for_key().await;
    let body = json!({"url": "http://127.0.0.1:9/", "events": ["order.created"]});
    writer.post_json("/webhook-endpoints", &body).await.problem(403, "insufficient_scope");
    writer.get("/webhook-endpoints").await.problem(403, "insufficient_scope");
    writer.get(&path).await.problem(403, "insufficient_scope");
    writer.request(awc::http::Method::DELETE, &path, &[], None).await.problem(403, "insufficient_scope");
    app.anonymous().get("/webhook-endpoints").await.problem(401, "unauthenticated");
    app.anonymous().post_json("/webhook-endpoints", &body).await.problem(401, "unauthenticated");
    assert_eq!(app.db.count("webhook_endpoints").await, 1);
}

async fn deliveries_are_queued_for_enabled_subscribed_endpoints_only(backend: Backend) {
    // No dispatcher: the queue is looked at as it was written.
    let app = spawn_app_with(backend, &[("WEBHOOK_ALLOW_PRIVATE", "true"), ("MAIL_DISPATCHER", "off")]).await;
    let created_only = register(&app, "http://127.0.0.1:9/a", &["order.created"]).await;
    let changes_only = register(&app, "http://127.0.0.1:9/b", &["order.status_changed"]).await;
    let disabled = register(&app, "http://127.0.0.1:9/c", &["order.created", "order.status_changed"]).await;
    let path = format!("/webhook-endpoints/{}", disabled["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"enabled": false}), &[]).await;

    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    app.patch_json(&format!("/orders/{id}/status"), &json!({"status": "processing"}), &[]).await;
    let queued = app.db.count("webhook_deliveries").await;
    assert_eq!(queued, 2, "one per event and subscribed, enabled endpoint");
    for (endpoint, event) in [(&created_only, "order.created"), (&changes_only, "order.status_changed")] {
        let sql = format!(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = '{}' AND event_type = '{event}' AND state = 'pending'",
            endpoint["id"].as_str().unwrap()
        );
        assert_eq!(app.db.scalar(&sql).await, 1, "{event}");
    }
}

async fn deleting_an_endpoint_fails_its_waiting_deliveries(backend: Backend) {
    let app = spawn_app_with(backend, &[("WEBHOOK_ALLOW_PRIVATE", "true"), ("MAIL_DISPATCHER", "off")]).await;
    let endpoint = register(&app, "http://127.0.0.1:9/a", &["order.created"]).await;
    app.create_order(&sample_order()).await;
    let path = format!("/webhook-endpoints/{}", endpoint["id"].as_str().unwrap());
    assert_eq!(app.request(awc::http::Method::DELETE, &path, &[], None).await.status, 204);
    let failed = app.db.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'failed' AND last_error = 'the webhook endpoint was deleted'").await;
    assert_eq!(failed, 1);
    let listed = app.get("/deliveries?kind=webhook").await.json();
    let delivery = listed["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["items"][0]["state"], "failed");
    let refused = app.post_json(&format!("/deliveries/{delivery}/retry"), &json!({})).await;
    let problem = refused.problem(409, "delivery_not_failed");
    assert!(problem["detail"].as_str().unwrap().contains("endpoint was deleted"), "{problem}");
    app.create_order(&sample_order()).await;
    assert_eq!(app.db.count("webhook_deliveries").await, 1, "a deleted endpoint gets nothing new");
}
