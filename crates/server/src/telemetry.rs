//! Logging: `RUST_LOG` filters, `LOG_FORMAT` picks the shape.

use std::io::IsTerminal as _;

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::LogFormat;

/// Installs the global subscriber. Every event inside a request carries the
/// request span (and so its `request_id`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stdout);
    // Colours for a person at a terminal, plain text for files and collectors.
    let layer = layer.with_ansi(std::io::stdout().is_terminal());
    let registry = tracing_subscriber::registry().with(filter).with(filter_fn(not_actix_dispatch_error));
    let _ = match format {
        LogFormat::Pretty => registry.with(layer).try_init(),
        LogFormat::Json => registry.with(layer.json().with_current_span(true).with_span_list(false)).try_init(),
    };
}

/// actix-http logs every connection it ends with an error at ERROR, malformed
/// requests included, which any client can send at will; the server logs
/// those errors itself, at the level of whose fault they are
/// (`connection_errors`).
fn not_actix_dispatch_error(metadata: &Metadata<'_>) -> bool {
    !(metadata.target() == "actix_http::h1::dispatcher" && *metadata.level() == Level::ERROR)
}
