//! How an order event is written down: the JSON the timeline shows and every
//! webhook delivery sends, rendered once when the event is stored.

use domain::{Change, EventFormat, EventId, OrderEvent, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::{AsText, OrderBody, StatusName};

/// The API's JSON for events; storage calls it inside the transaction of the
/// change.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventJson;

impl EventFormat for EventJson {
    fn render(&self, event: &OrderEvent<'_>) -> String {
        let (from, to, error) = match event.change {
            Change::StatusChanged { from, to } => (Some(from.as_str()), Some(to.as_str()), None),
            Change::EmailFailed { error } => (None, None, Some(error.as_str())),
            Change::Created | Change::EmailSent => (None, None, None),
        };
        let body = EventBody {
            id: AsText(event.id),
            event_type: event.event_type().as_str(),
            created_at: AsText(event.occurred_at),
            data: EventData { order: OrderBody::from(event.order), from, to, error },
            request: (event.cause.api_key.is_some() || event.cause.request_id.is_some()).then(|| EventRequest {
                id: event.cause.request_id.as_deref(),
                api_key_id: event.cause.api_key.as_ref().map(|id| id.as_str()),
            }),
        };
        // Every member is a string, a number or made of them: serializing
        // cannot fail.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

/// An order event. Webhook receivers get exactly this as the request body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventBody<'a> {
    /// UUID v7; the same on every delivery of the event, so receivers can
    /// drop duplicates.
    #[schema(value_type = String, format = "uuid")]
    pub id: AsText<EventId>,
    #[serde(rename = "type")]
    #[schema(value_type = EventTypeName)]
    pub event_type: &'static str,
    /// When the change happened.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: AsText<Timestamp>,
    pub data: EventData<'a>,
    /// The request that made the change; `null` for the background's own
    /// changes (the confirmation email).
    #[schema(required = true)]
    pub request: Option<EventRequest<'a>>,
}

/// What an event carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventData<'a> {
    /// The order as it was right after the change.
    pub order: OrderBody<'a>,
    /// `order.status_changed` only: the status before.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<StatusName>)]
    pub from: Option<&'static str>,
    /// `order.status_changed` only: the status after.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<StatusName>)]
    pub to: Option<&'static str>,
    /// `order.confirmation_email.failed` only: the last attempt's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub error: Option<&'a str>,
}

/// The request behind a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventRequest<'a> {
    /// Its `X-Request-Id`.
    #[schema(value_type = Option<String>, required = true)]
    pub id: Option<&'a str>,
    /// The id of the API key it was made with.
    #[schema(value_type = Option<String>, required = true)]
    pub api_key_id: Option<&'a str>,
}

/// The event types.
#[derive(Debug, ToSchema)]
#[schema(as = EventType)]
#[expect(dead_code, reason = "described in the OpenAPI document, never built")]
pub enum EventTypeName {
    #[schema(rename = "order.created")]
    OrderCreated,
    #[schema(rename = "order.status_changed")]
    OrderStatusChanged,
    #[schema(rename = "order.confirmation_email.sent")]
    EmailSent,
    #[schema(rename = "order.confirmation_email.failed")]
    EmailFailed,
}

/// An order's events, oldest first. An order has a handful (its creation,
/// each status change, its email), so the list is not paged.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventList)]
pub struct EventListBody {
    /// Each as it was stored.
    #[schema(value_type = Vec<EventBody>)]
    pub items: Vec<Box<serde_json::value::RawValue>>,
}
