//! `orders-server`: reads the environment, starts the service, stops on
//! SIGTERM/SIGINT; or runs one of its subcommands (`healthcheck`, `keys`).

use std::process::ExitCode;

use server::cli::{self, Command};
use server::config::{ConfigError, Settings};
use server::startup::Application;
use server::{healthcheck, key_commands, telemetry};

/// glibc's malloc showed up at ~9 % of the server's CPU under load (make bench);
/// mimalloc is made for many small, short-lived allocations across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let command = cli::parse(std::env::args());
    // The container's HEALTHCHECK, with no curl in the image.
    if let Command::Healthcheck = command {
        return healthcheck::run();
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("orders-server: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Serve => serve(settings).await,
        keys => key_commands::run(keys, &settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A setting found unusable only when used (BIND_ADDR, OTEL_*).
        Err(error) if error.downcast_ref::<ConfigError>().is_some() => {
            eprintln!("orders-server: invalid configuration: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            // One line: the context, then each cause.
            eprintln!("orders-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until stopped, then sends the spans still batched, whichever way it stopped.
async fn serve(settings: Settings) -> anyhow::Result<()> {
    let telemetry = telemetry::init(settings.log_format)?;
    let result = match Application::build(settings).await {
        Ok(app) => app.run_until_stopped().await,
        Err(error) => Err(error),
    };
    telemetry.shutdown().await;
    result
}
