//! The use cases, written against the ports only.

use std::sync::Arc;
use std::time::Duration;

use crate::email::EmailMessage;
use crate::idempotency::{CreateOutcome, IdempotencyRecord, IdempotentRequest, StoredResponse};
use crate::listing::{ListQuery, Page};
use crate::order::{NewOrder, Order, OrderId, Version};
use crate::ports::{ClaimedEmail, EmailHandoff, OrderRepository, RepositoryError};
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
    /// Storage failed.
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
    Created(StoredResponse),
    /// The key's first request created the order; this is its answer again.
    Replayed(StoredResponse),
}

/// Places, reads, lists and moves orders.
#[derive(Clone)]
pub struct OrderService {
    repository: Arc<dyn OrderRepository>,
    idempotency_ttl: Duration,
    handoff: Option<Arc<dyn EmailHandoff>>,
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
        Self { repository, idempotency_ttl: Self::DEFAULT_IDEMPOTENCY_TTL, handoff: None }
    }

    /// Hands each new order's email straight to this process's dispatcher
    /// when it has room (claimed at creation), instead of queueing it for any.
    pub fn with_handoff(mut self, handoff: Arc<dyn EmailHandoff>) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// Remembers idempotency keys for `ttl`.
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// Stores the order and queues its confirmation email, atomically.
    ///
    /// `respond` renders the answer (status, body) for the new order; with an
    /// idempotency key it is stored with the key, and a retry with the same
    /// key and request gets exactly that answer again, creating nothing.
    pub async fn place(
        &self,
        new: NewOrder,
        idempotency: Option<IdempotentRequest>,
        respond: impl FnOnce(&Order) -> (u16, String),
    ) -> Result<Placed, OrderError> {
        let now = Timestamp::now();
        let order = Order::place(new, OrderId::generate(), now);
        let email = EmailMessage::confirmation(&order);
        let (status, body) = respond(&order);
        let response = StoredResponse { order_id: order.id(), status, body };
        let record = idempotency.map(|request| IdempotencyRecord {
            request,
            response: response.clone(),
            expires_at: now.plus(self.idempotency_ttl),
        });
        let slot =
            self.handoff.as_ref().and_then(|handoff| handoff.reserve().map(|slot| (slot, now.plus(handoff.lease()))));
        let claimed_until = slot.as_ref().map(|(_, until)| *until);
        match self.repository.create(&order, &email, record.as_ref(), claimed_until).await? {
            CreateOutcome::Created => {
                if let Some((slot, lease_ends)) = slot {
                    slot.hand_over(ClaimedEmail { message: email, attempt: 1, lease_ends });
                }
                Ok(Placed::Created(response))
            }
            CreateOutcome::KeyTaken { fingerprint, response: first } => {
                let asked = record.as_ref().map(|r| r.request.fingerprint.as_str());
                if asked == Some(fingerprint.as_str()) {
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

    /// One order.
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
    ) -> Result<Order, OrderError> {
        loop {
            let current = self.get(id).await?;
            if let Some(Precondition::AnyOf(versions)) = &precondition
                && !versions.contains(&current.version())
            {
                return Err(OrderError::PreconditionFailed { current: current.version() });
            }
            current.status().transition_to(to)?;
            match self.repository.update_status(id, current.version(), to, Timestamp::now()).await? {
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

    /// Whether storage answers.
    pub async fn ping(&self) -> Result<(), RepositoryError> {
        self.repository.ping().await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use futures_executor::block_on;

    use super::*;
    use crate::customer::{CustomerEmail, CustomerName};
    use crate::item::{NewOrderLine, OrderLines, Quantity, Sku};
    use crate::money::{Currency, UnitPrice};
    use crate::order::{StoredDelivery, StoredLine, StoredOrder};

    /// Keeps orders in memory; `interfere` changes the status once behind the
    /// caller's back, to play a concurrent writer.
    #[derive(Default)]
    struct InMemory {
        orders: Mutex<HashMap<OrderId, Order>>,
        keys: Mutex<HashMap<String, IdempotencyRecord>>,
        /// Whether each created order's email came claimed.
        claims: Mutex<Vec<bool>>,
        interfere: Mutex<Option<OrderStatus>>,
    }

    fn with_status(order: &Order, status: OrderStatus, version: Version) -> Order {
        let stored = StoredOrder {
            id: order.id(),
            customer_name: order.customer_name().to_string(),
            customer_email: order.customer_email().to_string(),
            currency: order.currency().to_string(),
            lines: order
                .lines()
                .iter()
                .map(|l| StoredLine {
                    sku: l.sku.to_string(),
                    quantity: l.quantity.get(),
                    unit_price_cents: l.unit_price.cents(),
                })
                .collect(),
            status: status.to_string(),
            confirmation_email: StoredDelivery {
                state: "pending".into(),
                attempts: 0,
                sent_at: None,
                last_error: None,
            },
            version: version.get(),
            created_at: order.created_at(),
            updated_at: order.updated_at(),
        };
        Order::restore(stored).unwrap()
    }

    #[async_trait]
    impl OrderRepository for InMemory {
        async fn create(
            &self,
            order: &Order,
            _: &EmailMessage,
            idempotency: Option<&IdempotencyRecord>,
            claimed_until: Option<Timestamp>,
        ) -> Result<CreateOutcome, RepositoryError> {
            if let Some(record) = idempotency {
                let mut keys = self.keys.lock().unwrap();
                if let Some(taken) = keys.get(record.request.key.as_str()) {
                    return Ok(CreateOutcome::KeyTaken {
                        fingerprint: taken.request.fingerprint.clone(),
                        response: taken.response.clone(),
                    });
                }
                keys.insert(record.request.key.to_string(), record.clone());
            }
            self.orders.lock().unwrap().insert(order.id(), order.clone());
            self.claims.lock().unwrap().push(claimed_until.is_some());
            Ok(CreateOutcome::Created)
        }
        async fn purge_expired_keys(&self, now: Timestamp, _: usize) -> Result<usize, RepositoryError> {
            let mut keys = self.keys.lock().unwrap();
            let before = keys.len();
            keys.retain(|_, record| record.expires_at > now);
            Ok(before - keys.len())
        }
        async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
            Ok(self.orders.lock().unwrap().get(&id).cloned())
        }
        async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
            Ok(Page::from_overfetched(self.orders.lock().unwrap().values().cloned().collect(), query.limit))
        }
        async fn update_status(
            &self,
            id: OrderId,
            expected: Version,
            to: OrderStatus,
            _: Timestamp,
        ) -> Result<Option<Order>, RepositoryError> {
            let mut orders = self.orders.lock().unwrap();
            let current = orders.get(&id).cloned().unwrap();
            if let Some(sneaky) = self.interfere.lock().unwrap().take() {
                orders.insert(id, with_status(&current, sneaky, current.version().next()));
                return Ok(None);
            }
            if current.version() != expected {
                return Ok(None);
            }
            let updated = with_status(&current, to, expected.next());
            orders.insert(id, updated.clone());
            Ok(Some(updated))
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

    fn render(order: &Order) -> (u16, String) {
        (201, order.id().to_string())
    }

    fn service() -> (OrderService, Arc<InMemory>, OrderId) {
        let repo = Arc::new(InMemory::default());
        let service = OrderService::new(repo.clone());
        let Placed::Created(response) = block_on(service.place(new_order(), None, render)).unwrap() else {
            panic!("not created")
        };
        (service, repo, response.order_id)
    }

    fn keyed(key: &str, fingerprint: &str) -> Option<IdempotentRequest> {
        Some(IdempotentRequest { key: crate::IdempotencyKey::parse(key).unwrap(), fingerprint: fingerprint.to_owned() })
    }

    #[test]
    fn a_retry_with_the_same_key_and_request_replays_the_first_answer() {
        let (service, repo, _) = service();
        let first = block_on(service.place(new_order(), keyed("k1", "f1"), render)).unwrap();
        let again = block_on(service.place(new_order(), keyed("k1", "f1"), render)).unwrap();
        let (Placed::Created(first), Placed::Replayed(again)) = (first, again) else {
            panic!("created, then replayed")
        };
        assert_eq!(first, again);
        assert_eq!(repo.orders.lock().unwrap().len(), 2, "one order from service(), one from the key");
    }

    #[test]
    fn the_same_key_for_another_request_is_refused() {
        let (service, _, _) = service();
        block_on(service.place(new_order(), keyed("k1", "f1"), render)).unwrap();
        let err = block_on(service.place(new_order(), keyed("k1", "f2"), render)).unwrap_err();
        assert!(matches!(err, OrderError::IdempotencyKeyReused));
    }

    /// Hands over to a vector, with room for `room` emails.
    struct Collecting {
        room: Mutex<usize>,
        handed: Arc<Mutex<Vec<ClaimedEmail>>>,
    }

    impl EmailHandoff for Collecting {
        fn reserve(&self) -> Option<crate::ports::HandoffSlot> {
            let mut room = self.room.lock().unwrap();
            *room = room.checked_sub(1)?;
            let handed = self.handed.clone();
            Some(crate::ports::HandoffSlot::new(move |email| handed.lock().unwrap().push(email)))
        }
        fn lease(&self) -> Duration {
            Duration::from_secs(60)
        }
    }

    #[test]
    fn new_emails_are_handed_over_while_there_is_room() {
        let repo = Arc::new(InMemory::default());
        let handed = Arc::new(Mutex::new(Vec::new()));
        let service = OrderService::new(repo.clone())
            .with_handoff(Arc::new(Collecting { room: Mutex::new(1), handed: handed.clone() }));
        let Placed::Created(first) = block_on(service.place(new_order(), None, render)).unwrap() else { panic!() };
        block_on(service.place(new_order(), None, render)).unwrap();
        let handed = handed.lock().unwrap();
        assert_eq!(handed.len(), 1, "the second email found no room and was left to the queue");
        assert_eq!((handed[0].message.order_id, handed[0].attempt), (first.order_id, 1));
        assert_eq!(*repo.claims.lock().unwrap(), [true, false]);
    }

    #[test]
    fn a_failed_create_hands_nothing_over() {
        let repo = Arc::new(InMemory::default());
        let handed = Arc::new(Mutex::new(Vec::new()));
        let service = OrderService::new(repo.clone())
            .with_handoff(Arc::new(Collecting { room: Mutex::new(5), handed: handed.clone() }));
        block_on(service.place(new_order(), keyed("k", "f1"), render)).unwrap();
        assert!(block_on(service.place(new_order(), keyed("k", "f2"), render)).is_err());
        assert_eq!(handed.lock().unwrap().len(), 1);
    }

    #[test]
    fn expired_keys_are_purged_in_batches() {
        let (service, repo, _) = service();
        let service = service.with_idempotency_ttl(Duration::ZERO);
        for key in ["a", "b", "c"] {
            block_on(service.place(new_order(), keyed(key, "f"), render)).unwrap();
        }
        assert_eq!(block_on(service.purge_expired_keys(2)).unwrap(), 3);
        assert!(repo.keys.lock().unwrap().is_empty());
    }

    #[test]
    fn a_change_moves_status_and_version() {
        let (service, _, id) = service();
        let order = block_on(service.change_status(id, OrderStatus::Processing, None)).unwrap();
        assert_eq!((order.status(), order.version().get()), (OrderStatus::Processing, 2));
    }

    #[test]
    fn a_version_mismatch_wins_over_an_invalid_transition() {
        let (service, _, id) = service();
        let wrong = Some(Precondition::AnyOf(vec![Version::from(7)]));
        let err = block_on(service.change_status(id, OrderStatus::Delivered, wrong)).unwrap_err();
        assert!(matches!(err, OrderError::PreconditionFailed { current } if current == Version::FIRST));
    }

    #[test]
    fn an_unconditional_change_that_loses_a_race_rechecks_the_rule() {
        let (service, repo, id) = service();
        // Someone cancels the order between our read and our write.
        *repo.interfere.lock().unwrap() = Some(OrderStatus::Cancelled);
        let err = block_on(service.change_status(id, OrderStatus::Processing, None)).unwrap_err();
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
        ))
        .unwrap_err();
        assert!(matches!(err, OrderError::PreconditionFailed { current } if current.get() == 2));
    }

    #[test]
    fn a_star_precondition_that_loses_a_race_is_a_failed_precondition() {
        let (service, repo, id) = service();
        *repo.interfere.lock().unwrap() = Some(OrderStatus::Processing);
        let err = block_on(service.change_status(id, OrderStatus::Cancelled, Some(Precondition::Exists))).unwrap_err();
        assert!(matches!(err, OrderError::PreconditionFailed { current } if current.get() == 2));
    }

    #[test]
    fn unknown_orders_are_not_found() {
        let (service, _, _) = service();
        let missing = OrderId::generate();
        assert!(matches!(block_on(service.get(missing)), Err(OrderError::NotFound(id)) if id == missing));
    }
}
