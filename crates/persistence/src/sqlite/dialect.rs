//! SQLite's own statements.

use diesel::sql_types::Integer;
use diesel::{ExpressionMethods as _, QueryDsl as _, QueryResult, SelectableHelper as _};
use diesel_async::RunQueryDsl as _;

use super::SqliteConn;
use super::create;
use crate::dialect::Dialect;
use crate::events::NewEventRow;
use crate::models::{DeliveryRow, MarkedRow, OrderRow};
use crate::orders::{ListFilter, OrderRows, with_lines};
use crate::schema::{email_outbox, orders};
use crate::sql_types::{DbInstant, DbUuid, Instant, Uuid};

/// Loads a query on the connection's own thread.
macro_rules! load {
    ($query:expr, $conn:ident) => {
        diesel::RunQueryDsl::load($query, $conn)
    };
}

/// SQLite has one writer at a time, so the statement alone keeps two claims
/// from taking the same row.
const CLAIM: &str = "UPDATE email_outbox SET attempts = attempts + 1, available_at = ?1 \
     WHERE order_id IN (SELECT order_id FROM email_outbox WHERE state = 'pending' AND available_at <= ?2 \
     ORDER BY available_at LIMIT ?3) \
     RETURNING order_id, recipient, subject, body, html_body, attempts, created_at";

/// As `CLAIM`: one writer at a time. The deliveries in flight travel as a
/// JSON array of ids, SQLite having no arrays.
const CLAIM_WEBHOOKS: &str = webhook_claim!(lock: "", per_row: "");

/// Followed by a row-value list of `(order_id, attempts)`, one per claim.
const SENT: &str = "UPDATE email_outbox SET state = 'sent', sent_at = $1, last_error = NULL \
     WHERE state = 'pending' AND (order_id, attempts) IN";
const SENT_RETURNING: &str = "RETURNING order_id";

impl Dialect for SqliteConn {
    async fn insert_events(&mut self, events: &[NewEventRow]) -> QueryResult<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let events = events.to_vec();
        self.spawn_blocking(move |conn| create::insert_events(conn, &events)).await
    }

    /// Both statements in one trip to the connection's thread, each row
    /// read in place: through diesel-async, each statement is a trip, and
    /// every value of every row is copied out of SQLite (an allocation per
    /// column) to be read on the async side.
    async fn list_page(&mut self, filter: ListFilter) -> QueryResult<Vec<OrderRows>> {
        self.spawn_blocking(move |conn| list_page!(conn, filter, load)).await
    }

    /// Two statements (SQLite's planner always takes an index for `IN`), in
    /// one trip to the connection's thread.
    async fn load_orders(&mut self, ids: Vec<DbUuid>) -> QueryResult<Vec<OrderRows>> {
        self.spawn_blocking(move |conn| {
            let heads: Vec<(OrderRow, DeliveryRow)> = load!(
                orders::table
                    .inner_join(email_outbox::table)
                    .filter(orders::id.eq_any(&ids))
                    .select((OrderRow::as_select(), DeliveryRow::as_select())),
                conn
            )?;
            let lines = lines_of!(conn, &ids, load);
            Ok(with_lines(heads, lines))
        })
        .await
    }

    fn claim_due_statement(&self) -> &'static str {
        CLAIM
    }

    fn claim_webhooks_statement(&self) -> &'static str {
        CLAIM_WEBHOOKS
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
