//! `WebhookEndpointRepository` for both backends: an endpoint row and one
//! subscription row per event type.

use std::collections::HashMap;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use domain::{
    CorruptRecord, EmailState, EndpointId, EventType, RepositoryError, StoredEndpoint, Subscriptions, Timestamp,
    WebhookEndpoint, WebhookEndpointRepository, WebhookUrl,
};

use crate::database::Database;
use crate::error::DbError;
use crate::schema::{webhook_deliveries, webhook_endpoints, webhook_subscriptions};
use crate::sql_types::{DbInstant, DbUuid};

/// Why a deleted endpoint's waiting deliveries were failed.
const DELETED: &str = "the webhook endpoint was deleted";

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_endpoints)]
struct NewEndpointRow<'a> {
    id: DbUuid,
    url: &'a str,
    secret: &'a str,
    enabled: bool,
    created_at: DbInstant,
    updated_at: DbInstant,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
struct EndpointRow {
    id: DbUuid,
    url: String,
    enabled: bool,
    created_at: DbInstant,
    updated_at: DbInstant,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_subscriptions)]
struct SubscriptionRow {
    event_type: String,
    endpoint_id: DbUuid,
}

impl EndpointRow {
    fn into_endpoint(self, types: Vec<String>) -> Result<WebhookEndpoint, CorruptRecord> {
        let types = types.iter().map(|t| EventType::parse(t)).collect::<Result<Vec<_>, _>>();
        Ok(WebhookEndpoint {
            id: self.id.0.into(),
            url: WebhookUrl::parse(&self.url).map_err(|_| CorruptRecord("invalid webhook URL"))?,
            events: types
                .ok()
                .and_then(|types| Subscriptions::parse(types).ok())
                .ok_or(CorruptRecord("invalid webhook subscriptions"))?,
            enabled: self.enabled,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

/// Endpoints (not deleted) with their subscriptions, on `$conn` inside an
/// operation's body: `Result<Vec<(EndpointRow, Vec<String>)>, DbError>`.
/// `$only` narrows to one id.
macro_rules! load_endpoints {
    ($conn:ident, $only:expr) => {
        async {
            let only: Option<DbUuid> = $only;
            let mut select = webhook_endpoints::table
                .filter(webhook_endpoints::deleted_at.is_null())
                .order((webhook_endpoints::created_at, webhook_endpoints::id))
                .select(EndpointRow::as_select())
                .into_boxed();
            if let Some(id) = only {
                select = select.filter(webhook_endpoints::id.eq(id));
            }
            let rows: Vec<EndpointRow> = select.load($conn).await?;
            let ids: Vec<DbUuid> = rows.iter().map(|row| row.id).collect();
            let mut types: HashMap<DbUuid, Vec<String>> = HashMap::new();
            if !ids.is_empty() {
                let subscriptions: Vec<SubscriptionRow> = webhook_subscriptions::table
                    .filter(webhook_subscriptions::endpoint_id.eq_any(&ids))
                    .select(SubscriptionRow::as_select())
                    .load($conn)
                    .await?;
                for subscription in subscriptions {
                    types.entry(subscription.endpoint_id).or_default().push(subscription.event_type);
                }
            }
            Ok::<_, DbError>(
                rows.into_iter()
                    .map(|row| {
                        let types = types.remove(&row.id).unwrap_or_default();
                        (row, types)
                    })
                    .collect::<Vec<_>>(),
            )
        }
        .await
    };
}

fn endpoints(rows: Vec<(EndpointRow, Vec<String>)>) -> Result<Vec<WebhookEndpoint>, RepositoryError> {
    Ok(rows.into_iter().map(|(row, types)| row.into_endpoint(types)).collect::<Result<_, _>>()?)
}

/// Webhook endpoints in PostgreSQL or SQLite.
#[derive(Debug, Clone)]
pub struct SqlWebhookEndpointRepository {
    db: Database,
}

impl SqlWebhookEndpointRepository {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl WebhookEndpointRepository for SqlWebhookEndpointRepository {
    async fn create(&self, stored: &StoredEndpoint) -> Result<(), RepositoryError> {
        let endpoint = &stored.endpoint;
        let id = DbUuid(endpoint.id.as_uuid());
        let (url, secret) = (endpoint.url.as_str().to_owned(), stored.secret.as_str().to_owned());
        let (enabled, created_at, updated_at) = (endpoint.enabled, endpoint.created_at, endpoint.updated_at);
        let subscriptions: Vec<SubscriptionRow> = endpoint
            .events
            .iter()
            .map(|t| SubscriptionRow { event_type: t.as_str().to_owned(), endpoint_id: id })
            .collect();
        operation!(self.db, "webhook_endpoints.create", Transaction, |conn| {
            let row = NewEndpointRow {
                id,
                url: &url,
                secret: &secret,
                enabled,
                created_at: created_at.into(),
                updated_at: updated_at.into(),
            };
            diesel::insert_into(webhook_endpoints::table).values(&row).execute(conn).await?;
            for subscription in &subscriptions {
                diesel::insert_into(webhook_subscriptions::table).values(subscription).execute(conn).await?;
            }
            Ok(())
        })
        .await
    }

    async fn list(&self) -> Result<Vec<WebhookEndpoint>, RepositoryError> {
        endpoints(operation!(self.db, "webhook_endpoints.list", Read, |conn| load_endpoints!(conn, None)).await?)
    }

    async fn get(&self, id: EndpointId) -> Result<Option<WebhookEndpoint>, RepositoryError> {
        let id = DbUuid(id.as_uuid());
        Ok(endpoints(
            operation!(self.db, "webhook_endpoints.get", Read, |conn| load_endpoints!(conn, Some(id))).await?,
        )?
        .pop())
    }

    async fn set_enabled(
        &self,
        id: EndpointId,
        enabled: bool,
        at: Timestamp,
    ) -> Result<Option<WebhookEndpoint>, RepositoryError> {
        let id = DbUuid(id.as_uuid());
        let rows = operation!(self.db, "webhook_endpoints.set_enabled", Transaction, |conn| {
            diesel::update(webhook_endpoints::table.filter(webhook_endpoints::id.eq(id)))
                .filter(webhook_endpoints::deleted_at.is_null())
                .set((webhook_endpoints::enabled.eq(enabled), webhook_endpoints::updated_at.eq(DbInstant(at))))
                .execute(conn)
                .await?;
            load_endpoints!(conn, Some(id))
        })
        .await?;
        Ok(endpoints(rows)?.pop())
    }

    async fn delete(&self, id: EndpointId, at: Timestamp) -> Result<bool, RepositoryError> {
        let id = DbUuid(id.as_uuid());
        operation!(self.db, "webhook_endpoints.delete", Transaction, |conn| {
            let deleted = diesel::update(webhook_endpoints::table.filter(webhook_endpoints::id.eq(id)))
                .filter(webhook_endpoints::deleted_at.is_null())
                .set((
                    webhook_endpoints::enabled.eq(false),
                    webhook_endpoints::updated_at.eq(DbInstant(at)),
                    webhook_endpoints::deleted_at.eq(Some(DbInstant(at))),
                ))
                .execute(conn)
                .await?;
            if deleted == 0 {
                return Ok(false);
            }
            diesel::update(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)))
                .filter(webhook_deliveries::state.eq(EmailState::Pending.as_str()))
                .set((
                    webhook_deliveries::state.eq(EmailState::Failed.as_str()),
                    webhook_deliveries::last_error.eq(Some(DELETED)),
                ))
                .execute(conn)
                .await?;
            Ok(true)
        })
        .await
    }
}
