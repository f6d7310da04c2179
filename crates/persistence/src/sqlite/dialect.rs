//! SQLite's own statements.

use diesel::QueryResult;
use diesel::sql_types::Integer;
use diesel_async::RunQueryDsl as _;

use super::SqliteConn;
use crate::dialect::Dialect;
use crate::models::{ItemRow, NewEmailRow, OrderRow};
use crate::schema::{email_outbox, order_items, orders};
use crate::sql_types::{DbInstant, DbUuid, Instant, Uuid};

/// SQLite has one writer at a time, so the statement alone keeps two claims
/// from taking the same row.
const CLAIM: &str = "UPDATE email_outbox SET attempts = attempts + 1, available_at = ?1 \
     WHERE order_id IN (SELECT order_id FROM email_outbox WHERE state = 'pending' AND available_at <= ?2 \
     ORDER BY available_at LIMIT ?3) \
     RETURNING order_id, recipient, subject, body, attempts";

/// Followed by a row-value list of `(order_id, attempts)`, one per claim.
const SENT: &str = "UPDATE email_outbox SET state = 'sent', sent_at = $1, last_error = NULL \
     WHERE state = 'pending' AND (order_id, attempts) IN";

impl Dialect for SqliteConn {
    /// One statement at a time, and one row at a time: diesel-async cannot
    /// batch-insert on SQLite (diesel_async#277). The file is local, so this
    /// costs no round trips.
    async fn insert_new_order(
        &mut self,
        order: &OrderRow,
        items: &[ItemRow],
        email: &NewEmailRow<'_>,
    ) -> QueryResult<()> {
        diesel::insert_into(orders::table).values(order).execute(self).await?;
        for item in items {
            diesel::insert_into(order_items::table).values(item).execute(self).await?;
        }
        diesel::insert_into(email_outbox::table).values(email).execute(self).await?;
        Ok(())
    }

    fn claim_due_statement(&self) -> &'static str {
        CLAIM
    }

    async fn mark_sent(&mut self, at: DbInstant, ids: &[DbUuid], attempts: &[i32]) -> QueryResult<usize> {
        let claims: Vec<String> = (0..ids.len()).map(|i| format!("(${}, ${})", 2 * i + 2, 2 * i + 3)).collect();
        let sql = format!("{SENT} ({})", claims.join(", "));
        let mut query = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>().bind::<Instant, _>(at);
        for (id, attempt) in ids.iter().zip(attempts) {
            query = query.bind::<Uuid, _>(*id).bind::<Integer, _>(*attempt);
        }
        query.execute(self).await
    }
}
