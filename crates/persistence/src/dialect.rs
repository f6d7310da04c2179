//! The statements each backend writes its own way, implemented on its
//! connection type in `postgres/dialect.rs` and `sqlite/dialect.rs`. Everything
//! else is written once, in `orders.rs` and `outbox.rs`.

use diesel::QueryResult;

use crate::events::NewEventRow;
use crate::models::{ItemRow, NewEmailRow, OrderRow};
use crate::sql_types::{DbInstant, DbUuid};

pub(crate) trait Dialect {
    /// Inserts an order, its lines, its queued email and its `order.created`
    /// event with that event's webhook deliveries (inside the caller's
    /// transaction). Returns how many deliveries were queued.
    fn insert_new_order(
        &mut self,
        order: &OrderRow,
        items: &[ItemRow],
        email: &NewEmailRow<'_>,
        event: &NewEventRow,
    ) -> impl Future<Output = QueryResult<usize>> + Send;

    /// Inserts events, each with a pending webhook delivery to every enabled
    /// endpoint subscribed to its type (inside the caller's transaction).
    /// Returns how many deliveries were queued.
    fn insert_events(&mut self, events: &[NewEventRow]) -> impl Future<Output = QueryResult<usize>> + Send;

    /// The statement that claims up to `$3` emails due at `$2` by moving
    /// their `available_at` to the end of the lease, `$1`, and counting the
    /// attempt; it returns the claimed rows.
    fn claim_due_statement(&self) -> &'static str;

    /// Marks a batch of claimed emails sent, in one statement. Each is fenced
    /// by its attempt (`ids[i]` was claimed as `attempts[i]`) and must still be
    /// pending. Returns the orders whose email it marked.
    fn mark_sent(
        &mut self,
        at: DbInstant,
        ids: &[DbUuid],
        attempts: &[i32],
    ) -> impl Future<Output = QueryResult<Vec<DbUuid>>> + Send;
}
