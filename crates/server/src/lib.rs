//! The orders service, assembled. `main.rs` is a thin shell over this; tests
//! build the same [`startup::Application`] in-process.

pub mod cli;
pub mod config;
mod connection_errors;
mod connection_guard;
pub mod healthcheck;
mod http_server;
pub mod key_commands;
mod otlp;
mod otlp_client;
pub mod scrape;
pub mod startup;
pub mod telemetry;
