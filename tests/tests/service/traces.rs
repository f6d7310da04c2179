//! Traces: with an OTLP endpoint set, the server exports a span per request,
//! continuing the caller's `traceparent`, and one per delivery, each webhook
//! sent with its delivery span's `traceparent`; every span under a request
//! carries its request id, which the access line shares with the trace id.
//! The server runs as a process of its own: the tracing subscriber is global,
//! and the in-process test apps share one.

use actix_web::http::Method;
use harness::{
    Api, Backend, ExportedSpan, OtlpReceiver, ServerProcess, TestDatabase, WebhookReceiver, on_both_backends,
    sample_order, temp_dir,
};
use serde_json::{Value, json};

on_both_backends!(a_continued_trace_is_exported_with_the_request_id_and_the_deliveries);

/// A caller's trace: a fresh trace id and parent span id, sampled.
struct Caller {
    trace_id: String,
    span_id: String,
}

impl Caller {
    fn new() -> Self {
        let trace_id = uuid::Uuid::now_v7().simple().to_string();
        let span_id = uuid::Uuid::now_v7().simple().to_string()[16..].to_owned();
        Self { trace_id, span_id }
    }

    fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

fn server(dir: &std::path::Path, db: &TestDatabase, extra: &[(&str, &str)]) -> ServerProcess {
    let mut vars = vec![("DATABASE_URL", db.url.as_str()), ("WEBHOOK_ALLOW_PRIVATE", "true")];
    vars.extend_from_slice(extra);
    ServerProcess::start(dir, &vars)
}

/// A server exporting to `receiver` as JSON, in batches every 100 ms.
fn exporting(dir: &std::path::Path, db: &TestDatabase, receiver: &OtlpReceiver, log_format: &str) -> ServerProcess {
    let endpoint = receiver.endpoint();
    server(
        dir,
        db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("LOG_FORMAT", log_format),
        ],
    )
}

async fn subscribe(api: &Api, url: &str) {
    let response = api.post_json("/webhook-endpoints", &json!({"url": url, "events": ["order.created"]})).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
}

/// Creates the sample order with these extra headers; returns its id and the
/// response's request id.
async fn create_order(api: &Api, headers: &[(&str, &str)]) -> (String, String) {
    let body = serde_json::to_vec(&sample_order()).unwrap();
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let response = api.request(Method::POST, "/orders", &all, Some(&body)).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    let request_id = response.header("x-request-id").unwrap().to_owned();
    (response.json()["id"].as_str().unwrap().to_owned(), request_id)
}

/// `00-<trace id>-<parent id>-<flags>`, checked well formed; the two ids.
fn parse_traceparent(header: &str) -> (String, String) {
    let parts: Vec<&str> = header.split('-').collect();
    let hex = |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(
        parts.len() == 4 && parts[0] == "00" && hex(parts[1], 32) && hex(parts[2], 16) && hex(parts[3], 2),
        "malformed traceparent {header:?}"
    );
    assert_ne!(parts[1], "0".repeat(32), "{header}");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// No attribute of any span holds a customer's name or email.
fn assert_no_customer_data(spans: &[ExportedSpan]) {
    let order = sample_order();
    for span in spans {
        for (key, value) in &span.attributes {
            for personal in [&order["customer_email"], &order["customer_name"]] {
                let personal = personal.as_str().unwrap();
                assert!(!value.to_string().contains(personal), "span {} has {key} = {value}", span.name);
            }
        }
    }
}

async fn a_continued_trace_is_exported_with_the_request_id_and_the_deliveries(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let dir = temp_dir("traces");
    let receiver = OtlpReceiver::start().await;
    let hooks = WebhookReceiver::start().await;
    let server = exporting(&dir, &db, &receiver, "json");
    server.wait_ready().await;
    subscribe(&server.api(), &hooks.url("/traced")).await;

    let caller = Caller::new();
    let (order_id, request_id) = create_order(&server.api(), &[("traceparent", &caller.traceparent())]).await;

    let request = receiver
        .wait_for_span("the create request's", |span| span.attribute("request_id").as_deref() == Some(&request_id))
        .await;
    assert_eq!(request.name, "request");
    assert_eq!(request.trace_id, caller.trace_id, "the caller's trace is continued");
    assert_eq!(request.parent_span_id, caller.span_id, "under the caller's span");
    assert_eq!(request.attribute("trace_id"), Some(caller.trace_id.clone()));
    assert_eq!(request.service_name.as_deref(), Some("orders"));
    let access_line = server
        .output()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["fields"]["message"] == "request completed" && line["span"]["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no access line for {request_id}:\n{}", server.output()));
    assert_eq!(access_line["span"]["trace_id"], caller.trace_id.as_str(), "{access_line}");

    // Deliveries begin traces of their own.
    let delivery = hooks.wait_for("/traced", 1, std::time::Duration::from_secs(20)).await.remove(0);
    let (trace_id, parent_id) = parse_traceparent(delivery.header("traceparent").expect("a traceparent is sent"));
    let webhook = receiver
        .wait_for_span("the webhook delivery's", |span| span.trace_id == trace_id && span.span_id == parent_id)
        .await;
    assert_eq!(webhook.name, "webhook");
    assert_eq!(webhook.attribute("event_id").as_deref(), delivery.header("orders-event-id"));
    assert_eq!(webhook.attribute("attempt").as_deref(), Some("1"));
    let email = receiver
        .wait_for_span("the email's", |span| {
            span.name == "send_email" && span.attribute("order_id") == Some(order_id.clone())
        })
        .await;
    assert_eq!(email.attribute("attempt").as_deref(), Some("1"));

    let spans = receiver.spans();
    let in_request = spans.iter().filter(|span| span.trace_id == caller.trace_id);
    for span in in_request {
        assert_eq!(span.attribute("request_id"), Some(request_id.clone()), "{span:#?}");
    }
    assert_no_customer_data(&spans);
}
