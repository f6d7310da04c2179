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
        queued += fan_out(conn, event)?;
    }
    Ok(queued)
}

/// Queues `event`'s webhook deliveries, one per enabled endpoint subscribed
/// to its type: one INSERT … SELECT, built with the query builder so that
/// the connection prepares it once.
fn fan_out(conn: &mut SqliteConnection, event: &NewEventRow) -> QueryResult<usize> {
    use diesel::IntoSql as _;
    use diesel::sql_types::{Integer, Text};
    use diesel::{ExpressionMethods as _, QueryDsl as _};

    use crate::schema::{webhook_deliveries as d, webhook_endpoints as e, webhook_subscriptions as s};
    use crate::sql_types::{Instant, Uuid};

    let subscribed =
        s::table.inner_join(e::table).filter(s::event_type.eq(event.event_type)).filter(e::enabled).select((
            random_uuid!(),
            event.id.into_sql::<Uuid>(),
            s::endpoint_id,
            event.order_id.into_sql::<Uuid>(),
            event.event_type.into_sql::<Text>(),
            domain::DeliveryState::Pending.as_str().into_sql::<Text>(),
            0.into_sql::<Integer>(),
            event.occurred_at.into_sql::<Instant>(),
            event.occurred_at.into_sql::<Instant>(),
        ));
    diesel::insert_into(d::table)
        .values(subscribed)
        .into_columns((
            d::id,
            d::event_id,
            d::endpoint_id,
            d::order_id,
            d::event_type,
            d::state,
            d::attempts,
            d::available_at,
            d::created_at,
        ))
        .execute(conn)
}
