//! The email outbox across real processes: a crash mid-send, several servers
//! on one PostgreSQL, a commit in one process waking another, and a graceful
//! shutdown that finishes the send in flight.

use harness::{
    Api, Backend, ServerProcess, SinkMode, SmtpSink, TestDatabase, eventually, on_both_backends, sample_order,
    skip_postgres, temp_dir,
};
use serde_json::{Value, json};

on_both_backends!(
    a_crash_mid_send_loses_nothing_and_sends_nothing_twice,
    a_graceful_shutdown_finishes_the_send_in_flight
);

fn server(dir: &std::path::Path, db: &TestDatabase, sink: &SmtpSink, extra: &[(&str, &str)]) -> ServerProcess {
    let url = sink.url();
    let mut vars = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("MAIL_TRANSPORT", "smtp"),
        ("SMTP_URL", url.as_str()),
        ("MAIL_FROM", "Shop <shop@example.com>"),
        ("MAIL_RETRY_BASE_MS", "50"),
        ("MAIL_MAX_ATTEMPTS", "100"),
        ("LOG_FORMAT", "json"),
    ];
    vars.extend_from_slice(extra);
    ServerProcess::start(dir, &vars)
}

/// Every order, read through `api`, once every email has settled.
async fn all_settled(api: &Api, expected: usize) -> Vec<Value> {
    eventually("every email to settle", async || {
        let orders = api.all_orders("").await;
        let settled = orders.iter().all(|o| o["confirmation_email"]["state"] != "pending");
        (orders.len() == expected && settled).then_some(orders)
    })
    .await
}

fn expected_message_id(order: &Value) -> String {
    format!("<order-{}.confirmation@example.com>", order["id"].as_str().unwrap())
}

const CRASH_ORDERS: usize = 40;

async fn a_crash_mid_send_loses_nothing_and_sends_nothing_twice(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let dir = temp_dir("proc");
    let sink = SmtpSink::start().await;
    sink.set_mode(SinkMode::Stall);
    // A short lease, so the restarted server takes over the dead one's claims quickly.
    let crash_settings = [("MAIL_LEASE_SECS", "2")];

    let mut first = server(&dir, &db, &sink, &crash_settings);
    first.wait_ready().await;
    let api = first.api();
    let mut acknowledged = Vec::new();
    for _ in 0..CRASH_ORDERS {
        acknowledged.push(api.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned());
    }
    // Sends are in flight, their messages transmitted but not acknowledged.
    eventually("a stalled send", async || (sink.transmitted() > 0).then_some(())).await;
    first.signal("KILL");
    first.wait_exit().await;
    assert!(sink.received().is_empty(), "nothing was acknowledged before the crash");

    sink.set_mode(SinkMode::Accept);
    let second = server(&dir, &db, &sink, &crash_settings);
    second.wait_ready().await;
    let orders = all_settled(&second.api(), CRASH_ORDERS).await;

    let ids: Vec<&str> = orders.iter().map(|o| o["id"].as_str().unwrap()).collect();
    for id in &acknowledged {
        assert!(ids.contains(&id.as_str()), "acknowledged order {id} was lost");
    }
    let counts = sink.message_id_counts();
    for order in &orders {
        assert_eq!(order["confirmation_email"]["state"], "sent", "{order}");
        assert_eq!(counts.get(&expected_message_id(order)), Some(&1), "{}", order["id"]);
    }
    assert_eq!(sink.received().len(), CRASH_ORDERS, "exactly one email per order");
    let _ = std::fs::remove_dir_all(dir);
}

async fn a_graceful_shutdown_finishes_the_send_in_flight(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let dir = temp_dir("proc");
    let sink = SmtpSink::start().await;
    // The server takes a while to acknowledge: the send is in flight when SIGTERM comes.
    sink.set_delay(std::time::Duration::from_millis(1500));
    let mut process = server(&dir, &db, &sink, &[]);
    process.wait_ready().await;
    process.api().create_order(&sample_order()).await;
    eventually("the send to start", async || (sink.transmitted() == 1).then_some(())).await;
    process.signal("TERM");
    assert!(process.wait_exit().await.success(), "{}", process.output());
    assert_eq!(sink.received().len(), 1, "the send in flight was finished");
    assert_eq!(db.count("email_outbox WHERE state = 'sent' AND attempts = 1").await, 1, "and its outcome recorded");
    let _ = std::fs::remove_dir_all(dir);
}

const SCALE_OUT_ORDERS: usize = 300;

/// Three servers on one PostgreSQL database: every email claimed and sent once.
#[actix_web::test]
async fn several_servers_on_one_postgres_send_each_email_exactly_once() {
    if skip_postgres() {
        return;
    }
    let db = TestDatabase::create(Backend::Postgres).await;
    let dir = temp_dir("proc");
    let sink = SmtpSink::start().await;
    let servers: Vec<ServerProcess> = (0..3).map(|_| server(&dir, &db, &sink, &[])).collect();
    for server in &servers {
        server.wait_ready().await;
    }
    let apis: Vec<Api> = servers.iter().map(ServerProcess::api).collect();
    // Ten clients at a time, spread over the three servers.
    for chunk in (0..SCALE_OUT_ORDERS).collect::<Vec<_>>().chunks(10) {
        let creates = chunk.iter().map(|i| {
            let api = &apis[i % apis.len()];
            let mut body = sample_order();
            body["customer_name"] = json!(format!("Customer {i}"));
            async move { api.create_order(&body).await }
        });
        futures_util::future::join_all(creates).await;
    }
    let orders = all_settled(&apis[0], SCALE_OUT_ORDERS).await;
    let counts = sink.message_id_counts();
    for order in &orders {
        assert_eq!(order["confirmation_email"]["state"], "sent", "{order}");
        assert_eq!(order["confirmation_email"]["attempts"], 1, "claimed once: {order}");
        assert_eq!(counts.get(&expected_message_id(order)), Some(&1), "{}", order["id"]);
    }
    assert_eq!(sink.received().len(), SCALE_OUT_ORDERS);
    let _ = std::fs::remove_dir_all(dir);
}

/// A commit in a process that does not send wakes the one that does, through
/// LISTEN/NOTIFY, long before its hourly sweep.
#[actix_web::test]
async fn a_commit_in_one_process_wakes_the_dispatcher_of_another() {
    if skip_postgres() {
        return;
    }
    let db = TestDatabase::create(Backend::Postgres).await;
    let dir = temp_dir("proc");
    let sink = SmtpSink::start().await;
    let api_only = server(&dir, &db, &sink, &[("MAIL_DISPATCHER", "off")]);
    let sender = server(&dir, &db, &sink, &[("MAIL_SWEEP_INTERVAL_MS", "3600000")]);
    api_only.wait_ready().await;
    sender.wait_ready().await;
    for _ in 0..3 {
        let order = api_only.api().create_order(&sample_order()).await;
        let id = order["id"].as_str().unwrap().to_owned();
        eventually("the other process to send it", async || {
            let status = api_only.api().get(&format!("/orders/{id}/status")).await.json();
            (status["confirmation_email"]["state"] == "sent").then_some(())
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sink.received().len(), 3);
    assert!(!api_only.output().contains("email dispatcher started"), "the API-only process sent nothing");
    let _ = std::fs::remove_dir_all(dir);
}
