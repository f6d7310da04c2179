//! What a client sees when the code behind a handler fails: a bug (500),
//! a panic (500, connection kept), an unavailable database (503). The app is
//! served over real HTTP with storage that fails on purpose.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::HttpServer;
use api::AppState;
use async_trait::async_trait;
use domain::memory::InMemoryStore;
use domain::{
    CreateOutcome, DeliveryService, DestinationPolicy, EmailMessage, KeyRing, KeyService, ListQuery, Order,
    OrderCreation, OrderId, OrderRepository, OrderService, Page, RecordedEvent, RefusedDestination, RepositoryError,
    StatusUpdate, Timestamp, WebhookService, WebhookUrl,
};

#[derive(Debug, Clone, Copy)]
enum Fault {
    Panic,
    Bug,
    Unavailable,
}

#[derive(Debug)]
struct Cause;

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk on fire at /var/lib/secret")
    }
}

impl std::error::Error for Cause {}

struct FaultyRepository(Fault);

impl FaultyRepository {
    fn fail<T>(&self) -> Result<T, RepositoryError> {
        match self.0 {
            Fault::Panic => panic!("handler bug: index out of range"),
            Fault::Bug => Err(RepositoryError::Other(Box::new(Cause))),
            Fault::Unavailable => Err(RepositoryError::Unavailable(Box::new(Cause))),
        }
    }
}

#[async_trait]
impl OrderRepository for FaultyRepository {
    async fn create(&self, _: OrderCreation) -> Result<CreateOutcome, RepositoryError> {
        self.fail()
    }
    async fn purge_expired_keys(&self, _: Timestamp, _: usize) -> Result<usize, RepositoryError> {
        self.fail()
    }
    async fn get(&self, _: OrderId) -> Result<Option<Order>, RepositoryError> {
        self.fail()
    }
    async fn list(&self, _: &ListQuery) -> Result<Page, RepositoryError> {
        self.fail()
    }
    async fn update_status(&self, _: &StatusUpdate) -> Result<Option<Order>, RepositoryError> {
        self.fail()
    }
    async fn events(&self, _: OrderId) -> Result<Option<Vec<RecordedEvent>>, RepositoryError> {
        self.fail()
    }
    async fn confirmation_email(&self, _: OrderId) -> Result<Option<EmailMessage>, RepositoryError> {
        self.fail()
    }
    async fn ping(&self) -> Result<(), RepositoryError> {
        self.fail()
    }
}

/// Lets every webhook URL through: no endpoint is registered here.
struct Anywhere;

#[async_trait]
impl DestinationPolicy for Anywhere {
    async fn check(&self, _: &WebhookUrl) -> Result<(), RefusedDestination> {
        Ok(())
    }
}

/// Log lines written during the test, to check what the operator sees.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).init();
        logs
    })
    .clone()
}

/// This crate does not export metrics; the binary does.
#[derive(Debug)]
struct NoMetrics;

#[async_trait::async_trait]
impl api::MetricsExposition for NoMetrics {
    async fn render(&self) -> String {
        String::new()
    }
}

/// Serves the real app over HTTP on a free port; returns its address and a
/// key with every scope (keys live in memory here: only orders fail).
async fn serve(fault: Fault) -> (String, String) {
    let keys = KeyService::new(Arc::new(InMemoryStore::default()), Arc::new(KeyRing::default()));
    let key = keys.issue_first().await.unwrap().unwrap().secret;
    let orders = OrderService::new(Arc::new(FaultyRepository(fault)));
    let webhooks = WebhookService::new(Arc::new(InMemoryStore::default()), Arc::new(Anywhere));
    let deliveries = DeliveryService::new(Arc::new(InMemoryStore::default()));
    let metrics = Arc::new(NoMetrics);
    let state = AppState {
        orders,
        keys,
        webhooks,
        deliveries,
        metrics,
        mail_domain: "localhost".to_owned(),
        body_timeout: Duration::from_secs(5),
    };
    let server =
        HttpServer::new(move || api::app(state.clone())).workers(1).disable_signals().bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    (address, key)
}

async fn get(
    (address, key): &(String, String),
    path: &str,
    request_id: &str,
) -> (u16, Option<String>, serde_json::Value) {
    let client = awc::Client::default();
    let mut response = client
        .get(format!("{address}{path}"))
        .insert_header(("x-request-id", request_id))
        .insert_header(("authorization", format!("Bearer {key}")))
        .send()
        .await
        .unwrap();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body = response.json::<serde_json::Value>().await.unwrap();
    (response.status().as_u16(), content_type, body)
}

#[actix_web::test]
async fn a_bug_is_a_500_that_says_nothing_internal_and_logs_the_cause() {
    let logs = logs();
    let address = serve(Fault::Bug).await;
    let (status, content_type, problem) = get(&address, "/orders", "bug-1").await;
    assert_eq!(status, 500);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(problem["code"], "internal");
    assert_eq!(problem["request_id"], "bug-1");
    assert!(!problem.to_string().contains("disk") && !problem.to_string().contains("/var/lib"), "{problem}");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text.lines().find(|l| l.contains("bug-1") && l.contains("request failed")).expect("an error line");
    assert!(line.contains("disk on fire at /var/lib/secret"), "the log has the cause chain: {line}");
}

#[actix_web::test]
async fn a_panic_is_a_500_problem_and_the_connection_survives() {
    let logs = logs();
    let served = serve(Fault::Panic).await;
    let (address, key) = &served;
    let client = awc::Client::default();
    for attempt in 0..3 {
        let id = format!("panic-{attempt}");
        let mut response = client
            .get(format!("{address}/orders"))
            .insert_header(("x-request-id", id.as_str()))
            .insert_header(("authorization", format!("Bearer {key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(response.headers().get("x-request-id").unwrap(), id.as_str());
        let problem = response.json::<serde_json::Value>().await.unwrap();
        assert_eq!(problem["code"], "internal");
        assert_eq!(problem["instance"], "/orders");
        assert!(!problem.to_string().contains("index out of range"));
    }
    // The worker lives on: routes that do not touch storage still answer.
    let (status, _, _) = get(&served, "/health/live", "after-panic").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("panic-0") && l.contains("handler panicked") && l.contains("index out of range"))
    );
}

#[actix_web::test]
async fn an_unavailable_database_is_a_503_while_liveness_stays_up() {
    let address = serve(Fault::Unavailable).await;
    let (status, _, problem) = get(&address, "/orders", "down-1").await;
    assert_eq!((status, problem["code"].as_str()), (503, Some("unavailable")));
    let (status, _, problem) = get(&address, "/health/ready", "down-2").await;
    assert_eq!((status, problem["code"].as_str()), (503, Some("unavailable")));
    let (status, _, body) = get(&address, "/health/live", "down-3").await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
}
