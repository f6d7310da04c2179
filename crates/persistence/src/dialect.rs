//! The statements each backend writes its own way, implemented on its
//! connection type in `postgres/dialect.rs` and `sqlite/dialect.rs`. Everything
//! else is written once, in `orders.rs` and `outbox.rs`.

use diesel::QueryResult;

use crate::events::NewEventRow;
use crate::models::{ItemRow, NewEmailRow, OrderRow};
use crate::sql_types::{DbInstant, DbUuid};
use crate::webhook_outbox::WebhookClaimRow;

pub(crate) trait Dialect {
    /// Inserts an order, its lines, its queued email and its `order.created`
    /// event with that event's webhook deliveries (inside the caller's
    /// transaction). Returns how many deliveries were queued.
    fn insert_new_order(
        &mut self,
        order: &OrderRow,
        items: &[ItemRow],
        email: &NewEmailRow,
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

    /// Claims up to `limit` webhook deliveries due at `now` until
    /// `lease_ends`, none that would give an endpoint more than
    /// `per_endpoint` with those of `in_flight` (see [`webhook_claim!`]).
    fn claim_webhooks(
        &mut self,
        lease_ends: DbInstant,
        now: DbInstant,
        in_flight: &[DbUuid],
        per_endpoint: i64,
        limit: i64,
    ) -> impl Future<Output = QueryResult<Vec<WebhookClaimRow>>> + Send;

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

/// The webhook claim, written once: each dialect adds how it counts an
/// endpoint's deliveries in flight among `$3` (`$held`, an expression over
/// `d.endpoint_id`) and how it keeps two claimers apart (`$lock`, on the row
/// selection). Moves `available_at` of up to `$5` deliveries due at `$2` to
/// the lease's end, `$1`, counts the attempt, and returns each with its
/// endpoint's URL and secret and its event's payload.
///
/// A delivery waits while its endpoint is disabled, and while an earlier
/// event of its order to the same endpoint is pending, so that each endpoint
/// gets an order's events in order.
///
/// The claim costs the same however long the queue: candidates are read in
/// due order from the partial index, skipping endpoints already at `$4`
/// deliveries in flight, and at most `4 × $5` of them; only then are each
/// endpoint's candidates ranked, and only as many taken as bring it to `$4`
/// with its `$held`, so one endpoint cannot fill the claim. (Ranking every
/// due delivery took 40 ms at 20,000 waiting; claimed as often as deliveries
/// end, it starved the database.) The ranking runs apart from the locking
/// (PostgreSQL allows no `FOR UPDATE` beside a window function), so the
/// locked rows are checked again as due and pending: a row claimed by
/// another process since the statement began is re-read, no longer due,
/// when locked. The parameters first appear in the order of their numbers,
/// as SQLite numbers `$n` by first appearance. The returned columns are read
/// through subqueries: SQLite's RETURNING cannot name the tables of an
/// UPDATE … FROM.
macro_rules! webhook_claim {
    (held: $held:literal, lock: $lock:literal) => {
        concat!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, available_at = $1 \
             WHERE id IN (SELECT w.id FROM webhook_deliveries w \
             WHERE w.state = 'pending' AND w.available_at <= $2 AND w.id IN (SELECT ranked.id FROM (\
             SELECT c.id, c.held + ROW_NUMBER() OVER (PARTITION BY c.endpoint_id ORDER BY c.available_at, c.id) \
             AS place FROM (SELECT d.id, d.endpoint_id, d.available_at, ",
            $held,
            " AS held FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.state = 'pending' AND d.available_at <= $2 AND e.enabled AND ",
            $held,
            " < $4 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
             WHERE p.order_id = d.order_id AND p.endpoint_id = d.endpoint_id AND p.state = 'pending' \
             AND (p.created_at < d.created_at OR (p.created_at = d.created_at AND p.event_id < d.event_id))) \
             ORDER BY d.available_at LIMIT 4 * $5) c\
             ) ranked WHERE ranked.place <= $4) \
             ORDER BY w.available_at LIMIT $5 ",
            $lock,
            ") RETURNING id, event_id, event_type, endpoint_id, attempts, \
             (SELECT url FROM webhook_endpoints WHERE webhook_endpoints.id = webhook_deliveries.endpoint_id) AS url, \
             (SELECT secret FROM webhook_endpoints WHERE webhook_endpoints.id = webhook_deliveries.endpoint_id) AS secret, \
             (SELECT payload FROM order_events WHERE order_events.id = webhook_deliveries.event_id) AS payload"
        )
    };
}
