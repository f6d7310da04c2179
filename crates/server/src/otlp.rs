//! Span export over OTLP/HTTP, set up from the standard `OTEL_*` variables,
//! and only when an endpoint is named: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! or `OTEL_EXPORTER_OTLP_ENDPOINT`. The SDK reads the rest itself (headers,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`, the
//! sampler), except the protocol's default and the time-out, read here.

use std::time::Duration;

use anyhow::Context as _;
use api::trace_context::TracedRequestId;
use opentelemetry::trace::{Span as _, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{
    OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, Protocol, SpanExporter, WithExportConfig as _, WithHttpConfig as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::resource::{EnvResourceDetector, SdkProvidedResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};

use crate::config::ConfigError;
use crate::otlp_client::TokioHttpClient;

/// `service.name` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` say otherwise.
const DEFAULT_SERVICE_NAME: &str = "orders";

/// The attribute every span under a request carries.
const REQUEST_ID: &str = "request_id";

/// Whether spans are to be exported.
pub fn configured() -> bool {
    var(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).or_else(|| var(OTEL_EXPORTER_OTLP_ENDPOINT)).is_some()
}

/// The provider whose batches go to the configured endpoint. Must be called
/// on the runtime that is to send them. A setting it cannot use is a
/// [`ConfigError`].
pub fn tracer_provider() -> anyhow::Result<SdkTracerProvider> {
    let client = TokioHttpClient::new(timeout()?).context("could not set up trace export")?;
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(protocol()?)
        .with_http_client(client)
        .build()
        // The SDK's reason names the variable it could not use.
        .map_err(|e| ConfigError::secret("OTEL_EXPORTER_OTLP_*", e))?;
    Ok(SdkTracerProvider::builder()
        .with_span_processor(RequestIdOnSpans)
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

/// `http/protobuf` unless told `http/json`, as the OTLP specification has it
/// (the crate, built with both, would default to JSON).
fn protocol() -> Result<Protocol, ConfigError> {
    let set = [OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL]
        .into_iter()
        .find_map(|name| var(name).map(|value| (name, value)));
    match set {
        None => Ok(Protocol::HttpBinary),
        Some((name, value)) => match value.to_ascii_lowercase().as_str() {
            "http/protobuf" => Ok(Protocol::HttpBinary),
            "http/json" => Ok(Protocol::HttpJson),
            _ => Err(ConfigError::new(name, &value, "must be http/protobuf or http/json (OTLP over HTTP)")),
        },
    }
}

/// The longest one export request may take (the exporter leaves bounding it
/// to the client): milliseconds, as the SDK reads them.
fn timeout() -> Result<Duration, ConfigError> {
    for name in [OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT] {
        if let Some(value) = var(name) {
            return match value.parse::<u64>() {
                Ok(millis) if millis > 0 => Ok(Duration::from_millis(millis)),
                _ => Err(ConfigError::new(name, &value, "must be a positive number of milliseconds")),
            };
        }
    }
    Ok(OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT)
}

/// The SDK's resource, named `orders` when nothing names it.
fn resource() -> Resource {
    let builder = Resource::builder_empty()
        .with_service_name(DEFAULT_SERVICE_NAME)
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_detector(Box::new(EnvResourceDetector::new()));
    // That detector names the service `unknown_service` when the variable is unset.
    if var("OTEL_SERVICE_NAME").is_some() {
        builder.with_detector(Box::new(SdkProvidedResourceDetector)).build()
    } else {
        builder.build()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// Writes the request id on every span under a request: the request span
/// puts it in its OpenTelemetry context (`api::trace_context`), which its
/// descendants' contexts inherit. The request span itself, whose parent is
/// remote or absent, has it as a field already.
#[derive(Debug)]
struct RequestIdOnSpans;

impl SpanProcessor for RequestIdOnSpans {
    fn on_start(&self, span: &mut Span, parent: &Context) {
        let parent_span = parent.span();
        let under_a_local_span = parent_span.span_context().is_valid() && !parent_span.span_context().is_remote();
        if under_a_local_span && let Some(TracedRequestId(id)) = parent.get::<TracedRequestId>() {
            span.set_attribute(KeyValue::new(REQUEST_ID, id.clone()));
        }
    }

    fn on_end(&self, _: SpanData) {}

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Keeps what it is given.
    #[derive(Debug, Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<SpanData>>>);

    impl opentelemetry_sdk::trace::SpanExporter for Recorded {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    impl Recorded {
        fn span(&self, name: &str) -> SpanData {
            self.0.lock().unwrap().iter().find(|span| span.name == name).unwrap().clone()
        }
    }

    fn request_ids(span: &SpanData) -> Vec<String> {
        span.attributes.iter().filter(|kv| kv.key.as_str() == REQUEST_ID).map(|kv| kv.value.to_string()).collect()
    }

    /// A request span as the API makes it, with children, and a span apart.
    fn trace(headers: &HeaderMap) -> Recorded {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let recorded = Recorded::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(RequestIdOnSpans)
            .with_simple_exporter(recorded.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", request_id = "r-1", trace_id = tracing::field::Empty);
            api::trace_context::continue_trace(&request, headers, "r-1");
            request.in_scope(|| {
                let operation = tracing::info_span!("operation");
                operation.in_scope(|| drop(tracing::info_span!("inner")));
            });
            drop(request);
            drop(tracing::info_span!("apart"));
        });
        recorded
    }

    #[test]
    fn every_span_under_a_request_carries_its_id_once() {
        let recorded = trace(&HeaderMap::new());
        for name in ["request", "operation", "inner"] {
            assert_eq!(request_ids(&recorded.span(name)), ["r-1"], "{name}");
        }
        assert!(request_ids(&recorded.span("apart")).is_empty());
        let request = recorded.span("request");
        assert_eq!(recorded.span("inner").span_context.trace_id(), request.span_context.trace_id());
    }

    #[test]
    fn a_callers_traceparent_is_the_request_spans_parent() {
        let mut headers = HeaderMap::new();
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        headers.insert(HeaderName::from_static("traceparent"), HeaderValue::from_static(traceparent));
        let recorded = trace(&headers);
        let request = recorded.span("request");
        assert_eq!(request.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(request.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(request_ids(&request), ["r-1"]);
        assert_eq!(request_ids(&recorded.span("operation")), ["r-1"]);
    }
}
