//! Logs and traces: `RUST_LOG` filters, `LOG_FORMAT` picks the shape of log
//! lines, and spans are exported over OTLP when an endpoint is set (`otlp`).

use std::io::IsTerminal as _;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::LogFormat;
use crate::otlp;

/// What was installed; [`Telemetry::shutdown`] sends the spans still held.
#[derive(Debug)]
#[must_use = "spans still batched are lost unless it is shut down"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Installs the global subscriber. Every event inside a request carries the
/// request span (and so its `request_id` and `trace_id`). Spans, and only
/// spans, go to the OpenTelemetry layer, which exists only when an OTLP
/// endpoint is set: log lines can name customers (the log mailer does), the
/// request id and trace id tie them to the spans instead.
///
/// Must be called on the tokio runtime that is to send the spans.
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    // Whether or not spans are exported: a caller's trace id then still
    // names the request's log lines.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = if otlp::configured() { Some(otlp::tracer_provider()?) } else { None };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("orders-server"))
            .with_filter(filter_fn(|metadata| metadata.is_span()))
    });

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stdout);
    // Colours for a person at a terminal, plain text for files and collectors.
    let layer = layer.with_ansi(std::io::stdout().is_terminal());
    let registry = tracing_subscriber::registry().with(filter).with(filter_fn(not_actix_dispatch_error)).with(traces);
    let _ = match format {
        LogFormat::Pretty => registry.with(layer).try_init(),
        LogFormat::Json => registry.with(layer.json().with_current_span(true).with_span_list(false)).try_init(),
    };
    Ok(Telemetry { traces: provider })
}

impl Telemetry {
    /// Exports the spans still batched and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.traces else { return };
        // The SDK blocks until its export thread is done, and that thread's
        // requests run on this runtime: blocking one of its workers could
        // starve them, so the wait happens on a thread of its own.
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(error = %error, "could not export the last spans"),
            Err(error) => tracing::warn!(error = %error, "could not export the last spans"),
        }
    }
}

/// actix-http logs every connection it ends with an error at ERROR, malformed
/// requests included, which any client can send at will; the server logs
/// those errors itself, at the level of whose fault they are
/// (`connection_errors`).
fn not_actix_dispatch_error(metadata: &Metadata<'_>) -> bool {
    !(metadata.target() == "actix_http::h1::dispatcher" && *metadata.level() == Level::ERROR)
}
