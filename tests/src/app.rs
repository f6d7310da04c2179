//! `spawn_app()`: the real application, in-process, on a random port.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::http::header::HeaderMap;
use serde_json::{Value, json};
use server::config::Settings;
use server::startup::Application;
use tokio_util::sync::CancellationToken;

use crate::database::{Backend, TestDatabase};
use crate::mailer::RecordingSender;

/// A running application and what the test needs to talk to it.
pub struct TestApp {
    pub api: Api,
    pub port: u16,
    pub emails: RecordingSender,
    pub db: TestDatabase,
    stop: CancellationToken,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// An HTTP client bound to one server, sending its API key (if it has one)
/// with every request that does not bring its own `Authorization`.
#[derive(Clone)]
pub struct Api {
    pub address: String,
    pub key: Option<String>,
    client: awc::Client,
}

impl Api {
    pub fn new(address: String) -> Self {
        Self::with_timeout(address, Duration::from_secs(30))
    }

    /// A client that gives up on a request after `timeout`.
    pub fn with_timeout(address: String, timeout: Duration) -> Self {
        let client = awc::Client::builder().disable_redirects().timeout(timeout).finish();
        Self { address, key: None, client }
    }

    /// The same client sending `key`.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Self { key: Some(key.into()), ..self.clone() }
    }

    /// The same client without a key.
    pub fn anonymous(&self) -> Self {
        Self { key: None, ..self.clone() }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and the problem+json shape; returns the problem.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let problem = self.json();
        assert_eq!(problem["status"], status);
        assert_eq!(problem["code"], code, "{problem}");
        for member in ["type", "title", "detail", "instance", "request_id"] {
            assert!(problem[member].is_string(), "problem lacks {member}: {problem}");
        }
        assert_eq!(problem["request_id"].as_str(), self.header("x-request-id"));
        problem
    }
}

fn init_logs() {
    // `TEST_LOG=1 cargo test` shows the server's logs.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = server::telemetry::init(server::config::LogFormat::Pretty).expect("logging starts");
        }
    });
}

/// Starts the application against a fresh database of `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// [`spawn_app`] with extra environment settings.
pub async fn spawn_app_with(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDatabase::create(backend).await, vars).await
}

/// [`spawn_app_with`] on a database the test prepared.
pub async fn spawn_app_on(db: TestDatabase, vars: &[(&str, &str)]) -> TestApp {
    init_logs();
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url.clone()),
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("HTTP_WORKERS".into(), "2".into()),
        ("DATABASE_POOL_SIZE".into(), "5".into()),
        ("SHUTDOWN_TIMEOUT_SECS".into(), "1".into()),
    ]);
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("test settings");
    let emails = RecordingSender::default();
    // With MAIL_TRANSPORT=smtp the configured transport is used, as in production.
    let app = if env.get("MAIL_TRANSPORT").is_some_and(|t| t == "smtp") {
        Application::build(settings).await
    } else {
        Application::build_with_sender(settings, Arc::new(emails.clone())).await
    };
    let app = app.expect("application starts");
    let port = app.port();
    // The database had keys already: one made here reaches the server at its next reload.
    let (key, made_elsewhere) = match app.initial_key() {
        Some(key) => (key.to_owned(), false),
        None => (crate::keys::issue_key(&db.url, &domain::Scope::ALL).await, true),
    };
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(app.run_until(async move { stopped.cancelled().await }));
    let api = Api::new(format!("http://127.0.0.1:{port}")).with_key(key);
    if made_elsewhere {
        api.wait_for_key().await;
    }
    TestApp { api, port, emails, db, stop }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Api {
    /// Any request; `body` is sent as given, with the headers given.
    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(key) = &self.key
            && !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        {
            request = request.insert_header(("authorization", format!("Bearer {key}")));
        }
        for (name, value) in headers {
            // Appended: a test may send a header twice.
            request = request.append_header((*name, *value));
        }
        let sent = match body {
            Some(body) => request.send_body(body.to_vec()).await,
            None => request.send().await,
        };
        let mut response = sent.unwrap_or_else(|e| panic!("{path}: request failed: {e}"));
        let body = response.body().limit(16 * 1024 * 1024).await.expect("response body").to_vec();
        Response { status: response.status().as_u16(), headers: response.headers().clone(), body }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, &[], None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).unwrap();
        self.request(Method::POST, path, &[("content-type", "application/json")], Some(&bytes)).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
        let bytes = serde_json::to_vec(body).unwrap();
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request(Method::PATCH, path, &all, Some(&bytes)).await
    }

    /// Registers a webhook endpoint for `events`; returns its id and signing secret.
    pub async fn subscribe(&self, url: &str, events: &[&str]) -> (String, String) {
        let response = self.post_json("/webhook-endpoints", &json!({"url": url, "events": events})).await;
        assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
        let endpoint = response.json();
        (endpoint["id"].as_str().unwrap().to_owned(), endpoint["secret"].as_str().unwrap().to_owned())
    }

    /// Creates an order; asserts the 201 and returns its body.
    pub async fn create_order(&self, body: &Value) -> Value {
        let response = self.post_json("/orders", body).await;
        assert_eq!(response.status, 201, "create failed: {}", String::from_utf8_lossy(&response.body));
        response.json()
    }

    /// Every order, following cursors.
    pub async fn all_orders(&self, query: &str) -> Vec<Value> {
        let mut orders = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/orders?limit=200{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path).await;
            assert_eq!(page.status, 200);
            let page = page.json();
            orders.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return orders,
            }
        }
    }
}

impl TestApp {
    /// Polls the status endpoint until the confirmation email leaves `pending`.
    pub async fn settled_email(&self, order_id: &str) -> Value {
        eventually("the confirmation email to settle", async || {
            let status = self.get(&format!("/orders/{order_id}/status")).await.json();
            (status["confirmation_email"]["state"] != "pending").then_some(status)
        })
        .await
    }
}

/// Polls `probe` until it yields a value, failing the test after a generous deadline.
pub async fn eventually<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_within(Duration::from_secs(20), what, probe).await
}

/// [`eventually`] with a deadline of its own, for a wait that the whole
/// suite running beside it on two CPUs can stretch.
pub async fn eventually_within<T>(limit: Duration, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The create request of API.md.
pub fn sample_order() -> Value {
    json!({
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "currency": "EUR",
        "items": [{"sku": "BOOK-001", "quantity": 2, "unit_price_cents": 1250}]
    })
}

impl Api {
    /// Waits until the server accepts this client's key: one made outside
    /// the server is loaded at its next key refresh (every 2 s).
    pub async fn wait_for_key(&self) {
        eventually("the server to accept the key", async || {
            (self.get("/orders?limit=1").await.status != 401).then_some(())
        })
        .await;
    }

    /// The status of a GET, or `None` if nothing answered (not started yet).
    pub async fn client_get_status(&self, path: &str) -> Option<u16> {
        let response = self.client.get(format!("{}{path}", self.address)).send().await.ok()?;
        Some(response.status().as_u16())
    }
}
