//! A real webhook receiver for the tests, on a loopback port: every path is an
//! endpoint of its own that records what it is sent and answers as it is told,
//! so failing, slow and redirecting endpoints can be staged. It checks
//! signatures with its own code, never the product's, so it can catch the
//! product signing wrongly.
//!
//! It serves on a thread of its own, so it answers whatever the test's runtime
//! is doing, and stops when the last handle to it is dropped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_http::body::BoxBody;
use actix_http::{HttpMessage, HttpService, Request, Response, StatusCode};
use actix_web::dev::{Service, ServiceFactory, fn_service};
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The header the deliveries are signed in.
pub const SIGNATURE_HEADER: &str = "orders-signature";

/// How far the signed time may be from now, either way.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// How one path answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// `204 No Content`.
    #[default]
    Ok,
    /// This status, with an empty body.
    Status(u16),
    /// `500` to the next `n` requests (counted from when this is set), then `200`.
    FailTimes(usize),
    /// Reads and records the request, then never answers: the connection is
    /// held until the client gives up or the receiver is dropped.
    Hang,
    /// `307 Temporary Redirect` to this location: a client that followed it
    /// would post the same body again there.
    Redirect(String),
}

/// One request, as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The raw body (lossily decoded if it was not UTF-8, which no signature
    /// then matches).
    pub body: String,
    /// The body parsed, or `Null` if it was not JSON.
    pub json: Value,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The `Orders-Signature` header (several are joined with `,`).
    pub signature: Option<String>,
    pub at: Instant,
    /// 1 for the first request to this path since it was last reset.
    pub attempt_no: usize,
}

impl Received {
    /// The value of the first header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Endpoint {
    behaviour: Behaviour,
    failures_left: usize,
    received: Vec<Received>,
}

#[derive(Debug, Default)]
struct State {
    endpoints: Mutex<HashMap<String, Endpoint>>,
    arrived: Notify,
}

/// The HTTP server; stops when the last clone is dropped.
#[derive(Clone)]
pub struct WebhookReceiver {
    pub port: u16,
    state: Arc<State>,
    _stop: Arc<DropGuard>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver").field("port", &self.port).finish_non_exhaustive()
    }
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let stop = CancellationToken::new();
        let (server, stopped) = (Arc::clone(&state), stop.clone());
        std::thread::Builder::new()
            .name(format!("webhook-receiver-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                // actix-http's connections are not Send: they live on this thread's LocalSet.
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let listener = TcpListener::from_std(listener).unwrap();
                    tokio::select! {
                        () = accept(listener, server) => {}
                        () = stopped.cancelled() => {}
                    }
                });
            })
            .unwrap();
        Self { port, state, _stop: Arc::new(stop.drop_guard()) }
    }

    /// `http://127.0.0.1:<port><path>`; `path` may leave out its leading `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, normalise(path))
    }

    /// From now on, `path` answers this way.
    pub fn answer(&self, path: &str, behaviour: Behaviour) {
        if let Behaviour::Status(code) = behaviour {
            assert!(StatusCode::from_u16(code).is_ok(), "webhook receiver: {code} is not an HTTP status");
        }
        let mut endpoints = self.state.endpoints.lock().unwrap();
        let endpoint = endpoints.entry(normalise(path)).or_default();
        endpoint.failures_left = match behaviour {
            Behaviour::FailTimes(n) => n,
            _ => 0,
        };
        endpoint.behaviour = behaviour;
    }

    /// Every request to `path` since it was last reset, oldest first.
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.state.endpoints.lock().unwrap().get(&normalise(path)).map(|e| e.received.clone()).unwrap_or_default()
    }

    /// Waits until `path` has received at least `n` requests, and returns them
    /// all; panics, listing what did arrive, if they do not within `timeout`.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.state.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so an arrival in between is not missed.
            arrived.as_mut().enable();
            let received = self.received(path);
            if received.len() >= n {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let received = self.received(path);
                if received.len() >= n {
                    return received;
                }
                panic!(
                    "webhook receiver: expected at least {n} request(s) on {} within {timeout:?}, got {}:\n{}\npaths hit: {:?}",
                    normalise(path),
                    received.len(),
                    describe(&received),
                    self.paths_hit(),
                );
            }
        }
    }

    /// Forgets what `path` received (its behaviour stays).
    pub fn reset(&self, path: &str) {
        if let Some(endpoint) = self.state.endpoints.lock().unwrap().get_mut(&normalise(path)) {
            endpoint.received.clear();
        }
    }

    /// The paths that hold at least one request, sorted.
    pub fn paths_hit(&self) -> Vec<String> {
        let endpoints = self.state.endpoints.lock().unwrap();
        let mut paths: Vec<String> =
            endpoints.iter().filter(|(_, e)| !e.received.is_empty()).map(|(p, _)| p.clone()).collect();
        paths.sort();
        paths
    }

    /// Checks `received`'s `Orders-Signature` against `secret`, as of now.
    pub fn verify(&self, received: &Received, secret: &str) -> Result<(), String> {
        verify_at(received, secret, SystemTime::now())
    }
}

/// Checks `received`'s `Orders-Signature` against `secret` as of `now`:
/// `t=<unix seconds>` once, within [`SIGNATURE_TOLERANCE`] of `now`, and at
/// least one `v1=` equal to [`v1_signature`] of `t` and the raw body.
pub fn verify_at(received: &Received, secret: &str, now: SystemTime) -> Result<(), String> {
    let header = received.signature.as_deref().ok_or("no Orders-Signature header")?;
    let mut times = Vec::new();
    let mut signatures = Vec::new();
    for element in header.split(',') {
        match element.trim().split_once('=') {
            Some(("t", value)) => times.push(value),
            Some(("v1", value)) => signatures.push(value),
            // Other schemes may appear beside v1; they are not ours to check.
            Some(_) => {}
            None => return Err(format!("malformed element {element:?} in {header:?}")),
        }
    }
    let [t] = times[..] else {
        return Err(format!("expected exactly one t= in {header:?}"));
    };
    let seconds: u64 = t.parse().map_err(|_| format!("t={t} is not unix seconds"))?;
    let signed_at = UNIX_EPOCH + Duration::from_secs(seconds);
    let skew = match now.duration_since(signed_at) {
        Ok(past) => past,
        Err(future) => future.duration(),
    };
    if skew > SIGNATURE_TOLERANCE {
        return Err(format!("t={t} is {skew:?} away from now, more than {SIGNATURE_TOLERANCE:?}"));
    }
    if signatures.is_empty() {
        return Err(format!("no v1= in {header:?}"));
    }
    let expected = v1_signature(secret, seconds, received.body.as_bytes());
    if signatures.contains(&expected.as_str()) {
        Ok(())
    } else {
        Err(format!("no v1= in {header:?} matches the body and secret (expected v1={expected})"))
    }
}

/// Lower-hex HMAC-SHA256 of `"<t>.<body>"`, keyed with `secret`'s UTF-8 bytes.
pub fn v1_signature(secret: &str, t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn normalise(path: &str) -> String {
    if path.starts_with('/') { path.to_owned() } else { format!("/{path}") }
}

fn describe(received: &[Received]) -> String {
    received
        .iter()
        .map(|r| format!("  #{} {} signature={:?} body={}", r.attempt_no, r.method, r.signature, r.body))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let factory = HttpService::<TcpStream, _, _>::build().h1(fn_service(move |request: Request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(&state, request).await) }
    }));
    let Ok(http) = factory.new_service(()).await else { return };
    let http = Rc::new(http);
    while let Ok((stream, peer)) = listener.accept().await {
        let http = Rc::clone(&http);
        tokio::task::spawn_local(async move {
            let _ = http.call((stream, Some(peer))).await;
        });
    }
}

async fn handle(state: &State, mut request: Request) -> Response<BoxBody> {
    let mut body = Vec::new();
    let mut payload = request.take_payload();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(_) => return Response::new(StatusCode::BAD_REQUEST),
        }
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let signatures: Vec<&str> =
        headers.iter().filter(|(name, _)| name == SIGNATURE_HEADER).map(|(_, value)| value.as_str()).collect();
    let signature = (!signatures.is_empty()).then(|| signatures.join(","));
    let reply = {
        let mut endpoints = state.endpoints.lock().unwrap();
        let endpoint = endpoints.entry(request.path().to_owned()).or_default();
        let attempt_no = endpoint.received.len() + 1;
        endpoint.received.push(Received {
            method: request.method().as_str().to_owned(),
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            body: String::from_utf8_lossy(&body).into_owned(),
            headers,
            signature,
            at: Instant::now(),
            attempt_no,
        });
        match &endpoint.behaviour {
            Behaviour::Ok => Reply::Status(StatusCode::NO_CONTENT),
            Behaviour::Status(code) => Reply::Status(StatusCode::from_u16(*code).unwrap_or(StatusCode::IM_A_TEAPOT)),
            Behaviour::FailTimes(_) if endpoint.failures_left > 0 => {
                endpoint.failures_left -= 1;
                Reply::Status(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Behaviour::FailTimes(_) => Reply::Status(StatusCode::OK),
            Behaviour::Hang => Reply::Never,
            Behaviour::Redirect(location) => Reply::Redirect(location.clone()),
        }
    };
    state.arrived.notify_waiters();
    match reply {
        Reply::Status(status) => Response::new(status),
        Reply::Never => std::future::pending().await,
        Reply::Redirect(location) => Response::build(StatusCode::TEMPORARY_REDIRECT)
            .insert_header(("location", location))
            .finish()
            .map_into_boxed_body(),
    }
}

enum Reply {
    Status(StatusCode),
    Never,
    Redirect(String),
}
