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
