//! The orders service, assembled. `main.rs` is a thin shell over this; tests
//! build the same [`startup::Application`] in-process.

pub mod cli;
pub mod config;
pub mod healthcheck;
pub mod key_commands;
pub mod startup;
pub mod telemetry;
