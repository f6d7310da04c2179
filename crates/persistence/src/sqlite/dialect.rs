//! SQLite's own statements.

use diesel::QueryResult;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::RunQueryDsl as _;

use super::SqliteConn;
use crate::dialect::Dialect;
use crate::events::NewEventRow;
use crate::models::{ItemRow, MarkedRow, NewEmailRow, OrderRow};
use crate::schema::{email_outbox, order_events, order_items, orders};
use crate::sql_types::{DbInstant, DbUuid, Instant, Uuid};
use crate::webhook_outbox::WebhookClaimRow;

/// SQLite has one writer at a time, so the statement alone keeps two claims
/// from taking the same row.
const CLAIM: &str = "UPDATE email_outbox SET attempts = attempts + 1, available_at = ?1 \
     WHERE order_id IN (SELECT order_id FROM email_outbox WHERE state = 'pending' AND available_at <= ?2 \
     ORDER BY available_at LIMIT ?3) \
     RETURNING order_id, recipient, subject, body, attempts";

/// As `CLAIM`: one writer at a time. The deliveries in flight travel as a
/// JSON array of ids, SQLite having no arrays.
const CLAIM_WEBHOOKS: &str = webhook_claim!(
    held: "(SELECT count(*) FROM json_each($3) AS busy WHERE busy.value = d.endpoint_id)",
    lock: ""
);

/// Followed by a row-value list of `(order_id, attempts)`, one per claim.
const SENT: &str = "UPDATE email_outbox SET state = 'sent', sent_at = $1, last_error = NULL \
     WHERE state = 'pending' AND (order_id, attempts) IN";
const SENT_RETURNING: &str = "RETURNING order_id";

/// One delivery per enabled endpoint subscribed to the event's type. SQLite
/// has no UUID function: the id is a random (version 4) UUID built from
/// `randomblob`, in the hyphenated text the other ids are stored as.
const FAN_OUT: &str = "INSERT INTO webhook_deliveries \
     (id, event_id, endpoint_id, order_id, event_type, state, attempts, available_at, created_at) \
     SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) \
     || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' \
     || hex(randomblob(6))), $1, s.endpoint_id, $2, $3, 'pending', 0, $4, $4 \
     FROM webhook_subscriptions s JOIN webhook_endpoints e ON e.id = s.endpoint_id \
     WHERE s.event_type = $3 AND e.enabled";

impl Dialect for SqliteConn {
    /// One statement at a time, and one row at a time: diesel-async cannot
    /// batch-insert on SQLite (diesel_async#277). The file is local, so this
    /// costs no round trips.
    async fn insert_new_order(
        &mut self,
        order: &OrderRow,
        items: &[ItemRow],
        email: &NewEmailRow<'_>,
        event: &NewEventRow,
    ) -> QueryResult<usize> {
        diesel::insert_into(orders::table).values(order).execute(self).await?;
        for item in items {
            diesel::insert_into(order_items::table).values(item).execute(self).await?;
        }
        diesel::insert_into(email_outbox::table).values(email).execute(self).await?;
        self.insert_events(std::slice::from_ref(event)).await
    }

    async fn insert_events(&mut self, events: &[NewEventRow]) -> QueryResult<usize> {
        let mut queued = 0;
        for event in events {
            diesel::insert_into(order_events::table).values(event).execute(self).await?;
            queued += fan_out!(FAN_OUT, event).execute(self).await?;
        }
        Ok(queued)
    }

    fn claim_due_statement(&self) -> &'static str {
        CLAIM
    }

    async fn claim_webhooks(
        &mut self,
        lease_ends: DbInstant,
        now: DbInstant,
        in_flight: &[DbUuid],
        per_endpoint: i64,
        limit: i64,
    ) -> QueryResult<Vec<WebhookClaimRow>> {
        // Hyphenated UUIDs need no escaping in JSON.
        let ids: Vec<String> = in_flight.iter().map(|id| format!("\"{}\"", id.0.hyphenated())).collect();
        diesel::sql_query(CLAIM_WEBHOOKS)
            .bind::<Instant, _>(lease_ends)
            .bind::<Instant, _>(now)
            .bind::<Text, _>(format!("[{}]", ids.join(",")))
            .bind::<BigInt, _>(per_endpoint)
            .bind::<BigInt, _>(limit)
            .load(self)
            .await
    }

    async fn mark_sent(&mut self, at: DbInstant, ids: &[DbUuid], attempts: &[i32]) -> QueryResult<Vec<DbUuid>> {
        let claims: Vec<String> = (0..ids.len()).map(|i| format!("(${}, ${})", 2 * i + 2, 2 * i + 3)).collect();
        let sql = format!("{SENT} ({}) {SENT_RETURNING}", claims.join(", "));
        let mut query = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>().bind::<Instant, _>(at);
        for (id, attempt) in ids.iter().zip(attempts) {
            query = query.bind::<Uuid, _>(*id).bind::<Integer, _>(*attempt);
        }
        let marked: Vec<MarkedRow> = query.load(self).await?;
        Ok(marked.into_iter().map(|row| row.order_id).collect())
    }
}
