//! Order events as rows: written in the transaction of their change, each
//! with a webhook delivery to every endpoint subscribed to its type (the
//! dialects' `insert_events`), and read back as an order's timeline.

use std::sync::Arc;

use diesel::prelude::*;
use domain::{
    Cause, Change, CorruptRecord, EventFormat, EventId, EventType, Order, OrderEvent, RecordedEvent, Timestamp,
};

use crate::schema::order_events;
use crate::sql_types::{DbInstant, DbUuid};

/// How events are written down (the API's JSON), shared by the repositories.
pub(crate) type Format = Arc<dyn EventFormat>;

/// An event about to be stored.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = order_events)]
pub(crate) struct NewEventRow {
    pub id: DbUuid,
    pub order_id: DbUuid,
    pub event_type: &'static str,
    pub occurred_at: DbInstant,
    pub payload: String,
    pub api_key_id: Option<String>,
    pub request_id: Option<String>,
}

impl NewEventRow {
    /// `change` to `order` (as it is after the change), written down once.
    pub fn render(format: &dyn EventFormat, change: &Change, order: &Order, cause: &Cause, at: Timestamp) -> Self {
        let event = OrderEvent { id: EventId::generate(), change, occurred_at: at, order, cause };
        Self {
            id: DbUuid(event.id.as_uuid()),
            order_id: order.id().into(),
            event_type: change.event_type().as_str(),
            occurred_at: at.into(),
            payload: format.render(&event),
            api_key_id: cause.api_key.as_ref().map(|id| id.as_str().to_owned()),
            request_id: cause.request_id.clone(),
        }
    }
}

/// A stored event, as the timeline reads it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = order_events)]
pub(crate) struct EventRow {
    pub id: DbUuid,
    pub order_id: DbUuid,
    pub event_type: String,
    pub occurred_at: DbInstant,
    pub payload: String,
}

impl EventRow {
    pub fn into_recorded(self) -> Result<RecordedEvent, CorruptRecord> {
        Ok(RecordedEvent {
            id: self.id.0.into(),
            event_type: EventType::parse(&self.event_type).map_err(|_| CorruptRecord("unknown event type"))?,
            order_id: self.order_id.into(),
            occurred_at: self.occurred_at.0,
            payload: self.payload,
        })
    }
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// PostgreSQL's random UUID.
    fn gen_random_uuid() -> crate::sql_types::Uuid;
    /// SQLite's random bytes, for its random UUIDs (it has no UUID function).
    fn randomblob(bytes: diesel::sql_types::Integer) -> diesel::sql_types::Binary;
    fn hex(bytes: diesel::sql_types::Binary) -> diesel::sql_types::Text;
    /// SQLite's `lower`, typed as the UUID column it fills.
    #[sql_name = "lower"]
    fn lower_uuid(text: diesel::sql_types::Text) -> crate::sql_types::Uuid;
}

/// Queues `$event`'s webhook deliveries on `$conn`, one per enabled endpoint
/// subscribed to its type, each with the id `$id` makes: one INSERT …
/// SELECT, built with the query builder so that each connection prepares it
/// once. What `execute` gives (a future, or with diesel's sync `RunQueryDsl`
/// the count); a macro, for the same reason as `operation!`.
macro_rules! fan_out {
    ($conn:expr, $event:expr, $id:expr) => {{
        use diesel::IntoSql as _;
        use diesel::{ExpressionMethods as _, QueryDsl as _};
        use $crate::schema::{webhook_deliveries as d, webhook_endpoints as e, webhook_subscriptions as s};
        use $crate::sql_types::{Instant, Uuid};
        let event: &$crate::events::NewEventRow = $event;
        let subscribed =
            s::table.inner_join(e::table).filter(s::event_type.eq(event.event_type)).filter(e::enabled).select((
                $id,
                event.id.into_sql::<Uuid>(),
                s::endpoint_id,
                event.order_id.into_sql::<Uuid>(),
                event.event_type.into_sql::<diesel::sql_types::Text>(),
                domain::DeliveryState::Pending.as_str().into_sql::<diesel::sql_types::Text>(),
                0.into_sql::<diesel::sql_types::Integer>(),
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
            .execute($conn)
    }};
}
