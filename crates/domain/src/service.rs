//! The use cases, written against the ports only.

use std::sync::Arc;

use crate::email::EmailMessage;
use crate::listing::{ListQuery, Page};
use crate::order::{NewOrder, Order, OrderId, Version};
use crate::ports::{OrderRepository, RepositoryError};
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

/// Places, reads, lists and moves orders.
#[derive(Clone)]
pub struct OrderService {
    repository: Arc<dyn OrderRepository>,
}

impl std::fmt::Debug for OrderService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderService").finish_non_exhaustive()
    }
}

impl OrderService {
    /// A service over a repository.
    pub fn new(repository: Arc<dyn OrderRepository>) -> Self {
        Self { repository }
    }

    /// Stores the order and queues its confirmation email, atomically.
    pub async fn place(&self, new: NewOrder) -> Result<Order, OrderError> {
        let order = Order::place(new, OrderId::generate(), Timestamp::now());
        let email = EmailMessage::confirmation(&order);
        self.repository.create(&order, &email).await?;
        Ok(order)
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
        let expected = match &precondition {
            Some(Precondition::AnyOf(versions)) => Some(versions.as_slice()),
            _ => None,
        };
        loop {
            let current = self.get(id).await?;
            if let Some(expected) = expected
                && !expected.contains(&current.version())
            {
                return Err(OrderError::PreconditionFailed { current: current.version() });
            }
            current.status().transition_to(to)?;
            match self.repository.update_status(id, current.version(), to, Timestamp::now()).await? {
                Some(updated) => return Ok(updated),
                None => {
                    if expected.is_some() {
                        let now = self.get(id).await?;
                        return Err(OrderError::PreconditionFailed { current: now.version() });
                    }
                    // Lost the race to another change: read again and re-check.
                }
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
    use crate::item::{NewOrderLine, Quantity, Sku};
    use crate::money::{Currency, UnitPrice};
    use crate::order::{StoredDelivery, StoredLine, StoredOrder};

    /// Keeps orders in memory; `interfere` changes the status once behind the
    /// caller's back, to play a concurrent writer.
    #[derive(Default)]
    struct InMemory {
        orders: Mutex<HashMap<OrderId, Order>>,
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
        async fn create(&self, order: &Order, _: &EmailMessage) -> Result<(), RepositoryError> {
            self.orders.lock().unwrap().insert(order.id(), order.clone());
            Ok(())
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

    fn service() -> (OrderService, Arc<InMemory>, OrderId) {
        let repo = Arc::new(InMemory::default());
        let service = OrderService::new(repo.clone());
        let new = NewOrder::new(
            CustomerName::parse("Ada").unwrap(),
            CustomerEmail::parse("ada@example.com").unwrap(),
            Currency::parse("EUR").unwrap(),
            vec![NewOrderLine {
                sku: Sku::parse("A").unwrap(),
                quantity: Quantity::parse(1).unwrap(),
                unit_price: UnitPrice::parse(1).unwrap(),
            }],
        )
        .unwrap();
        let id = block_on(service.place(new)).unwrap().id();
        (service, repo, id)
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
    fn unknown_orders_are_not_found() {
        let (service, _, _) = service();
        let missing = OrderId::generate();
        assert!(matches!(block_on(service.get(missing)), Err(OrderError::NotFound(id)) if id == missing));
    }
}
