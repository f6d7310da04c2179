//! `GET /metrics`: guarded by `metrics:read`, and after a short load each
//! family has moved, with labels that name routes and outboxes, never an
//! order. Run against the binary, one process per test, so that the counts
//! are this test's alone.

use std::collections::BTreeMap;
use std::time::Duration;

use domain::Scope;
use harness::{
    Api, Backend, Behaviour, ServerProcess, TestDatabase, WebhookReceiver, eventually, issue_key, on_both_backends,
    sample_order, spawn_app, temp_dir,
};
use serde_json::json;

on_both_backends!(after_a_short_load_every_family_has_moved, metrics_need_a_key_with_metrics_read);

/// One scrape: each sample by its name and labels, as written.
#[derive(Debug)]
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    async fn of(api: &Api) -> Self {
        let response = api.get("/metrics").await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        assert_eq!(response.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
        let text = String::from_utf8(response.body).unwrap();
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                (series.to_owned(), value.parse::<f64>().unwrap())
            })
            .collect();
        Self { text, samples }
    }

    /// The sample `series` (`name{label="value",…}` with labels in the
    /// exporter's order), 0 when absent.
    fn value(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    /// The sum of every sample of `name` whose labels include each of `labels`.
    fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.samples
            .iter()
            .filter(|(series, _)| {
                let (series_name, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
                series_name == name && labels.iter().all(|label| rest.contains(label))
            })
            .map(|(_, value)| value)
            .sum()
    }

    fn families(&self) -> Vec<&str> {
        self.text.lines().filter_map(|line| line.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect()
    }
}

async fn after_a_short_load_every_family_has_moved(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let dir = temp_dir("metrics");
    let server = ServerProcess::start(
        &dir,
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("WEBHOOK_ALLOW_PRIVATE", "true"),
            ("WEBHOOK_RETRY_BASE_MS", "20"),
            ("WEBHOOK_SWEEP_INTERVAL_MS", "100"),
        ],
    );
    server.wait_ready().await;
    let api = server.api();
    let receiver = WebhookReceiver::start().await;
    receiver.answer("/flaky", Behaviour::FailTimes(1));
    api.subscribe(&receiver.url("/flaky"), &["order.created"]).await;
    let before = Scrape::of(&api).await;

    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(api.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(api.get(&format!("/orders/{}", ids[0])).await.status, 200);
    assert_eq!(api.get(&format!("/orders/{}/", ids[1])).await.status, 200, "a trailing slash is the same route");
    assert_eq!(api.post_json("/orders", &json!({})).await.status, 422);
    assert_eq!(api.get(&format!("/no/such/{}", ids[2])).await.status, 404);
    receiver.wait_for("/flaky", 6, Duration::from_secs(10)).await;
    let settled = eventually("every email and webhook recorded", async || {
        let scrape = Scrape::of(&api).await;
        // A send is counted before its row is marked sent, in a commit of its own.
        let done = scrape.value(r#"outbox_sent_total{kind="email"}"#) >= 5.0
            && scrape.value(r#"outbox_sent_total{kind="webhook"}"#) >= 5.0
            && scrape.value(r#"outbox_pending{kind="email"}"#) == 0.0;
        done.then_some(scrape)
    })
    .await;

    // A hanging endpoint's delivery waits: the backlog shows it, and its age.
    receiver.answer("/hang", Behaviour::Hang);
    api.subscribe(&receiver.url("/hang"), &["order.created"]).await;
    ids.push(api.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned());
    receiver.wait_for("/hang", 1, Duration::from_secs(10)).await;
    let after = eventually("the hanging delivery in the backlog", async || {
        let scrape = Scrape::of(&api).await;
        (scrape.value(r#"outbox_pending{kind="webhook"}"#) >= 1.0).then_some(scrape)
    })
    .await;
    assert!(after.value(r#"outbox_oldest_pending_age_seconds{kind="webhook"}"#) > 0.0);

    let moved = |series: &str, by: f64| {
        let (was, is) = (before.value(series), settled.value(series));
        assert!(is - was >= by, "{series} went from {was} to {is}, expected +{by}\n{}", settled.text);
    };
    // HTTP, by route template, method and status.
    moved(r#"http_requests_total{method="POST",route="/orders",status="201"}"#, 5.0);
    moved(r#"http_requests_total{method="POST",route="/orders",status="422"}"#, 1.0);
    moved(r#"http_requests_total{method="GET",route="/orders/{id}",status="200"}"#, 2.0);
    moved(r#"http_requests_total{method="GET",route="unmatched",status="404"}"#, 1.0);
    moved(r#"http_request_duration_seconds_count{method="POST",route="/orders",status="201"}"#, 5.0);
    assert!(settled.value(r#"http_request_duration_seconds_sum{method="POST",route="/orders",status="201"}"#) > 0.0);
    // Database: operations, and the pools.
    assert!(
        settled.sum("db_operation_duration_seconds_count", &[r#"operation="orders.create""#, r#"outcome="ok""#]) >= 5.0
    );
    assert!(
        settled.sum("db_pool_acquire_duration_seconds_count", &[])
            > before.sum("db_pool_acquire_duration_seconds_count", &[])
    );
    assert!(settled.sum("db_pool_max_connections", &[]) >= 2.0);
    assert!(settled.sum("db_pool_connections", &[]) >= 1.0);
    for family in ["db_pool_connections_in_use", "db_pool_waiting", "db_pool_waits_total", "db_pool_timeouts_total"] {
        assert!(settled.families().contains(&family), "{family} is served");
    }
    // Outboxes: sent, retried, attempts and the time from commit to delivery.
    moved(r#"outbox_sent_total{kind="email"}"#, 5.0);
    moved(r#"outbox_sent_total{kind="webhook"}"#, 5.0);
    moved(r#"outbox_retries_total{kind="webhook"}"#, 1.0);
    moved(r#"outbox_delivery_attempts_count{kind="webhook"}"#, 5.0);
    assert!(settled.value(r#"outbox_delivery_attempts_sum{kind="webhook"}"#) >= 6.0, "the flaky one took two");
    moved(r#"outbox_delivery_latency_seconds_count{kind="email"}"#, 5.0);
    assert!(settled.value(r#"outbox_delivery_latency_seconds_sum{kind="webhook"}"#) > 0.0);
    assert_eq!(settled.value(r#"outbox_failed_total{kind="webhook"}"#), 0.0, "served before anything fails");
    assert!(settled.families().contains(&"outbox_failed_total"));
    assert_eq!(settled.value(r#"outbox_pending{kind="email"}"#), 0.0, "every email sent");
    // The process.
    assert!(settled.value("process_resident_memory_bytes") > 0.0);
    assert!(settled.value("process_open_fds") > 0.0);
    assert!(settled.value("process_start_time_seconds") > 0.0);
    assert!(settled.families().contains(&"process_cpu_seconds_total"));

    // No label carries an order id or customer data.
    for id in &ids {
        assert!(!after.text.contains(id.as_str()), "an order id in /metrics");
    }
    for data in ["ada@example.com", "Ada Lovelace", "BOOK-001", "/no/such"] {
        assert!(!after.text.contains(data), "{data} in /metrics");
    }
}

async fn metrics_need_a_key_with_metrics_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let anonymous = app.anonymous().get("/metrics").await;
    assert_eq!(anonymous.status, 401);
    anonymous.problem(401, "unauthenticated");
    let reader = issue_key(&app.db.url, &[Scope::OrdersRead, Scope::OrdersWrite, Scope::Admin]).await;
    let monitor = issue_key(&app.db.url, &[Scope::MetricsRead]).await;
    app.with_key(&monitor).wait_for_key().await;

    let refused = app.with_key(&reader).get("/metrics").await;
    refused.problem(403, "insufficient_scope");
    let scraped = app.with_key(&monitor).get("/metrics").await;
    assert_eq!(scraped.status, 200);
    assert!(String::from_utf8_lossy(&scraped.body).contains("# TYPE http_requests_total counter"));
    let orders = app.with_key(&monitor).get("/orders").await;
    orders.problem(403, "insufficient_scope");
    // HEAD answers as GET does, without a body.
    let head = app.with_key(&monitor).request(actix_web::http::Method::HEAD, "/metrics", &[], None).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}
