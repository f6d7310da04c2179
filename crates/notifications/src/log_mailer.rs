//! The default transport: sends nothing, logs one line per email.

use async_trait::async_trait;
use domain::{EmailMessage, EmailSender, SendError};

/// Writes `mock email sent` with the order id, recipient and subject at INFO,
/// so a person running the service sees each confirmation in its output.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl EmailSender for LogMailer {
    async fn send(&self, email: &EmailMessage) -> Result<(), SendError> {
        tracing::info!(
            order_id = %email.order_id,
            recipient = %email.recipient,
            subject = %email.subject,
            "mock email sent"
        );
        Ok(())
    }
}
