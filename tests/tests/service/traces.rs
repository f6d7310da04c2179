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

/// A server exporting to `receiver` as JSON, in batches every `delay_ms`.
fn exporting(
    dir: &std::path::Path,
    db: &TestDatabase,
    receiver: &OtlpReceiver,
    log_format: &str,
    delay_ms: &str,
) -> ServerProcess {
    let endpoint = receiver.endpoint();
    server(
        dir,
        db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", delay_ms),
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
    let server = exporting(&dir, &db, &receiver, "json", "100");
    server.wait_ready().await;
    subscribe(&server.api(), &hooks.url("/traced")).await;

    let caller = Caller::new();
    let (order_id, request_id) = create_order(&server.api(), &[("traceparent", &caller.traceparent())]).await;

    let request = receiver
        .wait_for_span("the create request's", |span| {
            span.name == "request" && span.attribute("request_id").as_deref() == Some(&request_id)
        })
        .await;
    assert_eq!(request.name, "request");
    assert_eq!(request.trace_id, caller.trace_id, "the caller's trace is continued");
    assert_eq!(request.parent_span_id, caller.span_id, "under the caller's span");
    assert_eq!(request.attribute("trace_id"), Some(caller.trace_id.clone()));
    assert_eq!(request.service_name.as_deref(), Some("orders"));
    // Its database operation, a child span named after the operation.
    let insert = receiver
        .wait_for_span("the create's database operation", |span| {
            span.name == "orders.create" && span.trace_id == caller.trace_id
        })
        .await;
    assert_eq!(insert.parent_span_id, request.span_id, "the operation runs under the request");
    assert_eq!(insert.attribute("request_id"), Some(request_id.clone()));
    assert_eq!(
        insert.attribute("db.system").as_deref(),
        Some(if backend == Backend::Sqlite { "sqlite" } else { "postgresql" })
    );
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

/// The access line of `request_id` in the output, in either format.
fn access_line(server: &ServerProcess, request_id: &str) -> String {
    let output = server.output();
    let line = output.lines().find(|line| line.contains("request completed") && line.contains(request_id));
    line.unwrap_or_else(|| panic!("no access line for {request_id}:\n{output}")).to_owned()
}

/// Its `trace_id`, read as the format writes it.
fn logged_trace_id(line: &str, log_format: &str) -> Option<String> {
    if log_format == "json" {
        let line: Value = serde_json::from_str(line).unwrap();
        line["span"]["trace_id"].as_str().map(str::to_owned)
    } else {
        let (_, rest) = line.split_once("trace_id=")?;
        Some(rest.chars().take_while(char::is_ascii_hexdigit).collect())
    }
}

#[actix_web::test]
async fn without_an_endpoint_nothing_begins_a_trace_but_a_callers_is_logged() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let hooks = WebhookReceiver::start().await;
    for log_format in ["pretty", "json"] {
        let server = server(&temp_dir("traces"), &db, &[("LOG_FORMAT", log_format)]);
        server.wait_ready().await;
        let api = server.api();
        let caller = Caller::new();
        let traceparent = caller.traceparent();
        let continued = api.request(Method::GET, "/orders", &[("traceparent", &traceparent)], None).await;
        let untraced = api.get("/orders").await;
        let malformed = api.request(Method::GET, "/orders", &[("traceparent", "00-not-a-trace-01")], None).await;
        for response in [&continued, &untraced, &malformed] {
            assert_eq!(response.status, 200, "a traceparent, good or bad, changes no answer");
        }
        let id = |response: &harness::Response| response.header("x-request-id").unwrap().to_owned();
        server.wait_for_output(&id(&malformed)).await;

        let line = access_line(&server, &id(&continued));
        assert_eq!(logged_trace_id(&line, log_format), Some(caller.trace_id.clone()), "{line}");
        for response in [&untraced, &malformed] {
            let line = access_line(&server, &id(response));
            assert_eq!(logged_trace_id(&line, log_format), None, "no trace is begun here: {line}");
        }

        // No span has an OpenTelemetry identity, so none is sent on.
        let path = format!("/untraced-{log_format}");
        subscribe(&api, &hooks.url(&path)).await;
        create_order(&api, &[("traceparent", &traceparent)]).await;
        let delivery = hooks.wait_for(&path, 1, std::time::Duration::from_secs(20)).await.remove(0);
        assert_eq!(delivery.header("traceparent"), None);
    }
}

#[actix_web::test]
async fn spans_still_batched_are_sent_on_sigterm() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let receiver = OtlpReceiver::start().await;
    // Far longer than the test: only the shutdown sends the batch.
    let mut server = exporting(&temp_dir("traces"), &db, &receiver, "pretty", "600000");
    server.wait_ready().await;
    let response = server.api().get("/orders").await;
    assert_eq!(response.status, 200);
    let request_id = response.header("x-request-id").unwrap().to_owned();
    assert_eq!(receiver.requests(), 0, "nothing is sent before the batch is due");

    server.signal("TERM");
    assert!(server.wait_exit().await.success(), "{}", server.output());
    let spans = receiver.spans();
    assert!(
        spans.iter().any(|span| span.attribute("request_id") == Some(request_id.clone())),
        "the last request's span was sent on the way out: {spans:#?}"
    );
}
