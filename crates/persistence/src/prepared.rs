//! Hand-written SQL that a connection prepares once and reuses.
//!
//! diesel's `sql_query` marks its statement unsafe to cache, so every call
//! sends it to be parsed and planned afresh: on PostgreSQL the webhook
//! fan-out was planned on each call (150 µs, longer than it took to run). A
//! [`Prepared`] statement is cached by its text, like the query builder's.
//!
//! Only for statements whose plan cannot go wrong as the tables grow:
//! PostgreSQL keeps the plan it made for a prepared statement when it finds
//! it no dearer than planning each call, and a plan made while a table was
//! nearly empty may read all of it. A statement that reads by key, or only
//! tables of a few rows, is safe; one that ranges over a growing table (the
//! outbox claims, the purge of expired keys, the backlog) stays a
//! `sql_query`, planned for each call's values.
//!
//! Its SQL names each parameter once, in order (`$1`, `$2`, …): diesel
//! writes a placeholder of its own for each bound value in turn, `$n` on
//! PostgreSQL and `?` on SQLite.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// A statement and the values bound to its parameters.
pub(crate) struct Prepared<'v, DB: Backend> {
    sql: &'static str,
    values: Vec<Box<dyn BoundValue<DB> + Send + 'v>>,
}

/// `sql`, to be bound with [`Prepared::bind`] and run as any diesel query.
pub(crate) fn prepared<'v, DB: Backend>(sql: &'static str) -> Prepared<'v, DB> {
    Prepared { sql, values: Vec::new() }
}

impl<'v, DB: Backend> Prepared<'v, DB> {
    /// Binds the next parameter to `value`, as SQL type `ST`.
    pub(crate) fn bind<ST, V>(mut self, value: V) -> Self
    where
        DB: HasSqlType<ST>,
        V: ToSql<ST, DB> + Send + 'v,
        ST: Send + 'v,
    {
        self.values.push(Box::new(Bound { value, sql_type: PhantomData::<ST> }));
        self
    }
}

impl<DB: Backend> std::fmt::Debug for Prepared<'_, DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("sql", &self.sql).field("values", &self.values.len()).finish()
    }
}

/// A value and the SQL type it is bound as.
struct Bound<ST, V> {
    value: V,
    sql_type: PhantomData<ST>,
}

trait BoundValue<DB: Backend> {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>;
}

impl<DB, ST, V> BoundValue<DB> for Bound<ST, V>
where
    DB: Backend + HasSqlType<ST>,
    V: ToSql<ST, DB>,
{
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_bind_param::<ST, V>(&self.value)
    }
}

impl<DB: Backend> QueryFragment<DB> for Prepared<'_, DB> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut values = self.values.iter();
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            out.push_sql(&rest[..at]);
            if digits == 0 {
                out.push_sql("$");
            } else {
                let value = values.next().ok_or_else(|| unbound(self.sql))?;
                value.push(&mut out)?;
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        match values.next() {
            Some(_) => Err(unbound(self.sql)),
            None => Ok(()),
        }
    }
}

/// A statement whose parameters and values do not pair up: a bug here.
fn unbound(sql: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("parameters and bound values differ in number: {sql}").into())
}

impl<DB: Backend> QueryId for Prepared<'_, DB> {
    type QueryId = ();
    // Cached by its text rather than by type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend> Query for Prepared<'_, DB> {
    type SqlType = Untyped;
}

impl<DB: Backend, Conn> diesel::RunQueryDsl<Conn> for Prepared<'_, DB> {}

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use diesel::sql_types::{BigInt, Text};
    use diesel::sqlite::Sqlite;

    use super::*;

    #[test]
    fn each_parameter_is_written_back_in_the_backends_own_form() {
        let sql = "UPDATE t SET a = $1 WHERE b = $2::text AND c = '$'";
        let pg = prepared::<Pg>(sql).bind::<BigInt, _>(7_i64).bind::<Text, _>("x");
        assert_eq!(diesel::debug_query(&pg).to_string(), format!("{sql} -- binds: [7, \"x\"]"));
        let sqlite = prepared::<Sqlite>(sql).bind::<BigInt, _>(7_i64).bind::<Text, _>("x");
        assert_eq!(
            diesel::debug_query(&sqlite).to_string(),
            "UPDATE t SET a = ? WHERE b = ?::text AND c = '$' -- binds: [7, \"x\"]"
        );
    }

    #[test]
    fn a_statement_whose_parameters_and_values_differ_in_number_fails() {
        let written = |query: Prepared<'_, Pg>| query.to_sql(&mut diesel::pg::PgQueryBuilder::default(), &Pg);
        assert!(written(prepared("SELECT $1, $2").bind::<BigInt, _>(1_i64)).is_err(), "a value short");
        let extra = prepared("SELECT $1").bind::<BigInt, _>(1_i64).bind::<BigInt, _>(2_i64);
        assert!(written(extra).is_err(), "a value too many");
        assert!(written(prepared("SELECT $1").bind::<BigInt, _>(1_i64)).is_ok());
    }
}
