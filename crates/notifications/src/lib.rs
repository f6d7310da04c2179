//! Email transports, the webhook client and the outbox dispatchers, behind
//! the domain's ports.

mod confirmation_email;
mod destination;
mod dispatcher;
mod handoff;
mod log_mailer;
mod outbox_metrics;
mod retry;
mod smtp_mailer;
mod webhook_client;
mod webhook_dispatcher;

pub use confirmation_email::EmailTemplates;
pub use destination::DestinationGuard;
pub use dispatcher::{DispatcherConfig, OutboxDispatcher};
pub use handoff::{HandingOver, Handoff};
pub use log_mailer::LogMailer;
pub use outbox_metrics::describe as describe_metrics;
pub use smtp_mailer::{SmtpConfig, SmtpConfigError, SmtpMailer};
pub use tokio_util::sync::CancellationToken;
pub use webhook_client::{
    Delivered, EVENT_ID_HEADER, SIGNATURE_HEADER, WebhookClient, WebhookClientConfig, WebhookClientError,
};
pub use webhook_dispatcher::{WebhookDispatcher, WebhookDispatcherConfig, WebhookSender};
