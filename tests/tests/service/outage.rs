//! A real PostgreSQL goes away and comes back, or ends sessions under running
//! queries: the service answers 503 within a bounded time while it is gone and
//! serves again, without a restart, once it is back.

use std::time::Duration;

use actix_web::http::Method;
use harness::{
    Api, Backend, PrivatePostgres, ServerProcess, SinkMode, SmtpSink, TestDatabase, admin_client, eventually,
    sample_order, skip_postgres, spawn_app_on,
};

#[actix_web::test]
async fn the_service_rides_out_a_database_outage() {
    if skip_postgres() {
        return;
    }
    let postgres = PrivatePostgres::start();
    let db = TestDatabase::existing(Backend::Postgres, postgres.url());
    let app = spawn_app_on(db, &[("DATABASE_TIMEOUT_MS", "1000"), ("MAIL_SWEEP_INTERVAL_MS", "200")]).await;
    // A request that hangs fails the test instead of stalling it.
    let api = Api::with_timeout(app.address.clone(), Duration::from_secs(15)).with_key(app.key.clone().unwrap());

    let before = api.create_order(&sample_order()).await;
    let before_id = before["id"].as_str().unwrap().to_owned();
    app.settled_email(&before_id).await;

    postgres.down();
    let path = format!("/orders/{before_id}");
    for response in [
        api.get("/orders").await,
        api.get(&path).await,
        api.get(&format!("{path}/status")).await,
        api.post_json("/orders", &sample_order()).await,
        api.get("/health/ready").await,
    ] {
        response.problem(503, "unavailable");
    }
    assert_eq!(api.get("/health/live").await.status, 200, "liveness does not depend on the database");

    postgres.up();
    eventually("readiness after the database returns", async || {
        (api.get("/health/ready").await.status == 200).then_some(())
    })
    .await;
    let after = api.create_order(&sample_order()).await;
    let after_id = after["id"].as_str().unwrap();
    assert_eq!(api.get(&path).await.json()["id"], before_id.as_str());
    let status = app.settled_email(after_id).await;
    assert_eq!(status["confirmation_email"]["state"], "sent", "the dispatcher recovered too");
    assert_eq!(app.emails.sent().len(), 2);
}

/// Sessions the database ends while they run a query — `pg_terminate_backend`,
/// or a fast shutdown, which does the same to every session (SQLSTATE 57P01) —
/// fail their requests with 503, never 500.
#[actix_web::test]
async fn requests_on_terminated_sessions_answer_503() {
    if skip_postgres() {
        return;
    }
    let postgres = PrivatePostgres::start();
    let db = TestDatabase::existing(Backend::Postgres, postgres.url());
    // Room for every request below to hold a connection, and time for them
    // to wait on the lock rather than time out.
    let app = spawn_app_on(db, &[("DATABASE_POOL_SIZE", "20"), ("DATABASE_TIMEOUT_MS", "20000")]).await;
    let api = Api::with_timeout(app.address.clone(), Duration::from_secs(30)).with_key(app.key.clone().unwrap());
    let id = api.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned();
    app.settled_email(&id).await;

    // A lock held by another session keeps each request inside its query
    // until its session is terminated.
    let holder = admin_client(&postgres.url()).await;
    holder.batch_execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let holder_pid: i32 = holder.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let (order, status) = (format!("/orders/{id}"), format!("/orders/{id}/status"));
    let new_order = serde_json::to_vec(&sample_order()).unwrap();
    let change = br#"{"status": "processing"}"#.as_slice();
    // One create: two concurrent ones may share a batch, and so a session.
    let calls = [
        (Method::POST, "/orders", Some(new_order.as_slice())),
        (Method::GET, "/orders", None),
        (Method::GET, order.as_str(), None),
        (Method::GET, status.as_str(), None),
        (Method::PATCH, status.as_str(), Some(change)),
    ];
    let json = [("content-type", "application/json")];
    let requests = futures_util::future::join_all(calls.iter().map(|(method, path, body)| {
        let headers = if body.is_some() { json.as_slice() } else { &[] };
        api.request(method.clone(), path, headers, *body)
    }));
    let terminate = async {
        // A client of its own: pg_stat_activity stays as first read for the
        // rest of a transaction.
        let admin = admin_client(&postgres.url()).await;
        eventually("every request to wait on the lock", async || {
            let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'";
            (admin.query_one(waiting, &[]).await.unwrap().get::<_, i64>(0) == calls.len() as i64).then_some(())
        })
        .await;
        let terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE pid NOT IN (pg_backend_pid(), $1) AND datname = current_database()";
        admin.execute(terminate, &[&holder_pid]).await.unwrap();
        holder.batch_execute("ROLLBACK").await.unwrap();
    };
    let (responses, ()) = tokio::join!(requests, terminate);
    for response in &responses {
        response.problem(503, "unavailable");
    }

    eventually("service after the sessions were replaced", async || {
        (api.post_json("/orders", &sample_order()).await.status == 201).then_some(())
    })
    .await;
}

/// The database goes away between the SMTP server's `250` and the record of
/// it: the record is retried, so once the database is back every email shows
/// `sent`, and none is sent again when its lease runs out.
#[actix_web::test]
async fn an_outage_after_a_send_leaves_each_email_sent_once() {
    if skip_postgres() {
        return;
    }
    const ORDERS: usize = 5;
    let postgres = PrivatePostgres::start();
    let sink = SmtpSink::start().await;
    // Sends are in flight, not acknowledged, when the database goes.
    sink.set_mode(SinkMode::Stall);
    let (url, smtp) = (postgres.url(), sink.url());
    let server = ServerProcess::start(
        postgres.dir(),
        &[
            ("DATABASE_URL", &url),
            ("DATABASE_TIMEOUT_MS", "500"),
            ("MAIL_TRANSPORT", "smtp"),
            ("SMTP_URL", &smtp),
            ("MAIL_FROM", "Shop <shop@example.com>"),
            // Short, so a claim whose outcome was not recorded is sent again within the test.
            ("MAIL_LEASE_SECS", "10"),
        ],
    );
    server.wait_ready().await;
    let api = Api::with_timeout(format!("http://127.0.0.1:{}", server.port), Duration::from_secs(15))
        .with_key(server.api().key.unwrap());
    for _ in 0..ORDERS {
        api.create_order(&sample_order()).await;
    }
    eventually("a send in flight", async || (sink.transmitted() > 0).then_some(())).await;

    postgres.down();
    sink.set_mode(SinkMode::Accept);
    server.wait_for_output("could not record sent emails").await;
    postgres.up();

    let orders = eventually("every email to show sent", async || {
        let orders = api.all_orders("").await;
        orders.iter().all(|o| o["confirmation_email"]["state"] == "sent").then_some(orders)
    })
    .await;
    assert_eq!(orders.len(), ORDERS);
    let counts = sink.message_id_counts();
    for order in &orders {
        // Sent on the first claim, so never claimed, nor sent, again.
        assert_eq!(order["confirmation_email"]["attempts"], 1, "{order}");
        let message_id = format!("<order-{}.confirmation@example.com>", order["id"].as_str().unwrap());
        assert_eq!(counts.get(&message_id), Some(&1), "{message_id}: {counts:?}");
    }
    assert_eq!(sink.received().len(), ORDERS, "exactly one email per order");
}
