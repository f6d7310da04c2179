//! The inserts of a create, and of a batch of creates, on PostgreSQL. Every
//! statement is pipelined: sent together, answered together (the foreign
//! keys are checked at commit, so their order on the wire does not matter).
//! An email left for any dispatcher is announced with NOTIFY, delivered at
//! commit to every process.

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use futures_util::future::{try_join_all, try_join5};

use super::dialect::insert_events;
use super::wake_up::NOTIFY;
use crate::events::NewEventRow;
use crate::models::{ItemRow, NewEmailRow, NewOrderRows, OrderRow};
use crate::schema::{email_outbox, order_items, orders};

/// NOTIFY, if any of `emails` is left for any dispatcher.
async fn announce(mut conn: &AsyncPgConnection, emails: &[&NewEmailRow]) -> QueryResult<()> {
    if emails.iter().any(|email| email.is_unclaimed()) {
        diesel::sql_query(NOTIFY).execute(&mut conn).await?;
    }
    Ok(())
}

/// One create's rows, in one round trip. One single-row insert per line
/// rather than one multi-row insert: each is a cached prepared statement,
/// where a multi-row insert would be parsed and planned every time. Returns
/// how many webhook deliveries were queued.
pub(super) async fn insert(conn: &AsyncPgConnection, rows: &NewOrderRows) -> QueryResult<usize> {
    let (mut for_order, mut for_email) = (conn, conn);
    let lines = try_join_all(rows.items.iter().map(|item| {
        let mut conn = conn;
        async move { diesel::insert_into(order_items::table).values(item).execute(&mut conn).await }
    }));
    let (_, _, _, _, queued) = try_join5(
        diesel::insert_into(orders::table).values(&rows.order).execute(&mut for_order),
        lines,
        diesel::insert_into(email_outbox::table).values(&rows.email).execute(&mut for_email),
        announce(conn, &[&rows.email]),
        insert_events(conn, &[&rows.event]),
    )
    .await?;
    Ok(queued)
}

/// A batch's rows: one multi-row insert per table (planned afresh each
/// time, but one statement for the whole batch) and one for the events'
/// webhook deliveries. Returns how many deliveries were queued.
pub(super) async fn insert_batch(conn: &AsyncPgConnection, batch: &[&NewOrderRows]) -> QueryResult<usize> {
    let orders: Vec<&OrderRow> = batch.iter().map(|rows| &rows.order).collect();
    let items: Vec<&ItemRow> = batch.iter().flat_map(|rows| &rows.items).collect();
    let emails: Vec<&NewEmailRow> = batch.iter().map(|rows| &rows.email).collect();
    let events: Vec<&NewEventRow> = batch.iter().map(|rows| &rows.event).collect();
    let (mut for_orders, mut for_items, mut for_emails) = (conn, conn, conn);
    let (_, _, _, queued, ()) = try_join5(
        diesel::insert_into(orders::table).values(orders).execute(&mut for_orders),
        diesel::insert_into(order_items::table).values(items).execute(&mut for_items),
        diesel::insert_into(email_outbox::table).values(emails.clone()).execute(&mut for_emails),
        insert_events(conn, &events),
        announce(conn, &emails),
    )
    .await?;
    Ok(queued)
}
