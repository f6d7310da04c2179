//! SMTP transport: lettre's async, pooled client.

use std::time::Duration;

use async_trait::async_trait;
use domain::{EmailMessage, EmailSender, SendError};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why the SMTP settings cannot be used. The cause is part of the message,
/// not a source, so that any printer says it once.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    /// The URL is not one lettre understands.
    #[error("not a usable SMTP URL: {0}")]
    Url(lettre::transport::smtp::Error),
    /// The sender is not a mailbox.
    #[error("not an address like `Orders <orders@example.com>`: {0}")]
    From(lettre::address::AddressError),
}

/// Checked SMTP settings.
#[derive(Clone)]
pub struct SmtpConfig {
    url: String,
    from: Mailbox,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    /// Without the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig").field("from", &self.from.to_string()).field("timeout", &self.timeout).finish()
    }
}

impl SmtpConfig {
    /// `url`: `smtps://user:pass@host:465`, `smtp://host:587?tls=required`, or
    /// plain `smtp://host:25` (unencrypted; for local relays and tests).
    pub fn parse(url: &str, from: &str, timeout: Duration) -> Result<Self, SmtpConfigError> {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(SmtpConfigError::Url)?;
        let from = from.parse::<Mailbox>().map_err(SmtpConfigError::From)?;
        Ok(Self { url: url.to_owned(), from, timeout })
    }
}

/// Sends each email over SMTP through a small connection pool.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Right of the `@` in Message-IDs: the sender's domain.
    domain: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for checked settings.
    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(SmtpConfigError::Url)?
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(16))
            .build();
        let domain = config.from.email.domain().to_owned();
        Ok(Self { transport, from: config.from.clone(), domain })
    }

    fn message(&self, email: &EmailMessage) -> Result<Message, SendError> {
        let to = email
            .recipient
            .parse::<Mailbox>()
            // The address itself stays out of the error: it is logged and shown.
            .map_err(|e| SendError::Permanent(format!("the recipient address is not deliverable: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(email.message_id(&self.domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| SendError::Permanent(format!("could not build the message: {e}")))
    }
}

#[async_trait]
impl EmailSender for SmtpMailer {
    async fn send(&self, email: &EmailMessage) -> Result<(), SendError> {
        let message = self.message(email)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // 5xx: the server will never take it. Everything else (4xx,
            // connection refused, time-outs) may work later.
            Err(error) if error.is_permanent() => Err(SendError::Permanent(format!("SMTP: {error}"))),
            Err(error) => Err(SendError::Transient(format!("SMTP: {error}"))),
        }
    }
}
