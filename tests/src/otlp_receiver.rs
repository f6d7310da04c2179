//! An OTLP/HTTP receiver for the tests: what a server exports as JSON
//! (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) to `/v1/traces`, read back as
//! spans. The HTTP side is the webhook receiver's: a path that records what
//! it is sent, on a thread of its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::receiver::{Behaviour, WebhookReceiver};

const TRACES: &str = "/v1/traces";

/// One exported span, flattened out of its export request.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    pub name: String,
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// 16 lower-case hex digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// Its attributes, each value as OTLP JSON writes it (`{"stringValue": …}`…).
    pub attributes: HashMap<String, Value>,
    /// The resource's `service.name`.
    pub service_name: Option<String>,
}

impl ExportedSpan {
    /// A string or integer attribute, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        let value = self.attributes.get(key)?;
        let text = value.get("stringValue").or_else(|| value.get("intValue"))?;
        Some(text.as_str().map_or_else(|| text.to_string(), str::to_owned))
    }
}

/// The receiver; stops when dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    http: WebhookReceiver,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let http = WebhookReceiver::start().await;
        // An OTLP/HTTP receiver answers 200; an empty body is a full success.
        http.answer(TRACES, Behaviour::Status(200));
        Self { http }
    }

    /// For `OTEL_EXPORTER_OTLP_ENDPOINT`: the base, `/v1/traces` is appended.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http.port)
    }

    /// Export requests received so far.
    pub fn requests(&self) -> usize {
        self.http.received(TRACES).len()
    }

    /// Every span received so far. Panics on a request that is not OTLP JSON.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        let mut spans = Vec::new();
        for request in self.http.received(TRACES) {
            assert_eq!(request.header("content-type"), Some("application/json"), "OTLP/HTTP JSON expected");
            for resource_spans in array(&request.json, "resourceSpans") {
                let service_name = attributes(&resource_spans["resource"])
                    .get("service.name")
                    .and_then(|value| value["stringValue"].as_str())
                    .map(str::to_owned);
                for scope_spans in array(resource_spans, "scopeSpans") {
                    for span in array(scope_spans, "spans") {
                        spans.push(ExportedSpan {
                            name: text(span, "name"),
                            trace_id: text(span, "traceId"),
                            span_id: text(span, "spanId"),
                            parent_span_id: text(span, "parentSpanId"),
                            attributes: attributes(span),
                            service_name: service_name.clone(),
                        });
                    }
                }
            }
        }
        spans
    }

    /// Waits until a span that `matches` has arrived, and returns it; panics,
    /// listing what did arrive, if none does within 20 s.
    pub async fn wait_for_span(&self, what: &str, matches: impl Fn(&ExportedSpan) -> bool) -> ExportedSpan {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans();
            if let Some(span) = spans.iter().find(|span| matches(span)) {
                return span.clone();
            }
            assert!(Instant::now() < deadline, "no exported span is {what}; received:\n{spans:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value[key].as_array().into_iter().flatten()
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

fn attributes(value: &Value) -> HashMap<String, Value> {
    array(value, "attributes").map(|attribute| (text(attribute, "key"), attribute["value"].clone())).collect()
}
