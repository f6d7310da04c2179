//! Deliveries: what the outboxes send, emails and webhooks alike, as an
//! operator sees them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::email::EmailState;
use crate::event::{EventId, EventType};
use crate::listing::{Cursor, Listed, ListedId, Page, PageSize};
use crate::order::OrderId;
use crate::parse::ParseError;
use crate::ports::RepositoryError;
use crate::time::Timestamp;
use crate::webhook::EndpointId;

/// A delivery's id. A confirmation email's is its order's id (an order has
/// one); a webhook delivery's is its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryId(Uuid);

impl DeliveryId {
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for DeliveryId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl FromStr for DeliveryId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl ListedId for DeliveryId {
    fn uuid(&self) -> Uuid {
        self.0
    }
}

impl From<OrderId> for DeliveryId {
    /// The id of the order's confirmation email.
    fn from(order: OrderId) -> Self {
        Self(order.as_uuid())
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Which outbox a delivery is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// An order's confirmation email.
    Email,
    /// An event sent to a webhook endpoint.
    Webhook,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Email => "email",
            DeliveryKind::Webhook => "webhook",
        }
    }

    pub fn parse(name: &str) -> Result<Self, ParseError> {
        match name {
            "email" => Ok(DeliveryKind::Email),
            "webhook" => Ok(DeliveryKind::Webhook),
            _ => Err(ParseError::OneOf("email, webhook")),
        }
    }
}

impl fmt::Display for DeliveryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a delivery stands. Both outboxes move through the confirmation
/// email's states: `pending` → `sent`, or `failed` once attempts run out.
pub type DeliveryState = EmailState;

/// What is delivered, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryTarget {
    /// An order's confirmation email.
    Email {
        /// The address it goes to.
        recipient: String,
    },
    /// An event sent to a webhook endpoint.
    Webhook { event_id: EventId, event_type: EventType, endpoint_id: EndpointId },
}

/// One delivery of either outbox, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub order_id: OrderId,
    pub target: DeliveryTarget,
    pub state: DeliveryState,
    /// Attempts begun so far; it only grows (claims are fenced by it).
    pub attempts: u32,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    /// While pending: when the outbox takes it up (again), or when the lease
    /// of the attempt under way ends. Meaningless otherwise.
    pub available_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

impl Delivery {
    pub fn kind(&self) -> DeliveryKind {
        match self.target {
            DeliveryTarget::Email { .. } => DeliveryKind::Email,
            DeliveryTarget::Webhook { .. } => DeliveryKind::Webhook,
        }
    }

    /// When the next attempt is due; `None` once the delivery is sent or failed.
    pub fn next_attempt_at(&self) -> Option<Timestamp> {
        (self.state == DeliveryState::Pending).then_some(self.available_at)
    }
}

impl Listed for Delivery {
    type Id = DeliveryId;

    fn position(&self) -> Cursor<DeliveryId> {
        Cursor { created_at: self.created_at, id: self.id }
    }
}

/// What to list: newest first, by `created_at` then id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub limit: PageSize,
    /// Start after this position; the first page if `None`.
    pub after: Option<Cursor<DeliveryId>>,
    /// Only this outbox; both, merged in one order, if `None`.
    pub kind: Option<DeliveryKind>,
    pub state: Option<DeliveryState>,
    pub order_id: Option<OrderId>,
}

impl DeliveryQuery {
    /// The first page of everything.
    pub fn first_page(limit: PageSize) -> Self {
        Self { limit, after: None, kind: None, state: None, order_id: None }
    }

    /// Whether the listing looks into the outbox of `kind`.
    pub fn includes(&self, kind: DeliveryKind) -> bool {
        self.kind.is_none_or(|wanted| wanted == kind)
    }
}

/// A page of deliveries, newest first.
pub type DeliveryPage = Page<Delivery>;

/// What asking to retry a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// It was failed and is pending again, due now.
    Requeued(Delivery),
    /// It is not failed, and was left as it is.
    NotFailed(Delivery),
    /// A failed webhook delivery whose endpoint was deleted: there is
    /// nowhere to send it.
    EndpointDeleted(Delivery),
    NotFound,
}

/// The deliveries of both outboxes.
#[async_trait]
pub trait DeliveryRepository: Send + Sync + 'static {
    /// A page of deliveries, newest first (`created_at` then id, descending).
    async fn list(&self, query: &DeliveryQuery) -> Result<DeliveryPage, RepositoryError>;

    /// Puts a failed delivery back in its outbox, due at `now`, and wakes
    /// this process's dispatcher of that outbox.
    ///
    /// Its attempts counter is kept, because claims are fenced by it and it
    /// must only grow. So a retried delivery gets one more attempt: it is
    /// already at the most the dispatcher allows, and failing again marks
    /// it failed again. Its `last_error` stays until it is sent.
    async fn retry(&self, id: DeliveryId, now: Timestamp) -> Result<RetryOutcome, RepositoryError>;

    /// What each outbox still has to send, one [`Backlog`] per kind.
    async fn backlog(&self) -> Result<Vec<Backlog>, RepositoryError>;
}

/// What one outbox still has to send: how much, and since when. An operator
/// watches both, since a queue can be short and still stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub kind: DeliveryKind,
    /// Deliveries not yet sent nor given up on, claimed ones included.
    pub pending: u64,
    /// When the oldest of them was committed; `None` when there are none.
    pub oldest: Option<Timestamp>,
}

impl Backlog {
    /// How long the oldest pending delivery has waited at `now` (zero when
    /// none waits).
    ///
    /// ```
    /// use std::time::Duration;
    /// use domain::{Backlog, DeliveryKind, Timestamp};
    ///
    /// let now = Timestamp::now();
    /// let idle = Backlog { kind: DeliveryKind::Email, pending: 0, oldest: None };
    /// assert_eq!(idle.oldest_age(now), Duration::ZERO);
    /// let queued = Timestamp::from_unix_micros(now.unix_micros() - 90_000_000).unwrap();
    /// let behind = Backlog { kind: DeliveryKind::Webhook, pending: 3, oldest: Some(queued) };
    /// assert_eq!(behind.oldest_age(now), Duration::from_secs(90));
    /// ```
    pub fn oldest_age(&self, now: Timestamp) -> std::time::Duration {
        self.oldest.map_or(std::time::Duration::ZERO, |oldest| now.since(oldest))
    }
}

/// Why retrying a delivery did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("delivery {0} not found")]
    NotFound(DeliveryId),
    /// Only a failed delivery can be retried.
    #[error("delivery {} is {}, not failed", .0.id, .0.state)]
    NotFailed(Box<Delivery>),
    #[error("delivery {} cannot be retried: its webhook endpoint was deleted", .0.id)]
    EndpointDeleted(Box<Delivery>),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Lists deliveries and retries failed ones, on the clock.
#[derive(Clone)]
pub struct DeliveryService {
    repository: Arc<dyn DeliveryRepository>,
}

impl fmt::Debug for DeliveryService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryService").finish_non_exhaustive()
    }
}

impl DeliveryService {
    pub fn new(repository: Arc<dyn DeliveryRepository>) -> Self {
        Self { repository }
    }

    pub async fn list(&self, query: &DeliveryQuery) -> Result<DeliveryPage, RepositoryError> {
        self.repository.list(query).await
    }

    /// What each outbox still has to send.
    pub async fn backlog(&self) -> Result<Vec<Backlog>, RepositoryError> {
        self.repository.backlog().await
    }

    /// Puts a failed delivery back in the queue, due now; answers it as it now is.
    pub async fn retry(&self, id: DeliveryId) -> Result<Delivery, DeliveryError> {
        match self.repository.retry(id, Timestamp::now()).await? {
            RetryOutcome::Requeued(delivery) => Ok(delivery),
            RetryOutcome::NotFailed(delivery) => Err(DeliveryError::NotFailed(Box::new(delivery))),
            RetryOutcome::EndpointDeleted(delivery) => Err(DeliveryError::EndpointDeleted(Box::new(delivery))),
            RetryOutcome::NotFound => Err(DeliveryError::NotFound(id)),
        }
    }
}
