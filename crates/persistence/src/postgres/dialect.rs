//! PostgreSQL's own statements.

use diesel::sql_types::{Array, Integer, Text};
use diesel::{ExpressionMethods as _, QueryDsl as _, QueryResult, SelectableHelper as _};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use domain::DeliveryState;
use futures_util::future::{try_join, try_join_all};

use crate::dialect::Dialect;
use crate::events::NewEventRow;
use crate::models::{DeliveryRow, ItemRow, MarkedRow, OrderRow};
use crate::orders::{ListFilter, OrderRows};
use crate::prepared::prepared;
use crate::schema::{email_outbox, order_events, order_items, orders};
use crate::sql_types::{DbInstant, DbUuid, Instant, Uuid};

/// `SKIP LOCKED` lets several processes claim side by side without ever
/// taking the same row.
const CLAIM: &str = "UPDATE email_outbox SET attempts = attempts + 1, available_at = $1 \
     WHERE order_id IN (SELECT order_id FROM email_outbox WHERE state = 'pending' AND available_at <= $2 \
     ORDER BY available_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING order_id, recipient, subject, body, html_body, attempts, created_at";

/// The deliveries in flight travel as one `uuid[]`, so the statement has
/// one shape for any number and stays prepared.
const CLAIM_WEBHOOKS: &str = webhook_claim!(lock: "FOR UPDATE SKIP LOCKED", per_row: "OFFSET 0");

/// The claims travel as two arrays, so the statement has one shape for any
/// batch. It is planned for each call's values (a `sql_query`, see
/// `prepared.rs`): one UPDATE per email, prepared, was planned each call all
/// the same, and took 69 µs an email against 27; this one prepared kept a
/// plan made while the outbox was nearly empty, which read all of it.
const SENT: &str = "UPDATE email_outbox AS e SET state = 'sent', sent_at = $1, last_error = NULL \
     FROM unnest($2::uuid[], $3::int4[]) AS sent(order_id, attempts) \
     WHERE e.order_id = sent.order_id AND e.attempts = sent.attempts AND e.state = 'pending' \
     RETURNING e.order_id";

/// Queues the webhook deliveries of events, one per enabled endpoint
/// subscribed to each event's type. The events travel as arrays, so the
/// statement has one shape for any number and stays prepared.
const FAN_OUT: &str = "INSERT INTO webhook_deliveries \
     (id, event_id, endpoint_id, order_id, event_type, state, attempts, available_at, created_at) \
     SELECT gen_random_uuid(), ev.id, s.endpoint_id, ev.order_id, ev.event_type, $1, 0, ev.at, ev.at \
     FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[]) AS ev(id, order_id, event_type, at) \
     JOIN webhook_subscriptions s ON s.event_type = ev.event_type \
     JOIN webhook_endpoints e ON e.id = s.endpoint_id WHERE e.enabled";

/// Events and their deliveries: two statements whatever their number,
/// pipelined (the deliveries' foreign key to the event is checked at
/// commit). Returns how many deliveries were queued.
pub(super) async fn insert_events(conn: &AsyncPgConnection, events: &[&NewEventRow]) -> QueryResult<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let (mut for_events, mut for_deliveries) = (conn, conn);
    let inserted = async {
        match events {
            // A single row keeps its own prepared statement.
            [event] => diesel::insert_into(order_events::table).values(*event).execute(&mut for_events).await,
            events => diesel::insert_into(order_events::table).values(events.to_vec()).execute(&mut for_events).await,
        }
    };
    let ids: Vec<DbUuid> = events.iter().map(|event| event.id).collect();
    let orders: Vec<DbUuid> = events.iter().map(|event| event.order_id).collect();
    let types: Vec<&str> = events.iter().map(|event| event.event_type).collect();
    let times: Vec<DbInstant> = events.iter().map(|event| event.occurred_at).collect();
    let fan_out = prepared(FAN_OUT)
        .bind::<Text, _>(DeliveryState::Pending.as_str())
        .bind::<Array<Uuid>, _>(&ids)
        .bind::<Array<Uuid>, _>(&orders)
        .bind::<Array<Text>, _>(&types)
        .bind::<Array<Instant>, _>(&times)
        .execute(&mut for_deliveries);
    let (_, queued) = try_join(inserted, fan_out).await?;
    Ok(queued)
}

impl Dialect for AsyncPgConnection {
    async fn insert_events(&mut self, events: &[NewEventRow]) -> QueryResult<usize> {
        insert_events(self, &events.iter().collect::<Vec<_>>()).await
    }

    async fn list_page(&mut self, filter: ListFilter) -> QueryResult<Vec<OrderRows>> {
        macro_rules! load {
            ($query:expr, $conn:ident) => {
                diesel_async::RunQueryDsl::load($query, $conn).await
            };
        }
        let conn = self;
        list_page!(conn, filter, load)
    }

    /// One statement per order, all pipelined, each by key: the order's
    /// row and email state once per line (every order has at least one:
    /// `domain::OrderLines::MIN`). Not `= ANY` over the ids: a table
    /// that grew from empty since it was last analyzed has no statistics,
    /// and the planner, taking each id to match 0.5 % of the rows, read the
    /// whole of `order_items` for each batch of sent emails (18 % of the
    /// machine's CPU in the create bench, on a fresh database).
    async fn load_orders(&mut self, ids: Vec<DbUuid>) -> QueryResult<Vec<OrderRows>> {
        let shared: &AsyncPgConnection = self;
        let loaded = try_join_all(ids.into_iter().map(|id| async move {
            let mut conn = shared;
            let rows: Vec<(OrderRow, DeliveryRow, ItemRow)> = orders::table
                .inner_join(email_outbox::table)
                .inner_join(order_items::table)
                .filter(orders::id.eq(id))
                .order(order_items::position)
                .select((OrderRow::as_select(), DeliveryRow::as_select(), ItemRow::as_select()))
                .load(&mut conn)
                .await?;
            let mut rows = rows.into_iter();
            Ok::<_, diesel::result::Error>(rows.next().map(|(order, delivery, first)| {
                let items = std::iter::once(first).chain(rows.map(|(_, _, item)| item)).collect();
                (order, delivery, items)
            }))
        }))
        .await?;
        Ok(loaded.into_iter().flatten().collect())
    }

    fn claim_due_statement(&self) -> &'static str {
        CLAIM
    }

    fn claim_webhooks_statement(&self) -> &'static str {
        CLAIM_WEBHOOKS
    }

    async fn mark_sent(&mut self, at: DbInstant, ids: &[DbUuid], attempts: &[i32]) -> QueryResult<Vec<DbUuid>> {
        let marked: Vec<MarkedRow> = diesel::sql_query(SENT)
            .bind::<Instant, _>(at)
            .bind::<Array<Uuid>, _>(ids)
            .bind::<Array<Integer>, _>(attempts)
            .load(self)
            .await?;
        Ok(marked.into_iter().map(|row| row.order_id).collect())
    }
}
