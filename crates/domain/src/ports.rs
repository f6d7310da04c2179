//! The ports: what the domain needs from storage and mail, implemented by adapters.

use std::time::Duration;

use async_trait::async_trait;

use crate::api_key::{ApiKey, ApiKeyId, StoredKey};
use crate::email::EmailMessage;
use crate::event::{Cause, RecordedEvent};
use crate::idempotency::{CreateOutcome, IdempotencyRecord};
use crate::listing::{ListQuery, Page};
use crate::order::{CorruptRecord, Order, OrderId, Version};
use crate::status::OrderStatus;
use crate::time::Timestamp;

/// Any error an adapter wraps, cause chain kept.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why storage could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The database cannot be reached now (down, pool exhausted, timed out);
    /// retrying later may succeed.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// A stored record breaks a domain rule.
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
    /// Anything else: a bug or an unexpected database answer.
    #[error("unexpected database error")]
    Other(#[source] BoxError),
}

/// How a new order's email joins the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailQueueing {
    /// Queued for any dispatcher, and they are woken.
    Shared,
    /// Stored already claimed by the creating process (its first attempt,
    /// leased until then); nobody else is told about it.
    ClaimedUntil(Timestamp),
}

/// Everything one create stores, in one transaction.
#[derive(Debug, Clone)]
pub struct OrderCreation {
    pub order: Order,
    pub email: EmailMessage,
    /// The request's key and answer, if it had a key.
    pub idempotency: Option<IdempotencyRecord>,
    /// How the email joins the outbox.
    pub queueing: EmailQueueing,
    /// The request that placed it, for the `order.created` event.
    pub cause: Cause,
}

/// A status change as a compare-and-set: applied only if the order is still
/// at `expected`, whose status the caller read as `from`.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub id: OrderId,
    pub expected: Version,
    pub from: OrderStatus,
    pub to: OrderStatus,
    /// The new `updated_at`.
    pub at: Timestamp,
    pub cause: Cause,
}

/// Storage of orders.
#[async_trait]
pub trait OrderRepository: Send + Sync + 'static {
    /// Stores a new order, queues its confirmation email and records its
    /// `order.created` event in ONE transaction: all are stored or none is.
    ///
    /// With an idempotency record, the key is taken in the same transaction,
    /// first: if a live record already holds the key, nothing is stored and
    /// that record is returned. Concurrent creates with one key are
    /// serialised by the store, so exactly one of them creates.
    async fn create(&self, creation: OrderCreation) -> Result<CreateOutcome, RepositoryError>;

    /// Deletes up to `limit` idempotency records that expired before `now`;
    /// returns how many went.
    async fn purge_expired_keys(&self, now: Timestamp, limit: usize) -> Result<usize, RepositoryError>;

    /// One order, with its lines and email delivery state.
    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError>;

    /// A page of orders, newest first (`created_at` then `id`, descending).
    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError>;

    /// Sets the status if, and only if, the order is still at `expected`
    /// (compare-and-set); the version moves on and `updated_at` becomes `at`.
    /// The `order.status_changed` event is recorded in the same transaction.
    /// `None` if the order is gone or its version moved meanwhile.
    async fn update_status(&self, update: &StatusUpdate) -> Result<Option<Order>, RepositoryError>;

    /// An order's events, oldest first; `None` if there is no such order.
    async fn events(&self, id: OrderId) -> Result<Option<Vec<RecordedEvent>>, RepositoryError>;

    /// An order's confirmation email as stored: what was or will be sent.
    /// `None` if there is no such order.
    async fn confirmation_email(&self, id: OrderId) -> Result<Option<EmailMessage>, RepositoryError>;

    /// Answers when the database does (readiness).
    async fn ping(&self) -> Result<(), RepositoryError>;
}

/// Storage of API keys (their hashes, never their secrets).
#[async_trait]
pub trait ApiKeyRepository: Send + Sync + 'static {
    /// Stores a new key.
    async fn create(&self, key: &StoredKey) -> Result<(), RepositoryError>;

    /// Stores `key` only if no key was ever stored: exactly one of several
    /// processes starting at once on an empty database does. `true` if this
    /// call did.
    async fn create_first(&self, key: &StoredKey) -> Result<bool, RepositoryError>;

    /// Every key, revoked ones included, oldest first.
    async fn list(&self) -> Result<Vec<StoredKey>, RepositoryError>;

    /// Revokes a key (once; revoking again keeps the first time). The key as
    /// it now is, or `None` if there is no such key.
    async fn revoke(&self, id: &ApiKeyId, at: Timestamp) -> Result<Option<ApiKey>, RepositoryError>;

    /// Records when keys were last used.
    async fn record_use(&self, used: &[(ApiKeyId, Timestamp)]) -> Result<(), RepositoryError>;
}

/// A queued email claimed for one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedEmail {
    /// What to send.
    pub message: EmailMessage,
    /// Which attempt this is (1 for the first). It fences the claim: an outcome
    /// is recorded only if no later claim of the same email exists.
    pub attempt: u32,
    /// When the claim runs out and anyone may claim the email again.
    pub lease_ends: Timestamp,
    /// When the email was committed, with its order.
    pub queued_at: Timestamp,
}

/// The email outbox: emails queued by [`OrderRepository::create`], waiting to be sent.
#[async_trait]
pub trait EmailOutbox: Send + Sync + 'static {
    /// Claims up to `limit` emails that are due at `now` for `lease`: no other
    /// claim gets them until the lease runs out (so an email claimed by a
    /// process that died is sent again later).
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, RepositoryError>;

    /// Records, in one go, that these claimed attempts sent their emails, with
    /// an `order.confirmation_email.sent` event for each. Returns how many
    /// claims were still current; a lost claim (its lease ran out and another
    /// attempt took over) changes nothing.
    async fn record_sent(&self, emails: &[ClaimedEmail], at: Timestamp) -> Result<usize, RepositoryError>;

    /// Records a failed attempt: due again at `retry_at`, or failed for good
    /// if `None` (with an `order.confirmation_email.failed` event).
    /// `false` if the claim was lost.
    async fn record_failure(
        &self,
        email: &ClaimedEmail,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, RepositoryError>;

    /// Resolves when an email may have been queued since the last call (a hint:
    /// the caller claims afterwards and may find nothing).
    async fn wait_for_new(&self);
}

/// Why a transport did not take an email.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying (connection refused, time-out, 4xx from SMTP).
    #[error("{0}")]
    Transient(String),
    /// Will never succeed (the server refused the recipient for good, 5xx).
    #[error("{0}")]
    Permanent(String),
}

/// A mail transport.
#[async_trait]
pub trait EmailSender: Send + Sync + 'static {
    /// Hands the email over; `Ok` means the transport accepted it.
    async fn send(&self, email: &EmailMessage) -> Result<(), SendError>;
}
