//! `OrderRepository` for both backends.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use domain::{
    Change, CreateOutcome, EmailMessage, EmailQueueing, ListQuery, Order, OrderCreation, OrderId, OrderRepository,
    OrderStatus, Page, RecordedEvent, RepositoryError, StatusUpdate, Timestamp,
};

use crate::database::Database;
use crate::dialect::Dialect as _;
use crate::error::DbError;
use crate::events::{EventRow, Format, NewEventRow};
use crate::group_commit::NewOrder;
use crate::models::{DeliveryRow, ItemRow, NewEmailRow, NewOrderRows, OrderRow, StoredEmailRow};
use crate::schema::{email_outbox, order_events, order_items, orders};
use crate::sql_types::{DbInstant, DbUuid, Instant};

/// One order with its lines and email state, on `$conn` inside an operation's
/// body (so it, too, compiles for each backend): `Result<Option<Order>, DbError>`.
/// The outbox uses it too, for the order in an email's event.
macro_rules! load_order {
    ($conn:ident, $id:expr) => {
        async {
            let id: DbUuid = $id;
            let head = orders::table
                .inner_join(email_outbox::table)
                .filter(orders::id.eq(id))
                .select((OrderRow::as_select(), DeliveryRow::as_select()))
                .first::<(OrderRow, DeliveryRow)>($conn)
                .await
                .optional()?;
            let Some((order, delivery)) = head else { return Ok(None) };
            let items = order_items::table
                .filter(order_items::order_id.eq(id))
                .order(order_items::position)
                .select(ItemRow::as_select())
                .load($conn)
                .await?;
            Ok::<_, DbError>(Some(order.into_order(items, delivery)?))
        }
        .await
    };
}

/// Lines, in the order loaded, by the order they belong to.
pub(crate) fn by_order(lines: Vec<ItemRow>) -> std::collections::HashMap<DbUuid, Vec<ItemRow>> {
    let mut by_order: std::collections::HashMap<DbUuid, Vec<ItemRow>> = std::collections::HashMap::new();
    for line in lines {
        by_order.entry(line.order_id).or_default().push(line);
    }
    by_order
}

/// Orders (with their email state) as loaded, each with its lines.
pub(crate) fn with_lines(heads: Vec<(OrderRow, DeliveryRow)>, lines: Vec<ItemRow>) -> Vec<OrderRows> {
    let mut lines = by_order(lines);
    heads
        .into_iter()
        .map(|(order, delivery)| {
            let items = lines.remove(&order.id).unwrap_or_default();
            (order, delivery, items)
        })
        .collect()
}

/// An order's rows: its own, its email state and its lines.
pub(crate) type OrderRows = (OrderRow, DeliveryRow, Vec<ItemRow>);

/// The lines of the orders `$ids` (a `&[DbUuid]`), each order's in position
/// order, in one statement on `$conn`: a `Vec<ItemRow>`. A query's error
/// leaves the enclosing body through `?`; `$load` as in `list_page!`.
macro_rules! lines_of {
    ($conn:ident, $ids:expr, $load:ident) => {{
        use crate::models::ItemRow;
        use crate::schema::order_items;
        use diesel::prelude::*;
        let ids: &[crate::sql_types::DbUuid] = $ids;
        let mut all: Vec<ItemRow> = Vec::new();
        if !ids.is_empty() {
            all = $load!(
                order_items::table
                    .filter(order_items::order_id.eq_any(ids))
                    .order((order_items::order_id, order_items::position))
                    .select(ItemRow::as_select()),
                $conn
            )?;
        }
        all
    }};
}

/// What a list asks for, owned, to move to the connection's thread.
#[derive(Debug)]
pub(crate) struct ListFilter {
    /// Rows to read: one more than the page, which tells whether a next page exists.
    pub fetch: i64,
    pub status: Option<&'static str>,
    pub email_key: Option<String>,
    /// Only rows after this `(created_at, id)`.
    pub after: Option<(DbInstant, DbUuid)>,
}

/// The rows of a list page, newest first, each order with its email state
/// and its lines, in two statements on `$conn`: `QueryResult<Vec<OrderRows>>`. Written once, run by each dialect's
/// `list_page`: `$load` is a macro that loads a query on `$conn`, awaiting
/// or not.
macro_rules! list_page {
    ($conn:ident, $filter:expr, $load:ident) => {{
        use crate::models::{DeliveryRow, OrderRow};
        use crate::schema::{email_outbox, orders};
        use diesel::prelude::*;
        let crate::orders::ListFilter { fetch, status, email_key, after } = $filter;
        let mut select = orders::table
            .inner_join(email_outbox::table)
            .select((OrderRow::as_select(), DeliveryRow::as_select()))
            .order((orders::created_at.desc(), orders::id.desc()))
            .limit(fetch)
            .into_boxed();
        if let Some(status) = status {
            select = select.filter(orders::status.eq(status));
        }
        if let Some(key) = email_key.as_deref() {
            select = select.filter(orders::customer_email_key.eq(key));
        }
        if let Some((created_at, id)) = after {
            // `created_at <= t` bounds the index range; the OR breaks ties.
            select = select
                .filter(orders::created_at.le(created_at))
                .filter(orders::created_at.lt(created_at).or(orders::id.lt(id)));
        }
        let heads: Vec<(OrderRow, DeliveryRow)> = $load!(select, $conn)?;
        let ids: Vec<crate::sql_types::DbUuid> = heads.iter().map(|(order, _)| order.id).collect();
        let lines = lines_of!($conn, &ids, $load);
        Ok::<_, diesel::result::Error>(crate::orders::with_lines(heads, lines))
    }};
}

/// Takes a key that is free or expired; returns it only if taken. `$n` are
/// numbered in order of appearance, which SQLite binds positionally too.
pub(crate) const TAKE_KEY: &str = "INSERT INTO idempotency_keys \
     (key, fingerprint, order_id, response, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, order_id = excluded.order_id, \
     response = excluded.response, created_at = excluded.created_at, expires_at = excluded.expires_at \
     WHERE idempotency_keys.expires_at <= excluded.created_at \
     RETURNING fingerprint, order_id, response";

/// Takes `$record`'s key (a `&IdempotencyRecord`) for an order created at
/// `$at` (a `DbInstant`), on `$conn`: `None` if this request now holds it,
/// else who does, as a `KeyRow`. A query's error leaves the enclosing body
/// through `?`. Written once for both backends' batches:
/// `$load` loads a query on `$conn`, awaiting or not (as in `list_page!`).
macro_rules! take_key {
    ($conn:ident, $record:expr, $at:expr, $load:ident) => {{
        use crate::models::KeyRow;
        use crate::schema::idempotency_keys;
        use crate::sql_types::{DbInstant, DbUuid, Instant, Uuid};
        use diesel::prelude::{ExpressionMethods as _, QueryDsl as _, SelectableHelper as _};
        use diesel::sql_types::Text;
        let record: &domain::IdempotencyRecord = $record;
        let at: DbInstant = $at;
        let taken: Vec<KeyRow> = $load!(
            crate::prepared::prepared(crate::orders::TAKE_KEY)
                .bind::<Text, _>(record.request.key.as_str())
                .bind::<Text, _>(&record.request.fingerprint)
                .bind::<Uuid, _>(DbUuid::from(record.answer.order_id))
                .bind::<Text, _>(&record.answer.body)
                .bind::<Instant, _>(at)
                .bind::<Instant, _>(DbInstant(record.expires_at)),
            $conn
        )?;
        if taken.is_empty() {
            let holder: Vec<KeyRow> = $load!(
                idempotency_keys::table
                    .filter(idempotency_keys::key.eq(record.request.key.as_str()))
                    .select(KeyRow::as_select())
                    .limit(1),
                $conn
            )?;
            Some(holder.into_iter().next().ok_or(diesel::result::Error::NotFound)?)
        } else {
            None
        }
    }};
}

/// A batch of expired keys, found through the expiry index.
const PURGE_KEYS: &str = "DELETE FROM idempotency_keys WHERE key IN \
     (SELECT key FROM idempotency_keys WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)";

/// Orders in PostgreSQL or SQLite, through one code path.
#[derive(Clone)]
pub struct SqlOrderRepository {
    db: Database,
    format: Format,
}

impl std::fmt::Debug for SqlOrderRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlOrderRepository").field("db", &self.db).finish_non_exhaustive()
    }
}

impl SqlOrderRepository {
    pub(crate) fn new(db: Database, format: Format) -> Self {
        Self { db, format }
    }
}

#[async_trait]
impl OrderRepository for SqlOrderRepository {
    async fn create(&self, creation: OrderCreation) -> Result<CreateOutcome, RepositoryError> {
        let OrderCreation { order, email, idempotency, queueing, cause } = creation;
        let order_row = OrderRow::from_order(&order);
        let item_rows = ItemRow::from_order(&order);
        let created_at = order.created_at();
        let event_row = NewEventRow::render(&*self.format, &Change::Created, &order, &cause, created_at);
        let email_row = NewEmailRow::queued(&email, created_at, queueing);
        let create = NewOrder {
            rows: NewOrderRows { order: order_row, items: item_rows, email: email_row, event: event_row },
            key: idempotency,
        };
        // Concurrent creates share one transaction (see `group_commit.rs`).
        let (outcome, webhooks) = self.db.measure("orders.create", self.db.create(create)).await?;
        self.db.webhooks_queued(webhooks);
        if outcome == CreateOutcome::Created && queueing == EmailQueueing::Shared {
            // This process's dispatcher, at once; on PostgreSQL the NOTIFY sent
            // in the transaction tells the other processes.
            self.db.email_queued.notify_one();
        }
        Ok(outcome)
    }

    async fn purge_expired_keys(&self, now: Timestamp, limit: usize) -> Result<usize, RepositoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        operation!(self.db, "orders.purge_expired_keys", Write, |conn| {
            Ok(diesel::sql_query(PURGE_KEYS)
                .bind::<Instant, _>(DbInstant(now))
                .bind::<BigInt, _>(limit)
                .execute(conn)
                .await?)
        })
        .await
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        let id = DbUuid::from(id);
        operation!(self.db, "orders.get", Read, |conn| load_order!(conn, id)).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
        // One row more than asked for tells whether a next page exists.
        let fetch = i64::try_from(query.limit.get() + 1).unwrap_or(i64::MAX);
        let status = query.status.map(OrderStatus::as_str);
        let email_key = query.customer_email_key.clone();
        let after = query.after.map(|c| (DbInstant(c.created_at), DbUuid::from(c.id)));
        let filter = ListFilter { fetch, status, email_key, after };
        let rows = operation!(self.db, "orders.list", Read, |conn| Ok(conn.list_page(filter).await?)).await?;
        let orders = rows
            .into_iter()
            .map(|(order, delivery, items)| order.into_order(items, delivery))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetched(orders, query.limit))
    }

    /// The update and the read of the result in one transaction: the body
    /// of a 200 shows this change, not a later one made meanwhile.
    async fn update_status(&self, update: &StatusUpdate) -> Result<Option<Order>, RepositoryError> {
        let key = DbUuid::from(update.id);
        let (update, format) = (update.clone(), self.format.clone());
        let (order, webhooks) = operation!(self.db, "orders.update_status", Transaction, |conn| {
            let StatusUpdate { expected, from, to, at, cause, .. } = update;
            let changed =
                diesel::update(orders::table.filter(orders::id.eq(key)).filter(orders::version.eq(expected.get())))
                    .set((
                        orders::status.eq(to.as_str()),
                        orders::version.eq(orders::version + 1),
                        orders::updated_at.eq(DbInstant(at)),
                    ))
                    .execute(conn)
                    .await?;
            if changed == 0 {
                return Ok((None, 0));
            }
            let Some(order) = load_order!(conn, key)? else { return Ok((None, 0)) };
            let event = NewEventRow::render(&*format, &Change::StatusChanged { from, to }, &order, &cause, at);
            let webhooks = conn.insert_events(&[event]).await?;
            Ok((Some(order), webhooks))
        })
        .await?;
        self.db.webhooks_queued(webhooks);
        Ok(order)
    }

    async fn events(&self, id: OrderId) -> Result<Option<Vec<RecordedEvent>>, RepositoryError> {
        let key = DbUuid::from(id);
        let rows: Option<Vec<EventRow>> = operation!(self.db, "orders.events", Read, |conn| {
            let exists = orders::table.filter(orders::id.eq(key)).select(orders::id).first::<DbUuid>(conn).await;
            if exists.optional()?.is_none() {
                return Ok(None);
            }
            let rows = order_events::table
                .filter(order_events::order_id.eq(key))
                .order((order_events::occurred_at, order_events::id))
                .select(EventRow::as_select())
                .load(conn)
                .await?;
            Ok(Some(rows))
        })
        .await?;
        let Some(rows) = rows else { return Ok(None) };
        Ok(Some(rows.into_iter().map(EventRow::into_recorded).collect::<Result<_, _>>()?))
    }

    /// The outbox row: every order has exactly one, kept after it is sent.
    async fn confirmation_email(&self, id: OrderId) -> Result<Option<EmailMessage>, RepositoryError> {
        let key = DbUuid::from(id);
        let row: Option<StoredEmailRow> = operation!(self.db, "orders.confirmation_email", Read, |conn| {
            Ok(email_outbox::table
                .filter(email_outbox::order_id.eq(key))
                .select(StoredEmailRow::as_select())
                .first(conn)
                .await
                .optional()?)
        })
        .await?;
        Ok(row.map(StoredEmailRow::into_message))
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        operation!(self.db, "orders.ping", Read, |conn| {
            diesel::sql_query("SELECT 1").execute(conn).await?;
            Ok(())
        })
        .await
    }
}
