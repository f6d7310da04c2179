//! Column types that map to native types on PostgreSQL and to text on SQLite,
//! so one hand-written schema serves both backends.

use std::io::Write as _;

use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{SqlType, Text};
use diesel::sqlite::{Sqlite, SqliteValue};
use domain::Timestamp;

/// `uuid` on PostgreSQL, hyphenated lower-case TEXT on SQLite.
#[derive(Debug, Clone, Copy, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct Uuid;

/// `timestamptz` on PostgreSQL, fixed-width RFC 3339 TEXT on SQLite.
#[derive(Debug, Clone, Copy, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct Instant;

/// A UUID column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Uuid)]
pub struct DbUuid(pub uuid::Uuid);

/// A time column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Instant)]
pub struct DbInstant(pub Timestamp);

impl From<domain::OrderId> for DbUuid {
    fn from(id: domain::OrderId) -> Self {
        Self(id.as_uuid())
    }
}

impl From<DbUuid> for domain::OrderId {
    fn from(id: DbUuid) -> Self {
        id.0.into()
    }
}

impl From<Timestamp> for DbInstant {
    fn from(t: Timestamp) -> Self {
        Self(t)
    }
}

impl ToSql<Uuid, Pg> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Uuid, Pg> for DbUuid {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(uuid::Uuid::from_slice(value.as_bytes())?))
    }
}

impl ToSql<Uuid, Sqlite> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<Uuid, Sqlite> for DbUuid {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        Ok(Self(uuid::Uuid::parse_str(&text)?))
    }
}

impl ToSql<Instant, Pg> for DbInstant {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let value = self.0.as_datetime();
        <DateTime<Utc> as ToSql<diesel::sql_types::Timestamptz, Pg>>::to_sql(&value, &mut out.reborrow())
    }
}

impl FromSql<Instant, Pg> for DbInstant {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let value = <DateTime<Utc> as FromSql<diesel::sql_types::Timestamptz, Pg>>::from_sql(value)?;
        Ok(Self(value.into()))
    }
}

impl ToSql<Instant, Sqlite> for DbInstant {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.to_rfc3339());
        Ok(IsNull::No)
    }
}

impl FromSql<Instant, Sqlite> for DbInstant {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        let instant = Timestamp::parse_rfc3339(&text).ok_or_else(|| format!("not an RFC 3339 time: {text:?}"))?;
        Ok(Self(instant))
    }
}
