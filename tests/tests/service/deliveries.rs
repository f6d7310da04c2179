//! What an operator sees of the outboxes, `GET /deliveries`, and how a
//! failed delivery is put back, `POST /deliveries/{id}/retry`: emails and
//! webhooks alike, with an `admin` key only.

use actix_web::http::Method;
use harness::{Api, Backend, Response, TestApp, on_both_backends, sample_order, spawn_app_with};
use serde_json::{Value, json};

on_both_backends!(
    emails_are_listed_newest_first_by_each_filter_and_paged_with_the_cursor,
    deliveries_need_the_admin_scope,
    retry_brings_back_a_failed_email,
    only_a_failed_delivery_can_be_retried,
    webhook_deliveries_are_listed_with_the_emails_and_retried,
);

/// The ids of a page's items.
fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect()
}

/// Every delivery `query` selects, page by page of `limit`; asserts each
/// page but the last is full.
async fn all_pages(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/deliveries?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let response = app.get(&path).await;
        assert_eq!(response.status, 200, "{path}: {}", String::from_utf8_lossy(&response.body));
        let page = response.json();
        let items = ids(&page);
        all.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "{path}: a page before the last is full");
                cursor = Some(next.to_owned());
            }
            None => return all,
        }
    }
}

/// `POST /deliveries/{id}/retry`, without a body.
async fn retry(api: &Api, id: &str) -> Response {
    api.request(Method::POST, &format!("/deliveries/{id}/retry"), &[], None).await
}

/// Creates an order and waits for its email to be sent or given up.
async fn order_with_settled_email(app: &TestApp) -> (String, Value) {
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let status = app.settled_email(&id).await;
    (id, status["confirmation_email"].clone())
}

async fn emails_are_listed_newest_first_by_each_filter_and_paged_with_the_cursor(backend: Backend) {
    let app = spawn_app_with(backend, &[("MAIL_MAX_ATTEMPTS", "1")]).await;
    // The first two emails fail on their only attempt; the other three go.
    app.emails.fail_next(2);
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(order_with_settled_email(&app).await);
    }
    let states: Vec<&str> = created.iter().map(|(_, email)| email["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["failed", "failed", "sent", "sent", "sent"]);
    let newest_first: Vec<String> = created.iter().rev().map(|(id, _)| id.clone()).collect();

    let page = app.get("/deliveries?kind=email").await.json();
    assert_eq!(ids(&page), newest_first, "an email's id is its order's");
    assert_eq!(page["next_cursor"], Value::Null);
    let (failed_id, _) = &created[0];
    let failed = &page["items"][4];
    assert_eq!(failed["kind"], "email");
    assert_eq!(failed["order_id"], failed_id.as_str());
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["last_error"], "recording sender told to fail");
    assert_eq!(failed["next_attempt_at"], Value::Null);
    assert_eq!(failed["sent_at"], Value::Null);
    assert_eq!(failed["recipient"], "ada@example.com");
    assert!(failed["created_at"].as_str().unwrap().ends_with('Z'));
    for webhook_only in ["event_id", "event_type", "endpoint_id"] {
        assert!(failed.get(webhook_only).is_none(), "{webhook_only} on an email");
    }
    let sent = &page["items"][0];
    assert_eq!((sent["state"].as_str(), sent["last_error"].as_str()), (Some("sent"), None));
    assert!(sent["sent_at"].is_string());

    // Without a kind: the same, as no webhook was queued.
    assert_eq!(ids(&app.get("/deliveries").await.json()), newest_first);
    assert!(ids(&app.get("/deliveries?kind=webhook").await.json()).is_empty());
    assert_eq!(ids(&app.get("/deliveries?state=failed").await.json()), newest_first[3..]);
    assert_eq!(ids(&app.get("/deliveries?state=sent&kind=email").await.json()), newest_first[..3]);
    assert!(ids(&app.get("/deliveries?state=pending").await.json()).is_empty());
    let one = &created[2].0;
    assert_eq!(ids(&app.get(&format!("/deliveries?order_id={one}")).await.json()), [one.as_str()]);
    let unknown = uuid::Uuid::now_v7();
    assert!(ids(&app.get(&format!("/deliveries?order_id={unknown}")).await.json()).is_empty());

    // Paging: every delivery once, in the same order, whatever the page size.
    for limit in [1, 2, 4, 5] {
        assert_eq!(all_pages(&app, "", limit).await, newest_first, "limit {limit}");
    }
    assert_eq!(all_pages(&app, "&state=sent", 2).await, newest_first[..3]);
    assert_eq!(all_pages(&app, "&kind=email&state=failed", 1).await, newest_first[3..]);

    for bad in
        ["kind=sms", "kind=", "state=PENDING", "state=lost", "order_id=nope", "limit=0", "limit=201", "cursor=garbage"]
    {
        let problem = app.get(&format!("/deliveries?{bad}")).await.problem(400, "invalid_query");
        let name = bad.split('=').next().unwrap();
        assert!(problem["detail"].as_str().unwrap().contains(name), "{bad}: {problem}");
    }
}

async fn deliveries_need_the_admin_scope(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let (id, _) = order_with_settled_email(&app).await;

    let anonymous = app.anonymous();
    anonymous.get("/deliveries").await.problem(401, "unauthenticated");
    retry(&anonymous, &id).await.problem(401, "unauthenticated");

    for scope in ["orders:read", "orders:write"] {
        let issued = app.post_json("/api-keys", &json!({"name": "not an operator", "scopes": [scope]})).await;
        assert_eq!(issued.status, 201);
        let orders_only = app.with_key(issued.json()["secret"].as_str().unwrap());
        assert_eq!(orders_only.get("/orders").await.status, 200, "{scope}: the key works");
        let problem = orders_only.get("/deliveries").await.problem(403, "insufficient_scope");
        assert!(problem["detail"].as_str().unwrap().contains("admin"), "{problem}");
        retry(&orders_only, &id).await.problem(403, "insufficient_scope");
    }

    let issued = app.post_json("/api-keys", &json!({"name": "operator", "scopes": ["admin"]})).await;
    let admin = app.with_key(issued.json()["secret"].as_str().unwrap());
    assert_eq!(ids(&admin.get("/deliveries").await.json()), [id]);
}

async fn retry_brings_back_a_failed_email(backend: Backend) {
    let app = spawn_app_with(backend, &[("MAIL_MAX_ATTEMPTS", "2"), ("MAIL_RETRY_BASE_MS", "20")]).await;
    app.emails.fail_next(2);
    let (id, email) = order_with_settled_email(&app).await;
    assert_eq!((email["state"].as_str(), email["attempts"].as_i64()), (Some("failed"), Some(2)));

    let retried = retry(&app, &id).await;
    assert_eq!(retried.status, 200, "{}", String::from_utf8_lossy(&retried.body));
    let retried = retried.json();
    assert_eq!(retried["id"], id.as_str());
    assert_eq!(retried["kind"], "email");
    assert_eq!(retried["state"], "pending");
    assert_eq!(retried["attempts"], 2, "the counter keeps counting");
    assert_eq!(retried["last_error"], "recording sender told to fail");
    assert!(retried["next_attempt_at"].is_string());

    // One more attempt, and the transport takes it now.
    let status = app.settled_email(&id).await;
    assert_eq!(status["confirmation_email"]["state"], "sent");
    assert_eq!(status["confirmation_email"]["attempts"], 3);
    assert_eq!(status["confirmation_email"]["last_error"], Value::Null);
    assert_eq!(app.emails.sent().len(), 1);
    let events = app.get(&format!("/orders/{id}/events")).await.json();
    let types: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["order.created", "order.confirmation_email.failed", "order.confirmation_email.sent"]);

    // Sent now: nothing to retry.
    let problem = retry(&app, &id).await.problem(409, "delivery_not_failed");
    assert!(problem["detail"].as_str().unwrap().contains("sent"), "{problem}");
}

async fn only_a_failed_delivery_can_be_retried(backend: Backend) {
    // One failed attempt, and the next one ten minutes away: pending.
    let app = spawn_app_with(backend, &[("MAIL_MAX_ATTEMPTS", "5"), ("MAIL_RETRY_BASE_MS", "600000")]).await;
    app.emails.fail_next(1);
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let pending = harness::eventually("a failed attempt", async || {
        let page = app.get(&format!("/deliveries?order_id={id}")).await.json();
        let delivery = page["items"][0].clone();
        delivery["last_error"].is_string().then_some(delivery)
    })
    .await;
    assert_eq!(pending["state"], "pending");
    assert!(pending["next_attempt_at"].is_string());

    let problem = retry(&app, &id).await.problem(409, "delivery_not_failed");
    assert!(problem["detail"].as_str().unwrap().contains("pending"), "{problem}");
    let after = app.get(&format!("/deliveries?order_id={id}")).await.json();
    assert_eq!(after["items"][0], pending, "nothing changed");

    retry(&app, &uuid::Uuid::now_v7().to_string()).await.problem(404, "not_found");
    retry(&app, "not-a-uuid").await.problem(404, "not_found");
    app.get(&format!("/deliveries/{id}/retry")).await.problem(405, "method_not_allowed");
}

/// A time as the tables store it (SQLite compares them as text).
fn at(text: &str) -> String {
    format!("'{text}'")
}

async fn webhook_deliveries_are_listed_with_the_emails_and_retried(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let (order_id, _) = order_with_settled_email(&app).await;
    let (endpoint, event) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let (newer, older) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    // One delivery queued after the email (failed), one before it (sent).
    // The endpoint is disabled, so the dispatcher leaves the retried one pending.
    let future = at("2099-01-01T00:00:00.000001Z");
    let past = at("2020-01-01T00:00:00.000000Z");
    app.db
        .execute(&format!(
            "INSERT INTO webhook_endpoints (id, url, secret, enabled, created_at, updated_at) \
             VALUES ('{endpoint}', 'https://example.com/hook', 'whsec_test', FALSE, {past}, {past}); \
             INSERT INTO order_events (id, order_id, type, occurred_at, payload) \
             VALUES ('{event}', '{order_id}', 'order.created', {past}, '{{}}'); \
             INSERT INTO webhook_deliveries \
             (id, event_id, endpoint_id, order_id, event_type, state, attempts, available_at, sent_at, last_error, created_at) \
             VALUES ('{newer}', '{event}', '{endpoint}', '{order_id}', 'order.created', 'failed', 3, {future}, NULL, \
                     'the endpoint answered 500', {future}), \
                    ('{older}', '{event}', '{endpoint}', '{order_id}', 'order.created', 'sent', 1, {past}, {past}, \
                     NULL, {past});"
        ))
        .await;
    let (newer, older) = (newer.to_string(), older.to_string());

    let page = app.get("/deliveries").await.json();
    assert_eq!(ids(&page), [newer.clone(), order_id.clone(), older.clone()], "both kinds in one order");
    let kinds: Vec<&str> = page["items"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["webhook", "email", "webhook"]);
    let failed = &page["items"][0];
    assert_eq!(failed["order_id"], order_id.as_str());
    assert_eq!(failed["event_id"], event.to_string());
    assert_eq!(failed["event_type"], "order.created");
    assert_eq!(failed["endpoint_id"], endpoint.to_string());
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["last_error"], "the endpoint answered 500");
    assert_eq!(failed["created_at"], "2099-01-01T00:00:00.000001Z");
    assert_eq!(failed["next_attempt_at"], Value::Null);
    assert!(failed.get("recipient").is_none(), "recipient on a webhook");
    assert_eq!(page["items"][2]["sent_at"], "2020-01-01T00:00:00.000000Z");

    assert_eq!(all_pages(&app, "", 1).await, [newer.clone(), order_id.clone(), older.clone()]);
    assert_eq!(
        all_pages(&app, &format!("&order_id={order_id}"), 2).await,
        [newer.clone(), order_id.clone(), older.clone()]
    );
    assert_eq!(all_pages(&app, "&kind=webhook", 1).await, [newer.clone(), older.clone()]);
    assert_eq!(ids(&app.get("/deliveries?kind=webhook&state=failed").await.json()), [newer.as_str()]);
    assert_eq!(ids(&app.get("/deliveries?state=sent").await.json()), [order_id.clone(), older.clone()]);

    let retried = retry(&app, &newer).await;
    assert_eq!(retried.status, 200, "{}", String::from_utf8_lossy(&retried.body));
    let retried = retried.json();
    assert_eq!(retried["kind"], "webhook");
    assert_eq!(retried["state"], "pending");
    assert_eq!(retried["attempts"], 3);
    assert_eq!(retried["event_id"], event.to_string());
    let due = retried["next_attempt_at"].as_str().unwrap();
    assert!(due < "2099", "due now, not when it was queued: {due}");
    assert_eq!(ids(&app.get("/deliveries?kind=webhook&state=pending").await.json()), [newer.as_str()]);
    assert_eq!(app.get("/deliveries?kind=webhook&state=pending").await.json()["items"][0], retried);

    let problem = retry(&app, &older).await.problem(409, "delivery_not_failed");
    assert!(problem["detail"].as_str().unwrap().contains("sent"), "{problem}");
    retry(&app, &newer).await.problem(409, "delivery_not_failed");
}
