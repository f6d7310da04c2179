//! Webhook delivery: each event posted, signed, to every endpoint subscribed
//! to its type, in order, retried, given up on, and never in the way of the
//! emails or of other endpoints; across a crash, and across processes.

use std::time::{Duration, Instant};

use harness::{
    Api, Backend, Behaviour, ServerProcess, TestApp, TestDatabase, WebhookReceiver, eventually, on_both_backends,
    sample_order, skip_postgres, spawn_app_with, temp_dir,
};
use serde_json::{Value, json};

on_both_backends!(
    every_delivery_is_signed_and_is_the_orders_event_in_order,
    a_receiver_failing_three_times_gets_the_event_on_attempt_4,
    after_the_last_attempt_a_delivery_is_failed_and_a_retry_sends_it,
    a_hanging_receiver_holds_up_neither_the_emails_nor_other_endpoints,
    a_hanging_endpoint_with_a_backlog_holds_no_more_than_its_cap,
    a_redirect_is_not_followed,
    a_disabled_endpoint_receives_nothing_until_enabled,
    a_private_address_is_refused_at_delivery,
    a_crash_mid_delivery_loses_no_event,
);

/// The current time and `true`, as each backend's SQL writes them.
fn sql_now_and_true(backend: Backend) -> (String, &'static str) {
    match backend {
        Backend::Postgres => ("now()".to_owned(), "true"),
        Backend::Sqlite => (format!("'{}'", domain::Timestamp::now().to_rfc3339()), "1"),
    }
}

async fn set_enabled(app: &TestApp, endpoint: &str, enabled: bool) {
    let response = app.patch_json(&format!("/webhook-endpoints/{endpoint}"), &json!({"enabled": enabled}), &[]).await;
    assert_eq!(response.status, 200);
}

/// Retries in tens of milliseconds, so that a test sees several attempts quickly.
async fn spawn(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_RETRY_BASE_MS", "20"),
        ("WEBHOOK_TIMEOUT_MS", "2000"),
        ("WEBHOOK_SWEEP_INTERVAL_MS", "100"),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(backend, &vars).await
}

const WAIT: Duration = Duration::from_secs(10);

async fn timeline(app: &TestApp, order_id: &str) -> Vec<Value> {
    let response = app.get(&format!("/orders/{order_id}/events")).await;
    assert_eq!(response.status, 200);
    response.json()["items"].as_array().unwrap().clone()
}

/// Deliveries in the table matching `condition` (SQL over its columns).
async fn deliveries(app: &TestApp, condition: &str) -> i64 {
    app.db.count(&format!("webhook_deliveries WHERE {condition}")).await
}

async fn every_delivery_is_signed_and_is_the_orders_event_in_order(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let receiver = WebhookReceiver::start().await;
    let all =
        ["order.created", "order.status_changed", "order.confirmation_email.sent", "order.confirmation_email.failed"];
    let (_, secret) = app.subscribe(&receiver.url("/all"), &all).await;
    let (_, other_secret) = app.subscribe(&receiver.url("/created"), &["order.created"]).await;

    let id = app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned();
    app.settled_email(&id).await;
    for to in ["processing", "shipped", "delivered"] {
        let moved = app.patch_json(&format!("/orders/{id}/status"), &json!({"status": to}), &[]).await;
        assert_eq!(moved.status, 200);
    }

    let received = receiver.wait_for("/all", 5, WAIT).await;
    let events = timeline(&app, &id).await;
    assert_eq!(events.len(), 5);
    let sent: Vec<(&Value, &Value)> = received.iter().map(|r| (&r.json["id"], &r.json["type"])).collect();
    let recorded: Vec<(&Value, &Value)> = events.iter().map(|e| (&e["id"], &e["type"])).collect();
    assert_eq!(sent, recorded, "the endpoint got the order's events, in order");
    for (delivery, event) in received.iter().zip(&events) {
        assert_eq!(receiver.verify(delivery, &secret), Ok(()));
        assert_eq!(delivery.header("orders-event-id"), event["id"].as_str());
        assert_eq!(delivery.json["data"], event["data"]);
        assert_eq!(delivery.json["created_at"], event["created_at"]);
    }
    assert_eq!(received[2].json["data"]["from"], "pending");
    assert_eq!(received[2].json["data"]["to"], "processing");

    let created = receiver.wait_for("/created", 1, WAIT).await;
    assert_eq!(receiver.verify(&created[0], &other_secret), Ok(()));
    assert!(receiver.verify(&created[0], &secret).is_err(), "each endpoint signs with its own secret");
    eventually("every delivery recorded sent", async || (deliveries(&app, "state = 'sent'").await == 6).then_some(()))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received("/created").len(), 1, "subscribed to order.created only");
}

async fn a_receiver_failing_three_times_gets_the_event_on_attempt_4(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let receiver = WebhookReceiver::start().await;
    receiver.answer("/flaky", Behaviour::FailTimes(3));
    let (_, secret) = app.subscribe(&receiver.url("/flaky"), &["order.created"]).await;
    let id = app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned();

    let received = receiver.wait_for("/flaky", 4, WAIT).await;
    let event_id = timeline(&app, &id).await[0]["id"].clone();
    for attempt in &received {
        assert_eq!(attempt.json["id"], event_id, "every attempt carries the same event");
        assert_eq!(receiver.verify(attempt, &secret), Ok(()));
    }
    assert_eq!(received[3].attempt_no, 4);
    eventually("the delivery recorded sent on attempt 4", async || {
        (deliveries(&app, "state = 'sent' AND attempts = 4 AND last_error IS NULL").await == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received("/flaky").len(), 4, "nothing after the 2xx");
}

async fn after_the_last_attempt_a_delivery_is_failed_and_a_retry_sends_it(backend: Backend) {
    let app = spawn(backend, &[("WEBHOOK_MAX_ATTEMPTS", "3")]).await;
    let receiver = WebhookReceiver::start().await;
    receiver.answer("/broken", Behaviour::Status(500));
    app.subscribe(&receiver.url("/broken"), &["order.created"]).await;
    app.create_order(&sample_order()).await;

    receiver.wait_for("/broken", 3, WAIT).await;
    eventually("the delivery to fail", async || {
        (deliveries(&app, "state = 'failed' AND attempts = 3 AND last_error LIKE 'HTTP 500%'").await == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received("/broken").len(), 3, "no attempt after the last");

    // The receiver is mended; an operator sends the failed delivery again.
    receiver.answer("/broken", Behaviour::Ok);
    let listed = app.get("/deliveries?kind=webhook&state=failed").await.json();
    let delivery = listed["items"][0]["id"].as_str().unwrap().to_owned();
    let retried = app.post_json(&format!("/deliveries/{delivery}/retry"), &json!({})).await;
    assert_eq!(retried.status, 200, "{}", String::from_utf8_lossy(&retried.body));
    let received = receiver.wait_for("/broken", 4, WAIT).await;
    assert_eq!(received[3].json["id"], received[0].json["id"], "the same event, sent again");
    eventually("the retried delivery to be sent", async || {
        (deliveries(&app, "state = 'sent' AND attempts = 4 AND last_error IS NULL").await == 1).then_some(())
    })
    .await;
}

async fn a_hanging_receiver_holds_up_neither_the_emails_nor_other_endpoints(backend: Backend) {
    // The hang lasts the whole time-out: far longer than everything else takes.
    let app = spawn(backend, &[("WEBHOOK_TIMEOUT_MS", "20000")]).await;
    let receiver = WebhookReceiver::start().await;
    receiver.answer("/hang", Behaviour::Hang);
    app.subscribe(&receiver.url("/hang"), &["order.created"]).await;
    app.subscribe(&receiver.url("/ok"), &["order.created"]).await;

    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned());
    }
    receiver.wait_for("/hang", 3, WAIT).await;
    receiver.wait_for("/ok", 3, WAIT).await;
    for id in &ids {
        assert_eq!(app.settled_email(id).await["confirmation_email"]["state"], "sent");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(app.emails.sent().len(), 3);
    assert_eq!(deliveries(&app, "state = 'pending'").await, 3, "the hanging ones are still in flight");
}

const BACKLOG_ORDERS: usize = 40;
const ENDPOINT_CAP: usize = 4;

async fn a_hanging_endpoint_with_a_backlog_holds_no_more_than_its_cap(backend: Backend) {
    // The hang lasts the whole time-out, so every request it received is still in flight.
    let cap = ENDPOINT_CAP.to_string();
    let app = spawn(backend, &[("WEBHOOK_TIMEOUT_MS", "20000"), ("WEBHOOK_ENDPOINT_CONCURRENCY", &cap)]).await;
    let receiver = WebhookReceiver::start().await;
    receiver.answer("/hang", Behaviour::Hang);
    app.subscribe(&receiver.url("/hang"), &["order.created"]).await;
    app.subscribe(&receiver.url("/ok"), &["order.created"]).await;

    let started = Instant::now();
    for _ in 0..BACKLOG_ORDERS {
        app.create_order(&sample_order()).await;
    }
    receiver.wait_for("/ok", BACKLOG_ORDERS, WAIT).await;
    receiver.wait_for("/hang", ENDPOINT_CAP, WAIT).await;
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    // Time for any claim still to come.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received("/hang").len(), ENDPOINT_CAP, "the hanging endpoint holds its cap and no more");
    assert_eq!(receiver.received("/ok").len(), BACKLOG_ORDERS, "each sent once");
    assert_eq!(
        deliveries(&app, "state = 'pending' AND attempts = 1").await,
        ENDPOINT_CAP as i64,
        "claimed: the ones in flight"
    );
}

async fn a_redirect_is_not_followed(backend: Backend) {
    let app = spawn(backend, &[("WEBHOOK_MAX_ATTEMPTS", "1")]).await;
    let receiver = WebhookReceiver::start().await;
    receiver.answer("/moved", Behaviour::Redirect(receiver.url("/elsewhere")));
    app.subscribe(&receiver.url("/moved"), &["order.created"]).await;
    app.create_order(&sample_order()).await;

    receiver.wait_for("/moved", 1, WAIT).await;
    eventually("the delivery to fail", async || {
        (deliveries(&app, "state = 'failed' AND last_error LIKE 'HTTP 307 (redirects are not followed)%'").await == 1)
            .then_some(())
    })
    .await;
    assert!(receiver.received("/elsewhere").is_empty(), "the redirect was followed");
}

async fn a_disabled_endpoint_receives_nothing_until_enabled(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let receiver = WebhookReceiver::start().await;
    let (endpoint, _) = app.subscribe(&receiver.url("/off"), &["order.created"]).await;
    set_enabled(&app, &endpoint, false).await;
    let order = app.create_order(&sample_order()).await;
    let order_id = order["id"].as_str().unwrap();
    assert_eq!(deliveries(&app, "1 = 1").await, 0, "no delivery queued to a disabled endpoint");

    // A delivery queued before the endpoint was disabled waits for it.
    let event_id = timeline(&app, order_id).await[0]["id"].as_str().unwrap().to_owned();
    let (now, _) = sql_now_and_true(app.db.backend);
    app.db
        .execute(&format!(
            "INSERT INTO webhook_deliveries \
             (id, event_id, endpoint_id, order_id, event_type, state, attempts, available_at, created_at) \
             VALUES ('{}', '{event_id}', '{endpoint}', '{order_id}', 'order.created', 'pending', 0, {now}, {now})",
            uuid::Uuid::now_v7()
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received("/off").is_empty(), "a disabled endpoint was sent to");
    assert_eq!(deliveries(&app, "state = 'pending' AND attempts = 0").await, 1, "not even claimed");

    set_enabled(&app, &endpoint, true).await;
    let received = receiver.wait_for("/off", 1, WAIT).await;
    assert_eq!(received[0].json["id"], event_id);
}

async fn a_private_address_is_refused_at_delivery(backend: Backend) {
    let app = spawn(backend, &[("WEBHOOK_ALLOW_PRIVATE", "false")]).await;
    let receiver = WebhookReceiver::start().await;
    // Registration refuses it; written as a row, it stands for a name that
    // resolved to a public address then and to a private one now.
    let body = json!({"url": receiver.url("/inside"), "events": ["order.created"]});
    app.post_json("/webhook-endpoints", &body).await.problem(422, "validation_failed");
    let (id, secret) = (uuid::Uuid::now_v7(), domain::SigningSecret::generate().unwrap());
    let (now, enabled) = sql_now_and_true(app.db.backend);
    app.db
        .execute(&format!(
            "INSERT INTO webhook_endpoints (id, url, secret, enabled, created_at, updated_at) \
             VALUES ('{id}', '{}', '{}', {enabled}, {now}, {now}); \
             INSERT INTO webhook_subscriptions (event_type, endpoint_id) VALUES ('order.created', '{id}');",
            receiver.url("/inside"),
            secret.as_str()
        ))
        .await;
    app.create_order(&sample_order()).await;
    eventually("the delivery to fail at once", async || {
        (deliveries(&app, "state = 'failed' AND attempts = 1 AND last_error LIKE '%private%'").await == 1).then_some(())
    })
    .await;
    assert!(receiver.received("/inside").is_empty());
}

/// A server process delivering webhooks with a time-out of `timeout_ms`
/// (a claim's lease is twice that plus 2 s). Its endpoint may have every
/// slot: these tests hold many deliveries in flight to one endpoint.
fn server(dir: &std::path::Path, db: &TestDatabase, timeout_ms: &str) -> ServerProcess {
    let vars = [
        ("DATABASE_URL", db.url.as_str()),
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_TIMEOUT_MS", timeout_ms),
        ("WEBHOOK_RETRY_BASE_MS", "50"),
        ("WEBHOOK_MAX_ATTEMPTS", "100"),
        ("WEBHOOK_SWEEP_INTERVAL_MS", "200"),
        ("WEBHOOK_ENDPOINT_CONCURRENCY", "32"),
    ];
    ServerProcess::start(dir, &vars)
}

/// The `order.created` event ids of these orders, through `api`.
async fn created_events(api: &Api, orders: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for order in orders {
        let events = api.get(&format!("/orders/{order}/events")).await.json();
        ids.push(events["items"][0]["id"].as_str().unwrap().to_owned());
    }
    ids
}

const CRASH_ORDERS: usize = 10;

async fn a_crash_mid_delivery_loses_no_event(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let dir = temp_dir("webhooks");
    let receiver = WebhookReceiver::start().await;
    receiver.answer("/crash", Behaviour::Hang);
    let mut first = server(&dir, &db, "1000");
    // Ready: the database is migrated.
    first.wait_ready().await;
    let (_, secret) = first.api().subscribe(&receiver.url("/crash"), &["order.created"]).await;
    let mut orders = Vec::new();
    for _ in 0..CRASH_ORDERS {
        orders.push(first.api().create_order(&sample_order()).await["id"].as_str().unwrap().to_owned());
    }
    // Every delivery in flight, none answered, when the process dies.
    receiver.wait_for("/crash", CRASH_ORDERS, WAIT).await;
    first.signal("KILL");
    first.wait_exit().await;
    receiver.answer("/crash", Behaviour::Ok);

    let second = server(&dir, &db, "1000");
    second.wait_ready().await;
    eventually("every delivery to be sent", async || {
        (db.count("webhook_deliveries WHERE state = 'sent'").await == CRASH_ORDERS as i64).then_some(())
    })
    .await;
    let events = created_events(&second.api(), &orders).await;
    let received = receiver.received("/crash");
    for attempt in &received {
        assert_eq!(receiver.verify(attempt, &secret), Ok(()));
        let id = attempt.json["id"].as_str().unwrap();
        assert!(events.iter().any(|event| event == id), "an unknown event id {id}");
    }
    for event in &events {
        let times = received.iter().filter(|r| r.json["id"] == event.as_str()).count();
        assert!(times >= 2, "event {event} was sent {times} time(s): once before the crash, again after");
    }
    let _ = std::fs::remove_dir_all(dir);
}

const SCALE_OUT_ORDERS: usize = 90;

/// Three servers on one PostgreSQL database: each event delivered by exactly one.
#[actix_web::test]
async fn several_servers_on_one_postgres_deliver_each_event_exactly_once() {
    if skip_postgres() {
        return;
    }
    let db = TestDatabase::create(Backend::Postgres).await;
    let dir = temp_dir("webhooks");
    let receiver = WebhookReceiver::start().await;
    // Time enough for a loaded machine: a time-out would rightly send again.
    let servers: Vec<ServerProcess> = (0..3).map(|_| server(&dir, &db, "10000")).collect();
    for server in &servers {
        server.wait_ready().await;
    }
    let (_, secret) = servers[0].api().subscribe(&receiver.url("/many"), &["order.created"]).await;
    let apis: Vec<Api> = servers.iter().map(ServerProcess::api).collect();
    let mut orders = Vec::new();
    for chunk in (0..SCALE_OUT_ORDERS).collect::<Vec<_>>().chunks(10) {
        let creates = chunk.iter().map(|i| {
            let api = &apis[i % apis.len()];
            async move { api.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned() }
        });
        orders.extend(futures_util::future::join_all(creates).await);
    }
    receiver.wait_for("/many", SCALE_OUT_ORDERS, WAIT * 2).await;
    eventually("every delivery recorded sent, each claimed once", async || {
        (db.count("webhook_deliveries WHERE state = 'sent' AND attempts = 1").await == SCALE_OUT_ORDERS as i64)
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received("/many");
    assert_eq!(received.len(), SCALE_OUT_ORDERS, "no event twice");
    let mut sent: Vec<&str> = received.iter().map(|r| r.json["id"].as_str().unwrap()).collect();
    sent.sort_unstable();
    let mut events = created_events(&apis[0], &orders).await;
    events.sort_unstable();
    assert_eq!(sent, events);
    assert!(received.iter().all(|r| receiver.verify(r, &secret).is_ok()));
    let _ = std::fs::remove_dir_all(dir);
}

/// The receiver's check the README shows, run as written by Python on a
/// delivery the service made: it accepts it, and refuses it changed.
#[actix_web::test]
async fn the_readmes_signature_check_accepts_a_real_delivery() {
    let readme = std::fs::read_to_string(harness::workspace_root().join("README.md")).unwrap();
    let start = readme.find("```python\n").expect("README has the Python check") + "```python\n".len();
    let check = &readme[start..start + readme[start..].find("```").unwrap()];

    let app = spawn(Backend::Sqlite, &[]).await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = app.subscribe(&receiver.url("/readme"), &["order.created"]).await;
    app.create_order(&sample_order()).await;
    let delivery = receiver.wait_for("/readme", 1, WAIT).await.remove(0);

    let dir = temp_dir("readme-check");
    std::fs::write(dir.join("body"), &delivery.body).unwrap();
    let script = format!(
        "{check}\nimport sys\nbody = open(sys.argv[3], 'rb').read()\n\
         print(verify(sys.argv[1], sys.argv[2], body), verify(sys.argv[1], sys.argv[2], body + b' '))\n"
    );
    let output = std::process::Command::new("python3")
        .args(["-c", &script, &secret, delivery.signature.as_deref().unwrap()])
        .arg(dir.join("body"))
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "True False");
}
