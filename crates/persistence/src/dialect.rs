//! The statements each backend writes its own way, implemented on its
//! connection type in `postgres/dialect.rs` and `sqlite/dialect.rs`. Everything
//! else is written once, in `orders.rs` and `outbox.rs`.

use diesel::QueryResult;

use crate::models::{ClaimRow, ItemRow, NewEmailRow, OrderRow};
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

    /// Claims up to `limit` due emails by pushing their `available_at` to
    /// `lease_ends` and counting the attempt, in one statement.
    fn claim_due_emails(
        &mut self,
        now: DbInstant,
        lease_ends: DbInstant,
        limit: i64,
    ) -> impl Future<Output = QueryResult<Vec<ClaimRow>>> + Send;

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
