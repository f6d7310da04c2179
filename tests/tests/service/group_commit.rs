//! Concurrent creates, as both backends write them in shared transactions
//! (group commit): all stored, one failure alone, one key once, and nothing
//! acknowledged lost to a `kill -9`. Against the binary, one
//! process per test, so that `/metrics` counts this test's batches alone.

use std::collections::HashSet;

use actix_web::http::Method;
use harness::{Api, Backend, ServerProcess, TestDatabase, on_both_backends, sample_order, temp_dir};
use serde_json::{Value, json};

on_both_backends!(
    concurrent_creates_are_all_stored,
    a_poisoned_order_fails_alone,
    one_key_sent_concurrently_creates_one_order,
    a_kill_during_concurrent_creates_loses_no_acknowledged_order,
);

const CONCURRENT: usize = 64;

/// One per order, besides the email's events written later.
const CREATED_EVENTS: &str = "order_events WHERE type = 'order.created'";

fn server(dir: &std::path::Path, db: &TestDatabase) -> ServerProcess {
    ServerProcess::start(dir, &[("DATABASE_URL", db.url.as_str()), ("HTTP_WORKERS", "4")])
}

/// A server on `db`, ready, in a folder of its own (the test removes it).
async fn started(db: &TestDatabase) -> (std::path::PathBuf, ServerProcess) {
    let dir = temp_dir("group-commit");
    let process = server(&dir, db);
    process.wait_ready().await;
    (dir, process)
}

/// How many times `/metrics` counts the database operation `operation`.
async fn operations(api: &Api, operation: &str) -> f64 {
    let text = String::from_utf8(api.get("/metrics").await.body).unwrap();
    let label = format!(r#"operation="{operation}""#);
    text.lines()
        .filter(|line| line.starts_with("db_operation_duration_seconds_count{") && line.contains(&label))
        .map(|line| line.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

fn customer(n: impl std::fmt::Display) -> Value {
    let mut body = sample_order();
    body["customer_name"] = json!(format!("Customer {n}"));
    body
}

async fn concurrent_creates_are_all_stored(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let (dir, process) = started(&db).await;
    let api = process.api();

    let creates = (0..CONCURRENT).map(|i| {
        let api = api.clone();
        async move { api.post_json("/orders", &customer(i)).await }
    });
    let responses = futures_util::future::join_all(creates).await;
    let mut ids = HashSet::new();
    for response in &responses {
        assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
        ids.insert(response.json()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), CONCURRENT, "each its own order");
    let stored: HashSet<String> =
        api.all_orders("").await.iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(stored, ids);
    for table in ["orders", "email_outbox", CREATED_EVENTS] {
        assert_eq!(db.count(table).await, CONCURRENT as i64, "{table}");
    }

    let (orders, batches) = (operations(&api, "orders.create").await, operations(&api, "orders.create_batch").await);
    assert_eq!(orders, CONCURRENT as f64);
    assert!(batches >= 1.0 && batches < orders, "{batches} transactions for {orders} concurrent creates");
    let _ = std::fs::remove_dir_all(dir);
}

fn refuse_sku(backend: Backend, sku: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER poison BEFORE INSERT ON order_items WHEN NEW.sku = '{sku}' \
             BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'poisoned by the test'; END $$; \
             CREATE TRIGGER poison BEFORE INSERT ON order_items FOR EACH ROW \
             WHEN (NEW.sku = '{sku}') EXECUTE FUNCTION poison();"
        ),
    }
}

async fn a_poisoned_order_fails_alone(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let (dir, process) = started(&db).await;
    // The line fails after its order went in: the order must go with it.
    db.execute(&refuse_sku(backend, "POISON")).await;
    let api = process.api();

    let poisoned = |i: usize| i % 8 == 3;
    let creates = (0..CONCURRENT).map(|i| {
        let api = api.clone();
        let mut body = customer(i);
        if poisoned(i) {
            body["items"] = json!([{"sku": "BOOK-001", "quantity": 1, "unit_price_cents": 100},
                                   {"sku": "POISON", "quantity": 1, "unit_price_cents": 100}]);
        }
        async move { api.post_json("/orders", &body).await }
    });
    let responses = futures_util::future::join_all(creates).await;
    let mut created = HashSet::new();
    for (i, response) in responses.iter().enumerate() {
        if poisoned(i) {
            response.problem(500, "internal");
        } else {
            assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
            created.insert(response.json()["id"].as_str().unwrap().to_owned());
        }
    }
    let good = (0..CONCURRENT).filter(|i| !poisoned(*i)).count();
    assert_eq!(created.len(), good);
    let stored: HashSet<String> =
        api.all_orders("").await.iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(stored, created, "every good order stored, no poisoned one");
    for table in ["orders", "order_items", "email_outbox", CREATED_EVENTS] {
        assert_eq!(db.count(table).await, good as i64, "{table}: nothing of a poisoned order is left");
    }
    let batches = operations(&api, "orders.create_batch").await;
    assert!(batches < CONCURRENT as f64, "{batches} transactions: the creates were batched");
    let _ = std::fs::remove_dir_all(dir);
}

async fn one_key_sent_concurrently_creates_one_order(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let (dir, process) = started(&db).await;
    let api = process.api();

    // Even requests send one body, odd ones another, all with one key; more
    // requests without a key fly with them.
    let bodies = [serde_json::to_vec(&customer(0)).unwrap(), serde_json::to_vec(&customer(1)).unwrap()];
    let keyed = (0..CONCURRENT).map(|i| {
        let (api, body) = (api.clone(), bodies[i % 2].clone());
        async move {
            let headers = [("content-type", "application/json"), ("idempotency-key", "one-key")];
            (i % 2, api.request(Method::POST, "/orders", &headers, Some(&body)).await)
        }
    });
    let unkeyed = (0..CONCURRENT / 4).map(|i| {
        let api = api.clone();
        async move { api.post_json("/orders", &customer(100 + i)).await }
    });
    let (keyed, unkeyed) =
        futures_util::future::join(futures_util::future::join_all(keyed), futures_util::future::join_all(unkeyed))
            .await;

    let firsts: Vec<&(usize, harness::Response)> =
        keyed.iter().filter(|(_, r)| r.status == 201 && r.header("idempotent-replayed").is_none()).collect();
    assert_eq!(firsts.len(), 1, "exactly one request created");
    let (winner, first) = firsts[0];
    for (body, response) in &keyed {
        if body == winner {
            assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
            assert_eq!(response.body, first.body, "every same request replays the first answer");
        } else {
            response.problem(422, "idempotency_key_reused");
        }
    }
    for response in &unkeyed {
        assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    }
    assert_eq!(db.count("orders").await, 1 + unkeyed.len() as i64);
    assert_eq!(db.count("idempotency_keys").await, 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// A create of stream `stream`, its `i`th: each has its own customer and key.
fn keyed_create(stream: usize, i: usize) -> (String, Value) {
    (format!("stream-{stream}-create-{i}"), customer(format!("{stream}-{i}")))
}

/// What one stream of creates saw before the server went away.
struct Stream {
    /// The ids answered with 201.
    acknowledged: Vec<String>,
    /// The create whose answer never came (or was not a 201).
    unanswered: (String, Value),
}

/// Creates one keyed order after another until the server stops answering.
async fn create_until_refused(api: Api, stream: usize) -> Stream {
    let client = awc::Client::default();
    let authorization = format!("Bearer {}", api.key.clone().unwrap());
    let mut acknowledged = Vec::new();
    for i in 0.. {
        let (key, body) = keyed_create(stream, i);
        let sent = client
            .post(format!("{}/orders", api.address))
            .insert_header(("authorization", authorization.as_str()))
            .insert_header(("idempotency-key", key.as_str()))
            .send_json(&body)
            .await;
        let answered = match sent {
            Ok(mut response) if response.status().as_u16() == 201 => response.body().await.ok(),
            _ => None,
        };
        let Some(answer) = answered else { return Stream { acknowledged, unanswered: (key, body) } };
        let order: Value = serde_json::from_slice(&answer).unwrap();
        acknowledged.push(order["id"].as_str().unwrap().to_owned());
    }
    unreachable!("the loop ends when the server does")
}

async fn a_kill_during_concurrent_creates_loses_no_acknowledged_order(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let dir = temp_dir("group-commit");
    let mut first = server(&dir, &db);
    first.wait_ready().await;
    let streams: Vec<_> = (0..32).map(|n| actix_web::rt::spawn(create_until_refused(first.api(), n))).collect();
    // Creates are flowing, batches in flight: kill it mid-stream.
    harness::eventually("a few hundred creates", async || (db.count("orders").await >= 300).then_some(())).await;
    first.signal("KILL");
    first.wait_exit().await;
    let mut streams_seen = Vec::new();
    for stream in streams {
        streams_seen.push(stream.await.unwrap());
    }
    let acknowledged: Vec<&String> = streams_seen.iter().flat_map(|stream| &stream.acknowledged).collect();
    // At most one create per stream was committed but not yet answered.
    assert!(acknowledged.len() >= 300 - 32, "{} acknowledged", acknowledged.len());

    let second = server(&dir, &db);
    second.wait_ready().await;
    let stored: HashSet<String> =
        second.api().all_orders("").await.iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    let lost: Vec<&&String> = acknowledged.iter().filter(|id| !stored.contains(**id)).collect();
    assert!(lost.is_empty(), "{} acknowledged orders lost, e.g. {:?}", lost.len(), lost.first());
    for table in ["order_items", "email_outbox", CREATED_EVENTS] {
        assert_eq!(db.count(table).await, stored.len() as i64, "{table}: each stored order whole");
    }

    // Each create whose answer never came, sent again with its key: whether
    // or not its batch committed before the kill, one order in the end.
    let api = second.api();
    for Stream { unanswered: (key, body), .. } in &streams_seen {
        let headers = [("content-type", "application/json"), ("idempotency-key", key.as_str())];
        let retried = api.request(Method::POST, "/orders", &headers, Some(&serde_json::to_vec(body).unwrap())).await;
        assert_eq!(retried.status, 201, "{}", String::from_utf8_lossy(&retried.body));
        let name = body["customer_name"].as_str().unwrap();
        assert_eq!(db.count(&format!("orders WHERE customer_name = '{name}'")).await, 1, "{key}: one order");
        let id = retried.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(api.get(&format!("/orders/{id}")).await.status, 200, "{key}: the answer names the order");
    }
    let names = db.count("(SELECT DISTINCT customer_name FROM orders) AS names").await;
    assert_eq!(db.count("orders").await, names, "no create stored twice");
    let _ = std::fs::remove_dir_all(dir);
}
