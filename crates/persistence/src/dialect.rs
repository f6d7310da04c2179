//! The statements each backend writes its own way, implemented on its
//! connection type in `postgres/dialect.rs` and `sqlite/dialect.rs`. Everything
//! else is written once, in `orders.rs` and `outbox.rs`.

use diesel::QueryResult;

use crate::events::NewEventRow;
use crate::orders::{ListFilter, OrderRows};
use crate::sql_types::{DbInstant, DbUuid};

pub(crate) trait Dialect {
    /// Inserts events, each with a pending webhook delivery to every enabled
    /// endpoint subscribed to its type (inside the caller's transaction).
    /// Returns how many deliveries were queued.
    fn insert_events(&mut self, events: &[NewEventRow]) -> impl Future<Output = QueryResult<usize>> + Send;

    /// The statement that claims up to `$3` emails due at `$2` by moving
    /// their `available_at` to the end of the lease, `$1`, and counting the
    /// attempt; it returns the claimed rows.
    fn claim_due_statement(&self) -> &'static str;

    /// The statement that claims up to `$4` of endpoint `$3`'s deliveries
    /// due at `$2`, leased until `$1` (see [`webhook_claim!`]).
    fn claim_webhooks_statement(&self) -> &'static str;

    /// A list page's rows (see `list_page!`, the statements both run).
    fn list_page(&mut self, filter: ListFilter) -> impl Future<Output = QueryResult<Vec<OrderRows>>> + Send;

    /// The orders `ids` that exist, in no set order.
    fn load_orders(&mut self, ids: Vec<DbUuid>) -> impl Future<Output = QueryResult<Vec<OrderRows>>> + Send;

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

/// The webhook claim of one endpoint, written once: each dialect adds how it
/// keeps two claimers apart (`$lock`), and what keeps the check for an
/// earlier event a lookup per candidate (`$per_row`). Moves `available_at` of up to `$4` of
/// endpoint `$3`'s deliveries due at `$2` to the lease's end, `$1`, counts
/// the attempt, and returns each with its endpoint's URL and secret and its
/// event's payload.
///
/// One endpoint at a time, so that a claim reads only the deliveries it can
/// take, in due order from the partial index on `(endpoint_id,
/// available_at)`, however long the queue (claims over the whole queue took
/// 40 ms at 20,000 waiting, and over a second when the one endpoint was at
/// its cap). A delivery waits while an earlier event of its order to the
/// same endpoint is pending, so that each endpoint gets an order's events in
/// order: one lookup in the partial index on `(order_id, endpoint_id)` per
/// candidate. (PostgreSQL, without statistics, turned the check into a join
/// that read every pending delivery of the endpoint for each candidate;
/// `OFFSET 0` keeps it a subquery run per candidate.) The returned columns are read through subqueries: SQLite's
/// RETURNING cannot name the tables of an UPDATE … FROM.
macro_rules! webhook_claim {
    (lock: $lock:literal, per_row: $per_row:literal) => {
        concat!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, available_at = $1 \
             WHERE id IN (SELECT d.id FROM webhook_deliveries d \
             WHERE d.state = 'pending' AND d.available_at <= $2 AND d.endpoint_id = $3 \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
             WHERE p.order_id = d.order_id AND p.endpoint_id = d.endpoint_id AND p.state = 'pending' \
             AND (p.created_at < d.created_at OR (p.created_at = d.created_at AND p.event_id < d.event_id)) ",
            $per_row,
            ") \
             ORDER BY d.available_at LIMIT $4 ",
            $lock,
            ") RETURNING id, event_id, event_type, endpoint_id, attempts, created_at, \
             (SELECT url FROM webhook_endpoints WHERE webhook_endpoints.id = webhook_deliveries.endpoint_id) AS url, \
             (SELECT secret FROM webhook_endpoints WHERE webhook_endpoints.id = webhook_deliveries.endpoint_id) AS secret, \
             (SELECT payload FROM order_events WHERE order_events.id = webhook_deliveries.event_id) AS payload"
        )
    };
}
