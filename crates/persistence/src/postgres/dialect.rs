//! PostgreSQL's own statements.

use diesel::QueryResult;
use diesel::sql_types::{Array, Integer};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use futures_util::future::{try_join, try_join_all};

use crate::dialect::Dialect;
use crate::events::NewEventRow;
use crate::models::{DeliveryRow, ItemRow, MarkedRow, OrderRow};
use crate::orders::ListFilter;
use crate::schema::order_events;
use crate::sql_types::{DbInstant, DbUuid, Instant, Uuid};

/// `SKIP LOCKED` lets several processes claim side by side without ever
/// taking the same row.
const CLAIM: &str = "UPDATE email_outbox SET attempts = attempts + 1, available_at = $1 \
     WHERE order_id IN (SELECT order_id FROM email_outbox WHERE state = 'pending' AND available_at <= $2 \
     ORDER BY available_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING order_id, recipient, subject, body, html_body, attempts, created_at";

/// The deliveries in flight travel as one `uuid[]`, so the statement has
/// one shape for any number and stays prepared.
const CLAIM_WEBHOOKS: &str = webhook_claim!(lock: "FOR UPDATE SKIP LOCKED");

/// The claims travel as two arrays, so the statement has one shape for any
/// batch and stays prepared.
const SENT: &str = "UPDATE email_outbox AS e SET state = 'sent', sent_at = $1, last_error = NULL \
     FROM unnest($2::uuid[], $3::int4[]) AS sent(order_id, attempts) \
     WHERE e.order_id = sent.order_id AND e.attempts = sent.attempts AND e.state = 'pending' \
     RETURNING e.order_id";

/// An event and its deliveries, pipelined (the deliveries' foreign key to
/// the event is checked at commit).
pub(super) async fn insert_event(conn: &AsyncPgConnection, event: &NewEventRow) -> QueryResult<usize> {
    let (mut for_event, mut for_deliveries) = (conn, conn);
    let (_, queued) = try_join(
        diesel::insert_into(order_events::table).values(event).execute(&mut for_event),
        fan_out!(&mut for_deliveries, event, crate::events::gen_random_uuid()),
    )
    .await?;
    Ok(queued)
}

impl Dialect for AsyncPgConnection {
    async fn insert_events(&mut self, events: &[NewEventRow]) -> QueryResult<usize> {
        let shared: &AsyncPgConnection = self;
        let queued = try_join_all(events.iter().map(|event| insert_event(shared, event))).await?;
        Ok(queued.into_iter().sum())
    }

    async fn list_page(&mut self, filter: ListFilter) -> QueryResult<Vec<(OrderRow, DeliveryRow, Vec<ItemRow>)>> {
        macro_rules! load {
            ($query:expr, $conn:ident) => {
                diesel_async::RunQueryDsl::load($query, $conn).await
            };
        }
        let conn = self;
        list_page!(conn, filter, load)
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
