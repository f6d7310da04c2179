//! New orders' emails handed straight to this process's dispatcher.
//!
//! A performance path, wired around the order repository at start-up so the
//! create use case never knows of it: while the dispatcher has room, a new
//! order's email is stored already claimed by this process and handed over
//! in memory after the commit, with no claim query and no wake-up of the
//! other processes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    ClaimedEmail, CreateOutcome, EmailMessage, EmailQueueing, ListQuery, Order, OrderCreation, OrderId,
    OrderRepository, Page, RecordedEvent, RepositoryError, StatusUpdate, Timestamp,
};
use tokio::sync::mpsc;

/// The dispatcher's side of the hand-over (from `OutboxDispatcher::handoff`).
#[derive(Debug, Clone)]
pub struct Handoff {
    pub(crate) to_dispatcher: mpsc::Sender<ClaimedEmail>,
    pub(crate) lease: Duration,
}

/// An order repository whose creates hand their emails to this process's
/// dispatcher when it has room.
pub struct HandingOver {
    inner: Arc<dyn OrderRepository>,
    handoff: Handoff,
}

impl HandingOver {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn OrderRepository>, handoff: Handoff) -> Self {
        Self { inner, handoff }
    }
}

impl std::fmt::Debug for HandingOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandingOver").field("handoff", &self.handoff).finish_non_exhaustive()
    }
}

#[async_trait]
impl OrderRepository for HandingOver {
    async fn create(&self, mut creation: OrderCreation) -> Result<CreateOutcome, RepositoryError> {
        // A full channel means the dispatcher is behind: the email then takes
        // the shared queue, and this is the back-pressure.
        let Ok(slot) = self.handoff.to_dispatcher.clone().try_reserve_owned() else {
            return self.inner.create(creation).await;
        };
        let queued_at = creation.order.created_at();
        let lease_ends = queued_at.plus(self.handoff.lease);
        creation.queueing = EmailQueueing::ClaimedUntil(lease_ends);
        let message = creation.email.clone();
        let outcome = self.inner.create(creation).await?;
        if outcome == CreateOutcome::Created {
            slot.send(ClaimedEmail { message, attempt: 1, lease_ends, queued_at });
        }
        Ok(outcome)
    }

    async fn purge_expired_keys(&self, now: Timestamp, limit: usize) -> Result<usize, RepositoryError> {
        self.inner.purge_expired_keys(now, limit).await
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        self.inner.get(id).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
        self.inner.list(query).await
    }

    async fn update_status(&self, update: &StatusUpdate) -> Result<Option<Order>, RepositoryError> {
        self.inner.update_status(update).await
    }

    async fn events(&self, id: OrderId) -> Result<Option<Vec<RecordedEvent>>, RepositoryError> {
        self.inner.events(id).await
    }

    async fn confirmation_email(&self, id: OrderId) -> Result<Option<EmailMessage>, RepositoryError> {
        self.inner.confirmation_email(id).await
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use domain::memory::InMemoryStore;
    use domain::{
        BoxError, Currency, CustomerEmail, CustomerName, IdempotencyKey, IdempotentRequest, NewOrder, NewOrderLine,
        OrderLines, OrderService, Placed, Quantity, Sku, UnitPrice,
    };

    use super::*;

    fn new_order() -> NewOrder {
        let line = NewOrderLine {
            sku: Sku::parse("A").unwrap(),
            quantity: Quantity::parse(1).unwrap(),
            unit_price: UnitPrice::parse(1).unwrap(),
        };
        NewOrder::new(
            CustomerName::parse("Ada").unwrap(),
            CustomerEmail::parse("ada@example.com").unwrap(),
            Currency::parse("EUR").unwrap(),
            OrderLines::parse(vec![line]).unwrap(),
        )
        .unwrap()
    }

    fn answer(order: &Order) -> Result<String, BoxError> {
        Ok(order.id().to_string())
    }

    fn keyed(fingerprint: &str) -> Option<IdempotentRequest> {
        Some(IdempotentRequest { key: IdempotencyKey::parse("k").unwrap(), fingerprint: fingerprint.to_owned() })
    }

    /// A service whose dispatcher has room for `room` emails.
    fn service(room: usize) -> (OrderService, mpsc::Receiver<ClaimedEmail>) {
        let (to_dispatcher, handed) = mpsc::channel(room);
        let handoff = Handoff { to_dispatcher, lease: Duration::from_secs(60) };
        let repository = HandingOver::new(Arc::new(InMemoryStore::default()), handoff);
        (OrderService::new(Arc::new(repository)), handed)
    }

    #[tokio::test]
    async fn new_emails_are_handed_over_while_there_is_room() {
        let (service, mut handed) = service(1);
        let Placed::Created(first) = service.place(new_order(), None, domain::Cause::default(), answer).await.unwrap()
        else {
            panic!()
        };
        let Placed::Created(second) = service.place(new_order(), None, domain::Cause::default(), answer).await.unwrap()
        else {
            panic!()
        };
        let email = handed.try_recv().unwrap();
        assert_eq!((email.message.order_id, email.attempt), (first.order_id, 1));
        assert!(handed.try_recv().is_err(), "the second email found no room and was left to the queue");
        let attempts = |order: Order| order.confirmation_email().attempts;
        assert_eq!(attempts(service.get(first.order_id).await.unwrap()), 1, "stored claimed by this process");
        assert_eq!(attempts(service.get(second.order_id).await.unwrap()), 0, "stored for any dispatcher");
    }

    #[tokio::test]
    async fn a_create_that_stores_nothing_hands_nothing_over() {
        let (service, mut handed) = service(5);
        service.place(new_order(), keyed("f1"), domain::Cause::default(), answer).await.unwrap();
        assert!(service.place(new_order(), keyed("f2"), domain::Cause::default(), answer).await.is_err());
        assert!(handed.try_recv().is_ok());
        assert!(handed.try_recv().is_err(), "the refused create handed nothing over");
    }
}
