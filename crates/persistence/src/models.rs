//! Rows as the tables hold them, and their conversion to and from the domain.

use diesel::prelude::*;
use diesel::sql_types::Integer;
use domain::{
    Answer, ClaimedEmail, CreateOutcome, EmailMessage, EmailQueueing, EmailState, IdempotencyRecord, Order,
    StoredDelivery, StoredLine, StoredOrder, Timestamp,
};

use crate::events::NewEventRow;
use crate::schema::{email_outbox, idempotency_keys, order_items, orders};
use crate::sql_types::{DbInstant, DbUuid, Uuid};

/// Everything a create inserts, owned, to move to the connection's thread.
#[derive(Debug)]
pub(crate) struct NewOrderRows {
    pub(crate) order: OrderRow,
    pub(crate) items: Vec<ItemRow>,
    pub(crate) email: NewEmailRow,
    pub(crate) event: NewEventRow,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orders)]
pub(crate) struct OrderRow {
    pub id: DbUuid,
    pub customer_name: String,
    pub customer_email: String,
    pub customer_email_key: String,
    pub currency: String,
    pub total_cents: i64,
    pub status: String,
    pub version: i64,
    pub created_at: DbInstant,
    pub updated_at: DbInstant,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_items)]
pub(crate) struct ItemRow {
    pub order_id: DbUuid,
    pub position: i32,
    pub sku: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

/// The delivery columns of the outbox, as shown on an order.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = email_outbox)]
pub(crate) struct DeliveryRow {
    pub state: String,
    pub attempts: i32,
    pub sent_at: Option<DbInstant>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = email_outbox)]
pub(crate) struct NewEmailRow {
    pub order_id: DbUuid,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
    pub state: &'static str,
    pub attempts: i32,
    pub available_at: DbInstant,
    pub created_at: DbInstant,
}

/// A stored confirmation email, as the preview shows it and a claim sends it.
#[derive(Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = email_outbox)]
pub(crate) struct StoredEmailRow {
    pub order_id: DbUuid,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
    pub created_at: DbInstant,
}

impl StoredEmailRow {
    pub fn into_message(self) -> EmailMessage {
        EmailMessage {
            order_id: self.order_id.into(),
            recipient: self.recipient,
            subject: self.subject,
            body: self.body,
            html: self.html_body,
            written_at: self.created_at.0,
        }
    }
}

/// A taken idempotency key, as the winner stored it.
#[derive(Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = idempotency_keys)]
pub(crate) struct KeyRow {
    pub fingerprint: String,
    pub order_id: DbUuid,
    pub response: String,
}

/// A claimed email, as the claiming statement returns it.
#[derive(Debug, QueryableByName)]
pub(crate) struct ClaimRow {
    #[diesel(embed)]
    email: StoredEmailRow,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// An email a statement marked, by its order.
#[derive(Debug, QueryableByName)]
pub(crate) struct MarkedRow {
    #[diesel(sql_type = Uuid)]
    pub order_id: DbUuid,
}

impl ClaimRow {
    pub fn into_claim(self, lease_ends: Timestamp) -> ClaimedEmail {
        let queued_at = self.email.created_at.0;
        ClaimedEmail {
            message: self.email.into_message(),
            attempt: u32::try_from(self.attempts).unwrap_or(0),
            lease_ends,
            queued_at,
        }
    }
}

impl KeyRow {
    /// The key as `record`'s create stores it.
    pub fn stored_by(record: &IdempotencyRecord) -> Self {
        Self {
            fingerprint: record.request.fingerprint.clone(),
            order_id: record.answer.order_id.into(),
            response: record.answer.body.clone(),
        }
    }

    pub fn into_outcome(self) -> CreateOutcome {
        CreateOutcome::KeyTaken {
            fingerprint: self.fingerprint,
            answer: Answer { order_id: self.order_id.into(), body: self.response },
        }
    }
}

impl OrderRow {
    pub fn from_order(order: &Order) -> Self {
        Self {
            id: order.id().into(),
            customer_name: order.customer_name().as_str().to_owned(),
            customer_email: order.customer_email().as_str().to_owned(),
            customer_email_key: order.customer_email().comparison_key(),
            currency: order.currency().as_str().to_owned(),
            total_cents: order.total().cents(),
            status: order.status().as_str().to_owned(),
            version: order.version().get(),
            created_at: order.created_at().into(),
            updated_at: order.updated_at().into(),
        }
    }

    /// Joins the row with its lines and delivery state into a domain order.
    pub fn into_order(self, items: Vec<ItemRow>, delivery: DeliveryRow) -> Result<Order, domain::CorruptRecord> {
        Order::restore(StoredOrder {
            id: self.id.into(),
            customer_name: self.customer_name,
            customer_email: self.customer_email,
            currency: self.currency,
            lines: items
                .into_iter()
                .map(|item| StoredLine {
                    sku: item.sku,
                    quantity: i64::from(item.quantity),
                    unit_price_cents: item.unit_price_cents,
                })
                .collect(),
            status: self.status,
            confirmation_email: StoredDelivery {
                state: delivery.state,
                attempts: i64::from(delivery.attempts),
                sent_at: delivery.sent_at.map(|t| t.0),
                last_error: delivery.last_error,
            },
            version: self.version,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

impl ItemRow {
    pub fn from_order(order: &Order) -> Vec<Self> {
        order
            .lines()
            .iter()
            .zip(0..)
            .map(|(line, position)| Self {
                order_id: order.id().into(),
                position,
                sku: line.sku.as_str().to_owned(),
                // Quantity is at most 10,000.
                quantity: i32::try_from(line.quantity.get()).unwrap_or(i32::MAX),
                unit_price_cents: line.unit_price.cents(),
                line_total_cents: line.line_total.cents(),
            })
            .collect()
    }
}

impl NewEmailRow {
    /// Due at once for any dispatcher, or already claimed (first attempt,
    /// leased until `claimed_until`) by the creating process.
    pub fn queued(email: &EmailMessage, created_at: Timestamp, queueing: EmailQueueing) -> Self {
        let claimed_until = match queueing {
            EmailQueueing::Shared => None,
            EmailQueueing::ClaimedUntil(lease_ends) => Some(lease_ends),
        };
        Self {
            order_id: email.order_id.into(),
            recipient: email.recipient.clone(),
            subject: email.subject.clone(),
            body: email.body.clone(),
            html_body: email.html.clone(),
            state: EmailState::Pending.as_str(),
            attempts: i32::from(claimed_until.is_some()),
            available_at: claimed_until.unwrap_or(created_at).into(),
            created_at: created_at.into(),
        }
    }

    /// Whether dispatchers must be told about it.
    pub fn is_unclaimed(&self) -> bool {
        self.attempts == 0
    }
}
