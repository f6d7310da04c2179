//! The query parameters every newest-first listing takes: `limit` and `cursor`.

use domain::{Cursor, ListedId, PageSize};

use crate::problem::ApiError;

/// `limit`, 1..=200, [`PageSize::DEFAULT`] if absent; and `cursor`, as
/// `next_cursor` of the previous page gave it. Each wrong value is a 400
/// `invalid_query` naming it.
pub fn page_params<Id: ListedId>(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(PageSize, Option<Cursor<Id>>), ApiError> {
    let limit = match limit {
        Some(n) => PageSize::parse(n).map_err(|e| ApiError::InvalidQuery(format!("limit {e}")))?,
        None => PageSize::DEFAULT,
    };
    let after = cursor
        .map(|cursor| Cursor::decode(cursor).map_err(|e| ApiError::InvalidQuery(format!("cursor: {e}"))))
        .transpose()?;
    Ok((limit, after))
}
