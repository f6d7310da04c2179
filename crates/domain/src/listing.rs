//! Listing newest first: page size, the opaque keyset cursor and pages, for
//! orders (with their filters here) and for anything else listed that way.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::customer::CustomerEmail;
use crate::order::{Order, OrderId};
use crate::parse::{ParseError, check_range};
use crate::status::OrderStatus;
use crate::time::Timestamp;

/// How many items a page holds: 1..=200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u8);

impl PageSize {
    /// Used when the client names none.
    pub const DEFAULT: PageSize = PageSize(50);
    /// The most a client may ask for.
    pub const MAX: i64 = 200;

    /// Checks the bounds.
    pub fn parse(value: i64) -> Result<Self, ParseError> {
        check_range(value, 1, Self::MAX)?;
        Ok(Self(u8::try_from(value).unwrap_or(u8::MAX)))
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// The id that breaks ties between equal times in a listing: a UUID
/// underneath, compared as its bytes (as both databases compare them).
pub trait ListedId: Copy + Eq + Ord + std::fmt::Debug + From<Uuid> {
    fn uuid(&self) -> Uuid;
}

impl ListedId for OrderId {
    fn uuid(&self) -> Uuid {
        self.as_uuid()
    }
}

/// Something listed newest first, by `created_at` then id.
pub trait Listed {
    type Id: ListedId;

    /// Where it stands in the listing.
    fn position(&self) -> Cursor<Self::Id>;
}

impl Listed for Order {
    type Id = OrderId;

    fn position(&self) -> Cursor<OrderId> {
        Cursor { created_at: self.created_at(), id: self.id() }
    }
}

/// A position in the newest-first order: the last item of the previous page.
///
/// The position only; a client repeats its filters with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor<Id = OrderId> {
    /// `created_at` of the last item seen.
    pub created_at: Timestamp,
    /// Its id, to break ties between equal times.
    pub id: Id,
}

/// A cursor that was not made by [`Cursor::encode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid cursor")]
pub struct InvalidCursor;

impl<Id: ListedId> Cursor<Id> {
    const VERSION: u8 = 1;

    /// Opaque URL-safe text: a version byte, the time in microseconds and the id.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 25];
        bytes[0] = Self::VERSION;
        bytes[1..9].copy_from_slice(&self.created_at.unix_micros().to_be_bytes());
        bytes[9..].copy_from_slice(self.id.uuid().as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads what [`Cursor::encode`] wrote.
    pub fn decode(text: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| InvalidCursor)?;
        let bytes: [u8; 25] = bytes.try_into().map_err(|_| InvalidCursor)?;
        if bytes[0] != Self::VERSION {
            return Err(InvalidCursor);
        }
        let mut micros = [0u8; 8];
        micros.copy_from_slice(&bytes[1..9]);
        let created_at = Timestamp::from_unix_micros(i64::from_be_bytes(micros)).ok_or(InvalidCursor)?;
        let id = Uuid::from_slice(&bytes[9..]).map_err(|_| InvalidCursor)?;
        Ok(Self { created_at, id: id.into() })
    }
}

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: PageSize,
    /// Start after this position; the first page if `None`.
    pub after: Option<Cursor>,
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only orders of this customer, by [`CustomerEmail::key_of`].
    pub customer_email_key: Option<String>,
}

impl ListQuery {
    /// The first page of everything.
    pub fn first_page(limit: PageSize) -> Self {
        Self { limit, after: None, status: None, customer_email_key: None }
    }

    /// Filters by customer email, ignoring case.
    pub fn with_customer_email(mut self, email: &str) -> Self {
        self.customer_email_key = Some(CustomerEmail::key_of(email));
        self
    }
}

/// One page, newest first (of orders unless named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T: Listed = Order> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` when nothing follows.
    pub next: Option<Cursor<T::Id>>,
}

impl<T: Listed> Page<T> {
    /// Builds a page from up to `limit + 1` rows, newest first: the extra row
    /// only proves that a next page exists, so an exactly full last page has
    /// no cursor.
    pub fn from_overfetched(mut rows: Vec<T>, limit: PageSize) -> Self {
        let more = rows.len() > limit.get();
        rows.truncate(limit.get());
        let next = if more { rows.last().map(Listed::position) } else { None };
        Self { items: rows, next }
    }

    /// Builds a page from the rows of several sources, each its up to
    /// `limit + 1` newest after the same cursor and filters: the `limit + 1`
    /// newest of them all are the ones a single source would have given.
    pub fn from_merged(mut rows: Vec<T>, limit: PageSize) -> Self {
        rows.sort_unstable_by_key(|row| std::cmp::Reverse(row.position()));
        rows.truncate(limit.get() + 1);
        Self::from_overfetched(rows, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor { created_at: Timestamp::now(), id: OrderId::generate() };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn cursors_beyond_what_a_database_stores_are_refused() {
        let far = |micros: i64| {
            let mut bytes = [0u8; 25];
            bytes[0] = 1;
            bytes[1..9].copy_from_slice(&micros.to_be_bytes());
            URL_SAFE_NO_PAD.encode(bytes)
        };
        assert_eq!(Cursor::<OrderId>::decode(&far(i64::MAX / 2)), Err(InvalidCursor));
        assert_eq!(Cursor::<OrderId>::decode(&far(i64::MIN / 2)), Err(InvalidCursor));
        assert!(Cursor::<OrderId>::decode(&far(0)).is_ok());
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for bad in ["", "abc", "!!!!", &"A".repeat(34), &URL_SAFE_NO_PAD.encode([2u8; 25])] {
            assert_eq!(Cursor::<OrderId>::decode(bad), Err(InvalidCursor), "{bad}");
        }
    }

    #[test]
    fn merged_rows_page_as_one_source_would() {
        #[derive(Debug)]
        struct Row(Cursor);
        impl Listed for Row {
            type Id = OrderId;
            fn position(&self) -> Cursor {
                self.0
            }
        }
        let now = Timestamp::now();
        let newest_first: Vec<Cursor> = (0..5)
            .map(|n| Cursor { created_at: now.plus(std::time::Duration::from_micros(5 - n)), id: OrderId::generate() })
            .collect();
        // Two sources, each its newest three, interleaved.
        let rows = [0, 2, 4, 1, 3].into_iter().map(|n| Row(newest_first[n])).collect();
        let page = Page::from_merged(rows, PageSize::parse(2).unwrap());
        let items: Vec<Cursor> = page.items.iter().map(Listed::position).collect();
        assert_eq!(items, newest_first[..2]);
        assert_eq!(page.next, Some(newest_first[1]));
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(PageSize::parse(1).unwrap().get(), 1);
        assert_eq!(PageSize::parse(200).unwrap().get(), 200);
        assert!(PageSize::parse(0).is_err());
        assert!(PageSize::parse(201).is_err());
        assert_eq!(PageSize::DEFAULT.get(), 50);
    }
}
