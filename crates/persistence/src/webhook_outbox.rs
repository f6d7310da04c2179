//! `WebhookOutbox` for both backends.

use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::RunQueryDsl;
use domain::{
    ClaimedWebhook, CorruptRecord, DeliveryState, EndpointId, EventType, RepositoryError, SigningSecret, Timestamp,
    WebhookOutbox, WebhookUrl,
};

use crate::database::Database;
use crate::dialect::Dialect as _;
use crate::schema::{webhook_deliveries, webhook_endpoints};
use crate::sql_types::{DbInstant, DbUuid, Instant, Uuid};

/// The `webhook_deliveries` table in PostgreSQL or SQLite.
#[derive(Debug, Clone)]
pub struct SqlWebhookOutbox {
    db: Database,
}

impl SqlWebhookOutbox {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }
}

/// A claimed delivery, as the claiming statement returns it.
#[derive(Debug, QueryableByName)]
pub(crate) struct WebhookClaimRow {
    #[diesel(sql_type = Uuid)]
    id: DbUuid,
    #[diesel(sql_type = Uuid)]
    event_id: DbUuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Uuid)]
    endpoint_id: DbUuid,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Instant)]
    created_at: DbInstant,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Text)]
    payload: String,
}

impl WebhookClaimRow {
    fn into_claim(self, lease_ends: Timestamp) -> Result<ClaimedWebhook, CorruptRecord> {
        Ok(ClaimedWebhook {
            id: self.id.0.into(),
            event_id: self.event_id.0.into(),
            event_type: EventType::parse(&self.event_type).map_err(|_| CorruptRecord("unknown event type"))?,
            endpoint_id: self.endpoint_id.0.into(),
            url: WebhookUrl::parse(&self.url).map_err(|_| CorruptRecord("malformed webhook URL"))?,
            secret: SigningSecret::parse(&self.secret).map_err(|_| CorruptRecord("malformed signing secret"))?,
            payload: self.payload,
            attempt: u32::try_from(self.attempts).unwrap_or(0),
            lease_ends,
            queued_at: self.created_at.0,
        })
    }
}

/// The attempt a claim was made as, as the table counts it.
fn attempt_of(delivery: &ClaimedWebhook) -> i32 {
    i32::try_from(delivery.attempt).unwrap_or(i32::MAX)
}

impl SqlWebhookOutbox {
    /// Applies an outcome to the claim that is still current: same delivery,
    /// same attempt, still pending. Recording twice changes nothing.
    async fn record(
        &self,
        delivery: &ClaimedWebhook,
        state: DeliveryState,
        sent_at: Option<Timestamp>,
        error: Option<String>,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, RepositoryError> {
        let (id, attempt) = (DbUuid(delivery.id.as_uuid()), attempt_of(delivery));
        let changed = operation!(self.db, "webhook_outbox.record", Write, |conn| {
            let claim = webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(id))
                .filter(webhook_deliveries::attempts.eq(attempt))
                .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()));
            let changes = (
                webhook_deliveries::state.eq(state.as_str()),
                webhook_deliveries::sent_at.eq(sent_at.map(DbInstant)),
                webhook_deliveries::last_error.eq(error.as_deref()),
            );
            Ok(match retry_at {
                Some(at) => {
                    diesel::update(claim)
                        .set((changes, webhook_deliveries::available_at.eq(DbInstant(at))))
                        .execute(conn)
                        .await?
                }
                None => diesel::update(claim).set(changes).execute(conn).await?,
            })
        })
        .await?;
        Ok(changed == 1)
    }
}

#[async_trait]
impl WebhookOutbox for SqlWebhookOutbox {
    /// A row that no longer reads as a delivery (an endpoint's URL or secret
    /// altered by hand) is failed for good at once, with the reason, rather
    /// than claimed again and again.
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
        per_endpoint: usize,
        in_flight: &[EndpointId],
    ) -> Result<Vec<ClaimedWebhook>, RepositoryError> {
        let lease_ends = now.plus(lease);
        let in_flight: Vec<DbUuid> = in_flight.iter().map(|id| DbUuid(id.as_uuid())).collect();
        // Where the enabled endpoints are taken from on each claim, so that
        // none is always first when the claim's limit runs out.
        let start = usize::try_from(now.unix_micros().rem_euclid(1 << 20)).unwrap_or(0);
        let rows: Vec<WebhookClaimRow> = operation!(self.db, "webhook_outbox.claim_due", Write, |conn| {
            let endpoints: Vec<DbUuid> = webhook_endpoints::table
                .filter(webhook_endpoints::enabled)
                .select(webhook_endpoints::id)
                .load(conn)
                .await?;
            let mut rows = Vec::new();
            for n in 0..endpoints.len() {
                let endpoint = endpoints[(start + n) % endpoints.len()];
                let held = in_flight.iter().filter(|id| **id == endpoint).count();
                let take = per_endpoint.saturating_sub(held).min(limit.saturating_sub(rows.len()));
                if take == 0 {
                    continue;
                }
                let claimed: Vec<WebhookClaimRow> = diesel::sql_query(conn.claim_webhooks_statement())
                    .bind::<Instant, _>(DbInstant(lease_ends))
                    .bind::<Instant, _>(DbInstant(now))
                    .bind::<Uuid, _>(endpoint)
                    .bind::<BigInt, _>(i64::try_from(take).unwrap_or(i64::MAX))
                    .load(conn)
                    .await?;
                rows.extend(claimed);
            }
            Ok(rows)
        })
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, attempt) = (row.id, row.attempts);
            match row.into_claim(lease_ends) {
                Ok(claim) => claimed.push(claim),
                Err(corrupt) => {
                    tracing::error!(delivery_id = %id.0, error = %corrupt, "webhook delivery cannot be sent; failed");
                    let error = corrupt.to_string();
                    operation!(self.db, "webhook_outbox.fail_unreadable", Write, |conn| {
                        let claim = webhook_deliveries::table
                            .filter(webhook_deliveries::id.eq(id))
                            .filter(webhook_deliveries::attempts.eq(attempt));
                        Ok(diesel::update(claim)
                            .set((
                                webhook_deliveries::state.eq(DeliveryState::Failed.as_str()),
                                webhook_deliveries::last_error.eq(error.as_str()),
                            ))
                            .execute(conn)
                            .await?)
                    })
                    .await?;
                }
            }
        }
        Ok(claimed)
    }

    async fn record_delivered(&self, delivery: &ClaimedWebhook, at: Timestamp) -> Result<bool, RepositoryError> {
        self.record(delivery, DeliveryState::Sent, Some(at), None, None).await
    }

    async fn record_failure(
        &self,
        delivery: &ClaimedWebhook,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, RepositoryError> {
        let state = if retry_at.is_some() { DeliveryState::Pending } else { DeliveryState::Failed };
        self.record(delivery, state, None, Some(error.to_owned()), retry_at).await
    }

    async fn wait_for_new(&self) {
        self.db.webhook_queued.notified().await;
    }
}
