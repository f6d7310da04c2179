//! The ports kept in memory: the whole domain with no database, for tests,
//! examples and crates that want the rules without the storage.
//!
//! It keeps the promises the SQL adapters keep (a create is all or nothing,
//! a status change is a compare-and-set, an email claim is leased and its
//! outcome fenced by the attempt), within one process and until it ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::task::AtomicWaker;

use crate::api_key::{ApiKey, ApiKeyId, StoredKey};
use crate::delivery::{
    Backlog, Delivery, DeliveryId, DeliveryKind, DeliveryPage, DeliveryQuery, DeliveryRepository, DeliveryState,
    DeliveryTarget, RetryOutcome,
};
use crate::email::{EmailMessage, EmailState};
use crate::event::{Cause, Change, EventFormat, EventId, OrderEvent, RecordedEvent};
use crate::idempotency::{CreateOutcome, IdempotencyRecord};
use crate::listing::{ListQuery, Listed as _, Page};
use crate::order::{Order, OrderId};
use crate::ports::{
    ApiKeyRepository, ClaimedEmail, EmailOutbox, EmailQueueing, OrderCreation, OrderRepository, RepositoryError,
    StatusUpdate,
};
use crate::time::Timestamp;
use crate::webhook::{EndpointId, StoredEndpoint, WebhookEndpoint, WebhookEndpointRepository};

/// Orders, idempotency keys and the email outbox in memory.
///
/// ```
/// use std::sync::Arc;
/// use domain::memory::InMemoryStore;
/// use domain::OrderService;
///
/// let store = Arc::new(InMemoryStore::default());
/// let orders = OrderService::new(store.clone());
/// # let _ = orders;
/// ```
pub struct InMemoryStore {
    state: Mutex<State>,
    /// Set when an email is queued for any dispatcher, taken by `wait_for_new`.
    email_queued: AtomicBool,
    dispatcher: AtomicWaker,
    format: Arc<dyn EventFormat>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::with_format(Arc::new(TypeAndOrder))
    }
}

impl std::fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryStore").field("state", &self.state).finish_non_exhaustive()
    }
}

/// The format of a store made with `default()`: `<type> <order id>`.
#[derive(Debug)]
struct TypeAndOrder;

impl EventFormat for TypeAndOrder {
    fn render(&self, event: &OrderEvent<'_>) -> String {
        format!("{} {}", event.event_type(), event.order.id())
    }
}

#[derive(Debug, Default)]
struct State {
    orders: HashMap<OrderId, Order>,
    keys: HashMap<String, IdempotencyRecord>,
    outbox: HashMap<OrderId, Queued>,
    /// Every order's confirmation email as written, sent or not.
    emails: HashMap<OrderId, EmailMessage>,
    api_keys: Vec<StoredKey>,
    events: Vec<RecordedEvent>,
    /// Deleted ones are dropped: nothing here keeps their deliveries.
    endpoints: Vec<StoredEndpoint>,
}

#[derive(Debug)]
struct Queued {
    message: EmailMessage,
    /// When it may next be claimed: now for a new email, the end of the
    /// lease for a claimed one, the retry time after a failure.
    available_at: Timestamp,
}

impl InMemoryStore {
    /// A store that writes events down with `format`.
    pub fn with_format(format: Arc<dyn EventFormat>) -> Self {
        Self { state: Mutex::default(), email_queued: AtomicBool::default(), dispatcher: AtomicWaker::new(), format }
    }

    /// Records an event about `id` as the order now is.
    fn record(&self, state: &mut State, id: OrderId, change: &Change, cause: &Cause, at: Timestamp) {
        let Some(order) = state.orders.get(&id) else { return };
        let event = OrderEvent { id: EventId::generate(), change, occurred_at: at, order, cause };
        let recorded = RecordedEvent {
            id: event.id,
            event_type: event.event_type(),
            order_id: id,
            occurred_at: at,
            payload: self.format.render(&event),
        };
        state.events.push(recorded);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change below is made whole before the guard drops, so a
        // panic elsewhere leaves nothing half-written behind.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl OrderRepository for InMemoryStore {
    async fn create(&self, creation: OrderCreation) -> Result<CreateOutcome, RepositoryError> {
        let OrderCreation { mut order, email, idempotency, queueing, cause } = creation;
        let mut state = self.state();
        if let Some(record) = idempotency {
            let key = record.request.key.as_str();
            if let Some(taken) = state.keys.get(key).filter(|taken| taken.expires_at > order.created_at()) {
                return Ok(CreateOutcome::KeyTaken {
                    fingerprint: taken.request.fingerprint.clone(),
                    answer: taken.answer.clone(),
                });
            }
            state.keys.insert(key.to_owned(), record);
        }
        let available_at = match queueing {
            EmailQueueing::Shared => order.created_at(),
            EmailQueueing::ClaimedUntil(lease_ends) => {
                order.delivery_mut().attempts = 1;
                lease_ends
            }
        };
        let (id, at) = (order.id(), order.created_at());
        state.emails.insert(id, email.clone());
        state.outbox.insert(id, Queued { message: email, available_at });
        state.orders.insert(id, order);
        self.record(&mut state, id, &Change::Created, &cause, at);
        drop(state);
        if queueing == EmailQueueing::Shared {
            self.email_queued.store(true, Ordering::Release);
            self.dispatcher.wake();
        }
        Ok(CreateOutcome::Created)
    }

    async fn purge_expired_keys(&self, now: Timestamp, limit: usize) -> Result<usize, RepositoryError> {
        let mut state = self.state();
        let expired: Vec<String> =
            state.keys.iter().filter(|(_, r)| r.expires_at <= now).map(|(k, _)| k.clone()).take(limit).collect();
        for key in &expired {
            state.keys.remove(key);
        }
        Ok(expired.len())
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        Ok(self.state().orders.get(&id).cloned())
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
        let state = self.state();
        let mut rows: Vec<&Order> = state
            .orders
            .values()
            .filter(|o| query.status.is_none_or(|status| o.status() == status))
            .filter(|o| query.customer_email_key.as_ref().is_none_or(|key| o.customer_email().comparison_key() == *key))
            .filter(|o| query.after.is_none_or(|after| (o.created_at(), o.id()) < (after.created_at, after.id)))
            .collect();
        rows.sort_unstable_by_key(|o| std::cmp::Reverse((o.created_at(), o.id())));
        let rows = rows.into_iter().take(query.limit.get() + 1).cloned().collect();
        Ok(Page::from_overfetched(rows, query.limit))
    }

    async fn update_status(&self, update: &StatusUpdate) -> Result<Option<Order>, RepositoryError> {
        let mut state = self.state();
        let Some(order) = state.orders.get_mut(&update.id).filter(|o| o.version() == update.expected) else {
            return Ok(None);
        };
        order.set_status(update.to, update.at);
        let updated = order.clone();
        let change = Change::StatusChanged { from: update.from, to: update.to };
        self.record(&mut state, update.id, &change, &update.cause, update.at);
        Ok(Some(updated))
    }

    async fn events(&self, id: OrderId) -> Result<Option<Vec<RecordedEvent>>, RepositoryError> {
        let state = self.state();
        if !state.orders.contains_key(&id) {
            return Ok(None);
        }
        Ok(Some(state.events.iter().filter(|e| e.order_id == id).cloned().collect()))
    }

    async fn confirmation_email(&self, id: OrderId) -> Result<Option<EmailMessage>, RepositoryError> {
        Ok(self.state().emails.get(&id).cloned())
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        Ok(())
    }
}

#[async_trait]
impl EmailOutbox for InMemoryStore {
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, RepositoryError> {
        let mut state = self.state();
        let State { orders, outbox, .. } = &mut *state;
        let mut due: Vec<(&OrderId, &mut Queued)> = outbox.iter_mut().filter(|(_, q)| q.available_at <= now).collect();
        due.sort_unstable_by_key(|(_, q)| q.available_at);
        let mut claimed = Vec::new();
        for (id, queued) in due.into_iter().take(limit) {
            let Some(order) = orders.get_mut(id) else { continue };
            let queued_at = order.created_at();
            let delivery = order.delivery_mut();
            delivery.attempts += 1;
            queued.available_at = now.plus(lease);
            claimed.push(ClaimedEmail {
                message: queued.message.clone(),
                attempt: delivery.attempts,
                lease_ends: queued.available_at,
                queued_at,
            });
        }
        Ok(claimed)
    }

    async fn record_sent(&self, emails: &[ClaimedEmail], at: Timestamp) -> Result<usize, RepositoryError> {
        let mut state = self.state();
        let mut current = 0;
        for email in emails {
            if state.claim_is_current(email) {
                state.outbox.remove(&email.message.order_id);
                if let Some(order) = state.orders.get_mut(&email.message.order_id) {
                    let delivery = order.delivery_mut();
                    (delivery.state, delivery.sent_at, delivery.last_error) = (EmailState::Sent, Some(at), None);
                }
                self.record(&mut state, email.message.order_id, &Change::EmailSent, &Cause::default(), at);
                current += 1;
            }
        }
        Ok(current)
    }

    async fn record_failure(
        &self,
        email: &ClaimedEmail,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.state();
        if !state.claim_is_current(email) {
            return Ok(false);
        }
        let id = email.message.order_id;
        match retry_at {
            Some(retry_at) => {
                if let Some(queued) = state.outbox.get_mut(&id) {
                    queued.available_at = retry_at;
                }
            }
            None => {
                state.outbox.remove(&id);
            }
        }
        if let Some(order) = state.orders.get_mut(&id) {
            let delivery = order.delivery_mut();
            delivery.last_error = Some(error.to_owned());
            if retry_at.is_none() {
                delivery.state = EmailState::Failed;
            }
        }
        if retry_at.is_none() {
            let change = Change::EmailFailed { error: error.to_owned() };
            self.record(&mut state, id, &change, &Cause::default(), Timestamp::now());
        }
        Ok(true)
    }

    async fn wait_for_new(&self) {
        std::future::poll_fn(|cx| {
            self.dispatcher.register(cx.waker());
            if self.email_queued.swap(false, Ordering::AcqRel) { Poll::Ready(()) } else { Poll::Pending }
        })
        .await
    }
}

#[async_trait]
impl ApiKeyRepository for InMemoryStore {
    async fn create(&self, key: &StoredKey) -> Result<(), RepositoryError> {
        self.state().api_keys.push(key.clone());
        Ok(())
    }

    async fn create_first(&self, key: &StoredKey) -> Result<bool, RepositoryError> {
        let mut state = self.state();
        if !state.api_keys.is_empty() {
            return Ok(false);
        }
        state.api_keys.push(key.clone());
        Ok(true)
    }

    async fn list(&self) -> Result<Vec<StoredKey>, RepositoryError> {
        Ok(self.state().api_keys.clone())
    }

    async fn revoke(&self, id: &ApiKeyId, at: Timestamp) -> Result<Option<ApiKey>, RepositoryError> {
        let mut state = self.state();
        let Some(stored) = state.api_keys.iter_mut().find(|stored| stored.key.id == *id) else { return Ok(None) };
        stored.key.revoked_at.get_or_insert(at);
        Ok(Some(stored.key.clone()))
    }

    async fn record_use(&self, used: &[(ApiKeyId, Timestamp)]) -> Result<(), RepositoryError> {
        let mut state = self.state();
        for (id, at) in used {
            if let Some(stored) = state.api_keys.iter_mut().find(|stored| stored.key.id == *id) {
                stored.key.last_used_at = stored.key.last_used_at.max(Some(*at));
            }
        }
        Ok(())
    }
}

/// Confirmation emails only: this store keeps endpoints but no webhook deliveries.
#[async_trait]
impl DeliveryRepository for InMemoryStore {
    async fn list(&self, query: &DeliveryQuery) -> Result<DeliveryPage, RepositoryError> {
        if !query.includes(DeliveryKind::Email) {
            return Ok(DeliveryPage::from_overfetched(Vec::new(), query.limit));
        }
        let state = self.state();
        let mut rows: Vec<Delivery> = state
            .orders
            .keys()
            .filter(|id| query.order_id.is_none_or(|wanted| wanted == **id))
            .filter_map(|id| state.email_delivery(*id))
            .filter(|d| query.state.is_none_or(|wanted| d.state == wanted))
            .filter(|d| query.after.is_none_or(|after| d.position() < after))
            .collect();
        rows.sort_unstable_by_key(|d| std::cmp::Reverse(d.position()));
        rows.truncate(query.limit.get() + 1);
        Ok(DeliveryPage::from_overfetched(rows, query.limit))
    }

    async fn retry(&self, id: DeliveryId, now: Timestamp) -> Result<RetryOutcome, RepositoryError> {
        let mut state = self.state();
        let order_id = OrderId::from(id.as_uuid());
        let Some(order) = state.orders.get_mut(&order_id) else { return Ok(RetryOutcome::NotFound) };
        if order.confirmation_email().state != DeliveryState::Failed {
            let current = state.email_delivery(order_id);
            return Ok(current.map_or(RetryOutcome::NotFound, RetryOutcome::NotFailed));
        }
        order.delivery_mut().state = DeliveryState::Pending;
        let Some(message) = state.emails.get(&order_id).cloned() else { return Ok(RetryOutcome::NotFound) };
        state.outbox.insert(order_id, Queued { message, available_at: now });
        let requeued = state.email_delivery(order_id);
        drop(state);
        self.email_queued.store(true, Ordering::Release);
        self.dispatcher.wake();
        Ok(requeued.map_or(RetryOutcome::NotFound, RetryOutcome::Requeued))
    }

    /// Webhooks are never delivered from memory: their backlog is empty.
    async fn backlog(&self) -> Result<Vec<Backlog>, RepositoryError> {
        let state = self.state();
        let pending = state.orders.values().filter(|o| o.confirmation_email().state == DeliveryState::Pending);
        let (count, oldest) = pending.fold((0, None), |(count, oldest): (u64, Option<Timestamp>), order| {
            (count + 1, Some(oldest.map_or(order.created_at(), |o| o.min(order.created_at()))))
        });
        Ok(vec![
            Backlog { kind: DeliveryKind::Email, pending: count, oldest },
            Backlog { kind: DeliveryKind::Webhook, pending: 0, oldest: None },
        ])
    }
}

impl State {
    /// An order's confirmation email as a delivery.
    fn email_delivery(&self, id: OrderId) -> Option<Delivery> {
        let order = self.orders.get(&id)?;
        let email = order.confirmation_email();
        Some(Delivery {
            id: id.into(),
            order_id: id,
            target: DeliveryTarget::Email { recipient: order.customer_email().as_str().to_owned() },
            state: email.state,
            attempts: email.attempts,
            last_error: email.last_error.clone(),
            created_at: order.created_at(),
            available_at: self.outbox.get(&id).map_or(order.created_at(), |queued| queued.available_at),
            sent_at: email.sent_at,
        })
    }

    /// Whether `email`'s claim is the latest one of a still queued email.
    fn claim_is_current(&self, email: &ClaimedEmail) -> bool {
        let id = email.message.order_id;
        self.outbox.contains_key(&id)
            && self.orders.get(&id).is_some_and(|order| order.confirmation_email().attempts == email.attempt)
    }
}

#[async_trait]
impl WebhookEndpointRepository for InMemoryStore {
    async fn create(&self, endpoint: &StoredEndpoint) -> Result<(), RepositoryError> {
        self.state().endpoints.push(endpoint.clone());
        Ok(())
    }

    async fn list(&self) -> Result<Vec<WebhookEndpoint>, RepositoryError> {
        Ok(self.state().endpoints.iter().map(|stored| stored.endpoint.clone()).collect())
    }

    async fn get(&self, id: EndpointId) -> Result<Option<WebhookEndpoint>, RepositoryError> {
        Ok(self.state().endpoints.iter().find(|s| s.endpoint.id == id).map(|s| s.endpoint.clone()))
    }

    async fn set_enabled(
        &self,
        id: EndpointId,
        enabled: bool,
        at: Timestamp,
    ) -> Result<Option<WebhookEndpoint>, RepositoryError> {
        let mut state = self.state();
        let Some(stored) = state.endpoints.iter_mut().find(|s| s.endpoint.id == id) else { return Ok(None) };
        (stored.endpoint.enabled, stored.endpoint.updated_at) = (enabled, at);
        Ok(Some(stored.endpoint.clone()))
    }

    async fn delete(&self, id: EndpointId, _: Timestamp) -> Result<bool, RepositoryError> {
        let mut state = self.state();
        let before = state.endpoints.len();
        state.endpoints.retain(|s| s.endpoint.id != id);
        Ok(state.endpoints.len() < before)
    }
}

#[cfg(test)]
mod tests {
    use futures_executor::block_on;

    use super::*;
    use crate::customer::{CustomerEmail, CustomerName};
    use crate::item::{NewOrderLine, OrderLines, Quantity, Sku};
    use crate::money::{Currency, UnitPrice};
    use crate::order::NewOrder;

    fn create(store: &InMemoryStore, queueing: EmailQueueing) -> OrderId {
        let new = NewOrder::new(
            CustomerName::parse("Ada").unwrap(),
            CustomerEmail::parse("ada@example.com").unwrap(),
            Currency::parse("EUR").unwrap(),
            OrderLines::parse(vec![NewOrderLine {
                sku: Sku::parse("A").unwrap(),
                quantity: Quantity::parse(1).unwrap(),
                unit_price: UnitPrice::parse(100).unwrap(),
            }])
            .unwrap(),
        )
        .unwrap();
        let order = Order::place(new, OrderId::generate(), Timestamp::now());
        let email = EmailMessage::confirmation(&order);
        let id = order.id();
        block_on(OrderRepository::create(
            store,
            OrderCreation { order, email, idempotency: None, queueing, cause: Cause::default() },
        ))
        .unwrap();
        id
    }

    fn delivery(store: &InMemoryStore, id: OrderId) -> (EmailState, u32) {
        let order = block_on(OrderRepository::get(store, id)).unwrap().unwrap();
        (order.confirmation_email().state, order.confirmation_email().attempts)
    }

    #[test]
    fn a_claim_is_leased_and_its_outcome_fenced_by_the_attempt() {
        let store = InMemoryStore::default();
        let id = create(&store, EmailQueueing::Shared);
        let now = Timestamp::now();
        let first = block_on(store.claim_due(now, 10, Duration::from_secs(60))).unwrap();
        assert_eq!(first.len(), 1);
        assert!(block_on(store.claim_due(now, 10, Duration::from_secs(60))).unwrap().is_empty(), "leased");
        // The lease runs out and another claim takes over: the first outcome is stale.
        let later = now.plus(Duration::from_secs(61));
        let second = block_on(store.claim_due(later, 10, Duration::from_secs(60))).unwrap();
        assert_eq!(second[0].attempt, 2);
        assert_eq!(block_on(store.record_sent(&first, later)).unwrap(), 0);
        assert_eq!(block_on(store.record_sent(&second, later)).unwrap(), 1);
        assert_eq!(delivery(&store, id), (EmailState::Sent, 2));
    }

    #[test]
    fn an_email_claimed_at_creation_waits_for_its_lease() {
        let store = InMemoryStore::default();
        let lease_ends = Timestamp::now().plus(Duration::from_secs(60));
        let id = create(&store, EmailQueueing::ClaimedUntil(lease_ends));
        assert_eq!(delivery(&store, id), (EmailState::Pending, 1));
        assert!(block_on(store.claim_due(Timestamp::now(), 10, Duration::from_secs(60))).unwrap().is_empty());
        assert_eq!(block_on(store.claim_due(lease_ends, 10, Duration::from_secs(60))).unwrap().len(), 1);
    }

    #[test]
    fn a_failure_is_retried_then_final() {
        let store = InMemoryStore::default();
        let id = create(&store, EmailQueueing::Shared);
        let now = Timestamp::now();
        let claim = block_on(store.claim_due(now, 1, Duration::from_secs(60))).unwrap().remove(0);
        let retry_at = now.plus(Duration::from_secs(5));
        assert!(block_on(store.record_failure(&claim, "refused", Some(retry_at))).unwrap());
        assert!(block_on(store.claim_due(now, 1, Duration::from_secs(60))).unwrap().is_empty(), "not due yet");
        let claim = block_on(store.claim_due(retry_at, 1, Duration::from_secs(60))).unwrap().remove(0);
        assert!(block_on(store.record_failure(&claim, "refused again", None)).unwrap());
        assert_eq!(delivery(&store, id), (EmailState::Failed, 2));
        let order = block_on(OrderRepository::get(&store, id)).unwrap().unwrap();
        assert_eq!(order.confirmation_email().last_error.as_deref(), Some("refused again"));
    }

    #[test]
    fn a_failed_email_is_retried_with_one_more_attempt() {
        use crate::delivery::{DeliveryQuery, DeliveryRepository, RetryOutcome};
        use crate::listing::PageSize;

        let store = InMemoryStore::default();
        let id = create(&store, EmailQueueing::Shared);
        let now = Timestamp::now();
        let not_failed = block_on(DeliveryRepository::retry(&store, id.into(), now)).unwrap();
        assert!(matches!(not_failed, RetryOutcome::NotFailed(d) if d.state == EmailState::Pending));
        let claim = block_on(store.claim_due(now, 1, Duration::from_secs(60))).unwrap().remove(0);
        block_on(store.record_failure(&claim, "refused", None)).unwrap();
        let RetryOutcome::Requeued(retried) = block_on(DeliveryRepository::retry(&store, id.into(), now)).unwrap()
        else {
            panic!("not requeued")
        };
        assert_eq!((retried.state, retried.attempts, retried.next_attempt_at()), (EmailState::Pending, 1, Some(now)));
        let claim = block_on(store.claim_due(now, 1, Duration::from_secs(60))).unwrap().remove(0);
        assert_eq!(claim.attempt, 2);
        let unknown = block_on(DeliveryRepository::retry(&store, OrderId::generate().into(), now)).unwrap();
        assert_eq!(unknown, RetryOutcome::NotFound);

        let mut query = DeliveryQuery::first_page(PageSize::parse(1).unwrap());
        query.state = Some(EmailState::Pending);
        let page = block_on(DeliveryRepository::list(&store, &query)).unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.next, None);
        query.kind = Some(crate::delivery::DeliveryKind::Webhook);
        assert!(block_on(DeliveryRepository::list(&store, &query)).unwrap().items.is_empty());
    }

    #[test]
    fn the_first_key_is_made_once_and_revocation_reaches_the_ring() {
        use crate::api_key::{KeyName, KeyRing, Scope, Scopes};
        use crate::keys::KeyService;

        let store = std::sync::Arc::new(InMemoryStore::default());
        let keys = KeyService::new(store.clone(), std::sync::Arc::new(KeyRing::default()));
        let first = block_on(keys.issue_first()).unwrap().expect("the first key");
        assert!(block_on(keys.issue_first()).unwrap().is_none(), "only once");
        let reader =
            block_on(keys.issue(KeyName::parse("r").unwrap(), Scopes::parse([Scope::OrdersRead]).unwrap())).unwrap();
        assert!(keys.ring().authorize(Some(&first.secret), Scope::Admin).is_ok());
        // Another process's ring learns of the revocation at its refresh.
        let other = KeyService::new(store.clone(), std::sync::Arc::new(KeyRing::default()));
        block_on(other.refresh()).unwrap();
        assert!(other.ring().authorize(Some(&reader.secret), Scope::OrdersRead).is_ok());
        block_on(keys.revoke(&reader.key.key.id)).unwrap();
        assert!(keys.ring().authorize(Some(&reader.secret), Scope::OrdersRead).is_err(), "at once here");
        block_on(other.refresh()).unwrap();
        assert!(other.ring().authorize(Some(&reader.secret), Scope::OrdersRead).is_err(), "after a refresh there");
        let listed = block_on(keys.list()).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[1].revoked_at.is_some() && listed[1].last_used_at.is_some());
    }

    #[test]
    fn a_shared_email_wakes_the_dispatcher() {
        let store = InMemoryStore::default();
        create(&store, EmailQueueing::Shared);
        block_on(store.wait_for_new());
        assert!(!store.email_queued.load(Ordering::Acquire), "the wake-up is taken once");
    }
}
