//! `DeliveryRepository` for both backends: the email outbox and the webhook
//! deliveries, listed together and retried alike.

use std::str::FromStr as _;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use domain::{
    Backlog, CorruptRecord, Delivery, DeliveryId, DeliveryKind, DeliveryPage, DeliveryQuery, DeliveryRepository,
    DeliveryState, DeliveryTarget, EventType, RepositoryError, RetryOutcome, Timestamp,
};

use crate::database::Database;
use crate::schema::{email_outbox, webhook_deliveries, webhook_endpoints};
use crate::sql_types::{DbInstant, DbUuid, Instant};

/// An email of the outbox, as a delivery.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = email_outbox)]
struct EmailRow {
    order_id: DbUuid,
    recipient: String,
    state: String,
    attempts: i32,
    available_at: DbInstant,
    sent_at: Option<DbInstant>,
    last_error: Option<String>,
    created_at: DbInstant,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
struct WebhookRow {
    id: DbUuid,
    event_id: DbUuid,
    endpoint_id: DbUuid,
    order_id: DbUuid,
    event_type: String,
    state: String,
    attempts: i32,
    available_at: DbInstant,
    sent_at: Option<DbInstant>,
    last_error: Option<String>,
    created_at: DbInstant,
}

/// The columns both tables share, read into a delivery.
struct Common {
    state: String,
    attempts: i32,
    available_at: DbInstant,
    sent_at: Option<DbInstant>,
    last_error: Option<String>,
    created_at: DbInstant,
}

impl Common {
    fn into_delivery(
        self,
        id: DeliveryId,
        order_id: DbUuid,
        target: DeliveryTarget,
    ) -> Result<Delivery, CorruptRecord> {
        Ok(Delivery {
            id,
            order_id: order_id.into(),
            target,
            state: DeliveryState::from_str(&self.state)?,
            attempts: u32::try_from(self.attempts).map_err(|_| CorruptRecord("negative delivery attempts"))?,
            last_error: self.last_error,
            created_at: self.created_at.0,
            available_at: self.available_at.0,
            sent_at: self.sent_at.map(|t| t.0),
        })
    }
}

impl EmailRow {
    fn into_delivery(self) -> Result<Delivery, CorruptRecord> {
        let Self { order_id, recipient, state, attempts, available_at, sent_at, last_error, created_at } = self;
        let common = Common { state, attempts, available_at, sent_at, last_error, created_at };
        common.into_delivery(DeliveryId::from(order_id.0), order_id, DeliveryTarget::Email { recipient })
    }
}

impl WebhookRow {
    fn into_delivery(self) -> Result<Delivery, CorruptRecord> {
        let Self {
            id,
            event_id,
            endpoint_id,
            order_id,
            event_type,
            state,
            attempts,
            available_at,
            sent_at,
            last_error,
            created_at,
        } = self;
        let target = DeliveryTarget::Webhook {
            event_id: event_id.0.into(),
            event_type: EventType::parse(&event_type).map_err(|_| CorruptRecord("unknown event type"))?,
            endpoint_id: endpoint_id.0.into(),
        };
        let common = Common { state, attempts, available_at, sent_at, last_error, created_at };
        common.into_delivery(DeliveryId::from(id.0), order_id, target)
    }
}

/// What a retry found, and whether it requeued it.
enum Found {
    Email(EmailRow, bool),
    Webhook(WebhookRow, bool),
    Nothing,
}

/// Both outboxes in PostgreSQL or SQLite, through one code path.
#[derive(Debug, Clone)]
pub struct SqlDeliveryRepository {
    db: Database,
}

impl SqlDeliveryRepository {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Both outboxes' pending rows, counted through their partial "due"
/// indexes: the cost grows with what waits, not with what was ever sent.
const BACKLOG: &str = "SELECT 'email' AS kind, count(*) AS pending, min(created_at) AS oldest \
     FROM email_outbox WHERE state = 'pending' \
     UNION ALL SELECT 'webhook', count(*), min(created_at) FROM webhook_deliveries WHERE state = 'pending'";

/// One outbox's line of [`BACKLOG`].
#[derive(Debug, QueryableByName)]
struct BacklogRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pending: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<Instant>)]
    oldest: Option<DbInstant>,
}

impl BacklogRow {
    fn into_backlog(self) -> Result<Backlog, CorruptRecord> {
        Ok(Backlog {
            kind: DeliveryKind::parse(&self.kind).map_err(|_| CorruptRecord("unknown outbox"))?,
            pending: u64::try_from(self.pending).unwrap_or(0),
            oldest: self.oldest.map(|at| at.0),
        })
    }
}

#[async_trait]
impl DeliveryRepository for SqlDeliveryRepository {
    /// Each table gives its `limit + 1` newest after the cursor, through its
    /// `(created_at, id)` index; the merge keeps the newest of them.
    async fn list(&self, query: &DeliveryQuery) -> Result<DeliveryPage, RepositoryError> {
        let fetch = i64::try_from(query.limit.get() + 1).unwrap_or(i64::MAX);
        let (emails, webhooks) = (query.includes(DeliveryKind::Email), query.includes(DeliveryKind::Webhook));
        let state = query.state.map(DeliveryState::as_str);
        let order_id = query.order_id.map(DbUuid::from);
        let after = query.after.map(|c| (DbInstant(c.created_at), DbUuid(c.id.as_uuid())));
        let (email_rows, webhook_rows) = operation!(self.db, "deliveries.list", Read, |conn| {
            let mut email_rows: Vec<EmailRow> = Vec::new();
            if emails {
                let mut select = email_outbox::table
                    .select(EmailRow::as_select())
                    .order((email_outbox::created_at.desc(), email_outbox::order_id.desc()))
                    .limit(fetch)
                    .into_boxed();
                if let Some(state) = state {
                    select = select.filter(email_outbox::state.eq(state));
                }
                if let Some(order_id) = order_id {
                    select = select.filter(email_outbox::order_id.eq(order_id));
                }
                if let Some((created_at, id)) = after {
                    // As for orders: `created_at <= t` bounds the index range; the OR breaks ties.
                    select = select
                        .filter(email_outbox::created_at.le(created_at))
                        .filter(email_outbox::created_at.lt(created_at).or(email_outbox::order_id.lt(id)));
                }
                email_rows = select.load(conn).await?;
            }
            let mut webhook_rows: Vec<WebhookRow> = Vec::new();
            if webhooks {
                let mut select = webhook_deliveries::table
                    .select(WebhookRow::as_select())
                    .order((webhook_deliveries::created_at.desc(), webhook_deliveries::id.desc()))
                    .limit(fetch)
                    .into_boxed();
                if let Some(state) = state {
                    select = select.filter(webhook_deliveries::state.eq(state));
                }
                if let Some(order_id) = order_id {
                    select = select.filter(webhook_deliveries::order_id.eq(order_id));
                }
                if let Some((created_at, id)) = after {
                    select = select
                        .filter(webhook_deliveries::created_at.le(created_at))
                        .filter(webhook_deliveries::created_at.lt(created_at).or(webhook_deliveries::id.lt(id)));
                }
                webhook_rows = select.load(conn).await?;
            }
            Ok((email_rows, webhook_rows))
        })
        .await?;
        let rows = email_rows
            .into_iter()
            .map(EmailRow::into_delivery)
            .chain(webhook_rows.into_iter().map(WebhookRow::into_delivery))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DeliveryPage::from_merged(rows, query.limit))
    }

    async fn backlog(&self) -> Result<Vec<Backlog>, RepositoryError> {
        let rows: Vec<BacklogRow> =
            operation!(self.db, "deliveries.backlog", Read, |conn| Ok(diesel::sql_query(BACKLOG).load(conn).await?))
                .await?;
        Ok(rows.into_iter().map(BacklogRow::into_backlog).collect::<Result<_, _>>()?)
    }

    /// An email's id is its order's, a webhook delivery's its own: the id
    /// is looked up in the email outbox first. Only a failed row changes,
    /// so two operators retrying at once requeue it once.
    async fn retry(&self, id: DeliveryId, now: Timestamp) -> Result<RetryOutcome, RepositoryError> {
        let key = DbUuid(id.as_uuid());
        let (failed, pending) = (DeliveryState::Failed.as_str(), DeliveryState::Pending.as_str());
        let found = operation!(self.db, "deliveries.retry", Transaction, |conn| {
            let requeued = diesel::update(
                email_outbox::table.filter(email_outbox::order_id.eq(key)).filter(email_outbox::state.eq(failed)),
            )
            .set((email_outbox::state.eq(pending), email_outbox::available_at.eq(DbInstant(now))))
            .execute(conn)
            .await?;
            let email = email_outbox::table
                .filter(email_outbox::order_id.eq(key))
                .select(EmailRow::as_select())
                .first(conn)
                .await
                .optional()?;
            if let Some(email) = email {
                return Ok(Found::Email(email, requeued == 1));
            }
            let live_endpoints =
                webhook_endpoints::table.filter(webhook_endpoints::deleted_at.is_null()).select(webhook_endpoints::id);
            let requeued = diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::id.eq(key))
                    .filter(webhook_deliveries::state.eq(failed))
                    .filter(webhook_deliveries::endpoint_id.eq_any(live_endpoints)),
            )
            .set((webhook_deliveries::state.eq(pending), webhook_deliveries::available_at.eq(DbInstant(now))))
            .execute(conn)
            .await?;
            let webhook = webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(key))
                .select(WebhookRow::as_select())
                .first(conn)
                .await
                .optional()?;
            Ok(webhook.map_or(Found::Nothing, |row| Found::Webhook(row, requeued == 1)))
        })
        .await?;
        let (delivery, requeued) = match found {
            Found::Email(row, requeued) => {
                if requeued {
                    // This process's dispatcher claims it; the others find it at their sweep.
                    self.db.email_queued.notify_one();
                }
                (row.into_delivery()?, requeued)
            }
            Found::Webhook(row, requeued) => {
                self.db.webhooks_queued(usize::from(requeued));
                let delivery = row.into_delivery()?;
                // Failed yet not requeued: only its endpoint can have stopped it.
                if !requeued && delivery.state == DeliveryState::Failed {
                    return Ok(RetryOutcome::EndpointDeleted(delivery));
                }
                (delivery, requeued)
            }
            Found::Nothing => return Ok(RetryOutcome::NotFound),
        };
        Ok(if requeued { RetryOutcome::Requeued(delivery) } else { RetryOutcome::NotFailed(delivery) })
    }
}
