//! Delivers one webhook: a signed JSON `POST`, bounded in time and in what it
//! reads back, never redirected, and, unless told otherwise, never sent to a
//! private address, checked again at each connection so that a name which
//! resolved to a public address at registration cannot be pointed inside
//! later (DNS rebinding).

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use domain::{
    RefusedDestination, SendError, SigningSecret, Timestamp, WebhookUrl, is_public_address, signature_header,
};
use opentelemetry_http::HeaderInjector;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::redirect::Policy;
use tokio::time::{Instant, timeout_at};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header that carries `t=…,v1=…`.
pub const SIGNATURE_HEADER: &str = "Orders-Signature";
/// The header that carries the event id (the body carries it too).
pub const EVENT_ID_HEADER: &str = "Orders-Event-Id";
const USER_AGENT: &str = concat!("orders-webhooks/", env!("CARGO_PKG_VERSION"));
/// Most characters of an answer quoted in an error.
const EXCERPT_CHARS: usize = 200;

/// How deliveries are bounded.
#[derive(Debug, Clone)]
pub struct WebhookClientConfig {
    /// For the whole exchange: resolving, connecting, sending, reading.
    pub timeout: Duration,
    /// Send to loopback, private and link-local addresses too.
    pub allow_private: bool,
    /// Most bytes of an answer's body ever read.
    pub max_response_bytes: usize,
}

impl Default for WebhookClientConfig {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), allow_private: false, max_response_bytes: 4096 }
    }
}

/// Why the client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum WebhookClientError {
    /// The TLS or HTTP stack refused its settings.
    #[error("cannot build the webhook HTTP client: {0}")]
    Build(reqwest::Error),
}

/// A delivery the receiver accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The 2xx status it answered.
    pub status: u16,
}

/// The HTTP client of webhook deliveries; cheap to clone, shares its
/// connection pool.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    config: WebhookClientConfig,
}

impl WebhookClient {
    /// A client with its own connection pool.
    pub fn new(config: WebhookClientConfig) -> Result<Self, WebhookClientError> {
        // Proxies from the environment are ignored: a proxy would resolve the
        // host itself, past the address check.
        let mut builder = reqwest::Client::builder().redirect(Policy::none()).no_proxy().user_agent(USER_AGENT);
        if !config.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let http = builder.build().map_err(WebhookClientError::Build)?;
        Ok(Self { http, config })
    }

    /// POSTs `body` (JSON) to `url`, signed with `secret` at the current time;
    /// header `Orders-Signature`, plus `Content-Type: application/json`,
    /// `User-Agent: orders-webhooks/<version>`, `Orders-Event-Id: <event_id>`,
    /// and, when spans are exported, `traceparent` (and `tracestate`) naming
    /// the current span, the delivery's.
    ///
    /// A 2xx is `Ok`. A connection error, a time-out or any other status
    /// (a redirect included) is [`SendError::Transient`]; a destination the
    /// client may not call is [`SendError::Permanent`].
    pub async fn post(
        &self,
        url: &WebhookUrl,
        secret: &SigningSecret,
        event_id: &str,
        body: &str,
    ) -> Result<Delivered, SendError> {
        let deadline = Instant::now() + self.config.timeout;
        // The resolver never sees an address written in the URL.
        if let Some(address) = url.ip().filter(|ip| !self.config.allow_private && !is_public_address(*ip)) {
            let refused = RefusedDestination::Private { host: url.host().to_owned(), address };
            return Err(SendError::Permanent(refused.to_string()));
        }
        let event_id = HeaderValue::from_str(event_id)
            .map_err(|_| SendError::Permanent("the event id is not a valid header value".to_owned()))?;
        let now = Timestamp::now().unix_micros().div_euclid(1_000_000);
        let request = self
            .http
            .post(url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature_header(secret, now, body.as_bytes()))
            .header(EVENT_ID_HEADER, event_id)
            .headers(trace_context())
            .body(body.to_owned());

        let timed_out = || SendError::Transient(format!("timed out after {}", seconds(self.config.timeout)));
        let mut response = timeout_at(deadline, request.send()).await.map_err(|_| timed_out())?.map_err(failure)?;
        let status = response.status();
        // Read even after a 2xx, within the same deadline, so that the
        // connection can go back to the pool; what goes wrong then changes nothing.
        let mut answer = Vec::new();
        let read = timeout_at(deadline, read_at_most(&mut response, self.config.max_response_bytes, &mut answer)).await;
        if status.is_success() {
            return Ok(Delivered { status: status.as_u16() });
        }
        if read.is_err() && answer.is_empty() {
            return Err(timed_out());
        }
        let why = if status.is_redirection() { " (redirects are not followed)" } else { "" };
        let excerpt = excerpt(&answer);
        let separator = if excerpt.is_empty() { "" } else { ": " };
        Err(SendError::Transient(format!("HTTP {}{why}{separator}{excerpt}", status.as_u16())))
    }
}

/// The current span's W3C trace context, as headers; none when spans are
/// not exported (the span then has no OpenTelemetry identity).
fn trace_context() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    headers
}

/// Reads the body chunk by chunk into `into`, and stops at `limit` bytes.
async fn read_at_most(
    response: &mut reqwest::Response,
    limit: usize,
    into: &mut Vec<u8>,
) -> Result<(), reqwest::Error> {
    while into.len() < limit {
        let Some(chunk) = response.chunk().await? else { break };
        let room = limit - into.len();
        into.extend_from_slice(chunk.get(..room).unwrap_or(&chunk[..]));
    }
    Ok(())
}

/// The start of an answer, on one line, for an operator to read.
fn excerpt(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let line: String = text.chars().take(EXCERPT_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    line.trim().to_owned()
}

/// `10 s`, `1.5 s`, `300 ms`.
fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}

/// A failed exchange, said in a line: a refused destination is permanent,
/// anything else worth another try. The URL is left out (the delivery names
/// it), and nothing here ever held the secret.
fn failure(error: reqwest::Error) -> SendError {
    let causes = || std::iter::successors(Some(&error as &(dyn StdError + 'static)), |&e| e.source());
    if let Some(refused) = causes().find_map(|e| e.downcast_ref::<RefusedDestination>()) {
        return SendError::Permanent(refused.to_string());
    }
    let root = causes().last().map_or_else(String::new, ToString::to_string);
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    SendError::Transient(format!("{kind}: {root}"))
}

/// Resolves names as the system does, then keeps only public addresses:
/// a name that now leads only inside is refused at connection time.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved.iter().copied().filter(|a| is_public_address(a.ip())).collect();
            match resolved.first() {
                Some(first) if public.is_empty() => {
                    Err(Box::new(RefusedDestination::Private { host, address: first.ip() }) as _)
                }
                _ => Ok(Box::new(public.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use domain::verify_signature;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    use super::*;

    const BODY: &str = r#"{"id":"0190b8f0-0000-7000-8000-000000000000","type":"order.created"}"#;
    const EVENT_ID: &str = "0190b8f0-0000-7000-8000-000000000000";

    /// A request as the test server saw it.
    #[derive(Debug)]
    struct Received {
        request_line: String,
        headers: HashMap<String, String>,
        body: Vec<u8>,
    }

    fn client(allow_private: bool, timeout: Duration) -> WebhookClient {
        WebhookClient::new(WebhookClientConfig { timeout, allow_private, ..WebhookClientConfig::default() }).unwrap()
    }

    fn local(port: u16) -> WebhookUrl {
        WebhookUrl::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap()
    }

    async fn listener() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    async fn read_request(stream: &mut TcpStream) -> Received {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the connection closed before the request's head ended");
            bytes.extend_from_slice(&buffer[..n]);
        };
        let head = String::from_utf8(bytes[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap().to_owned();
        let headers: HashMap<String, String> = lines
            .map(|line| line.split_once(':').unwrap())
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = bytes[head_end + 4..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0);
            body.extend_from_slice(&buffer[..n]);
        }
        Received { request_line, headers, body }
    }

    /// Serves one request with `answer`, and hands the request back.
    async fn serve_once(answer: &'static str) -> (u16, JoinHandle<Received>) {
        let (listener, port) = listener().await;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let received = read_request(&mut stream).await;
            stream.write_all(answer.as_bytes()).await.unwrap();
            stream.shutdown().await.unwrap();
            received
        });
        (port, server)
    }

    fn transient(result: Result<Delivered, SendError>) -> String {
        match result {
            Err(SendError::Transient(message)) => message,
            other => panic!("expected a transient failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_2xx_is_delivered_signed_with_the_agreed_headers() {
        let (port, server) = serve_once("HTTP/1.1 204 No Content\r\n\r\n").await;
        let secret = SigningSecret::generate().unwrap();
        let delivered = client(true, Duration::from_secs(5)).post(&local(port), &secret, EVENT_ID, BODY).await;
        assert_eq!(delivered, Ok(Delivered { status: 204 }));

        let received = server.await.unwrap();
        assert_eq!(received.request_line, "POST /hook HTTP/1.1");
        assert_eq!(received.body, BODY.as_bytes());
        assert_eq!(received.headers["content-type"], "application/json");
        assert_eq!(received.headers["user-agent"], format!("orders-webhooks/{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(received.headers["orders-event-id"], EVENT_ID);
        let signature = &received.headers["orders-signature"];
        let now = Timestamp::now().unix_micros() / 1_000_000;
        assert_eq!(verify_signature(signature, &received.body, &secret, now, Duration::from_secs(5)), Ok(()));
    }

    #[tokio::test]
    async fn a_500_is_transient_and_quotes_the_start_of_the_answer() {
        let (port, server) =
            serve_once("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 20\r\n\r\ndatabase\r\nis on fire").await;
        let secret = SigningSecret::generate().unwrap();
        let result = client(true, Duration::from_secs(5)).post(&local(port), &secret, EVENT_ID, BODY).await;
        let message = transient(result);
        assert_eq!(message, "HTTP 500: database  is on fire");
        assert!(!message.contains(secret.as_str()));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_long_error_answer_is_quoted_up_to_200_characters() {
        let answer: &'static str = Box::leak(
            format!("HTTP/1.1 503 Busy\r\nContent-Length: 1000\r\n\r\n{}", "x".repeat(1000)).into_boxed_str(),
        );
        let (port, server) = serve_once(answer).await;
        let secret = SigningSecret::generate().unwrap();
        let message = transient(client(true, Duration::from_secs(5)).post(&local(port), &secret, EVENT_ID, BODY).await);
        assert_eq!(message, format!("HTTP 503: {}", "x".repeat(200)));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out() {
        let (listener, port) = listener().await;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            // Holds the connection open, silent, until the client gives up.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        });
        let secret = SigningSecret::generate().unwrap();
        let started = std::time::Instant::now();
        let result = client(true, Duration::from_millis(300)).post(&local(port), &secret, EVENT_ID, BODY).await;
        assert_eq!(transient(result), "timed out after 300 ms");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_redirect_fails_and_is_not_followed() {
        let (elsewhere, elsewhere_port) = listener().await;
        let answer: &'static str = Box::leak(
            format!(
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{elsewhere_port}/stolen\r\nContent-Length: 0\r\n\r\n"
            )
            .into_boxed_str(),
        );
        let (port, server) = serve_once(answer).await;
        let secret = SigningSecret::generate().unwrap();
        let result = client(true, Duration::from_secs(5)).post(&local(port), &secret, EVENT_ID, BODY).await;
        assert_eq!(transient(result), "HTTP 302 (redirects are not followed)");
        server.await.unwrap();
        let followed = tokio::time::timeout(Duration::from_millis(200), elsewhere.accept()).await;
        assert!(followed.is_err(), "the Location was fetched");
    }

    #[tokio::test]
    async fn only_the_limit_of_a_huge_answer_is_read() {
        let (listener, port) = listener().await;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n").await.unwrap();
            // Writes until the client hangs up; counts what it managed to send.
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0usize;
            while stream.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
            }
            sent
        });
        let secret = SigningSecret::generate().unwrap();
        let started = std::time::Instant::now();
        let result = client(true, Duration::from_secs(10)).post(&local(port), &secret, EVENT_ID, BODY).await;
        assert_eq!(result, Ok(Delivered { status: 200 }));
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        let sent = tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
        // What the kernel's socket buffers took before the client hung up,
        // far from the billion bytes announced.
        assert!(sent < 64 * 1024 * 1024, "{sent}");
    }

    #[tokio::test]
    async fn private_destinations_are_refused_unless_allowed() {
        let secret = SigningSecret::generate().unwrap();
        let (listener, port) = listener().await;
        let refused = client(false, Duration::from_secs(5));
        for url in [format!("http://127.0.0.1:{port}/hook"), format!("http://localhost:{port}/hook")] {
            let url = WebhookUrl::parse(&url).unwrap();
            match refused.post(&url, &secret, EVENT_ID, BODY).await {
                Err(SendError::Permanent(message)) => {
                    assert!(message.contains("private, loopback or link-local"), "{url}: {message}");
                    assert!(!message.contains(secret.as_str()));
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        let v6 = WebhookUrl::parse("http://[::1]:9/hook").unwrap();
        assert!(matches!(refused.post(&v6, &secret, EVENT_ID, BODY).await, Err(SendError::Permanent(_))));
        let reached = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(reached.is_err(), "a refused destination was connected to");
        drop(listener);

        let allowed = client(true, Duration::from_secs(5));
        let (port, server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(allowed.post(&local(port), &secret, EVENT_ID, BODY).await, Ok(Delivered { status: 200 }));
        server.await.unwrap();
        let (port, server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let by_name = WebhookUrl::parse(&format!("http://localhost:{port}/hook")).unwrap();
        assert_eq!(allowed.post(&by_name, &secret, EVENT_ID, BODY).await, Ok(Delivered { status: 200 }));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_closed_port_is_a_transient_connection_failure() {
        let (listener, port) = listener().await;
        drop(listener);
        let secret = SigningSecret::generate().unwrap();
        let message = transient(client(true, Duration::from_secs(5)).post(&local(port), &secret, EVENT_ID, BODY).await);
        assert!(message.starts_with("connection failed: "), "{message}");
        assert!(!message.contains(secret.as_str()));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(seconds(Duration::from_secs(10)), "10 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(seconds(Duration::from_millis(300)), "300 ms");
    }
}
