//! The use cases, written against the ports only.

use std::sync::Arc;
use std::time::Duration;

use crate::email::{EmailFormat, EmailMessage, PlainTextEmail};
use crate::event::{Cause, RecordedEvent};
use crate::idempotency::{Answer, CreateOutcome, IdempotencyRecord, IdempotentRequest};
use crate::listing::{ListQuery, Page};
use crate::order::{NewOrder, Order, OrderId, Version};
use crate::ports::{BoxError, EmailQueueing, OrderCreation, OrderRepository, RepositoryError, StatusUpdate};
use crate::status::{OrderStatus, TransitionError};
use crate::time::Timestamp;

/// Why a use case did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No order has that id.
    #[error("order {0} not found")]
    NotFound(OrderId),
    /// The client's `If-Match` names another version than the current one.
    #[error("the order is at version {current}, not the one expected")]
    PreconditionFailed {
        /// The version the order is at now.
        current: Version,
    },
    /// The lifecycle forbids the change.
    #[error(transparent)]
    InvalidTransition(#[from] TransitionError),
    /// The idempotency key was used before, for a different request.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// The caller could not make its answer to a new order; nothing was stored.
    #[error("the answer to the request could not be made")]
    Answer(#[source] BoxError),
    /// The confirmation email could not be written; nothing was stored.
    #[error("the confirmation email could not be written")]
    Email(#[source] BoxError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// A condition on the version an order must be at (HTTP `If-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: any existing order.
    Exists,
    /// One of these versions (none: nothing matches).
    AnyOf(Vec<Version>),
}

/// What placing an order came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// A new order was stored; this is the answer (recorded for its key, if any).
    Created(Answer),
    /// The key's first request created the order; this is its answer again.
    Replayed(Answer),
}

/// Places, reads, lists and moves orders.
#[derive(Clone)]
pub struct OrderService {
    repository: Arc<dyn OrderRepository>,
    email_format: Arc<dyn EmailFormat>,
    idempotency_ttl: Duration,
}

impl std::fmt::Debug for OrderService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderService").finish_non_exhaustive()
    }
}

impl OrderService {
    /// How long an idempotency key is remembered unless told otherwise.
    pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

    /// A service over a repository.
    pub fn new(repository: Arc<dyn OrderRepository>) -> Self {
        Self { repository, email_format: Arc::new(PlainTextEmail), idempotency_ttl: Self::DEFAULT_IDEMPOTENCY_TTL }
    }

    /// Writes confirmation emails with `format` (text only unless told).
    pub fn with_email_format(mut self, format: Arc<dyn EmailFormat>) -> Self {
        self.email_format = format;
        self
    }

    /// Remembers idempotency keys for `ttl`.
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// Stores the order and queues its confirmation email, atomically.
    ///
    /// `answer` makes the caller's answer for the new order before anything
    /// is stored (if it fails, nothing is); with an idempotency key it is
    /// stored with the key, and a retry with the same key and request gets
    /// exactly that answer again, creating nothing.
    pub async fn place(
        &self,
        new: NewOrder,
        idempotency: Option<IdempotentRequest>,
        cause: Cause,
        answer: impl FnOnce(&Order) -> Result<String, BoxError>,
    ) -> Result<Placed, OrderError> {
        let now = Timestamp::now();
        let order = Order::place(new, OrderId::generate(), now);
        let answer = Answer { order_id: order.id(), body: answer(&order).map_err(OrderError::Answer)? };
        let record = idempotency.map(|request| IdempotencyRecord {
            request,
            answer: answer.clone(),
            expires_at: now.plus(self.idempotency_ttl),
        });
        let asked = record.as_ref().map(|r| r.request.fingerprint.clone());
        let email = self.email_format.confirmation(&order).map_err(OrderError::Email)?;
        let creation = OrderCreation { order, email, idempotency: record, queueing: EmailQueueing::Shared, cause };
        match self.repository.create(creation).await? {
            CreateOutcome::Created => Ok(Placed::Created(answer)),
            CreateOutcome::KeyTaken { fingerprint, answer: first } => {
                if asked.as_deref() == Some(fingerprint.as_str()) {
                    Ok(Placed::Replayed(first))
                } else {
                    Err(OrderError::IdempotencyKeyReused)
                }
            }
        }
    }

    /// Forgets idempotency keys that expired, a batch at a time (the index on
    /// expiry keeps this from scanning the table).
    pub async fn purge_expired_keys(&self, batch: usize) -> Result<usize, RepositoryError> {
        let mut purged = 0;
        loop {
            let deleted = self.repository.purge_expired_keys(Timestamp::now(), batch).await?;
            purged += deleted;
            if deleted < batch {
                return Ok(purged);
            }
        }
    }

    pub async fn get(&self, id: OrderId) -> Result<Order, OrderError> {
        self.repository.get(id).await?.ok_or(OrderError::NotFound(id))
    }

    /// A page of orders, newest first.
    pub async fn list(&self, query: &ListQuery) -> Result<Page, OrderError> {
        Ok(self.repository.list(query).await?)
    }

    /// Moves an order to `to` if the lifecycle allows it and the precondition holds.
    ///
    /// The change is a compare-and-set on the version, so two concurrent changes
    /// never both apply to the same version: without a precondition the loser
    /// re-reads and the rule is checked again against the new status; with a
    /// version precondition the loser gets `PreconditionFailed`.
    pub async fn change_status(
        &self,
        id: OrderId,
        to: OrderStatus,
        precondition: Option<Precondition>,
        cause: Cause,
    ) -> Result<Order, OrderError> {
        loop {
            let current = self.get(id).await?;
            if let Some(Precondition::AnyOf(versions)) = &precondition
                && !versions.contains(&current.version())
            {
                return Err(OrderError::PreconditionFailed { current: current.version() });
            }
            current.status().transition_to(to)?;
            let update = StatusUpdate {
                id,
                expected: current.version(),
                from: current.status(),
                to,
                at: Timestamp::now(),
                cause: cause.clone(),
            };
            match self.repository.update_status(&update).await? {
                Some(updated) => return Ok(updated),
                // A conditional change (`*` included) was for the version it
                // saw; of concurrent ones exactly one wins.
                None if precondition.is_some() => {
                    let now = self.get(id).await?;
                    return Err(OrderError::PreconditionFailed { current: now.version() });
                }
                // Lost the race to another change: read again and re-check.
                None => {}
            }
        }
    }

    /// An order's events, oldest first.
    pub async fn events(&self, id: OrderId) -> Result<Vec<RecordedEvent>, OrderError> {
        self.repository.events(id).await?.ok_or(OrderError::NotFound(id))
    }

    /// An order's confirmation email as stored: what was or will be sent.
    pub async fn confirmation_email(&self, id: OrderId) -> Result<EmailMessage, OrderError> {
        self.repository.confirmation_email(id).await?.ok_or(OrderError::NotFound(id))
    }

    /// Whether storage answers.
    pub async fn ping(&self) -> Result<(), RepositoryError> {
        self.repository.ping().await
    }
}

#[cfg(test)]
#[cfg(feature = "in-memory")]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use futures_executor::block_on;

    use super::*;
    use crate::customer::{CustomerEmail, CustomerName};
    use crate::item::{NewOrderLine, OrderLines, Quantity, Sku};
    use crate::memory::InMemoryStore;
    use crate::money::{Currency, UnitPrice};

    /// The in-memory store, with a concurrent writer that changes the
    /// status once behind the caller's back.
    #[derive(Default)]
    struct Racing {
        store: InMemoryStore,
        interfere: Mutex<Option<OrderStatus>>,
    }

    #[async_trait]
    impl OrderRepository for Racing {
        async fn create(&self, creation: OrderCreation) -> Result<CreateOutcome, RepositoryError> {
            self.store.create(creation).await
        }
        async fn purge_expired_keys(&self, now: Timestamp, limit: usize) -> Result<usize, RepositoryError> {
            self.store.purge_expired_keys(now, limit).await
        }
        async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
            self.store.get(id).await
        }
        async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
            self.store.list(query).await
        }
        async fn update_status(&self, update: &StatusUpdate) -> Result<Option<Order>, RepositoryError> {
            let sneaky = self.interfere.lock().unwrap().take();
            if let Some(sneaky) = sneaky {
                self.store.update_status(&StatusUpdate { to: sneaky, ..update.clone() }).await?;
            }
            self.store.update_status(update).await
        }
        async fn events(&self, id: OrderId) -> Result<Option<Vec<RecordedEvent>>, RepositoryError> {
            self.store.events(id).await
        }
        async fn confirmation_email(&self, id: OrderId) -> Result<Option<EmailMessage>, RepositoryError> {
            self.store.confirmation_email(id).await
        }
        async fn ping(&self) -> Result<(), RepositoryError> {
            Ok(())
        }
    }

    fn new_order() -> NewOrder {
        NewOrder::new(
            CustomerName::parse("Ada").unwrap(),
            CustomerEmail::parse("ada@example.com").unwrap(),
            Currency::parse("EUR").unwrap(),
            OrderLines::parse(vec![NewOrderLine {
                sku: Sku::parse("A").unwrap(),
                quantity: Quantity::parse(1).unwrap(),
                unit_price: UnitPrice::parse(1).unwrap(),
            }])
            .unwrap(),
        )
        .unwrap()
    }

    fn answer(order: &Order) -> Result<String, BoxError> {
        Ok(order.id().to_string())
    }

    fn service() -> (OrderService, Arc<Racing>, OrderId) {
        let repo = Arc::new(Racing::default());
        let service = OrderService::new(repo.clone());
        let Placed::Created(first) = block_on(service.place(new_order(), None, Cause::default(), answer)).unwrap()
        else {
            panic!("not created")
        };
        (service, repo, first.order_id)
    }

    fn keyed(key: &str, fingerprint: &str) -> Option<IdempotentRequest> {
        Some(IdempotentRequest { key: crate::IdempotencyKey::parse(key).unwrap(), fingerprint: fingerprint.to_owned() })
    }

    fn count(service: &OrderService) -> usize {
        block_on(service.list(&ListQuery::first_page(crate::PageSize::DEFAULT))).unwrap().items.len()
    }

    #[test]
    fn a_retry_with_the_same_key_and_request_replays_the_first_answer() {
        let (service, _, _) = service();
        let first = block_on(service.place(new_order(), keyed("k1", "f1"), Cause::default(), answer)).unwrap();
        let again = block_on(service.place(new_order(), keyed("k1", "f1"), Cause::default(), answer)).unwrap();
        let (Placed::Created(first), Placed::Replayed(again)) = (first, again) else {
            panic!("created, then replayed")
        };
        assert_eq!(first, again);
        assert_eq!(count(&service), 2, "one order from service(), one from the key");
    }

    #[test]
    fn the_same_key_for_another_request_is_refused() {
        let (service, _, _) = service();
        block_on(service.place(new_order(), keyed("k1", "f1"), Cause::default(), answer)).unwrap();
        let err = block_on(service.place(new_order(), keyed("k1", "f2"), Cause::default(), answer)).unwrap_err();
        assert!(matches!(err, OrderError::IdempotencyKeyReused));
    }

    #[test]
    fn an_answer_that_cannot_be_made_stores_nothing() {
        let (service, _, _) = service();
        let failing = |_: &Order| Err::<String, BoxError>("no JSON today".into());
        let err = block_on(service.place(new_order(), keyed("k1", "f1"), Cause::default(), failing)).unwrap_err();
        assert!(matches!(err, OrderError::Answer(_)));
        assert_eq!(count(&service), 1, "only the order from service()");
        let retried = block_on(service.place(new_order(), keyed("k1", "f1"), Cause::default(), answer)).unwrap();
        assert!(matches!(retried, Placed::Created(_)), "the key was not taken by the failed request");
    }

    #[test]
    fn expired_keys_are_purged_in_batches() {
        let (service, _, _) = service();
        let service = service.with_idempotency_ttl(Duration::ZERO);
        for key in ["a", "b", "c"] {
            block_on(service.place(new_order(), keyed(key, "f"), Cause::default(), answer)).unwrap();
        }
        assert_eq!(block_on(service.purge_expired_keys(2)).unwrap(), 3);
        assert_eq!(block_on(service.purge_expired_keys(2)).unwrap(), 0);
    }

    #[test]
    fn a_change_moves_status_and_version() {
        let (service, _, id) = service();
        let order = block_on(service.change_status(id, OrderStatus::Processing, None, Cause::default())).unwrap();
        assert_eq!((order.status(), order.version().get()), (OrderStatus::Processing, 2));
    }

    #[test]
    fn a_version_mismatch_wins_over_an_invalid_transition() {
        let (service, _, id) = service();
        let wrong = Some(Precondition::AnyOf(vec![Version::from(7)]));
        let err = block_on(service.change_status(id, OrderStatus::Delivered, wrong, Cause::default())).unwrap_err();
        assert!(matches!(err, OrderError::PreconditionFailed { current } if current == Version::FIRST));
    }

    #[test]
    fn an_unconditional_change_that_loses_a_race_rechecks_the_rule() {
        let (service, repo, id) = service();
        // Someone cancels the order between our read and our write.
        *repo.interfere.lock().unwrap() = Some(OrderStatus::Cancelled);
        let err = block_on(service.change_status(id, OrderStatus::Processing, None, Cause::default())).unwrap_err();
        assert!(matches!(err, OrderError::InvalidTransition(TransitionError { from: OrderStatus::Cancelled, .. })));
    }

    #[test]
    fn a_conditional_change_that_loses_a_race_is_a_failed_precondition() {
        let (service, repo, id) = service();
        *repo.interfere.lock().unwrap() = Some(OrderStatus::Processing);
        let err = block_on(service.change_status(
            id,
            OrderStatus::Cancelled,
            Some(Precondition::AnyOf(vec![Version::FIRST])),
            Cause::default(),
        ))
        .unwrap_err();
        assert!(matches!(err, OrderError::PreconditionFailed { current } if current.get() == 2));
    }

    #[test]
    fn a_star_precondition_that_loses_a_race_is_a_failed_precondition() {
        let (service, repo, id) = service();
        *repo.interfere.lock().unwrap() = Some(OrderStatus::Processing);
        let err =
            block_on(service.change_status(id, OrderStatus::Cancelled, Some(Precondition::Exists), Cause::default()))
                .unwrap_err();
        assert!(matches!(err, OrderError::PreconditionFailed { current } if current.get() == 2));
    }

    #[test]
    fn unknown_orders_are_not_found() {
        let (service, _, _) = service();
        let missing = OrderId::generate();
        assert!(matches!(block_on(service.get(missing)), Err(OrderError::NotFound(id)) if id == missing));
    }
}
