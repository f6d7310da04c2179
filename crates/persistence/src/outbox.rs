//! `EmailOutbox` for both backends.

use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use domain::{Cause, Change, ClaimedEmail, EmailOutbox, EmailState, RepositoryError, Timestamp};

use crate::database::Database;
use crate::dialect::Dialect as _;
use crate::error::DbError;
use crate::events::{Format, NewEventRow};
use crate::models::{ClaimRow, DeliveryRow, ItemRow, OrderRow};
use crate::schema::{email_outbox, order_items, orders};
use crate::sql_types::{DbInstant, DbUuid, Instant};

/// The outbox table in PostgreSQL or SQLite.
#[derive(Clone)]
pub struct SqlEmailOutbox {
    db: Database,
    format: Format,
}

impl std::fmt::Debug for SqlEmailOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEmailOutbox").field("db", &self.db).finish_non_exhaustive()
    }
}

impl SqlEmailOutbox {
    pub(crate) fn new(db: Database, format: Format) -> Self {
        Self { db, format }
    }
}

/// The attempt a claim was made as, as the table counts it.
fn attempt_of(email: &ClaimedEmail) -> i32 {
    i32::try_from(email.attempt).unwrap_or(i32::MAX)
}

#[async_trait]
impl EmailOutbox for SqlEmailOutbox {
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, RepositoryError> {
        let lease_ends = now.plus(lease);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<ClaimRow> = operation!(self.db, "outbox.claim_due", Write, |conn| {
            Ok(diesel::sql_query(conn.claim_due_statement())
                .bind::<Instant, _>(DbInstant(lease_ends))
                .bind::<Instant, _>(DbInstant(now))
                .bind::<BigInt, _>(limit)
                .load(conn)
                .await?)
        })
        .await?;
        Ok(rows.into_iter().map(|row| row.into_claim(lease_ends)).collect())
    }

    /// One UPDATE for a whole batch, each email fenced by its attempt; then
    /// an event for each email it marked, in the same transaction.
    async fn record_sent(&self, emails: &[ClaimedEmail], at: Timestamp) -> Result<usize, RepositoryError> {
        if emails.is_empty() {
            return Ok(0);
        }
        let ids: Vec<DbUuid> = emails.iter().map(|e| DbUuid::from(e.message.order_id)).collect();
        let attempts: Vec<i32> = emails.iter().map(attempt_of).collect();
        let format = self.format.clone();
        let (marked, webhooks) = operation!(self.db, "outbox.record_sent", Transaction, |conn| {
            let marked = conn.mark_sent(DbInstant(at), &ids, &attempts).await?;
            let count = marked.len();
            let events = conn
                .load_orders(marked)
                .await?
                .into_iter()
                .map(|(order, delivery, items)| {
                    let order = order.into_order(items, delivery)?;
                    Ok(NewEventRow::render(&*format, &Change::EmailSent, &order, &Cause::default(), at))
                })
                .collect::<Result<Vec<_>, DbError>>()?;
            let webhooks = conn.insert_events(&events).await?;
            Ok((count, webhooks))
        })
        .await?;
        self.db.webhooks_queued(webhooks);
        Ok(marked)
    }

    /// Applies the outcome only to the claim that is still current: same
    /// email, same attempt, still pending. Recording twice changes nothing.
    async fn record_failure(
        &self,
        email: &ClaimedEmail,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, RepositoryError> {
        let state = if retry_at.is_some() { EmailState::Pending } else { EmailState::Failed };
        let (id, attempt) = (DbUuid::from(email.message.order_id), attempt_of(email));
        let error = error.to_owned();
        let format = self.format.clone();
        let (changed, webhooks) = operation!(self.db, "outbox.record_failure", Transaction, |conn| {
            let claim = email_outbox::table
                .filter(email_outbox::order_id.eq(id))
                .filter(email_outbox::attempts.eq(attempt))
                .filter(email_outbox::state.eq(EmailState::Pending.as_str()));
            let changes = (
                email_outbox::state.eq(state.as_str()),
                email_outbox::sent_at.eq(None::<DbInstant>),
                email_outbox::last_error.eq(Some(error.as_str())),
            );
            let changed = match retry_at {
                Some(at) => {
                    diesel::update(claim)
                        .set((changes, email_outbox::available_at.eq(DbInstant(at))))
                        .execute(conn)
                        .await?
                }
                None => diesel::update(claim).set(changes).execute(conn).await?,
            };
            if changed == 0 || retry_at.is_some() {
                return Ok((changed, 0));
            }
            let Some(order) = load_order!(conn, id)? else { return Ok((changed, 0)) };
            let failed = Change::EmailFailed { error };
            let event = NewEventRow::render(&*format, &failed, &order, &Cause::default(), Timestamp::now());
            Ok((changed, conn.insert_events(&[event]).await?))
        })
        .await?;
        self.db.webhooks_queued(webhooks);
        Ok(changed == 1)
    }

    async fn wait_for_new(&self) {
        self.db.email_queued.notified().await;
    }
}
