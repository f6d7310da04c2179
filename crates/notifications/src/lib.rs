//! Email transports and the outbox dispatcher, behind the domain's ports.

mod dispatcher;
mod handoff;
mod log_mailer;
mod smtp_mailer;

pub use dispatcher::{DispatcherConfig, OutboxDispatcher};
pub use handoff::{HandingOver, Handoff};
pub use log_mailer::LogMailer;
pub use smtp_mailer::{SmtpConfig, SmtpConfigError, SmtpMailer};
pub use tokio_util::sync::CancellationToken;
