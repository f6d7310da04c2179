//! The inserts of a create, and of a batch of events, on SQLite: run
//! together on the blocking thread that owns the connection.
//!
//! Through diesel-async, each statement is a trip to that thread and back,
//! made while this process's writer lock is held: the order, each line, the
//! email, the event and its webhook deliveries were six trips or more per
//! create. Here they are one.

use diesel::{QueryResult, RunQueryDsl as _, SqliteConnection};

use crate::events::NewEventRow;
use crate::models::NewOrderRows;
use crate::schema::{email_outbox, order_events, order_items, orders};

/// Inserts the rows, one statement at a time (diesel cannot batch-insert on
/// SQLite with these types); returns how many webhook deliveries were queued.
pub(super) fn insert(conn: &mut SqliteConnection, rows: &NewOrderRows) -> QueryResult<usize> {
    diesel::insert_into(orders::table).values(&rows.order).execute(conn)?;
    for item in &rows.items {
        diesel::insert_into(order_items::table).values(item).execute(conn)?;
    }
    diesel::insert_into(email_outbox::table).values(&rows.email).execute(conn)?;
    insert_events(conn, std::slice::from_ref(&rows.event))
}

/// Inserts events, each with its webhook deliveries; returns how many were queued.
pub(super) fn insert_events(conn: &mut SqliteConnection, events: &[NewEventRow]) -> QueryResult<usize> {
    let mut queued = 0;
    for event in events {
        diesel::insert_into(order_events::table).values(event).execute(conn)?;
        queued += fan_out!(conn, event, random_uuid!())?;
    }
    Ok(queued)
}
