//! Writing a new order's rows: the part of `create` that differs by backend.

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::{try_join_all, try_join4};

use crate::models::{ItemRow, NewEmailRow, OrderRow};
use crate::outbox::NOTIFY;
use crate::pool::SqliteConn;
use crate::schema::{email_outbox, order_items, orders};

/// Inserts an order, its lines and its queued email (inside the caller's transaction).
pub(crate) trait StoreNewOrder {
    fn store_new_order(
        &mut self,
        order: &OrderRow,
        items: &[ItemRow],
        email: &NewEmailRow<'_>,
    ) -> impl Future<Output = QueryResult<()>> + Send;
}

impl StoreNewOrder for AsyncPgConnection {
    /// Every statement is pipelined: sent together, answered together, one
    /// round trip in all (the foreign keys are checked at commit, so their
    /// order on the wire does not matter). One single-row insert per line
    /// rather than one multi-row insert: each is a cached prepared statement,
    /// where a multi-row insert would be parsed and planned every time. An
    /// email left for any dispatcher is announced with NOTIFY, delivered at
    /// commit to every process.
    async fn store_new_order(
        &mut self,
        order: &OrderRow,
        items: &[ItemRow],
        email: &NewEmailRow<'_>,
    ) -> QueryResult<()> {
        let shared: &AsyncPgConnection = self;
        let (mut for_order, mut for_email, mut for_notify) = (shared, shared, shared);
        let lines = try_join_all(items.iter().map(|item| {
            let mut conn = shared;
            async move { diesel::insert_into(order_items::table).values(item).execute(&mut conn).await }
        }));
        let announce = async {
            if email.is_unclaimed() {
                diesel::sql_query(NOTIFY).execute(&mut for_notify).await.map(drop)
            } else {
                Ok(())
            }
        };
        try_join4(
            diesel::insert_into(orders::table).values(order).execute(&mut for_order),
            lines,
            diesel::insert_into(email_outbox::table).values(email).execute(&mut for_email),
            announce,
        )
        .await
        .map(drop)
    }
}

impl StoreNewOrder for SqliteConn {
    /// One statement at a time, and one row at a time: diesel-async cannot
    /// batch-insert on SQLite (diesel_async#277). The file is local, so this
    /// costs no round trips. The dispatcher is woken in-process instead of NOTIFY.
    async fn store_new_order(
        &mut self,
        order: &OrderRow,
        items: &[ItemRow],
        email: &NewEmailRow<'_>,
    ) -> QueryResult<()> {
        diesel::insert_into(orders::table).values(order).execute(self).await?;
        for item in items {
            diesel::insert_into(order_items::table).values(item).execute(self).await?;
        }
        diesel::insert_into(email_outbox::table).values(email).execute(self).await?;
        Ok(())
    }
}
