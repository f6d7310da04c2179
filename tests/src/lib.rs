//! The test harness: a real server per test, a fresh database per test, and a
//! mail transport that records, and SMTP, webhook and OTLP servers to deliver to.

mod app;
mod database;
mod keys;
mod mailer;
mod otlp_receiver;
mod private_postgres;
mod process;
mod receiver;
mod smtp_sink;

pub use app::{
    Api, Response, TestApp, eventually, eventually_within, sample_order, spawn_app, spawn_app_on, spawn_app_with,
};
pub use database::{Backend, TestDatabase, admin_client, admin_url, skip_postgres, with_database};
pub use keys::{issue_key, key_for};
pub use mailer::RecordingSender;
pub use otlp_receiver::{ExportedSpan, OtlpReceiver};
pub use private_postgres::PrivatePostgres;
pub use process::{ServerProcess, free_port, server_binary, temp_dir};
pub use receiver::{
    Behaviour, Received, SIGNATURE_HEADER, SIGNATURE_TOLERANCE, WebhookReceiver, v1_signature, verify_at,
};
pub use smtp_sink::{ReceivedMail, SinkMode, SmtpSink};

/// Writes each named `async fn name(backend: Backend)` as two tests,
/// `name::sqlite` and `name::postgres`, so no behaviour is tested on one
/// database only.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }

            #[actix_web::test]
            async fn postgres() {
                if $crate::skip_postgres() {
                    eprintln!("SKIP_POSTGRES=1: skipped");
                    return;
                }
                super::$name($crate::Backend::Postgres).await
            }
        }
    )*};
}

/// The repository's root folder (the parent of `tests/`).
pub fn workspace_root() -> std::path::PathBuf {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().expect("tests/ is inside the repository").to_path_buf()
}
