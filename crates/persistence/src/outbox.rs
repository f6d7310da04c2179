//! `EmailOutbox` for both backends.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text};
use diesel_async::RunQueryDsl;
use domain::{ClaimedEmail, EmailMessage, EmailOutbox, EmailState, RepositoryError, Timestamp};
use tokio::sync::Notify;

use crate::database::AbortOnDrop;
use crate::error::{DbError, bounded, unless_session_ended};
use crate::pool::Pool;
use crate::schema::email_outbox;
use crate::sql_types::{DbInstant, DbUuid, Instant, Uuid};

/// Claims due emails by pushing `available_at` to the end of a lease and
/// counting the attempt, in one statement. On PostgreSQL `SKIP LOCKED` lets
/// several processes claim side by side without ever taking the same row;
/// SQLite has one writer at a time, so the statement alone is enough.
const CLAIM_POSTGRES: &str = "UPDATE email_outbox SET attempts = attempts + 1, available_at = $1 \
     WHERE order_id IN (SELECT order_id FROM email_outbox WHERE state = 'pending' AND available_at <= $2 \
     ORDER BY available_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING order_id, recipient, subject, body, attempts";
const CLAIM_SQLITE: &str = "UPDATE email_outbox SET attempts = attempts + 1, available_at = ?1 \
     WHERE order_id IN (SELECT order_id FROM email_outbox WHERE state = 'pending' AND available_at <= ?2 \
     ORDER BY available_at LIMIT ?3) \
     RETURNING order_id, recipient, subject, body, attempts";

const SENT_POSTGRES: &str = "UPDATE email_outbox AS e SET state = 'sent', sent_at = $1, last_error = NULL \
     FROM unnest($2::uuid[], $3::int4[]) AS sent(order_id, attempts) \
     WHERE e.order_id = sent.order_id AND e.attempts = sent.attempts AND e.state = 'pending'";
const SENT_SQLITE: &str = "UPDATE email_outbox SET state = 'sent', sent_at = $1, last_error = NULL \
     WHERE state = 'pending' AND (order_id, attempts) IN";

#[derive(Debug, QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = Uuid)]
    order_id: DbUuid,
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// The channel PostgreSQL carries "an email was queued" on, so a commit in one
/// process wakes the dispatchers of all of them.
pub(crate) const CHANNEL: &str = "email_outbox";
/// Sent by the creating transaction on [`CHANNEL`].
pub(crate) const NOTIFY: &str = "NOTIFY email_outbox";

/// Listens on a dedicated connection (the notification stream borrows it for
/// good) and turns each notification into a wake-up; reconnects with backoff.
pub(crate) async fn listen(url: String, wake: Arc<Notify>) {
    use diesel_async::AsyncConnection as _;
    use futures_util::StreamExt as _;
    let mut delay = Duration::from_millis(100);
    loop {
        match diesel_async::AsyncPgConnection::establish(&url).await {
            Ok(mut conn) => match diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).await {
                Ok(_) => {
                    tracing::debug!("listening for queued emails");
                    delay = Duration::from_millis(100);
                    // Emails queued while we were not listening: look now.
                    wake.notify_one();
                    let mut notifications = std::pin::pin!(conn.notifications_stream());
                    while let Some(notification) = notifications.next().await {
                        match notification {
                            Ok(_) => wake.notify_one(),
                            Err(error) => {
                                tracing::warn!(error = %error, "email notification connection lost");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(error = %error, "could not LISTEN for queued emails"),
            },
            Err(error) => tracing::warn!(error = %error, "could not connect to LISTEN for queued emails"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

impl ClaimRow {
    fn into_claim(self, lease_ends: Timestamp) -> ClaimedEmail {
        ClaimedEmail {
            message: EmailMessage {
                order_id: self.order_id.into(),
                recipient: self.recipient,
                subject: self.subject,
                body: self.body,
            },
            attempt: u32::try_from(self.attempts).unwrap_or(0),
            lease_ends,
        }
    }
}

/// The outbox table in PostgreSQL or SQLite.
#[derive(Debug, Clone)]
pub struct SqlEmailOutbox {
    pool: Pool,
    email_queued: Arc<Notify>,
    timeout: Duration,
    _listener: Option<Arc<AbortOnDrop>>,
}

impl SqlEmailOutbox {
    pub(crate) fn new(
        pool: Pool,
        email_queued: Arc<Notify>,
        timeout: Duration,
        listener: Option<Arc<AbortOnDrop>>,
    ) -> Self {
        Self { pool, email_queued, timeout, _listener: listener }
    }

    async fn claim(&self, now: Timestamp, limit: usize, lease: Duration) -> Result<Vec<ClaimedEmail>, DbError> {
        let sql = match self.pool {
            Pool::Postgres(_) => CLAIM_POSTGRES,
            Pool::Sqlite(..) => CLAIM_SQLITE,
        };
        let lease_ends = now.plus(lease);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<ClaimRow> = with_writer!(&self.pool, |conn| {
            diesel::sql_query(sql)
                .bind::<Instant, _>(DbInstant(lease_ends))
                .bind::<Instant, _>(DbInstant(now))
                .bind::<BigInt, _>(limit)
                .load(conn)
                .await
                .map_err(DbError::from)
        })?;
        Ok(rows.into_iter().map(|row| row.into_claim(lease_ends)).collect())
    }

    /// One UPDATE for a whole batch of sent emails, each fenced by its attempt.
    /// On PostgreSQL the claims travel as two arrays, so the statement has one
    /// shape for any batch and stays prepared; SQLite takes a row-value list.
    async fn settle_sent(&self, emails: &[ClaimedEmail], at: Timestamp) -> Result<usize, DbError> {
        let ids: Vec<DbUuid> = emails.iter().map(|e| DbUuid::from(e.message.order_id)).collect();
        let attempts: Vec<i32> = emails.iter().map(|e| i32::try_from(e.attempt).unwrap_or(i32::MAX)).collect();
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut conn = pool.get().await?;
                let sent = diesel::sql_query(SENT_POSTGRES)
                    .bind::<Instant, _>(DbInstant(at))
                    .bind::<Array<Uuid>, _>(&ids)
                    .bind::<Array<Integer>, _>(&attempts)
                    .execute(&mut *conn)
                    .await;
                unless_session_ended(&mut conn, sent.map_err(DbError::from)).await
            }
            Pool::Sqlite(pool, writer) => {
                let claims: Vec<String> =
                    (0..emails.len()).map(|i| format!("(${}, ${})", 2 * i + 2, 2 * i + 3)).collect();
                let sql = format!("{SENT_SQLITE} ({})", claims.join(", "));
                let mut query =
                    diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>().bind::<Instant, _>(DbInstant(at));
                for (id, attempt) in ids.iter().zip(&attempts) {
                    query = query.bind::<Uuid, _>(*id).bind::<Integer, _>(*attempt);
                }
                let _writing = writer.lock().await;
                let mut conn = pool.get().await?;
                Ok(query.execute(&mut *conn).await?)
            }
        }
    }

    /// Applies an outcome only to the claim that is still current: same email,
    /// same attempt, still pending. Recording twice changes nothing.
    async fn settle(
        &self,
        email: &ClaimedEmail,
        state: EmailState,
        sent_at: Option<Timestamp>,
        error: Option<&str>,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, DbError> {
        let id = DbUuid::from(email.message.order_id);
        let attempt = i32::try_from(email.attempt).unwrap_or(i32::MAX);
        let claim = email_outbox::table
            .filter(email_outbox::order_id.eq(id))
            .filter(email_outbox::attempts.eq(attempt))
            .filter(email_outbox::state.eq(EmailState::Pending.as_str()));
        let changes = (
            email_outbox::state.eq(state.as_str()),
            email_outbox::sent_at.eq(sent_at.map(DbInstant)),
            email_outbox::last_error.eq(error),
        );
        let changed: usize = with_writer!(&self.pool, |conn| {
            let changed = match retry_at {
                Some(at) => {
                    diesel::update(claim)
                        .set((changes, email_outbox::available_at.eq(DbInstant(at))))
                        .execute(conn)
                        .await
                }
                None => diesel::update(claim).set(changes).execute(conn).await,
            };
            changed.map_err(DbError::from)
        })?;
        Ok(changed == 1)
    }
}

#[async_trait]
impl EmailOutbox for SqlEmailOutbox {
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, RepositoryError> {
        let this = self.clone();
        bounded(&self.pool, self.timeout, async move { this.claim(now, limit, lease).await }).await
    }

    async fn record_sent(&self, emails: &[ClaimedEmail], at: Timestamp) -> Result<usize, RepositoryError> {
        if emails.is_empty() {
            return Ok(0);
        }
        let (this, emails) = (self.clone(), emails.to_vec());
        bounded(&self.pool, self.timeout, async move { this.settle_sent(&emails, at).await }).await
    }

    async fn record_failure(
        &self,
        email: &ClaimedEmail,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, RepositoryError> {
        let state = if retry_at.is_some() { EmailState::Pending } else { EmailState::Failed };
        let (this, email, error) = (self.clone(), email.clone(), error.to_owned());
        bounded(&self.pool, self.timeout, async move { this.settle(&email, state, None, Some(&error), retry_at).await })
            .await
    }

    async fn wait_for_new(&self) {
        self.email_queued.notified().await;
    }
}
