//! SMTP transport: lettre's async, pooled client.

use std::time::Duration;

use async_trait::async_trait;
use domain::{EmailMessage, EmailSender, SendError};
use lettre::message::{Mailbox, MultiPart, SinglePart};
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

    /// The sender's domain: right of the `@` in Message-IDs.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
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
        let domain = config.domain().to_owned();
        Ok(Self { transport, from: config.from.clone(), domain })
    }

    fn message(&self, email: &EmailMessage) -> Result<Message, SendError> {
        let to = email
            .recipient
            .parse::<Mailbox>()
            // The address itself stays out of the error: it is logged and shown.
            .map_err(|e| SendError::Permanent(format!("the recipient address is not deliverable: {e}")))?;
        // Every header from what was stored, the date included, so each
        // attempt sends the same message.
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(email.message_id(&self.domain)))
            .date(email.written_at.as_system_time());
        let text = SinglePart::plain(email.body.clone());
        match &email.html {
            // The boundary is the order's rather than a random one, for the
            // same reason; nobody could put the id in a name or SKU before it
            // existed, so no part can hold it.
            Some(html) => builder.multipart(
                MultiPart::alternative()
                    .boundary(format!("order-{}-alternative", email.order_id))
                    .singlepart(text)
                    .singlepart(SinglePart::html(html.clone())),
            ),
            // Queued before emails had HTML.
            None => builder.singlepart(text),
        }
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

#[cfg(test)]
mod tests {
    use domain::{OrderId, Timestamp};

    use super::*;

    fn mailer() -> SmtpMailer {
        let config =
            SmtpConfig::parse("smtp://127.0.0.1:25", "Shop <shop@example.com>", Duration::from_secs(1)).unwrap();
        SmtpMailer::new(&config).unwrap()
    }

    fn email(html: Option<&str>) -> EmailMessage {
        EmailMessage {
            order_id: OrderId::generate(),
            recipient: "ada@example.com".to_owned(),
            subject: "Order 1234ABCD confirmed".to_owned(),
            body: "Hello Ada,\n".to_owned(),
            html: html.map(str::to_owned),
            written_at: Timestamp::from_unix_micros(1_796_000_000_000_000).unwrap(),
        }
    }

    fn formatted(email: &EmailMessage) -> String {
        String::from_utf8(mailer().message(email).unwrap().formatted()).unwrap()
    }

    // Building the pool needs a runtime.
    #[tokio::test]
    async fn with_html_it_is_multipart_alternative_and_the_same_on_every_attempt() {
        let email = email(Some("<p>Hello Ada,</p>"));
        let message = formatted(&email);
        assert_eq!(message, formatted(&email), "a retry sends the same bytes");
        for header in [
            "MIME-Version: 1.0\r\n".to_owned(),
            "Date: Mon, 30 Nov 2026 00:53:20 +0000\r\n".to_owned(),
            format!("Message-ID: <order-{}.confirmation@example.com>\r\n", email.order_id),
            format!("Content-Type: multipart/alternative;\r\n boundary=\"order-{}-alternative\"\r\n", email.order_id),
        ] {
            assert!(message.contains(&header), "{header:?} not in\n{message}");
        }
        let text = message.find("Content-Type: text/plain; charset=utf-8").unwrap();
        let html = message.find("Content-Type: text/html; charset=utf-8").unwrap();
        assert!(text < html, "the text part first, the preferred part last (RFC 2046)");
    }

    #[tokio::test]
    async fn without_html_it_is_text_only() {
        let message = formatted(&email(None));
        assert!(message.contains("MIME-Version: 1.0\r\n"), "{message}");
        assert!(message.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{message}");
        assert!(!message.contains("multipart"), "{message}");
        assert!(message.contains("\r\n\r\nHello Ada,\r\n"), "{message}");
    }
}
