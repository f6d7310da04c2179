//! The statements each backend writes its own way, implemented on its
//! connection type in `postgres/dialect.rs` and `sqlite/dialect.rs`. Everything
//! else is written once, in `orders.rs` and `outbox.rs`.

use diesel::QueryResult;

use crate::models::{ItemRow, NewEmailRow, OrderRow};
use crate::sql_types::{DbInstant, DbUuid};

pub(crate) trait Dialect {
    /// Inserts an order, its lines and its queued email (inside the caller's
    /// transaction).
    fn insert_new_order(
        &mut self,
        order: &OrderRow,
        items: &[ItemRow],
        email: &NewEmailRow<'_>,
    ) -> impl Future<Output = QueryResult<()>> + Send;

    /// The statement that claims up to `$3` emails due at `$2` by moving
    /// their `available_at` to the end of the lease, `$1`, and counting the
    /// attempt; it returns the claimed rows.
    fn claim_due_statement(&self) -> &'static str;

    /// Marks a batch of claimed emails sent, in one statement. Each is fenced
    /// by its attempt (`ids[i]` was claimed as `attempts[i]`) and must still be
    /// pending.
    fn mark_sent(
        &mut self,
        at: DbInstant,
        ids: &[DbUuid],
        attempts: &[i32],
    ) -> impl Future<Output = QueryResult<usize>> + Send;
}
