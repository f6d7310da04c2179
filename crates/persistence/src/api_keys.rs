//! `ApiKeyRepository` for both backends.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use domain::{
    ApiKey, ApiKeyId, ApiKeyRepository, CorruptRecord, KeyHash, KeyName, RepositoryError, Scope, Scopes, StoredKey,
    Timestamp,
};

use crate::database::Database;
use crate::schema::api_keys;
use crate::sql_types::DbInstant;

/// Marks that a first key was made; only one of racing transactions inserts
/// it (the others wait on the primary key, then find it taken).
const CLAIM_FIRST_KEY: &str = "INSERT INTO api_key_bootstrap (done) VALUES (TRUE) ON CONFLICT DO NOTHING";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
struct KeyRow {
    id: String,
    name: String,
    scopes: String,
    secret_hash: Vec<u8>,
    created_at: DbInstant,
    revoked_at: Option<DbInstant>,
    last_used_at: Option<DbInstant>,
}

impl KeyRow {
    fn from_key(stored: &StoredKey) -> Self {
        let key = &stored.key;
        Self {
            id: key.id.to_string(),
            name: key.name.as_str().to_owned(),
            scopes: key.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(" "),
            secret_hash: stored.hash.as_bytes().to_vec(),
            created_at: key.created_at.into(),
            revoked_at: key.revoked_at.map(DbInstant),
            last_used_at: key.last_used_at.map(DbInstant),
        }
    }

    fn into_key(self) -> Result<StoredKey, CorruptRecord> {
        let scopes = self.scopes.split(' ').map(Scope::parse).collect::<Result<Vec<_>, _>>();
        Ok(StoredKey {
            key: ApiKey {
                id: ApiKeyId::parse(&self.id).map_err(|_| CorruptRecord("invalid API key id"))?,
                name: KeyName::parse(&self.name).map_err(|_| CorruptRecord("invalid API key name"))?,
                scopes: scopes
                    .ok()
                    .and_then(|scopes| Scopes::parse(scopes).ok())
                    .ok_or(CorruptRecord("invalid API key scopes"))?,
                created_at: self.created_at.0,
                revoked_at: self.revoked_at.map(|at| at.0),
                last_used_at: self.last_used_at.map(|at| at.0),
            },
            hash: KeyHash::from_bytes(&self.secret_hash).ok_or(CorruptRecord("invalid API key hash"))?,
        })
    }
}

/// API keys in PostgreSQL or SQLite, through one code path.
#[derive(Debug, Clone)]
pub struct SqlApiKeyRepository {
    db: Database,
}

impl SqlApiKeyRepository {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ApiKeyRepository for SqlApiKeyRepository {
    async fn create(&self, key: &StoredKey) -> Result<(), RepositoryError> {
        let row = KeyRow::from_key(key);
        operation!(self.db, "api_keys.create", Write, |conn| {
            diesel::insert_into(api_keys::table).values(&row).execute(conn).await?;
            Ok(())
        })
        .await
    }

    async fn create_first(&self, key: &StoredKey) -> Result<bool, RepositoryError> {
        let row = KeyRow::from_key(key);
        operation!(self.db, "api_keys.create_first", Transaction, |conn| {
            let claimed = diesel::sql_query(CLAIM_FIRST_KEY).execute(conn).await?;
            let any: Option<String> = api_keys::table.select(api_keys::id).first(conn).await.optional()?;
            if claimed == 0 || any.is_some() {
                return Ok(false);
            }
            diesel::insert_into(api_keys::table).values(&row).execute(conn).await?;
            Ok(true)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<StoredKey>, RepositoryError> {
        let rows: Vec<KeyRow> = operation!(self.db, "api_keys.list", Read, |conn| {
            Ok(api_keys::table
                .order((api_keys::created_at, api_keys::id))
                .select(KeyRow::as_select())
                .load(conn)
                .await?)
        })
        .await?;
        Ok(rows.into_iter().map(KeyRow::into_key).collect::<Result<_, _>>()?)
    }

    async fn revoke(&self, id: &ApiKeyId, at: Timestamp) -> Result<Option<ApiKey>, RepositoryError> {
        let id = id.to_string();
        let row: Option<KeyRow> = operation!(self.db, "api_keys.revoke", Transaction, |conn| {
            diesel::update(api_keys::table.filter(api_keys::id.eq(&id)).filter(api_keys::revoked_at.is_null()))
                .set(api_keys::revoked_at.eq(DbInstant(at)))
                .execute(conn)
                .await?;
            Ok(api_keys::table.filter(api_keys::id.eq(&id)).select(KeyRow::as_select()).first(conn).await.optional()?)
        })
        .await?;
        Ok(row.map(KeyRow::into_key).transpose()?.map(|stored| stored.key))
    }

    async fn record_use(&self, used: &[(ApiKeyId, Timestamp)]) -> Result<(), RepositoryError> {
        let used: Vec<(String, Timestamp)> = used.iter().map(|(id, at)| (id.to_string(), *at)).collect();
        operation!(self.db, "api_keys.record_use", Transaction, |conn| {
            for (id, at) in &used {
                // Never backwards: another process may have stored a later use.
                let earlier = api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(DbInstant(*at)));
                diesel::update(api_keys::table.filter(api_keys::id.eq(id)).filter(earlier))
                    .set(api_keys::last_used_at.eq(DbInstant(*at)))
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
        .await
    }
}
